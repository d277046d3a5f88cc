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


@pytest.mark.parametrize("compiled", [False, True])
def test_a_call_keeps_the_weights_and_state_each_sampled_step_trains_with(fresh_pool, compiled):
    """One call of 6 steps keeping steps 0, 2 and 5 equals six one-step calls read back between steps."""
    d, B = 3, 40  # more batch rows than the sampler keeps, so the row cut is checked too
    key = kernels.KernelKey(B, 4, 4, d, "adam", kernels.capacity_for(B, 4, 4, d))
    rng = np.random.default_rng(1)
    rows = kernels.pack(rng.integers(0, 2, (B, 6 * 4)), rng.integers(0, 2, (B, 6 * 4)))
    start = init_params(d, init_scale=1.0, seed=3)
    state0 = rng.normal(size=(B, d)).astype(np.float32)

    def slab(step: int) -> np.ndarray:
        out = np.zeros((B, kernels.slab_width(key)), np.int8)
        part = rows[:, 4 * step :]
        out[:, : part.shape[1]] = part
        return out

    kernel = kernels.Kernel(key)
    kernel.load(start, kernel.fresh_optimizer_state(0.1))
    before, state = [], state0
    for step in range(6):
        before.append(([p.copy() for p in kernel.params], state[: kernel.program.sample_rows].copy()))
        state = kernel.run_packed(slab(step), state, 1, step == 0, 0.0, compiled=compiled)["state"]
    whole = kernels.Kernel(key)
    whole.load(start, whole.fresh_optimizer_state(0.1))
    out = whole.run_packed(slab(0), state0, 6, True, 0.0, compiled=compiled, sample_at=[0, 2, 5])
    assert out["taken_state"].shape == (3, min(32, B), d) and kernel.program.sample_rows == 32
    for j, step in enumerate([0, 2, 5]):
        for got, expected in zip([p[j] for p in out["taken_params"]], before[step][0]):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["taken_state"][j], before[step][1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(before[5][0][0], before[0][0][0])  # the weights moved, so the check has teeth
    plain = kernels.Kernel(key).run_packed(slab(0), state0, 6, True, 0.0, compiled=compiled)
    assert "taken_params" not in plain  # copied out only when asked
    with pytest.raises(ValueError, match="sample_at"):
        whole.run_packed(slab(0), state0, 3, True, 0.0, compiled=compiled, sample_at=[3])
