"""The one table: a row per stored run, the bundle JSON plus what listing and pruning need."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# A distinctive name: a PostgreSQL database may be shared with other apps.
runs = Table(
    "explorer_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("schema_version", Integer, nullable=False),  # the bundle's format version
    Column("body", Text, nullable=False),  # the bundle JSON as saved
    Column("size_bytes", Integer, nullable=False),  # UTF-8 length of body
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Every query filters by owner; pruning walks rows from the least recently saved.
    Index("explorer_runs_owner_updated", "owner", "updated_at"),
    Index("explorer_runs_updated", "updated_at"),
    # Every write sums size_bytes over the whole store (the total-size bound) and walks (updated_at, id,
    # size_bytes) from the oldest when it is over. Read from the table, size_bytes sits after the body: SQLite
    # walked every stored body's overflow pages to reach it, 200 MB for a full store, 70 ms of each save. This
    # index answers both from its own pages (bench/store_writes.py).
    Index("explorer_runs_updated_size", "updated_at", "id", "size_bytes"),
)
