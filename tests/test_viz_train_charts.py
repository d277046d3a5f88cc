"""viz.train_charts: each builder draws exactly the numbers it is given, and exports render."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnn_core.data import R2RT, EchoTask, baseline_labels, baselines
from viz import train_charts as charts
from viz.common import presentation
from viz.export import chart_to_png, chart_to_svg

RNG = np.random.default_rng(0)


def layer_data(chart, mark: str) -> list[pd.DataFrame]:
    """The data frames of a layered chart's layers with the given mark type."""
    layers = getattr(chart, "layer", [chart])
    out = []
    for layer in layers:
        kind = layer.mark if isinstance(layer.mark, str) else layer.mark.type
        if kind == mark:
            # Altair lifts the data of a lone layer to the layered chart itself.
            out.append(layer.data if isinstance(layer.data, pd.DataFrame) else chart.data)
    return out


def test_loss_chart_has_exact_baselines_and_the_loss():
    loss = RNG.random(500).astype(np.float32)
    base, labels = baselines(R2RT), baseline_labels(R2RT)
    chart = charts.loss_chart(loss, base, labels, window=10)
    rules = layer_data(chart, "rule")[0]
    assert rules["value"].tolist() == pytest.approx(base, abs=0)
    assert rules["label"].tolist() == labels == ["learns nothing", "learns lag 3", "learns both"]
    texts = pd.concat(layer_data(chart, "text"))
    assert sorted(texts["label"]) == sorted(labels)
    lines = layer_data(chart, "line")[0]
    raw = lines[lines["series"] == "loss per step"]
    np.testing.assert_allclose(raw["loss"].to_numpy(), loss, rtol=1e-6)
    smoothed = lines[lines["series"] != "loss per step"]["loss"].to_numpy()
    np.testing.assert_allclose(smoothed[-1], loss[-10:].mean(), rtol=1e-6)


def test_loss_chart_thins_long_series_and_drops_nan():
    loss = np.ones(50_000)
    loss[-1] = np.nan
    chart = charts.loss_chart(loss, [], [])
    lines = layer_data(chart, "line")[0]
    assert len(lines) <= 2 * charts.MAX_POINTS
    assert np.isfinite(lines["loss"]).all()


def test_custom_task_baselines_are_labelled():
    task = EchoTask(lags=(2, 5, 9), effects=(0.3, 0.2, -0.2))
    chart = charts.position_loss_chart(np.full(10, 0.5), baselines(task), baseline_labels(task))
    rules = layer_data(chart, "rule")[0]
    assert rules["value"].tolist() == baselines(task)
    assert rules["label"].tolist()[-1] == "learns all lags"


def test_grad_profile_keeps_positions_and_drops_non_positive_for_log_scale():
    g = np.array([1e-6, 1e-4, 1e-2, 1.0])
    tmp = np.array([0.0, 1e-3, 1e-2, 0.1])
    df = charts.grad_profile_chart(g, tmp).data
    full = df[df["gradient"].str.contains("all")]
    np.testing.assert_allclose(full["norm"], g)
    assert full["position"].tolist() == [0, 1, 2, 3]
    assert len(df) == 7  # the zero cannot be drawn on a log scale


def test_grad_heatmap_cells_match_and_are_bounded():
    steps = np.arange(0, 3000, 3)
    norms = RNG.random((len(steps), 20)) + 1e-3
    df = charts.grad_heatmap_chart(steps, norms).data
    assert len(df) <= charts.MAX_CELLS
    first = df[df["step"] == 0].sort_values("position")
    np.testing.assert_allclose(first["norm"], norms[0])


def test_sigma_chart_has_rule_at_one():
    sigma = 0.9 + RNG.random(300)
    chart = charts.sigma_chart(sigma)
    assert layer_data(chart, "rule")[0]["value"].tolist() == [1.0]
    np.testing.assert_allclose(layer_data(chart, "line")[0]["sigma"], sigma)


@pytest.mark.parametrize("clip, rules", [(0.0, []), (2.5, [2.5])])
def test_global_norm_chart_draws_clip_threshold_only_when_on(clip, rules):
    chart = charts.global_norm_chart(RNG.random(100) + 0.1, clip)
    found = layer_data(chart, "rule")
    assert (found[0]["value"].tolist() if found else []) == rules


def test_strip_chart_rows_hold_input_target_and_prediction():
    x, y, p = np.array([1, 0, 1, 1]), np.array([0, 0, 1, 0]), np.array([0.2, 0.5, 0.9, 0.1])
    df = layer_data(charts.strip_chart(x, y, p), "bar")[0]
    for name, values in zip(charts.STRIP_ROWS, (p, y, x)):
        np.testing.assert_allclose(df[df["row"] == name]["value"], values)
    assert df["high"].max() <= 3


def test_state_heatmap_cells():
    states = np.tanh(RNG.normal(size=(5, 3)))
    df = charts.state_heatmap(states).data
    assert len(df) == 15
    np.testing.assert_allclose(df[(df["position"] == 4) & (df["unit"] == 2)]["value"], states[4, 2])


def test_png_and_svg_export():
    chart = presentation(charts.loss_chart(RNG.random(50), baselines(R2RT), baseline_labels(R2RT)))
    png = chart_to_png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = chart_to_svg(chart)
    assert "<svg" in svg and "learns lag 3" in svg


def test_position_loss_axis_is_not_from_zero_and_marks_the_trained_positions():
    values = np.array([0.60, 0.58, 0.53, 0.52, 0.52])
    base = [0.6616, 0.5192, 0.4545]
    assert charts.position_loss_domain(values, base) == pytest.approx([0.4545 - 0.02071, 0.6616 + 0.02071])
    chart = charts.position_loss_chart(values, base, ["a", "b", "c"], k1=2)
    points = layer_data(chart, "point")[0]
    assert points["trained"].tolist() == ["not trained"] * 3 + ["trained"] * 2
    spec = chart.to_dict()
    assert spec["layer"][1]["encoding"]["y"]["scale"]["domain"][0] > 0.4


def test_wide_windows_label_a_readable_number_of_positions_and_say_whose_probability():
    assert charts._position_ticks(10) == list(range(10))
    assert charts._position_ticks(50) == list(range(0, 50, 5)) + [49]
    assert charts._position_ticks(200) == list(range(0, 200, 20)) + [199]
    chart = charts.strip_chart(np.zeros(200), np.zeros(200), np.full(200, 0.5))
    assert not layer_data(chart, "text")  # no number over each of 200 bars
    assert charts.STRIP_ROWS[0] == "predicted P(Y_t = 1)"
    for n in (5, 50, 200):  # the labels go into a Vega expression: it must still parse and draw
        assert "predicted P(Y_t = 1)" in chart_to_svg(charts.strip_chart(np.ones(n), np.zeros(n), np.full(n, 0.3)))


def test_neighbouring_baseline_labels_alternate_sides():
    from viz.common import reference_lines

    layers = reference_lines([0.6616, 0.5192, 0.4545], ["none", "lag 3", "both"])
    sides = {(lay.mark.align, lay.mark.baseline): lay.data["label"].tolist() for lay in layers[1:]}
    assert sides == {("right", "bottom"): ["none"], ("left", "bottom"): ["lag 3"], ("right", "top"): ["both"]}
