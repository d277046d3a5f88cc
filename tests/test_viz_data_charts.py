"""The Data page's chart builders and sequence statistics, checked against their inputs and direct counts."""
from __future__ import annotations

import json

import numpy as np
import pytest
import vl_convert as vlc

from rnn_core.data import R2RT, EchoTask, baseline_labels, baselines
from rnn_core.sequence_stats import lag_dependency, rates, sample
from viz import data_charts as charts_data


def _inline(chart) -> list[dict]:
    """Every dataset of a chart's Vega-Lite spec, concatenated."""
    spec = chart.to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_sample_chart_data_matches_the_sample():
    x, y, prob = sample(R2RT, 40, seed=3)
    frame = charts_data.sample_frame(x, y, prob)
    assert frame[frame.series == "x_t"]["value"].tolist() == x.astype(float).tolist()
    assert frame[frame.series == "y_t"]["value"].tolist() == y.astype(float).tolist()
    assert np.allclose(frame[frame.series == "P(Y_t=1)"]["value"], prob)
    rows = _inline(charts_data.sample_chart(x, y, prob))
    strip = [r["value"] for r in rows if r["series"] == "x_t"]
    assert strip == x.astype(float).tolist()


def test_sample_is_seeded_and_probability_follows_the_rule():
    x1, y1, p1 = sample(R2RT, 500, seed=1)
    x2, y2, p2 = sample(R2RT, 500, seed=1)
    assert (x1 == x2).all() and (y1 == y2).all()
    expected = np.full(500, 0.5)
    expected[3:] += 0.5 * x1[:-3]
    expected[8:] -= 0.25 * x1[:-8]
    assert np.allclose(p1, np.clip(expected, 0, 1))


def test_baselines_chart_values_equal_the_engine_baselines():
    values, labels = baselines(R2RT), baseline_labels(R2RT)
    rows = _inline(charts_data.baselines_chart(values, labels))
    assert [r["loss"] for r in rows] == values
    assert [r["label"] for r in rows] == labels
    # R2RT part I's numbers (reference section 2), computed independently of this code.
    assert values == pytest.approx([0.661563, 0.519167, 0.454454], abs=1e-6)


def test_baselines_frame_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        charts_data.baselines_frame([0.6, 0.5], ["learns nothing"])


def test_lag_dependency_matches_direct_counts():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 300).astype(np.int8)
    y = rng.integers(0, 2, 300).astype(np.int8)
    rows = lag_dependency(x, y, 5)
    assert [r["lag"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        L = r["lag"]
        pairs = [(x[t - L], y[t]) for t in range(L, len(x))]
        ones = [b for a, b in pairs if a == 1]
        zeros = [b for a, b in pairs if a == 0]
        assert r["pairs_1"] == len(ones) and r["pairs_0"] == len(zeros)
        assert r["p_given_1"] == pytest.approx(sum(ones) / len(ones))
        assert r["p_given_0"] == pytest.approx(sum(zeros) / len(zeros))


def test_lag_dependency_finds_a_pure_echo():
    task = EchoTask(lags=(4,), effects=(1.0,), base_prob=0.0)
    x, y, _ = sample(task, 5000, seed=0)
    rows = lag_dependency(x, y, 8)
    diffs = {r["lag"]: r["difference"] for r in rows}
    assert diffs[4] == pytest.approx(1.0)
    assert all(abs(v) < 0.1 for lag, v in diffs.items() if lag != 4)
    frame = charts_data.lag_frame(rows, true_lags=(4,))
    assert frame.loc[frame.lag == 4, "kind"].item() == "a lag of the task above"
    assert (frame["low"] <= frame["difference"]).all() and (frame["difference"] <= frame["high"]).all()


def test_lag_dependency_of_a_too_short_sequence_is_empty():
    assert lag_dependency(np.array([1], np.int8), np.array([0], np.int8), 10) == []


def test_rates():
    stats = rates(np.array([1, 0, 1, 1], np.int8), np.array([0, 0, 1, 0], np.int8))
    assert stats == {"length": 4, "p_x": 0.75, "p_y": 0.25}


@pytest.mark.parametrize("build", [
    lambda: charts_data.sample_chart(*sample(R2RT, 30, 0)),
    lambda: charts_data.baselines_chart(baselines(R2RT), baseline_labels(R2RT)),
    lambda: charts_data.lag_chart(lag_dependency(*sample(R2RT, 400, 0)[:2], 10), (3, 8)),
])
def test_charts_render_to_svg(build):
    svg = vlc.vegalite_to_svg(json.loads(build().to_json()))
    assert svg.startswith("<svg") and "NaN" not in svg
