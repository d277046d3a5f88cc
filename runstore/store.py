"""RunStore: each student's run bundles in a database, bounded, filtered by owner in every query.

All writes start with the write itself (INSERT/UPDATE/DELETE) so a SQLite transaction takes the
write lock at once and waits out the busy timeout there, instead of failing on a late lock upgrade.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from .bundle import SUPPORTED_VERSIONS, parse_stored, prepare, version_message
from .engines import get_engine, typed_error
from .errors import RunNotFound, RunTooLarge, StoreError
from .owner import is_owner_id
from .schema import runs
from .settings import StoreSettings, database_url

_META = (runs.c.id, runs.c.label, runs.c.schema_version, runs.c.size_bytes, runs.c.created_at, runs.c.updated_at)
_OLDEST = (runs.c.updated_at, runs.c.id)


@dataclass(frozen=True)
class StoredRun:
    """A stored run's metadata (not its bundle)."""

    id: int
    label: str
    schema_version: int
    size_bytes: int
    created: dt.datetime  # UTC
    updated: dt.datetime  # UTC


@dataclass
class Listing:
    """An owner's runs, oldest first, and one note per row that was skipped because it cannot be used."""

    runs: list[StoredRun] = field(default_factory=list)
    bundles: list[dict[str, Any]] = field(default_factory=list)  # parallel to runs; filled by load_all only
    skipped: list[str] = field(default_factory=list)


@dataclass
class Pruned:
    """What a write or a prune removed: the caller's own runs in full, other students' as counts."""

    own: list[StoredRun] = field(default_factory=list)
    others: int = 0
    reasons: list[str] = field(default_factory=list)  # one sentence per bound that removed something

    def __bool__(self) -> bool:
        return bool(self.own or self.others)

    def message(self) -> str:
        """One line for the page, e.g. "Removed 1 of your runs ('TF n=5 ...') to stay within 50 runs per student."""
        if not self:
            return ""
        parts = []
        if self.own:
            names = ", ".join(repr(r.label or f"run {r.id}") for r in self.own[:3])
            more = f" and {len(self.own) - 3} more" if len(self.own) > 3 else ""
            parts.append(f"Removed {len(self.own)} of your oldest runs ({names}{more})")
        if self.others:
            parts.append(f"{'removed' if parts else 'Removed'} {self.others} older runs of other students")
        return " and ".join(parts) + ": " + "; ".join(self.reasons) + "."


@dataclass
class Saved:
    """Result of put(): the new run's id and anything pruned to make room."""

    run_id: int
    pruned: Pruned


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC; PostgreSQL an aware time in the session's zone.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _meta(row: Any) -> StoredRun:
    return StoredRun(int(row.id), str(row.label or ""), int(row.schema_version), int(row.size_bytes),
                     _utc(row.created_at), _utc(row.updated_at))


def _name(run: StoredRun) -> str:
    return f"run {run.id}" + (f" {run.label!r}" if run.label else "")


class RunStore:
    """Runs per owner in the database at `url` (default: TRUNCATION_EXPLORER_DB or the data-dir SQLite file).

    Thread-safe: sessions share the engine for a URL. Every method raises only StoreError subclasses.
    """

    def __init__(self, url: str | None = None, settings: StoreSettings | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.url = url or database_url()
        self.settings = settings or StoreSettings.from_env()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.engine = get_engine(self.url, self.settings.busy_timeout_s)

    @contextmanager
    def _tx(self, doing: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise typed_error(exc, doing) from None

    def _now(self) -> dt.datetime:
        return self._clock().astimezone(dt.UTC)

    # writes

    def put(self, owner: str, bundle: dict[str, Any] | str | bytes) -> Saved:
        """Save a new run for `owner`; prune to the bounds; return its id and what was pruned."""
        _need_owner(owner)
        text, version, label = self._prepare(bundle)
        now = self._now()
        with self._tx("could not save the run") as conn:
            run_id = conn.execute(insert(runs).values(
                owner=owner, label=label, schema_version=version, body=text,
                size_bytes=len(text.encode()), created_at=now, updated_at=now,
            ).returning(runs.c.id)).scalar_one()
            pruned = self._prune(conn, owner, keep=run_id, now=now)
        return Saved(int(run_id), pruned)

    def replace(self, owner: str, run_id: int, bundle: dict[str, Any] | str | bytes) -> Pruned:
        """Overwrite `owner`'s run `run_id` (e.g. after training went on); RunNotFound if it is not theirs."""
        _need_owner(owner)
        run_id = _run_id(run_id)
        text, version, label = self._prepare(bundle)
        now = self._now()
        with self._tx("could not update the run") as conn:
            hit = conn.execute(update(runs).where(runs.c.owner == owner, runs.c.id == run_id).values(
                label=label, schema_version=version, body=text, size_bytes=len(text.encode()), updated_at=now,
            )).rowcount
            if not hit:
                raise RunNotFound(f"run {run_id} is not in your stored runs")
            return self._prune(conn, owner, keep=run_id, now=now)

    def delete(self, owner: str, run_id: int) -> bool:
        """Remove one of `owner`'s runs; False if there was none with that id."""
        if not is_owner_id(owner):
            return False
        try:
            run_id = _run_id(run_id)
        except RunNotFound:
            return False
        with self._tx("could not delete the run") as conn:
            return bool(conn.execute(delete(runs).where(runs.c.owner == owner, runs.c.id == run_id)).rowcount)

    def forget(self, owner: str) -> int:
        """"Forget my runs": delete every run of `owner`; return how many were deleted."""
        if not is_owner_id(owner):
            return 0
        with self._tx("could not forget your runs") as conn:
            return int(conn.execute(delete(runs).where(runs.c.owner == owner)).rowcount)

    def prune(self, owner: str | None = None) -> Pruned:
        """Apply the age, per-owner and total-size bounds to everyone (e.g. at server start); `owner`'s
        removed runs are reported in full, everyone else's as a count."""
        with self._tx("could not prune the run store") as conn:
            return self._prune(conn, owner if is_owner_id(owner) else None, keep=None, now=self._now(), everyone=True)

    # reads

    def list(self, owner: str) -> Listing:
        """`owner`'s runs, oldest first (metadata only); rows of an unreadable format are skipped with a note."""
        out = Listing()
        if not is_owner_id(owner):
            return out
        with self._tx("could not list your runs") as conn:
            rows = conn.execute(select(*_META).where(runs.c.owner == owner).order_by(*_OLDEST)).all()
        for row in rows:
            run = _meta(row)
            if run.schema_version in SUPPORTED_VERSIONS:
                out.runs.append(run)
            else:
                out.skipped.append(f"{_name(run)}: {version_message(run.schema_version)}")
        return out

    def load(self, owner: str, run_id: int) -> dict[str, Any]:
        """`owner`'s run `run_id` as a bundle dict; RunNotFound, CorruptRun or IncompatibleRun."""
        if not is_owner_id(owner):
            raise RunNotFound(f"run {run_id} is not in your stored runs")
        run_id = _run_id(run_id)
        with self._tx("could not load the run") as conn:
            row = conn.execute(select(*_META, runs.c.body).where(runs.c.owner == owner, runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(f"run {run_id} is not in your stored runs")
        return parse_stored(row.body, int(row.schema_version), _name(_meta(row)))

    def load_all(self, owner: str) -> Listing:
        """`owner`'s runs with their bundles, oldest first; damaged or unreadable rows skipped with a note each."""
        out = Listing()
        if not is_owner_id(owner):
            return out
        with self._tx("could not load your runs") as conn:
            rows = conn.execute(select(*_META, runs.c.body).where(runs.c.owner == owner).order_by(*_OLDEST)).all()
        for row in rows:
            run = _meta(row)
            try:
                data = parse_stored(row.body, run.schema_version, _name(run))
            except StoreError as exc:
                out.skipped.append(str(exc))
                continue
            out.runs.append(run)
            out.bundles.append(data)
        return out

    def usage(self) -> tuple[int, int]:
        """(rows, bytes) held for everyone."""
        with self._tx("could not read the run store's size") as conn:
            n, size = conn.execute(select(func.count(), func.coalesce(func.sum(runs.c.size_bytes), 0))).one()
        return int(n), int(size)

    # bounds

    def _prepare(self, bundle: dict[str, Any] | str | bytes) -> tuple[str, int, str]:
        text, version, label = prepare(bundle)
        size, cap = len(text.encode()), min(self.settings.max_run_bytes, self.settings.max_total_bytes)
        if size > cap:
            raise RunTooLarge(f"this run's bundle is {size / 1e6:.1f} MB; "
                              f"the store keeps runs up to {cap / 1e6:.1f} MB")
        return text, version, label

    def _prune(self, conn: Connection, owner: str | None, keep: int | None, now: dt.datetime,
               everyone: bool = False) -> Pruned:
        """Delete what the bounds exclude. After a write only the writer can be over the per-owner cap."""
        s, out = self.settings, Pruned()
        not_kept = (runs.c.id != keep) if keep is not None else True

        def drop(where: Any, reason: str) -> None:
            rows = conn.execute(select(*_META, runs.c.owner).where(where, not_kept)).all()
            if not rows:
                return
            conn.execute(delete(runs).where(runs.c.id.in_([r.id for r in rows])))
            mine = [_meta(r) for r in rows if r.owner == owner]
            out.own.extend(mine)
            out.others += len(rows) - len(mine)
            out.reasons.append(reason)

        cutoff = now - dt.timedelta(days=s.max_age_days)
        drop(runs.c.updated_at < cutoff, f"runs are kept {s.max_age_days:g} days after they were last saved")

        owners = [owner] if owner and not everyone else conn.execute(
            select(runs.c.owner).group_by(runs.c.owner).having(func.count() > s.max_runs_per_owner)).scalars().all()
        over_ids: list[int] = []
        for who in owners:
            ids = conn.execute(select(runs.c.id).where(runs.c.owner == who).order_by(*_OLDEST)).scalars().all()
            extra = [i for i in ids if i != keep][: max(0, len(ids) - s.max_runs_per_owner)]
            over_ids.extend(extra)
        if over_ids:
            drop(runs.c.id.in_(over_ids), f"each student keeps at most {s.max_runs_per_owner} runs")

        total = int(conn.execute(select(func.coalesce(func.sum(runs.c.size_bytes), 0))).scalar_one())
        if total > s.max_total_bytes:
            victims, freed = [], 0
            for rid, size in conn.execute(select(runs.c.id, runs.c.size_bytes).where(not_kept).order_by(*_OLDEST)):
                if total - freed <= s.max_total_bytes:
                    break
                victims.append(rid)
                freed += int(size)
            if victims:
                drop(runs.c.id.in_(victims), f"the store keeps at most {s.max_total_bytes / 1e6:g} MB of runs in all")
        return out


def _run_id(run_id: object) -> int:
    try:
        return int(run_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RunNotFound(f"run {run_id!r} is not in your stored runs") from None


def _need_owner(owner: object) -> None:
    if not is_owner_id(owner):
        raise StoreError("this browser's run-store id is malformed; runs are kept in this session only")
