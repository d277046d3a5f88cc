"""The Learn page under AppTest: the graphs for the config's n, the engine's code, the last run's numbers."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import run_page
from rnn_core import derived, kernels, model, truncation, window
from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from rnn_core.vanishing import mean_factor
from ui import state
from viz.graph import one_step_dot, unrolled_dot


def _page(cfg: RunConfig | None = None, runs: list | None = None) -> AppTest:
    return run_page("learn", 300, config=cfg, runs=runs)


def _graphs(at: AppTest) -> list[str]:
    return [g.proto.spec for g in at.get("graphviz_chart")]


def test_standalone_page_draws_both_graphs_and_shows_the_engine_code():
    at = _page()
    n = RunConfig().truncation
    assert _graphs(at) == [one_step_dot(), unrolled_dot(n, n, n - 1)]
    assert at.code[0].value == inspect.getsource(model.unroll).rstrip("\n")  # st.code trims the last newline
    assert "No run yet" in at.info[0].value and at.button(key="learn_quick")
    assert at.radio(key="learn_style").value == "tf"
    assert at.slider(key=f"learn_trace_{n}").value == n - 1


def test_style_and_trace_change_the_drawing():
    at = _page(RunConfig(truncation=7))
    at.radio(key="learn_style").set_value("wp1").run()
    at.slider(key="learn_trace_7").set_value(2).run()
    assert not at.exception
    assert _graphs(at)[1] == unrolled_dot(7, 1, 2)
    assert any("BPTT(7; 1)" in m.value and "7.0× as many training steps" in m.value for m in at.markdown)


def test_wide_windows_are_capped_with_an_ellipsis_and_lags_out_of_reach_are_named():
    at = _page(RunConfig(truncation=40, series_length=200 * 40))
    assert "… 29 more …" in _graphs(at)[1]
    assert any("the other 29 are alike" in c.value for c in at.caption)
    short = _page(RunConfig(truncation=5))
    table = short.dataframe[0].value
    assert table.iloc[:, 1].tolist() == [2, 0]  # of 5 losses, 2 reach lag 3 and none lag 8
    assert any("no trained loss reaches lag 8" in c.value for c in short.caption)


def test_n_equal_one_says_it_is_the_one_step_graph():
    at = _page(RunConfig(truncation=1))
    assert any("this is the graph you train" in m.value for m in at.markdown)
    assert _graphs(at)[1] == unrolled_dot(1)


def test_the_last_runs_numbers_are_shown():
    cfg = RunConfig(batch_size=8, series_length=8 * 60, truncation=6, state_size=5, init_scale=2.0)
    trainer = Trainer(cfg, use_compiled=False)
    trainer.run_to_end()
    record = RunRecord.from_trainer(trainer)
    at = _page(cfg, runs=[record])
    sigma = float(record.scalars["sigma_max"][-1])
    factor = mean_factor(record.profiles["temporal"][-1])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["σ_max(W_s) after its last step"] == f"{sigma:.3f}"
    assert metrics["error factor per step back (geometric mean)"] == f"{factor:.3f}"
    assert len(at.get("vega_lite_chart")) == 2  # the vanishing-gradient chart, and section 6's gradient flow
    assert any(record.label in s.value for s in at.subheader)


def test_quick_run_button_trains_and_stores_a_run():
    cfg = RunConfig(batch_size=10, truncation=4, state_size=3)
    at = _page(cfg)
    at.button(key="learn_quick").click().run()
    assert not at.exception and not at.error
    runs = at.session_state[state.RUNS]
    assert len(runs) == 1 and runs[0].summary["steps"] == 100 and runs[0].extra["source"] == "learn page"
    assert runs[0].config.truncation == 4 and runs[0].config.state_size == 3
    assert np.isfinite(runs[0].scalars["sigma_max"]).all()
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["σ_max(W_s) after its last step", "error factor per step back (geometric mean)",
                          "steps back to shrink the error 1000×"]
    assert len(labels) in (3, 5, 6)  # section 6 adds its cosine metrics once the run's samples are in
    assert len(at.get("vega_lite_chart")) in (1, 2)


@pytest.mark.parametrize("gradient,n", [("autodiff", 5), ("derived", 5), ("autodiff", 20), ("derived", 20)])
def test_the_page_names_the_program_that_trains_this_config(monkeypatch, fresh_pool, gradient, n):
    """Train one step with a spy on every window pass, then check the page claims the one that ran."""
    ran = []
    for slot, fn in list(kernels.WINDOW_PASSES.items()):
        def spy(*args, _fn=fn):
            ran.append(f"{_fn.__module__.rsplit('.', 1)[-1]}.{_fn.__name__}")
            return _fn(*args)
        monkeypatch.setitem(kernels.WINDOW_PASSES, slot, spy)
    cfg = RunConfig(gradient=gradient, truncation=n, batch_size=4, series_length=4 * n * 3, state_size=3)
    trainer = Trainer(cfg, use_compiled=False)
    list(trainer.run(max_steps=1))
    monkeypatch.undo()
    assert len(set(ran)) == 1
    recorded = trainer.summary()["program"]
    assert recorded.startswith(f"{gradient} ({ran[0]}:") and recorded.endswith("; eager (uncompiled)")
    at = _page(cfg)
    claims = [m.value for m in at.markdown if m.value.startswith("**What trains with your settings**")]
    assert len(claims) == 1 and f"({ran[0]}:" in claims[0] and recorded.split(";")[0] in claims[0]
    codes = [c.value for c in at.code]
    shown = {"window.autodiff_unrolled": model.step, "window.autodiff_rolled": window.autodiff_rolled,
             "derived.unrolled_window": derived.backward_step, "derived.rolled_window": derived.backward_step}[ran[0]]
    assert inspect.getsource(shown).rstrip("\n") in codes
    assert not any("runs exactly this graph" in c.value for c in at.caption)


def test_the_page_shows_both_gradients_and_the_truncation_rule_side_by_side():
    at = _page()
    codes = [c.value for c in at.code]
    for fn in (model.unroll, model.step, derived.backward_step):
        assert inspect.getsource(fn).rstrip("\n") in codes
    assert any(inspect.getsource(truncation.loss_mask).rstrip("\n") in c for c in codes)
