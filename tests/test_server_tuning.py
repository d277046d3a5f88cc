"""ui/server_tuning.py: after a script run Streamlit no longer clears Keras, and still closes pyplot figures."""
from __future__ import annotations

import sys
import types

import keras
import pytest
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui import server_tuning


@pytest.fixture
def calls(monkeypatch):
    """Counts of keras.backend.clear_session() and pyplot.close('all') calls; Streamlit's cleaner restored after."""
    seen = {"clear_session": 0, "close": []}
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: seen.__setitem__(
        "clear_session", seen["clear_session"] + 1))
    pyplot = types.SimpleNamespace(close=lambda which: seen["close"].append(which))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    monkeypatch.setattr(script_runner, "_clean_problem_modules", server_tuning.STREAMLIT_CLEANER)
    return seen


def test_streamlit_own_cleaner_clears_keras(calls):
    """The control: the function being replaced does call clear_session (if not, this test and the fix are moot)."""
    assert server_tuning.STREAMLIT_CLEANER is not None, "Streamlit's _clean_problem_modules is gone: recheck the fix"
    script_runner._clean_problem_modules()
    assert calls["clear_session"] == 1
    assert calls["close"] == ["all"]


def test_cleaner_keeps_keras_and_closes_figures(calls):
    assert server_tuning.keep_keras_session()
    assert server_tuning.keep_keras_session()  # a second call (every app run makes one) changes nothing
    script_runner._clean_problem_modules()
    assert calls["clear_session"] == 0
    assert calls["close"] == ["all"]


def test_an_app_run_does_not_clear_keras(calls):
    """app.py installs the cleaner: a whole script run through Streamlit's runner leaves Keras alone."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button, "the Train page did not render"
    assert calls["clear_session"] == 0
    assert calls["close"], "Streamlit's post-run clean-up did not run at all"
