"""Once per server process, in the background: compile the default run's kernel, so R2RT starts at once,
run one eager step, so a user's first run of new shapes (which starts eagerly) skips TensorFlow's
one-off start-up, then switch full-gradient sampling to compiled programs and build the default run's
(seconds of CPU once, then a third of NumPy's time for every run's samples)."""
from __future__ import annotations

import logging
import threading

import streamlit as st

log = logging.getLogger(__name__)


def _warm() -> None:
    from rnn_core.config import RunConfig
    from rnn_core.kernels import warm_eager, warm_up
    from rnn_core.sampling import use_compiled
    from rnn_core.train import Trainer

    try:
        key = Trainer(RunConfig()).key
        seconds = warm_up(key)
        seconds += warm_eager(key)
        log.info("warmed the default kernel and the eager path in %.1f s", seconds)
        log.info("compiled the default run's sampling programs in %.1f s", use_compiled(RunConfig()))
    except Exception:  # a failed warm-up only costs the first run its compile time
        log.exception("warming the default kernel failed")


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start (once per process) a daemon thread compiling the kernel `Trainer(RunConfig())` uses and
    running one eager step."""
    thread = threading.Thread(target=_warm, name="warm-default-kernel", daemon=True)
    thread.start()
    return thread
