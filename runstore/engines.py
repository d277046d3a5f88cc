"""One SQLAlchemy engine per database URL, shared by every session thread, and DB errors made typed.

SQLite: WAL journal (readers never wait for the writer), a busy timeout for writers, one file
created with its directory on first use. PostgreSQL (postgresql+psycopg://): a small pre-pinged
pool, and a lock timeout playing the part of SQLite's busy timeout.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from .errors import StoreError, StoreFull, StoreLocked, StoreUnavailable
from .schema import metadata

_engines: dict[tuple[str, float], Engine] = {}
_lock = threading.Lock()


def get_engine(url: str, busy_timeout_s: float) -> Engine:
    """The shared engine for `url` with its tables created; StoreUnavailable if it cannot be opened."""
    key = (url, busy_timeout_s)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(url, busy_timeout_s)
            try:
                metadata.create_all(engine)
                _add_missing_indexes(engine)
            except SQLAlchemyError as exc:
                engine.dispose()
                raise typed_error(exc, f"cannot open the run store at {_safe(url)}") from None
            _engines[key] = engine
        return engine


def _add_missing_indexes(engine: Engine) -> None:
    """Create the indexes a store made by an earlier version lacks (create_all makes them only with a new table)."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)


def dispose_all() -> None:
    """Close every pooled connection and forget the engines (tests; a process about to exit)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _create(url: str, busy_timeout_s: float) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"run store URL {url!r} is not a database URL (e.g. sqlite:///runs.sqlite3)") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite(parsed, busy_timeout_s)
        if parsed.get_backend_name() == "postgresql":
            ms = max(1, int(busy_timeout_s * 1000))
            return create_engine(
                parsed, pool_size=4, max_overflow=4, pool_pre_ping=True, pool_recycle=1800,
                connect_args={"connect_timeout": 5, "options": f"-c lock_timeout={ms}"},
            )
    except (NoSuchModuleError, ImportError):
        raise StoreUnavailable(f"no database driver for {_safe(url)} (PostgreSQL needs postgresql+psycopg:// "
                               "and the psycopg package)") from None
    raise StoreUnavailable(f"run store URL {_safe(url)}: only sqlite:// and postgresql+psycopg:// are supported")


def _sqlite(parsed, busy_timeout_s: float) -> Engine:
    path = parsed.database
    if path and path != ":memory:" and not path.startswith("file:"):
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the run store's directory for {path} ({exc.strerror})") from None
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={max(1, int(busy_timeout_s * 1000))}")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash may lose the last commit, never corrupt
        cur.close()

    return engine


def typed_error(exc: BaseException, doing: str) -> StoreError:
    """Map a driver error to a StoreError whose message says what failed while `doing` what."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if isinstance(orig, sqlite3.Error):
        low = text.lower()
        if "full" in low:
            return StoreFull(f"{doing}: the database or its disk is full ({text})")
        if "locked" in low or "busy" in low:
            return StoreLocked(f"{doing}: the database is busy with another writer ({text}); try again")
        return StoreUnavailable(f"{doing}: {text}")
    if sqlstate.startswith("53"):  # insufficient resources: disk full, out of memory, too many connections
        return StoreFull(f"{doing}: the database server is out of space or resources ({text})")
    if sqlstate in ("55P03", "40P01", "40001"):  # lock timeout, deadlock, serialization failure
        return StoreLocked(f"{doing}: the database is busy with another writer ({text}); try again")
    return StoreUnavailable(f"{doing}: {text}")


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
