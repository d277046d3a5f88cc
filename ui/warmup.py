"""Once per server process, in the background: compile the default run's kernel, so R2RT starts at once,
run one eager step, so a user's first run of new shapes (which starts eagerly) skips TensorFlow's
one-off start-up, then switch full-gradient sampling to compiled programs and build the default run's
(seconds of CPU once, then a third of NumPy's time for every run's samples).

The sampling programs wait for a quiet moment after the first run (`quiet_moment`): on a cold server their
7 s of compiling would otherwise compete with the first visitor's page and first run, which sample in NumPy
meanwhile (the same numbers, a little slower)."""
from __future__ import annotations

import logging
import threading
import time

import streamlit as st

log = logging.getLogger(__name__)
QUIET_SECONDS = 2.0  # no run training for this long after one ended: compile the sampling programs
IDLE_SECONDS = 120.0  # or this long after the kernel warm-up with no run at all


def quiet_moment(quiet: float = QUIET_SECONDS, idle: float = IDLE_SECONDS, poll: float = 0.25) -> None:
    """Return once a run has ended and no run has trained for `quiet` seconds, or after `idle` seconds with no run
    ended at all and none training."""
    from rnn_core.kernels import training_runs, trainings_ended

    began, ended_before, calm_since = time.monotonic(), trainings_ended(), None
    while True:
        now = time.monotonic()
        if training_runs():
            calm_since = None
        elif calm_since is None:
            calm_since = now
        some_ended = trainings_ended() > ended_before
        if calm_since is not None and (now - calm_since >= quiet if some_ended else now - began >= idle):
            return
        time.sleep(poll)


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
        quiet_moment()
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
