"""DOT sources of the Learn page's graphs and the loss-reach counts, against direct enumeration and `dot`."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from viz.graph import drawn_positions, lag_reach, loss_reach, mean_depth, one_step_dot, unrolled_dot


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_tf_style_trains_every_loss_and_reaches_half_the_window_on_average(n):
    rows = loss_reach(n)
    assert all(r["trained"] for r in rows)
    assert [r["states_reached"] for r in rows] == list(range(1, n + 1))
    assert mean_depth(n) == pytest.approx((n + 1) / 2)


@pytest.mark.parametrize("n,k1", [(5, 1), (8, 3), (10, 10)])
def test_williams_peng_trains_the_last_k1_losses(n, k1):
    rows = loss_reach(n, k1)
    assert [r["position"] for r in rows if r["trained"]] == list(range(n - k1, n))
    assert mean_depth(n, k1) == pytest.approx(sum(range(n - k1 + 1, n + 1)) / k1)


@pytest.mark.parametrize("n,k1", [(5, 5), (10, 10), (10, 1), (10, 4), (3, 3)])
def test_lag_reach_counts_trained_losses_whose_error_reaches_the_lag(n, k1):
    for row in lag_reach(n, k1, [3, 8]):
        lag = row["lag"]
        # loss at t reaches inputs X_0..X_t of the window, so X_{t-lag} only when t >= lag
        direct = sum(1 for t in range(n) if t >= n - k1 and t - lag >= 0)
        assert row["losses_reaching"] == direct and row["trained_losses"] == k1
        assert row["fraction"] == pytest.approx(direct / k1)


def test_drawn_positions_caps_the_drawing():
    assert drawn_positions(12) == list(range(12))
    shown = drawn_positions(40)
    assert len(shown) == 12 and shown.count(None) == 1
    assert shown[0] == 0 and shown[-1] == 39


def test_unrolled_dot_marks_trained_losses_and_the_traced_reach():
    dot = unrolled_dot(6, k1=2, trace=3)
    trained = re.findall(r'L(\d) \[[^\]]*fillcolor="#ffe8d9"', dot)
    assert trained == ["4", "5"]
    reached = re.findall(r'S(\d) \[[^\]]*fillcolor="#d0e1f5"', dot)
    assert reached == ["0", "1", "2", "3"]
    assert "S₁\\nto the next window" in dot  # the state after k1 = 2 inputs is carried on
    wide = unrolled_dot(30)
    assert "… 19 more …" in wide and "S29 ->" not in wide.split("gap")[0]


@pytest.mark.parametrize("args", [(0,), (5, 6), (5, 0), (5, 5, 5)])
def test_unrolled_dot_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        unrolled_dot(*args)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")
@pytest.mark.parametrize("source", [one_step_dot(), unrolled_dot(1), unrolled_dot(5), unrolled_dot(8, 1, 0),
                                    unrolled_dot(40, 7, 20)])
def test_dot_sources_are_valid_graphviz(source):
    out = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert b"<svg" in out.stdout
