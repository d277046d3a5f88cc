"""Process-wide runtime settings for TensorFlow and XLA, applied once before TensorFlow is imported.

`apply()` (called by rnn_core/__init__.py, so before any module here imports TensorFlow) sets
environment defaults that TensorFlow and XLA read when they start; a value already in the
environment wins, so a user can override any of them for one run. What each is for:

- `TRUNCATION_COMPILE_THREADS`: how many XLA compiles run at once (kernels.py's compile pool).
  A compile is single-threaded, so on a machine with two cores or more a second compile thread
  lets a sweep compile the next shape while another compiles (default: 2 with >= 2 cores, else 1).
- `XLA_FLAGS=--xla_backend_optimization_level=1` (LLVM's -O1 for XLA:CPU's generated code instead of
  -O2): the kernels are small loops of library calls, so the cheaper optimisation shortens each
  compile without slowing the loop; final losses agree with -O2's to 1e-7.
- `OPENBLAS_NUM_THREADS=1` (and, for a NumPy already loaded, threadpoolctl's limit on its BLAS): the
  model's matmuls run in XLA on TensorFlow's threads; NumPy's BLAS serves only host-side work such as
  sigma_max's LAPACK calls on each chunk's W_s, and its second thread mostly spins after each call,
  taking a core from XLA. At d = 256 a training step went 43.3 -> 31.3 ms (bench.gflops) with the same
  floats. A user's own OPENBLAS_NUM_THREADS is left alone.
- `TF_NUM_INTRAOP_THREADS=1`: one thread runs a compiled program's kernels and dots. A d = 4 step is
  about 125 small kernels, and handing each to a second thread cost more than it saved: R2RT steps
  0.119 -> 0.095 ms (bench.race, alternating), 40 % less CPU a default run (85 -> 51 ms), and a server's
  two runs at once (rnn_core/turns.py) take a core each. A d = 256 step is 1.23x slower alone (16.8 ->
  20.5 ms). Compiled floats are the same at d <= 16 and differ from two threads' in the last bits at
  d = 64, so the CLI and the app keep one setting.
- `TF_ENABLE_ONEDNN_OPTS=0`: on CPUs where TensorFlow turns its oneDNN ops on by itself, the eager
  steps a run takes before its program is compiled rounded another way than on other machines, and
  TensorFlow printed a notice to stderr that TF_CPP_MIN_LOG_LEVEL does not silence (the CLI's stderr
  is its error channel). The compiled programs are XLA's either way.
- `TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR` is NOT set: measured on this CPU build,
  its key changes with what the process traced before, so another process rarely hits it
  (bench/README.md).

Numbers behind the defaults are in bench/README.md and notes of issue 14.
"""
from __future__ import annotations

import os

COMPILE_THREADS_ENV = "TRUNCATION_COMPILE_THREADS"
XLA_FLAGS = "--xla_backend_optimization_level=1"
BLAS_THREADS = 1
INTRA_OP_THREADS = 1


def compile_threads() -> int:
    """XLA compiles allowed at once: $TRUNCATION_COMPILE_THREADS, else 2 on a machine with two cores or more."""
    raw = os.environ.get(COMPILE_THREADS_ENV, "")
    if raw.strip():
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(f"{COMPILE_THREADS_ENV}={raw!r} is not a whole number") from None
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def apply() -> None:
    """Set the environment defaults above (TensorFlow reads them when it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the same eager floats on every CPU, and no notice
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(INTRA_OP_THREADS))
    if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_FLAGS}".strip()
    limit_blas_threads()


def limit_blas_threads() -> None:
    """NumPy's BLAS to `BLAS_THREADS` threads, unless the user set OPENBLAS_NUM_THREADS.

    The variable covers a NumPy loaded after this; threadpoolctl changes one already loaded (a Streamlit
    server imports NumPy before the app's first page).
    """
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = str(BLAS_THREADS)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=BLAS_THREADS, user_api="blas")  # kept: the limit stays until restored
