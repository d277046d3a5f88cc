"""Once per server process, in the background: compile the default run's kernel, so R2RT starts at once,
draw a short run's charts once (their libraries' first use is slow), run one eager step, so a user's first
run of new shapes (which starts eagerly) skips TensorFlow's one-off start-up, then switch full-gradient
sampling to compiled programs and build the default run's (seconds of CPU once, then a third of NumPy's
time for every run's samples), freeze the heap (`freeze_heap`), so the garbage collector's full
passes no longer walk the libraries' half a million objects while a class trains, and last, whenever no run
has trained for a while, compile the Compare page's default sweep's shapes (`_warm_sweep`)."""
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
        log.info("drew a short run's charts once in %.2f s", _warm_charts())
        seconds += warm_eager(key)
        log.info("warmed the default kernel and the eager path in %.1f s", seconds)
        log.info("compiled the default run's sampling programs in %.1f s", use_compiled(RunConfig()))
        log.info("froze %d objects out of the collector's full passes in %.2f s", *freeze_heap())
        log.info("compiled the Compare page's default sweep's %d other shapes in %.1f s when idle", *_warm_sweep())
    except Exception:  # a failed warm-up only costs the first run its compile time
        log.exception("warming the default kernel failed")


def _warm_sweep() -> tuple[int, float]:
    """Compile the training kernels of the Compare page's default sweep (`compare.default_sweep`), one shape at a
    time, each once no run has trained for QUIET_S seconds: its first sweep then trains compiled from its first
    step instead of beside seven compiles. Returns (shapes compiled, seconds of compiling)."""
    import time

    from rnn_core.compare import default_sweep
    from rnn_core.config import RunConfig
    from rnn_core.kernels import POOL, key_for, wait_until_quiet, warm_up

    keys = list(dict.fromkeys(key_for(cfg) for cfg in default_sweep(RunConfig())))
    done, seconds = 0, 0.0
    for key in keys:
        wait_until_quiet(QUIET_S)
        if POOL.has_compiled(key):  # the default run's, or a run's since
            continue
        t0 = time.perf_counter()
        warm_up(key)
        seconds += time.perf_counter() - t0
        done += 1
    return done, seconds


def _warm_charts() -> float:
    """Build and convert the Train page's charts of a short default run once, off any page: the first use of
    Altair's, pandas' and pyarrow's code paths costs several times a later one, and would fall on the
    first run a user (or the first of a class) finishes. Returns the seconds taken."""
    import time

    from rnn_core.config import RunConfig
    from rnn_core.report import RunRecord
    from rnn_core.train import Trainer
    from ui import chart_spec, live
    from ui.stepper import pickable_spec

    t0 = time.perf_counter()
    trainer = Trainer(RunConfig(series_length=WARM_SERIES)).run_to_end()
    record = RunRecord.from_trainer(trainer)
    for fig in live.figures(record, trainer.last_chunk.snapshot):
        if fig.chart is not None:
            chart_spec.spec(fig.chart)
            if fig.name == "loss":
                pickable_spec(fig.chart, None, False)
    return time.perf_counter() - t0


def freeze_heap() -> tuple[int, float]:
    """Collect once, then move every object alive now (TensorFlow's, Streamlit's and the libraries' modules,
    the compiled programs) out of the cyclic garbage collector's reach: a full collection otherwise walks
    them all, about half a million objects, for 0.3 s with the GIL held, stalling every session, a few times
    while a class trains. Objects made later (sessions, runs) are collected as before.
    Returns (objects frozen, seconds taken)."""
    import gc
    import time

    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count(), time.perf_counter() - t0


WARM_SERIES = 20_000  # a 20-step run of the default shapes (on the program just compiled)
QUIET_S = 2.0  # the sweep's shapes compile only after this long without a run training (one at a time)


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start (once per process) a daemon thread compiling the kernel `Trainer(RunConfig())` uses and
    running one eager step."""
    thread = threading.Thread(target=_warm, name="warm-default-kernel", daemon=True)
    thread.start()
    return thread
