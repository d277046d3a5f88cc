"""Keep Keras's global state across script runs: Streamlit would clear it after every run of every session.

Streamlit's script runner calls `_clean_problem_modules()` after each script run; when keras is imported,
that calls `keras.backend.clear_session()`: a full garbage collection, a reset of TensorFlow's default
graph and of the eager kernel cache, while other sessions may be training. This app keeps its compiled
programs in its own pool and builds no Keras models per run, so the clearing only costs CPU (about half
of a Train click's server CPU) and makes every session's next eager step rebuild its kernels. Streamlit
1.67 has no config option for it; `keep_keras_session()` swaps in a cleaner that keeps Streamlit's other
clean-up (closing matplotlib figures). tests/test_server_tuning.py fails if clear_session runs again.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from streamlit.runtime.scriptrunner import script_runner

log = logging.getLogger(__name__)
STREAMLIT_CLEANER: Callable[[], None] | None = getattr(script_runner, "_clean_problem_modules", None)  # Streamlit's own


def _close_matplotlib_figures() -> None:
    """Streamlit's post-run clean-up without the Keras part: close pyplot's figures if pyplot is loaded."""
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # a failed close must not break the script run, as in Streamlit's own clean-up
            log.debug("closing matplotlib figures failed", exc_info=True)


def keep_keras_session() -> bool:
    """Install the cleaner (idempotent, once per process is enough); False if Streamlit's hook is gone."""
    current: Callable[[], None] | None = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        log.warning("streamlit's script_runner._clean_problem_modules is gone: Keras clean-up not changed")
        return False
    if current is not _close_matplotlib_figures:
        script_runner._clean_problem_modules = _close_matplotlib_figures
    return True
