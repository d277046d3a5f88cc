"""Where the run store lives and how much it may hold, from the environment with sensible defaults.

TRUNCATION_EXPLORER_DB         a database URL (sqlite:///path or postgresql+psycopg://user@host/db);
                               default: SQLite file runs.sqlite3 in the data directory
TRUNCATION_EXPLORER_DATA_DIR   the data directory; default $XDG_DATA_HOME/truncation-explorer
                               (~/.local/share/truncation-explorer)
TRUNCATION_EXPLORER_MAX_RUNS   runs kept per student (50)
TRUNCATION_EXPLORER_MAX_MB     total megabytes of bundles kept for everyone (200)
TRUNCATION_EXPLORER_MAX_RUN_MB megabytes one bundle may have (20)
TRUNCATION_EXPLORER_MAX_DAYS   days a run is kept after it was last saved (30)
TRUNCATION_EXPLORER_BUSY_S     seconds to wait for a locked database before giving up (5)
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000


@dataclass(frozen=True)
class StoreSettings:
    """Bounds and waits of one store; every number must be positive."""

    max_runs_per_owner: int = 50
    max_total_bytes: int = 200 * MB
    max_run_bytes: int = 20 * MB
    max_age_days: float = 30.0
    busy_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_runs_per_owner", "max_total_bytes", "max_run_bytes", "max_age_days", "busy_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"store setting {name} must be positive, got {getattr(self, name)!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreSettings:
        """Read the TRUNCATION_EXPLORER_* bounds; ValueError naming the variable that is not a number."""
        env = os.environ if env is None else env

        def num(var: str, default: float, scale: float = 1.0) -> float:
            raw = env.get(var, "").strip()
            if not raw:
                return default * scale
            try:
                return float(raw) * scale
            except ValueError:
                raise ValueError(f"{var} must be a number, got {raw!r}") from None

        d = cls()
        return cls(
            max_runs_per_owner=int(num("TRUNCATION_EXPLORER_MAX_RUNS", d.max_runs_per_owner)),
            max_total_bytes=int(num("TRUNCATION_EXPLORER_MAX_MB", d.max_total_bytes / MB, MB)),
            max_run_bytes=int(num("TRUNCATION_EXPLORER_MAX_RUN_MB", d.max_run_bytes / MB, MB)),
            max_age_days=num("TRUNCATION_EXPLORER_MAX_DAYS", d.max_age_days),
            busy_timeout_s=num("TRUNCATION_EXPLORER_BUSY_S", d.busy_timeout_s),
        )


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory holding the default SQLite file (not created here)."""
    env = os.environ if env is None else env
    if env.get("TRUNCATION_EXPLORER_DATA_DIR"):
        return Path(env["TRUNCATION_EXPLORER_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "truncation-explorer"


def database_url(env: Mapping[str, str] | None = None) -> str:
    """TRUNCATION_EXPLORER_DB if set, else the SQLite file in the data directory."""
    env = os.environ if env is None else env
    url = env.get("TRUNCATION_EXPLORER_DB", "").strip()
    return url or f"sqlite:///{(data_dir(env) / 'runs.sqlite3').resolve()}"
