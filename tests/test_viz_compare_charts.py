"""The Compare page's chart builders: their data match the inputs, baselines equal data.baselines."""
from __future__ import annotations

import json

import numpy as np
import pytest
import vl_convert as vlc

from rnn_core.data import R2RT, baseline_labels, baselines
from viz import compare_charts as charts_compare


def _inline(chart) -> list[dict]:
    spec = chart.to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def chart_rules(chart) -> list[float]:
    """The values of the dashed rules of a layered chart."""
    return [v for layer in chart.layer if layer.mark.type == "rule" for v in layer.data["value"]]


def test_curves_frame_keeps_the_inputs_when_not_smoothed():
    curves = {"a": ([0, 1, 2], [0.7, 0.6, 0.5]), "b": ([10, 20], [0.9, np.nan])}
    frame = charts_compare.curves_frame(curves, window=1)
    assert frame[frame.run == "a"][["x", "loss"]].values.tolist() == [[0, 0.7], [1, 0.6], [2, 0.5]]
    assert frame[frame.run == "b"]["loss"].tolist() == [0.9]  # NaN (a diverged step) is left out


def test_loss_overlay_draws_the_engine_baselines():
    values, labels = baselines(R2RT), baseline_labels(R2RT)
    chart = charts_compare.loss_overlay({"run": (np.arange(5), np.linspace(0.7, 0.5, 5))}, 1, values, labels)
    assert chart_rules(chart) == values
    written = [text for layer in chart.layer if layer.mark.type == "text" for text in layer.data["label"]]
    assert sorted(written) == sorted(f"{lab}: {v:.3f}" for lab, v in zip(labels, values))
    curve = [r["loss"] for r in _inline(chart) if r.get("run") == "run"]
    assert curve == pytest.approx(np.linspace(0.7, 0.5, 5).tolist())


def test_profile_overlay_aligns_windows_at_their_last_position():
    frame = charts_compare.profiles_frame({"n=3": [1e-3, 1e-2, 1e-1], "n=2": [0.5, 1.0]})
    assert frame[frame.run == "n=3"]["offset"].tolist() == [-2, -1, 0]
    assert frame[frame.run == "n=2"]["offset"].tolist() == [-1, 0]
    rows = _inline(charts_compare.profile_overlay({"r": [0.0, 0.2, 0.4]}))
    assert [r["norm"] for r in rows] == [0.2, 0.4]  # a zero norm cannot go on a log scale


def test_sweep_chart_data_and_baselines():
    points = [{"n": 1, "d": 4, "seed": 0, "final_loss": 0.63}, {"n": 5, "d": 4, "seed": 0, "final_loss": 0.52},
              {"n": 10, "d": 16, "seed": 1, "final_loss": 0.46}]
    frame = charts_compare.sweep_frame(points)
    assert frame["series"].tolist() == ["d=4, seed 0", "d=4, seed 0", "d=16, seed 1"]
    values, labels = baselines(R2RT), baseline_labels(R2RT)
    rows = _inline(charts_compare.sweep_chart(points, values, labels))
    assert [(r["n"], r["final_loss"]) for r in rows if "final_loss" in r] == [(1, 0.63), (5, 0.52), (10, 0.46)]
    assert chart_rules(charts_compare.sweep_chart(points, values, labels)) == values


@pytest.mark.parametrize("build", [
    lambda: charts_compare.loss_overlay({"a": (np.arange(50), np.linspace(0.7, 0.5, 50))}, 10,
                                        baselines(R2RT), baseline_labels(R2RT), x_title="data seen"),
    lambda: charts_compare.profile_overlay({"a": [1e-4, 1e-2, 1.0], "b": [0.1, 0.3]}),
    lambda: charts_compare.sweep_chart([{"n": 1, "d": 4, "seed": 0, "final_loss": 0.6}], baselines(R2RT),
                                       baseline_labels(R2RT)),
    lambda: charts_compare.sweep_chart([]),
])
def test_charts_render_to_svg(build):
    svg = vlc.vegalite_to_svg(json.loads(build().to_json()))
    assert svg.startswith("<svg")
