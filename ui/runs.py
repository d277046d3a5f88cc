"""The session's kept runs: a bounded list of RunRecord in st.session_state, newest last."""
from __future__ import annotations

import streamlit as st

from rnn_core.report import RunRecord

MAX_RUNS = 20
KEY = "runs"


def get_runs() -> list[RunRecord]:
    """Every kept run of this session, oldest first."""
    return st.session_state.setdefault(KEY, [])


def add_run(record: RunRecord) -> RunRecord:
    """Keep a run (dropping the oldest beyond MAX_RUNS); its label is made unique in the session."""
    runs = get_runs()
    labels = {r.label for r in runs}
    base, k = record.label, 2
    while record.label in labels:
        record.label = f"{base} #{k}"
        k += 1
    runs.append(record)
    del runs[:-MAX_RUNS]
    return record


def clear_runs() -> None:
    """Forget every kept run."""
    st.session_state[KEY] = []
