"""The teacher's cap on what one run may cost this server, and the Train page's refusal of a run over it.

Set by whoever starts the server: the environment variable `TRUNCATION_MAX_RUN_SECONDS`, else
`max_run_seconds` in `.streamlit/secrets.toml`, else `DEFAULT_CAP_SECONDS`; 0 turns the cap off. The
cap is in estimated seconds of one core (rnn_core/cost.py); the default admits every R2RT lesson
(the heaviest, n = 10, d = 16, 3 epochs, is estimated at a few seconds) and refuses a run that would
hold a core for minutes while a class waits.
"""
from __future__ import annotations

import os

import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.cost import over_cap

DEFAULT_CAP_SECONDS = 60.0
ENV = "TRUNCATION_MAX_RUN_SECONDS"


def cap_seconds() -> float:
    """The cap now in force (estimated seconds of one core per run; 0 means no cap)."""
    raw = os.environ.get(ENV)
    source = ENV
    if raw is None:
        try:
            raw = st.secrets.get("max_run_seconds")
        except Exception:  # no secrets.toml at all: Streamlit raises rather than returning nothing
            raw = None
        source = "max_run_seconds in .streamlit/secrets.toml"
    if raw is None:
        return DEFAULT_CAP_SECONDS
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a number of seconds, got {raw!r}") from None
    return value if value > 0 else 0.0


def refusal(cfg: RunConfig, sequence=None) -> str | None:
    """Why this run may not start here (the cap and how to get under it), or None if it may."""
    length = len(sequence[0]) if sequence is not None else None
    try:
        cap = cap_seconds()
    except ValueError as exc:  # the teacher's setting is broken: refuse, and say which setting to fix
        return f"The server's cap on one run's cost is not usable: {exc}."
    return over_cap(cfg, cap, length)
