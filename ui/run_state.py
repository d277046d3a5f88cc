"""The Train page's live run in session state: the Trainer, its entry in the run store, a loaded bundle.

A trainer's run goes into the session run store (ui/runs.py) once, the first time it is saved,
and the same entry is replaced with the newer record when the run is continued.

With Streamlit's fast reruns a click starts the new script run on a new thread while the old one
is still training until its next st.* call. The training loop therefore holds `training_lock()`,
and every function here that touches the trainer first waits for it, so a new run only ever sees
a trainer whose generator has been closed and whose weights have been copied out.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from collections.abc import Iterator

import numpy as np
import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from ui.runs import add_run, get_runs

TRAINER, RECORD, LOADED, LOCK = "trainer", "trainer_record", "loaded_run", "_training_lock"
WAIT_SECONDS = 30.0


def _lock() -> threading.Lock:
    lock = st.session_state.get(LOCK)
    if lock is None:
        lock = st.session_state[LOCK] = threading.Lock()
    return lock


@contextmanager
def training_lock() -> Iterator[None]:
    """Held while a script run trains; released (without any st.* call) when its loop ends or is stopped."""
    lock = _lock()
    acquired = lock.acquire(timeout=WAIT_SECONDS)
    try:
        yield
    finally:
        if acquired:
            lock.release()


def wait_idle() -> None:
    """Wait until no earlier script run of this session is still training."""
    lock = _lock()
    if lock.acquire(timeout=WAIT_SECONDS):
        lock.release()


def trainer() -> Trainer | None:
    """The live trainer of this session, if any (after any earlier run's training has stopped)."""
    wait_idle()
    return st.session_state.get(TRAINER)


def loaded() -> RunRecord | None:
    """A run restored from a JSON bundle, shown while no trainer is live."""
    return st.session_state.get(LOADED)


def start(cfg: RunConfig, sequence: tuple[np.ndarray, np.ndarray] | None) -> Trainer:
    """Keep the current run, then begin a fresh trainer for `cfg` (ValueError if the data does not fit)."""
    reset()
    fresh = Trainer(cfg, sequence=sequence if cfg.task == "file" else None)
    st.session_state[TRAINER] = fresh
    return fresh


def save() -> RunRecord | None:
    """Put the live run into the session run store, or refresh its entry there; returns its record."""
    wait_idle()
    live, old = trainer(), st.session_state.get(RECORD)
    if live is None or live.state.steps_done == 0:
        return old
    if old is not None and old.summary.get("steps") == live.state.steps_done and old.summary.get("status") == live.state.status:
        return old
    record = RunRecord.from_trainer(live, label=old.label if old is not None else "")
    runs = get_runs()
    for i, kept in enumerate(runs):
        if kept is old:
            runs[i] = record
            break
    else:
        add_run(record)
    st.session_state[RECORD] = record
    return record


def reset() -> None:
    """Keep what the live run trained in the run store, then forget it and any loaded bundle."""
    save()
    for key in (TRAINER, RECORD, LOADED):
        st.session_state.pop(key, None)


def show_loaded(record: RunRecord) -> None:
    """Show a run restored from a bundle in place of a live one."""
    reset()
    st.session_state[LOADED] = record
