"""The session's runs in the run store (runstore/): records to bundles and back, every store failure a sentence.

ui/state.py keeps the session's run list and calls these functions when a run is kept, refreshed or
forgotten; they never raise. Each returns the note the page shows (st.warning) when the store could not
do its part, and the run stays in the session's memory. The store is opened per call from the
environment (TRUNCATION_EXPLORER_DB etc.); the SQLAlchemy engine behind it is shared per URL, so this
costs a dictionary lookup, and a test that points the variable at a damaged database is honoured at once.

A stored bundle is RunRecord.to_json plus "source" (which tab made the run) and "group" (which sweep),
which RunRecord.from_json ignores and `record` reads back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnn_core.report import RunRecord
from runstore import RunNotFound, RunStore, StoreError

KEPT_HERE = "the run is kept in this session only"


@dataclass
class Loaded:
    """An owner's stored runs, oldest first, as (store id, record), and a note per run that could not be used."""

    runs: list[tuple[int, RunRecord]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def store() -> RunStore:
    """The run store the environment names; StoreError (or ValueError for a bad bound) if it cannot be opened."""
    return RunStore()


def bundle(record: RunRecord) -> dict[str, Any]:
    """What the store keeps for a run: its JSON bundle and the tab it came from."""
    out = record.to_json()
    out["source"] = str(record.extra.get("source", ""))
    out["group"] = str(record.extra.get("group", ""))
    return out


def record(data: dict[str, Any]) -> RunRecord:
    """A stored bundle as a record (ValueError naming what is malformed)."""
    rec = RunRecord.from_json(data)
    rec.extra["source"] = str(data.get("source") or "")
    if data.get("group"):
        rec.extra["group"] = str(data["group"])
    return rec


def _problem(exc: Exception, doing: str) -> str:
    if isinstance(exc, StoreError):
        return f"Run store: {exc}; {doing}."
    return f"Run store: {exc} ({type(exc).__name__}); {doing}."


def load(owner: str, limit: int) -> Loaded:
    """The newest `limit` usable stored runs of `owner`; damaged, foreign-format or unreadable rows become notes
    (only the kept ones are rebuilt as records: a long run's history takes a while to read)."""
    out = Loaded()
    try:
        listing = store().load_all(owner)
    except (StoreError, ValueError) as exc:
        out.notes.append(_problem(exc, "your earlier runs cannot be shown, new runs are kept in this session only"))
        return out
    for note in listing.skipped:
        out.notes.append(f"A stored run was skipped: {note}.")
    for meta, data in list(zip(listing.runs, listing.bundles))[-limit:]:
        try:
            out.runs.append((meta.id, record(data)))
        except (ValueError, TypeError, KeyError) as exc:
            out.notes.append(f"A stored run was skipped: run {meta.id} {meta.label!r} cannot be read ({exc}).")
    return out


@dataclass
class Written:
    """What a write did: the run's store id (None if it was not stored), the owner's runs the store pruned to
    make room (their ids), and the notes for the page."""

    run_id: int | None
    pruned: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def put(owner: str, rec: RunRecord) -> Written:
    """Store a new run."""
    try:
        saved = store().put(owner, bundle(rec))
    except (StoreError, ValueError) as exc:
        return Written(None, notes=[_problem(exc, KEPT_HERE)])
    return Written(saved.run_id, [r.id for r in saved.pruned.own], [saved.pruned.message()] if saved.pruned else [])


def replace(owner: str, run_id: int, rec: RunRecord) -> Written:
    """Overwrite a stored run with its newer record (stored anew if it is gone; run_id None if that failed)."""
    try:
        pruned = store().replace(owner, run_id, bundle(rec))
    except RunNotFound:  # forgotten or pruned from another tab meanwhile: store it anew
        return put(owner, rec)
    except (StoreError, ValueError) as exc:
        return Written(None, notes=[_problem(exc, "its newer steps are kept in this session only")])
    return Written(run_id, [r.id for r in pruned.own], [pruned.message()] if pruned else [])


def forget(owner: str) -> tuple[int, list[str]]:
    """Delete every stored run of `owner`; (how many, notes)."""
    try:
        return store().forget(owner), []
    except (StoreError, ValueError) as exc:
        return 0, [_problem(exc, "your stored runs could not be deleted; try again")]
