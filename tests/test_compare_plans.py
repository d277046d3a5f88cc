"""Sweep and style plans, and the data-consumed axis, checked against direct enumeration."""
from __future__ import annotations

import numpy as np
import pytest

from rnn_core.compare import (
    compiled_step_seconds,
    data_seen,
    estimate_seconds,
    nearest_baseline,
    row_length,
    style_configs,
    sweep_configs,
    total_steps,
)
from rnn_core.config import RunConfig


def test_sweep_configs_cover_every_combination_and_keep_the_rest():
    base = RunConfig(learning_rate=0.3, task="echo", echo_step=2)
    plan = sweep_configs(base, [5, 1, 5], [4, 16], [0, 1], epochs=2)
    assert [(c.state_size, c.seed, c.truncation) for c in plan] == [
        (4, 0, 1), (4, 0, 5), (4, 1, 1), (4, 1, 5), (16, 0, 1), (16, 0, 5), (16, 1, 1), (16, 1, 5)]
    assert all(c.epochs == 2 and c.learning_rate == 0.3 and c.task == "echo" and c.echo_step == 2 for c in plan)


def test_sweep_caps_k1_at_n_and_names_a_bad_combination():
    plan = sweep_configs(RunConfig(style="williams-peng", k1=4, truncation=8), [2, 8], [4], [0], 1)
    assert [c.k1 for c in plan] == [2, 4]
    with pytest.raises(ValueError, match="n=50, d=4, seed=0: series_length"):
        sweep_configs(RunConfig(series_length=1000, batch_size=100), [5, 50], [4], [0], 1)
    with pytest.raises(ValueError, match="at least one"):
        sweep_configs(RunConfig(), [], [4], [0], 1)


def test_style_configs_share_the_data_and_differ_in_truncation():
    base = RunConfig(seed=7, series_length=10_000, batch_size=10)
    trio = style_configs(base, 6, 3)
    assert [(c.style, c.effective_k1) for _, c in trio] == [("tensorflow", 6), ("williams-peng", 1),
                                                            ("williams-peng", 3)]
    assert all(c.seed == 7 and c.series_length == 10_000 and c.truncation == 6 for _, c in trio)
    assert len(style_configs(base, 6, 1)) == 2 and len(style_configs(base, 6, 6)) == 2


@pytest.mark.parametrize("n,k1", [(5, 5), (5, 1), (6, 4)])
def test_data_seen_counts_the_furthest_step_read(n, k1):
    B, rows, epochs = 3, 40, 2
    cfg = RunConfig(truncation=n, style="tensorflow" if k1 == n else "williams-peng", k1=k1 if k1 < n else 1,
                    batch_size=B, series_length=B * rows, epochs=epochs)
    per_epoch = sum(1 for start in range(0, rows, cfg.effective_k1) if start + n <= rows)
    expected = []
    for e in range(epochs):
        for w in range(per_epoch):
            start = w * cfg.effective_k1
            expected.append(B * (e * rows + max(range(start, start + n)) + 1))
    assert data_seen(cfg, np.arange(per_epoch * epochs), rows).tolist() == expected
    assert total_steps(cfg, rows) == per_epoch * epochs


def test_row_length_uses_the_file_for_file_tasks():
    assert row_length(RunConfig(batch_size=200, series_length=1_000_000)) == 5000
    assert row_length(RunConfig(task="file", batch_size=10), sequence_length=1234) == 123


def test_estimate_counts_each_shape_once_and_grows_with_steps():
    small = RunConfig(series_length=20_000)
    train1, compile1 = estimate_seconds([small])
    train2, compile2 = estimate_seconds([small, small])
    assert compile2 == compile1 and train2 == pytest.approx(2 * train1)
    wp = small.replace(style="williams-peng", k1=1)
    assert estimate_seconds([wp])[0] > 3 * train1  # n times the steps


# Warm compiled ms a step, B = 200, one run at a time on a 2-core machine (session 23; the fit's own data)
NS = (1, 2, 5, 10, 20, 50, 200)
MEASURED_MS = {4: [0.0495, 0.0378, 0.0565, 0.0976, 0.3417, 0.8664],
               16: [0.0525, 0.1114, 0.2028, 0.4094, 0.9355, 2.4437],
               32: [0.1496, 0.1959, 0.4993, 0.8408, 1.5105],
               64: [0.2101, 0.4026, 0.7559, 1.586, 3.3436, 9.2583, 79.90],
               128: [0.5128, 0.8023, 1.9772, 4.5347, 9.5230],
               256: [1.9643, 3.2926, 6.4475, 14.2763, 31.7275, 128.89, 509.15]}


def test_the_step_estimate_is_within_a_factor_of_two_of_measured_steps():
    for d, times in MEASURED_MS.items():
        for n, ms in zip(NS, times):
            est = compiled_step_seconds(RunConfig(truncation=n, state_size=d)) * 1e3
            assert 0.5 < est / ms < 2.0, (d, n, est, ms)

    def arithmetic(cfg: RunConfig) -> float:  # what a state of 64 units costs over one of 1
        return compiled_step_seconds(cfg) - compiled_step_seconds(cfg.replace(state_size=1))

    wide = RunConfig(truncation=10, state_size=64)
    assert arithmetic(wide.replace(batch_size=100)) == pytest.approx(arithmetic(wide) / 2)  # half the rows


def test_a_compiled_shape_adds_no_compile_time():
    a, b = RunConfig(series_length=20_000), RunConfig(series_length=20_000, truncation=10)
    _, both = estimate_seconds([a, b])
    _, only_b = estimate_seconds([a, b], compiled=lambda c: c.truncation == a.truncation)
    assert 0 < only_b < both and estimate_seconds([a, b], compiled=lambda c: True)[1] == 0


def test_nearest_baseline():
    labels = ["learns nothing", "learns lag 3", "learns both"]
    assert nearest_baseline(0.63, [0.66, 0.52, 0.45], labels) == "learns nothing"
    assert nearest_baseline(0.50, [0.66, 0.52, 0.45], labels) == "learns lag 3"
    assert nearest_baseline(float("nan"), [0.66], labels[:1]) == ""
    assert nearest_baseline(0.5, [], []) == ""
