"""The page helpers in ui/ that return plain values: the progress line's durations, the Compare page's
readings and rows, the Data page's conditional table, each against numbers worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnn_core.config import RunConfig
from rnn_core.data import R2RT, EchoTask, baseline_labels, baselines
from rnn_core.report import RunRecord
from ui import compare_view
from ui.data_view import conditional_rows
from ui.progress import duration
from ui.state import SweepResult


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (42.4, "42 s"), (59.6, "1 min 0 s"), (185, "3 min 5 s"),
                                           (7800, "2 h 10 min")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_sweep_table_and_reading_name_the_closest_baseline():
    values, labels = baselines(R2RT), baseline_labels(R2RT)  # 0.6616, 0.5192, 0.4545
    result = SweepResult(3, values, labels, points=[
        {"n": 1, "d": 4, "seed": 0, "final_loss": 0.64}, {"n": 5, "d": 4, "seed": 0, "final_loss": 0.50},
        {"n": 10, "d": 16, "seed": 0, "final_loss": 0.46}])
    table = compare_view.sweep_table(result)
    assert table["closest baseline"].tolist() == ["learns nothing", "learns lag 3", "learns both"]
    text = compare_view.sweep_reading(table, values, labels)
    assert "- d = 4: n = 1: 0.640, 15% of the way from 0.662 (learns nothing) to 0.519 (learns lag 3); " in text
    assert "n = 5: 0.500, 30% of the way from 0.519 (learns lag 3) to 0.454 (learns both)." in text
    assert "- d = 16: n = 10: 0.460, at learns both (0.454)." in text


def test_a_failed_run_is_not_given_a_closest_baseline():
    values, labels = baselines(R2RT), baseline_labels(R2RT)
    result = SweepResult(2, values, labels, points=[
        {"n": 1, "d": 4, "seed": 0, "final_loss": 0.61, "status": "completed"},
        {"n": 1, "d": 256, "seed": 0, "final_loss": 2.29, "status": "failed"}])
    assert compare_view.sweep_table(result)["closest baseline"].tolist() == ["learns nothing", "failed"]


def test_styles_reading_compares_with_tensorflow_style():
    rows = [{"style": "BPTT(4; 4) TensorFlow style", "seconds": 2.0, "final loss": 0.52},
            {"style": "BPTT(4; 1) Williams-Peng", "seconds": 7.0, "final loss": 0.50}]
    assert compare_view.styles_reading(rows) == (
        "**Reading:** BPTT(4; 1) took 3.5× the training time of TensorFlow style for the same data and ended at "
        "0.500 (TensorFlow style 0.520).")
    assert compare_view.styles_reading(rows[:1]) == ""


def _record(cfg: RunConfig, base: list[float], steps: int = 3) -> RunRecord:
    scalars = {"step": np.arange(steps), "loss": np.full(steps, 0.5), "global_norm": np.ones(steps),
               "sigma_max": np.ones(steps)}
    n = cfg.truncation
    profiles = {"step": np.zeros(0, np.int64), "grad_norms": np.zeros((0, n)), "temporal": np.zeros((0, n)),
                "position_loss": np.zeros((0, n))}
    return RunRecord(cfg, base, scalars, profiles, {"steps": steps, "status": "completed"}, label=f"n={n}")


def test_loss_curves_put_runs_on_steps_or_on_data_read():
    cfg = RunConfig(batch_size=10, series_length=2_000, truncation=4)
    curves = compare_view.loss_curves([_record(cfg, [])], by_data=True, sequence_length=None)
    x, _ = curves["n=4"]
    assert x.tolist() == [10 * 4, 10 * 8, 10 * 12]  # B (w n + n): windows of 4 read back to back
    steps, _ = compare_view.loss_curves([_record(cfg, [])], by_data=False, sequence_length=None)["n=4"]
    assert steps.tolist() == [0, 1, 2]


def test_shared_baselines_only_when_every_run_has_the_same():
    r2rt = _record(RunConfig(), baselines(R2RT))
    echo = _record(RunConfig(task="echo"), [0.69, 0.0])
    assert compare_view.shared_baselines([r2rt, r2rt]) == (baselines(R2RT), baseline_labels(R2RT))
    assert compare_view.shared_baselines([r2rt, echo]) == ([], [])


def test_conditional_rows_weigh_each_combination_by_how_often_it_occurs():
    task = EchoTask(lags=(2, 5), effects=(0.4, -0.2), base_prob=0.3, input_prob=0.25)
    frame = pd.DataFrame(conditional_rows(task))
    assert frame["how often"].sum() == pytest.approx(1.0)
    both = frame[(frame["X(t-2)"] == 1) & (frame["X(t-5)"] == 1)].iloc[0]
    assert both["P(Y_t = 1)"] == pytest.approx(0.3 + 0.4 - 0.2) and both["how often"] == pytest.approx(0.25 ** 2)


def test_styles_smoothing_averages_equal_data():
    rows = [{"style": "TF", "losses trained per step": 10}, {"style": "WP1", "losses trained per step": 1},
            {"style": "WP5", "losses trained per step": 5}]
    assert compare_view.equal_data_windows(rows, 100) == {"TF": 100, "WP1": 1000, "WP5": 200}


def test_curves_frame_smooths_each_curve_with_its_own_window():
    from viz.compare_charts import curves_frame

    loss = np.array([1.0, 0.0, 1.0, 0.0])
    frame = curves_frame({"a": (np.arange(4), loss), "b": (np.arange(4), loss)}, {"a": 1, "b": 2})
    assert frame[frame["run"] == "a"]["loss"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert frame[frame["run"] == "b"]["loss"].tolist() == [1.0, 0.5, 0.5, 0.5]


def test_sweep_subtitle_names_what_the_runs_share():
    points = [{"n": 1, "d": 4, "seed": 0, "style": "TensorFlow style", "task": "r2rt"},
              {"n": 5, "d": 16, "seed": 1, "style": "TensorFlow style", "task": "r2rt"}]
    assert compare_view.sweep_subtitle(points) == "TensorFlow style, task r2rt; d = 4, 16; n = 1, 5; seeds 0, 1"
