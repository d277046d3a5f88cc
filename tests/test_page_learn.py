"""The Learn page under AppTest: the graphs for the config's n, the engine's code, the last run's numbers."""
from __future__ import annotations

import inspect

import numpy as np
from streamlit.testing.v1 import AppTest

from conftest import run_page
from rnn_core import model
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
    assert len(at.get("vega_lite_chart")) == 1
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
    assert len(at.metric) == 3 and len(at.get("vega_lite_chart")) == 1
