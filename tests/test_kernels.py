"""Kernel sizing and warm-up: what a chunk may hold, and what warming leaves behind."""
from __future__ import annotations

import time

import numpy as np
import pytest

from rnn_core import kernels
from rnn_core.config import BOUNDS
from rnn_core.model import init_params
from rnn_core.spectral import sigma_max


@pytest.mark.parametrize("d", [1, 4, 64, 256, int(BOUNDS["state_size"].high)])
@pytest.mark.parametrize("n,k1", [(1, 1), (10, 10), (200, 1)])
def test_capacity_keeps_the_slab_and_the_recorded_weights_within_budget(d, n, k1):
    cap = kernels.capacity_for(200, n, k1, d)
    assert 1 <= cap <= kernels.MAX_CAPACITY
    if cap > 1:
        assert cap * d * d <= kernels.RECORD_BUDGET
        key = kernels.KernelKey(200, n, k1, d, "adagrad", cap)
        assert 200 * kernels.slab_width(key) <= kernels.SLAB_BUDGET


def test_warm_eager_runs_one_step_and_leaves_the_pool_alone(fresh_pool):
    key = kernels.KernelKey(8, 3, 3, 2, "sgd", kernels.capacity_for(8, 3, 3, 2))
    t0 = time.perf_counter()
    seconds = kernels.warm_eager(key)
    wall = time.perf_counter() - t0
    assert 0.5 * wall <= seconds <= wall  # the time of the call itself, not a constant or a part of it
    assert fresh_pool.idle_count() == 0 and not kernels.compiling(key)


def test_a_chunk_reports_sigma_max_of_the_weights_after_each_step(fresh_pool):
    d = 5
    key = kernels.KernelKey(4, 3, 3, d, "sgd", kernels.capacity_for(4, 3, 3, d))
    kernel = kernels.Kernel(key)
    params = init_params(d, init_scale=1.5, seed=2)
    kernel.load(params, kernel.fresh_optimizer_state(0.5))
    rng = np.random.default_rng(0)
    width = kernels.slab_width(key)
    slab = kernels.pack(rng.integers(0, 2, (4, width)), rng.integers(0, 2, (4, width)))
    sigmas = []
    for _ in range(3):  # one step per call, so the weights after each step can be read back
        out = kernel.run_packed(slab, np.zeros((4, d), np.float32), 1, True, 0.0, compiled=False)
        sigmas.append((out["sigma_max"][0], sigma_max(kernel.save()[0][0])))
    for got, expected in sigmas:
        assert got == pytest.approx(expected, rel=1e-6)
    assert len({round(float(e), 6) for _, e in sigmas}) == 3  # the weights moved, so the check has teeth
    out = kernel.run_packed(slab, np.zeros((4, d), np.float32), 3, True, 0.0, compiled=False)
    assert out["sigma_max"].shape == (3,)
