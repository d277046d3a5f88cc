"""The teacher's cap on one run's cost: the estimate, the advice that gets a run under it, and the Train page's
refusal (AppTest)."""
from __future__ import annotations

import re

import pytest

from rnn_core.config import RunConfig
from rnn_core.cost import over_cap, run_seconds
from tests.test_app_train import button, navigation_like_the_server, open_app, texts  # noqa: F401 (autouse)
from ui import run_cap, state

R2RT_LESSONS = [  # README's three R2RT runs, and the Styles lesson's Williams-Peng n = 20
    RunConfig(truncation=1), RunConfig(truncation=5), RunConfig(truncation=10, state_size=16, epochs=3),
    RunConfig(truncation=20, style="williams-peng", k1=1, state_size=16),
]
HEAVY = RunConfig(state_size=256, truncation=200, series_length=5_000_000, epochs=3)  # about 3 min of one core


def test_the_default_cap_admits_every_r2rt_lesson_and_refuses_the_heavy_run(monkeypatch):
    monkeypatch.delenv(run_cap.ENV, raising=False)
    cap = run_cap.cap_seconds()
    assert cap == run_cap.DEFAULT_CAP_SECONDS
    for cfg in R2RT_LESSONS:
        assert over_cap(cfg.validate(), cap) is None, cfg
    assert over_cap(HEAVY, cap) is not None


def test_the_estimate_grows_with_steps_and_faster_than_d():
    base = RunConfig(state_size=64, truncation=50)
    assert run_seconds(base.replace(epochs=2)) == pytest.approx(2 * run_seconds(base))
    arithmetic = run_seconds(base.replace(state_size=256)) - run_seconds(base.replace(state_size=128))
    assert arithmetic > 2.2 * (run_seconds(base.replace(state_size=128)) - run_seconds(base))  # the d² term
    # measured at d = 256, n = 20, B = 200: 31.7 ms a step (tests/test_compare_plans.py holds the fit to 36 shapes)
    wide = RunConfig(state_size=256, truncation=20, series_length=200 * 20 * 300)
    assert 0.5 < run_seconds(wide) / (300 * 31.7e-3) < 2.0


def _at_most(message: str, what: str) -> int:
    return int(re.search(rf"{what} at most ([\d,]+)", message).group(1).replace(",", ""))


@pytest.mark.parametrize("cfg", [HEAVY.replace(epochs=10),
                                 RunConfig(state_size=64, truncation=100, style="williams-peng", k1=1, epochs=4)])
def test_each_way_the_refusal_names_gets_under_the_cap(cfg):
    cap = 30.0
    message = over_cap(cfg, cap)
    assert "over the cap of 30 s" in message and f"about {run_seconds(cfg) / 60:,.0f} min" in message
    series = int(re.search(r"\(at most ([\d,]+) time steps", message).group(1).replace(",", ""))
    assert run_seconds(cfg.replace(series_length=series)) <= cap
    if "smaller state" in message:
        d = _at_most(message, "d")
        assert run_seconds(cfg.replace(state_size=d)) <= cap < run_seconds(cfg.replace(state_size=d + 1))  # largest
    else:
        assert run_seconds(cfg.replace(state_size=1)) > cap  # not offered because no d fits
    if "fewer epochs" in message:
        epochs = int(re.search(r"fewer epochs \(at most (\d+)", message).group(1))
        assert run_seconds(cfg.replace(epochs=epochs)) <= cap
    if cfg.style == "williams-peng":
        n = _at_most(message, "n")
        assert run_seconds(cfg.replace(truncation=n)) <= cap
    else:
        assert "narrower window" not in message  # a TF-style run's arithmetic does not shrink with n
    assert over_cap(cfg, 0) is None  # 0 turns the cap off


def test_the_train_page_refuses_a_run_over_the_cap_and_trains_one_under_it(monkeypatch):
    monkeypatch.setenv(run_cap.ENV, "0.05")
    at = open_app({"series_length": "1000000"})  # R2RT's default run: about 0.07 s estimated
    button(at, "Train").click().run()
    assert not at.exception
    errors = texts(at.error)
    estimate = f"about {run_seconds(RunConfig()):.2g} s"  # under a second: two significant digits, not "0.1 s"
    assert estimate in errors and "over the cap of 0.05 s" in errors and "shorter series" in errors, errors
    assert state.TRAINER not in at.session_state or at.session_state[state.TRAINER] is None
    assert not at.session_state[state.RUNS] if state.RUNS in at.session_state else True
    at = open_app({"series_length": "20000"})
    button(at, "Train").click().run()
    assert not at.exception and "Done: 20 steps" in texts(at.success) and not at.error


def test_a_broken_cap_setting_refuses_with_a_message_naming_it(monkeypatch):
    monkeypatch.setenv(run_cap.ENV, "lots")
    message = run_cap.refusal(RunConfig())
    assert run_cap.ENV in message and "'lots'" in message
