"""The Compare page under AppTest: defaults, a small live sweep, the styles race, the runs overlay."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import run_page
from rnn_core.compare import default_sweep, estimate_seconds
from rnn_core.config import RunConfig
from rnn_core.data import R2RT, baselines
from rnn_core.kernels import POOL, key_for
from rnn_core.online_train import make_trainer
from rnn_core.report import RunRecord
from ui import state

SMALL = RunConfig(batch_size=10, series_length=2_000, truncation=4)  # 200 steps per row: runs in moments


def _page(cfg: RunConfig | None = SMALL) -> AppTest:
    return run_page("compare", 300, config=cfg)


def _runs_table(at: AppTest):
    """The table of all runs (the Runs tab comes first on screen, though it is filled last)."""
    return next(d.value for d in at.dataframe if "run" in d.value.columns)


def test_controls_and_defaults():
    at = _page(None)  # standalone: falls back to RunConfig()
    assert at.multiselect(key="sweep_ns").value == [1, 2, 5, 10]
    assert at.multiselect(key="sweep_ds").value == [4, 16]
    assert at.multiselect(key="sweep_seeds").value == [0, 1, 2]  # the reading shows their spread
    assert at.number_input(key="sweep_epochs").value == 2
    assert at.number_input(key="styles_n").value == RunConfig().truncation
    assert at.number_input(key="styles_k1").value == 2
    assert {b.key for b in at.button} >= {"sweep_start", "sweep_stop", "styles_start", "styles_stop"}
    # 24 runs on a million steps each: about 5 s of compiled training, and the shapes' compiles in this process
    plan = default_sweep(RunConfig())
    train_s, compile_s = estimate_seconds(plan, compiled=lambda c: POOL.has_compiled(key_for(c)))
    caption = next(c.value for c in at.caption if c.value.startswith("24 runs: roughly"))
    assert f"roughly {train_s:.0f} s of training one after another" in caption and 2 < train_s < 15
    assert (f"plus up to {compile_s:.0f} s of compiling" in caption) == (compile_s > 0)
    assert "two runs train at once" in caption and not at.warning
    assert "No runs yet" in at.info[0].value
    assert not at.error


def test_an_impossible_sweep_is_refused_before_it_starts():
    at = _page(RunConfig(batch_size=100, series_length=1_000))
    at.multiselect(key="sweep_ns").set_value([5, 20]).run()
    assert not at.exception
    assert "n=20, d=4, seed=0: series_length" in at.error[0].value
    assert at.button(key="sweep_start").disabled


def test_a_small_sweep_completes_and_keeps_its_runs():
    at = _page()
    at.multiselect(key="sweep_ns").set_value([1, 3])
    at.multiselect(key="sweep_ds").set_value([4])
    at.multiselect(key="sweep_seeds").set_value([0])
    at.number_input(key="sweep_epochs").set_value(1)
    at.run()
    at.button(key="sweep_start").click().run()
    assert not at.exception and not at.error
    sweep = at.session_state[state.SWEEP]
    assert sweep.finished and [p["n"] for p in sweep.points] == [1, 3]
    assert sweep.baselines == baselines(R2RT)
    assert all(p["status"] == "completed" and 0.3 < p["final_loss"] < 0.8 for p in sweep.points)
    runs = at.session_state[state.RUNS]
    assert [r.extra["source"] for r in runs] == ["sweep", "sweep"]
    assert [r.config.truncation for r in runs] == [1, 3]
    # two lanes trained the runs at once; run 1's loss and the samples computed behind its chunks are those of
    # the same run trained alone
    alone = make_trainer(runs[1].config).run_to_end()
    assert runs[1].final_loss() == pytest.approx(alone.summary()["final_loss"], rel=1e-6)
    want, got = RunRecord.from_trainer(alone).gradient_samples(), runs[1].gradient_samples()
    assert len(got["step"]) > 1 and set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)
    assert any("**Reading** (final loss" in m.value and "of the way from" in m.value for m in at.markdown)
    # the Runs tab, filled after the sweep, already overlays and lists them
    assert len(at.multiselect(key="compare_selected").value) == 2
    assert _runs_table(at)["run"].tolist() == [r.label for r in runs]
    # results survive the next rerun (e.g. the click of Stop)
    at.button(key="sweep_stop").click().run()
    assert not at.exception and at.session_state[state.SWEEP].points == sweep.points


def test_the_styles_race_completes_on_equal_data():
    at = _page()
    at.number_input(key="styles_k1").set_value(2).run()
    at.multiselect(key="styles_online").set_value([]).run()  # truncated styles only (RTRL/UORO: test_exact_sampling)
    at.button(key="styles_start").click().run()
    assert not at.exception and not at.error
    styles = at.session_state[state.STYLES]
    rows = styles.rows
    assert [r["style"] for r in rows] == ["BPTT(4; 4) TensorFlow style", "BPTT(4; 1) Williams-Peng",
                                          "BPTT(4; 2) Williams-Peng"]
    steps = [r["training steps"] for r in rows]
    assert steps == [1 + (200 - 4) // 4, 1 + (200 - 4) // 1, 1 + (200 - 4) // 2]  # about n times more at k1 = 1
    assert all(r["status"] == "completed" and r["seconds"] > 0 and r["steps/s"] > 0 for r in rows)
    # on the data-seen axis every style ends having read the same rows
    ends = [x[-1] for x, _ in styles.curves.values()]
    assert ends == [10 * 200, 10 * 200, 10 * 200]
    assert [r.extra["source"] for r in at.session_state[state.RUNS]] == ["styles"] * 3


def test_runs_tab_overlays_chosen_runs():
    at = _page()
    at.multiselect(key="styles_online").set_value([]).run()
    at.button(key="styles_start").click().run()
    at.multiselect(key="compare_selected").set_value([at.session_state[state.RUNS][0].label]).run()
    at.radio(key="runs_axis").set_value("data seen").run()
    at.radio(key="runs_profile").set_value("grad_norms").run()
    assert not at.exception and not at.error
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3  # styles overlay, runs loss overlay, runs gradient profile
    table = _runs_table(at)
    assert table["from"].tolist() == ["styles"] * 3 and table["n"].tolist() == [4, 4, 4]
    assert table["final loss"].tolist() == pytest.approx([r.final_loss() for r in at.session_state[state.RUNS]])
