"""Cold start and runtime settings: the landing page's modules import no TensorFlow (it loads in the
background, ui/warmup.py); rnn_core.runtime's compile-thread setting and its environment override."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnn_core import runtime

ROOT = Path(__file__).resolve().parents[1]
LANDING = ["ui.settings", "ui.state", "ui.live", "ui.progress", "ui.downloads", "ui.entry", "ui.warmup",
           "rnn_core.config", "rnn_core.data", "rnn_core.report"]


def imported_after(modules: list[str]) -> set[str]:
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def test_landing_modules_import_no_tensorflow():
    assert imported_after(LANDING) == set()


def test_the_trainer_does_import_tensorflow():  # the check above can fail: importing the trainer is seen
    assert "tensorflow" in imported_after(["rnn_core.train"])


def test_train_page_imports_only_landing_modules():
    text = (ROOT / "pages" / "train.py").read_text()
    imports = [line.split()[1] for line in text.splitlines() if line.startswith(("from ", "import "))]
    assert all(m.split(".")[0] in ("time", "streamlit", "ui", "rnn_core") for m in imports)
    assert not any(m in ("rnn_core.train", "rnn_core.kernels") for m in imports)
    assert (ROOT / "app.py").read_text().index("warmup.start()") < (ROOT / "app.py").read_text().index("sidebar()")


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
