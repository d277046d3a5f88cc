"""The truncation rule BPTT(n; k1), against direct enumeration of windows, positions and lags."""
from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from rnn_core import truncation
from rnn_core.truncation import (
    carried_position,
    epoch_start_state,
    lag_reach,
    loss_mask,
    loss_reach,
    mean_depth,
    window_start,
    windows_per_epoch,
)


@pytest.mark.parametrize("length,n,k1", [(10, 10, 1), (10, 3, 1), (10, 3, 3), (11, 3, 4), (9, 10, 2), (1000, 5, 5),
                                         (17, 5, 2)])
def test_windows_per_epoch_counts_every_window_that_fits(length, n, k1):
    count = sum(1 for start in range(0, length, k1) if start + n <= length)
    assert windows_per_epoch(length, n, k1) == count


@pytest.mark.parametrize("length,n,k1", [(10, 3, 1), (17, 5, 2), (20, 4, 4)])
def test_window_starts_are_k1_apart_and_the_last_one_fits(length, n, k1):
    starts = [window_start(w, k1) for w in range(windows_per_epoch(length, n, k1))]
    assert starts == list(range(0, length - n + 1, k1))


def test_loss_mask_trains_the_last_k1_and_all_of_an_epochs_first_window():
    np.testing.assert_array_equal(loss_mask(5, 2, False), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(loss_mask(5, 2, True), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(loss_mask(5, 5, False), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(loss_mask(5, 1, False), [0, 0, 0, 0, 1])


def test_the_carried_state_follows_the_next_windows_first_input():
    # window w covers steps w k1 .. w k1 + n - 1; the next one starts at (w + 1) k1,
    # so it needs S after step (w + 1) k1 - 1
    for k1 in (1, 3, 5):
        assert window_start(0, k1) + carried_position(k1) == window_start(1, k1) - 1


def test_every_epoch_starts_from_zero_state():
    s = epoch_start_state(3, 4)
    assert s.shape == (3, 4) and s.dtype == np.float32 and not s.any()


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


def test_the_rule_imports_no_tensorflow():
    tree = ast.parse(inspect.getsource(truncation))
    imported = {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert imported <= {"__future__", "collections", "numpy"}, imported
