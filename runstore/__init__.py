"""Run store: each student's run bundles in SQLite (default) or PostgreSQL, bounded and owner-scoped.

Streamlit-free and engine-free (no TensorFlow): the app hands it the JSON bundles that
rnn_core.report.RunRecord.to_json makes and rebuilds records from what it returns.
"""
from .bundle import CURRENT_VERSION, FORMAT_PREFIX
from .engines import dispose_all
from .errors import (
                     BadBundle,
                     CorruptRun,
                     IncompatibleRun,
                     RunNotFound,
                     RunTooLarge,
                     StoreError,
                     StoreFull,
                     StoreLocked,
                     StoreUnavailable,
)
from .owner import is_owner_id, new_owner_id
from .settings import StoreSettings, data_dir, database_url
from .store import Listing, Pruned, RunStore, Saved, StoredRun

__all__ = [
    "CURRENT_VERSION", "FORMAT_PREFIX", "BadBundle", "CorruptRun", "IncompatibleRun", "Listing", "Pruned",
    "RunNotFound", "RunStore", "RunTooLarge", "Saved", "StoreError", "StoreFull", "StoreLocked", "StoreSettings",
    "StoreUnavailable", "StoredRun", "data_dir", "database_url", "dispose_all", "is_owner_id", "new_owner_id",
]
