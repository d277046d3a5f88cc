"""Cold start and runtime settings: the landing page's modules import no TensorFlow (it loads in the
background, ui/warmup.py); rnn_core.runtime's compile-thread setting and its environment override."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_core import runtime

ROOT = Path(__file__).resolve().parents[1]
LANDING = ["ui.settings", "ui.state", "ui.live", "ui.progress", "ui.downloads", "ui.entry", "ui.warmup",
           "ui.stepper", "ui.exact_view", "ui.explain", "ui.lesson_link", "ui.run_cap", "ui.run_list",
           "rnn_core.config", "rnn_core.data", "rnn_core.report"]  # every module the Train page imports


def imported_after(modules: list[str]) -> set[str]:
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def test_landing_modules_import_no_tensorflow():
    assert imported_after(LANDING) == set()


def test_sixteen_threads_importing_the_engine_at_once_all_get_it():
    """A server's warm-up and students' first clicks import the engine (TensorFlow) on several threads at once.
    Importing TensorFlow on each of them at once ran Python's module locks into a cycle: some threads got
    "cannot import name 'make_trainer'" (seen in bench.classroom). rnn_core.backend imports it once, the
    others wait; before it, this failed in three runs out of three."""
    code = """
import importlib, threading
entries = ["rnn_core.online_train", "rnn_core.train", "rnn_core.exact", "rnn_core.online", "rnn_core.kernels",
           "rnn_core.model", "rnn_core.window", "rnn_core.derived"] * 2
barrier, errors = threading.Barrier(len(entries)), []
def go(name):
    barrier.wait()
    try:
        importlib.import_module(name)
        from rnn_core.online_train import make_trainer  # noqa: F401
    except BaseException as exc:
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
threads = [threading.Thread(target=go, args=(n,)) for n in entries]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout[-2000:], out.stderr[-2000:])


def test_engine_modules_take_tensorflow_from_the_backend_module_only():
    for path in sorted((ROOT / "rnn_core").glob("*.py")):
        if path.name == "backend.py":
            continue
        lines = path.read_text().splitlines()
        direct = [x for x in lines if x.strip().startswith(("import tensorflow", "import keras", "from tensorflow",
                                                            "from keras"))]
        assert not direct, f"{path.name} imports TensorFlow or Keras itself: {direct}"


def test_the_trainer_does_import_tensorflow():  # the check above can fail: importing the trainer is seen
    assert "tensorflow" in imported_after(["rnn_core.train"])


def test_train_page_imports_only_landing_modules():
    text = (ROOT / "pages" / "train.py").read_text()
    imports = [line.split()[1] for line in text.splitlines() if line.startswith(("from ", "import "))]
    assert all(m.split(".")[0] in ("contextlib", "time", "streamlit", "ui", "rnn_core") for m in imports)
    assert not any(m in ("rnn_core.train", "rnn_core.kernels") for m in imports)
    assert "exact_view" not in text[: text.index("train_buttons.draw(")]  # its charts' libraries load after the buttons


def test_the_warm_up_starts_in_a_sessions_second_script_run_not_its_first(monkeypatch):
    """TensorFlow's import holds the GIL against the server handing the first page to the browser, so the
    warm-up starts once the page is there: in the session's next script run (the browser id's, or a click)."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import navigation_pages  # AppTest with app.py's st.navigation
    from ui import warmup

    navigation_pages(monkeypatch)
    calls = []
    monkeypatch.setattr(warmup, "start", lambda: calls.append(1))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and calls == []
    at.run()
    assert calls == [1]
    at.run()
    assert calls == [1, 1]  # every later run asks again: warmup.start runs its thread once per process


@pytest.mark.parametrize(("raw", "want"), [("1", 1), ("3", 3), ("0", 1), (" 2 ", 2)])
def test_compile_threads_from_environment(monkeypatch, raw, want):
    monkeypatch.setenv(runtime.COMPILE_THREADS_ENV, raw)
    assert runtime.compile_threads() == want


def test_compile_threads_default_follows_cores(monkeypatch):
    monkeypatch.delenv(runtime.COMPILE_THREADS_ENV, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert runtime.compile_threads() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert runtime.compile_threads() == 2


def test_compile_threads_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(runtime.COMPILE_THREADS_ENV, "two")
    with pytest.raises(ValueError, match="TRUNCATION_COMPILE_THREADS='two'"):
        runtime.compile_threads()


def test_apply_adds_the_xla_flag_and_keeps_the_users(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    runtime.apply()
    assert runtime.XLA_FLAGS in runtime.os.environ["XLA_FLAGS"].split()
    assert "--xla_cpu_multi_thread_eigen=false" in runtime.os.environ["XLA_FLAGS"].split()
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=2")
    runtime.apply()
    assert runtime.os.environ["XLA_FLAGS"] == "--xla_backend_optimization_level=2"  # a user's own level wins


def test_apply_turns_tensorflows_onednn_ops_off_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    runtime.apply()
    assert runtime.os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    runtime.apply()
    assert runtime.os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def xla_threads(**env: str) -> int:
    """How many threads TensorFlow's XLA:CPU pool has after a compiled call, in a clean subprocess."""
    clean = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"} | env
    probe = ("import os\nimport rnn_core\nfrom rnn_core.backend import tf\n"
             "f = tf.function(lambda x: tf.reduce_sum(x @ x), jit_compile=True)\nf(tf.ones((64, 64)))\n"
             "print(sum(open(f'/proc/self/task/{t}/comm').read().strip() == 'tf_XLAEigen'"
             " for t in os.listdir('/proc/self/task')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc to count threads")
def test_compiled_programs_run_on_one_thread_unless_the_user_asks_for_more():
    assert xla_threads() == runtime.INTRA_OP_THREADS == 1
    assert xla_threads(TF_NUM_INTRAOP_THREADS="2") == 2


def blas_threads(code: str, **env: str) -> list[int]:
    """NumPy's BLAS thread counts (threadpoolctl) printed by `code` run in a clean subprocess."""
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | env
    probe = code + ("\nimport json\nfrom threadpoolctl import threadpool_info\n"
                    "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["import numpy, rnn_core", "import rnn_core, numpy"])
def test_the_engine_leaves_numpy_one_blas_thread_whichever_loads_first(order):
    """A Streamlit server loads NumPy before the app does (threadpoolctl's limit), the CLI after (the variable)."""
    assert blas_threads(order) == [1]
    if (os.cpu_count() or 1) > 1:  # without the engine, NumPy's BLAS takes a thread per core
        assert blas_threads("import numpy") not in ([], [1])


def test_a_users_own_blas_thread_count_wins():
    assert blas_threads("import numpy, rnn_core", OPENBLAS_NUM_THREADS="2") == [2]
