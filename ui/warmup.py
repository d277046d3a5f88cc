"""Compile the default run's kernel once per server process, in the background, so R2RT starts at once."""
from __future__ import annotations

import logging
import threading

import streamlit as st

log = logging.getLogger(__name__)


def _warm() -> None:
    from rnn_core.config import RunConfig
    from rnn_core.kernels import warm_up
    from rnn_core.train import Trainer

    try:
        seconds = warm_up(Trainer(RunConfig()).key)
        log.info("warmed the default kernel in %.1f s", seconds)
    except Exception:  # a failed warm-up only costs the first run its compile time
        log.exception("warming the default kernel failed")


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start (once per process) a daemon thread compiling the kernel `Trainer(RunConfig())` uses."""
    thread = threading.Thread(target=_warm, name="warm-default-kernel", daemon=True)
    thread.start()
    return thread
