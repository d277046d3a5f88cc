"""Untruncated gradients: the float64 reference against itself (RTRL = full BPTT, finite differences),
the engine's full-history gradient, flow matrix, RTRL and UORO against the reference."""
from __future__ import annotations

import exact_reference as R
import numpy as np
import pytest

from rnn_core import exact as E
from rnn_core import online as O
from rnn_core.kernels import pack
from rnn_core.model import init_params

D, B, T = 3, 4, 24


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    params = init_params(D, 1.6, seed=2)
    params = params._replace(b_s=rng.normal(size=D).astype(np.float32) * 0.3, b_p=np.array([0.2, -0.1], np.float32))
    x = rng.integers(0, 2, (B, T))
    y = rng.integers(0, 2, (B, T))
    return params, x, y


def test_reference_bptt_matches_finite_differences(case):
    params, x, y = case
    w = np.zeros(T)
    w[[10, 17, 23]] = [0.2, 0.3, 0.5]
    grads = R.full_bptt(params, x, y, w)["grads"]
    base = R.as_params(params)
    eps = 1e-6
    for which, index in [(0, (1, 3)), (0, (2, 0)), (1, (1,)), (2, (0, 2)), (3, (1,))]:
        plus = [p.copy() for p in base]
        minus = [p.copy() for p in base]
        plus[which][index] += eps
        minus[which][index] -= eps
        numeric = (R.weighted_loss(plus, x, y, w) - R.weighted_loss(minus, x, y, w)) / (2 * eps)
        assert grads[which][index] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_reference_rtrl_equals_full_bptt_of_each_loss(case):
    params, x, y = case
    online = R.rtrl(params, x, y)
    for t in (0, 1, 7, 15, T - 1):
        w = np.zeros(T)
        w[t] = 1.0
        full = R.flatten(R.full_bptt(params, x, y, w)["grads"])
        assert np.linalg.norm(R.flatten(online[t]) - full) <= 1e-6 * np.linalg.norm(full)


def _window_weights(start, n, k1, first_window, length):
    w = np.zeros(length)
    rows = E.trained_positions(n, k1, first_window)
    w[start + rows] = 1.0 / len(rows)
    return w


@pytest.mark.parametrize("n,k1,first_window,history", [(5, 5, False, None), (6, 2, False, None), (4, 4, True, None),
                                                        (5, 1, False, 7)])
def test_engine_full_gradient_and_cosines_match_reference(case, n, k1, first_window, history):
    params, x, y = case
    start = 15
    end = start + n
    comp = E.full_gradient_comparison(params, x, y, start, n, k1, first_window, history=history)
    w = _window_weights(start, n, k1, first_window, end)
    begin = 0 if history is None else start - history  # the history starts from a zero state at begin
    states, _, _ = R.forward(params, x[:, begin:end], y[:, begin:end])
    exact = R.full_bptt(params, x[:, begin:end], y[:, begin:end], w[begin:])["grads"]
    truncated = R.full_bptt(params, x[:, start:end], y[:, start:end], w[start:],
                            first_state=states[start - begin])["grads"]
    for got, want in zip(comp.exact + comp.truncated, exact + truncated):
        assert np.allclose(got, want, rtol=2e-5, atol=2e-7 * np.abs(want).max())
    e, t = R.flatten(exact), R.flatten(truncated)
    assert comp.cosine_all == pytest.approx(R.cosine(t, e), abs=1e-5)
    assert comp.cosine_W_s == pytest.approx(R.cosine(truncated[0][:, 2:].ravel(), exact[0][:, 2:].ravel()), abs=1e-5)
    assert comp.rel_error == pytest.approx(np.linalg.norm(t - e) / np.linalg.norm(e), rel=1e-4, abs=1e-6)
    assert comp.history_steps == end - begin  # no early stop: the error has not underflowed in 24 steps
    assert comp.rel_error > 1e-5  # the cut shows above float32 noise: the comparison is not trivially 1


def test_truncated_gradient_from_the_carried_state(case):
    params, x, y = case
    start, n = 12, 5
    carried = np.random.default_rng(1).uniform(-0.5, 0.5, (B, D)).astype(np.float32)
    comp = E.full_gradient_comparison(params, x, y, start, n, n, False, first_state=carried)
    w = _window_weights(start, n, n, False, start + n)
    want = R.full_bptt(params, x[:, start:start + n], y[:, start:start + n], w[start:], first_state=carried)["grads"]
    for got, ref in zip(comp.truncated, want):
        assert np.allclose(got, ref, rtol=2e-5, atol=2e-7 * np.abs(ref).max())


@pytest.mark.parametrize("n,k1", [(5, 5), (5, 2)])
def test_gradient_flow_matches_finite_differences(case, n, k1):
    params, x, y = case
    start = 9
    end = start + n
    flow = E.gradient_flow(params, x, y, start, n, k1, first_window=False, extra=n + 2)
    assert list(flow.loss_positions) == list(range(end - k1, end))
    assert list(flow.state_positions) == list(range(start - n - 2, end))
    eps = 1e-6
    numeric = np.zeros_like(flow.matrix)
    for j, s in enumerate(flow.state_positions):
        grad = np.zeros((len(flow.loss_positions), B, D))
        for b in range(B):
            for i in range(D):
                bump = np.zeros((B, D))
                bump[b, i] = eps
                _, _, up = R.forward(params, x[:, :end], y[:, :end], perturb={s: bump})
                _, _, down = R.forward(params, x[:, :end], y[:, :end], perturb={s: -bump})
                grad[:, b, i] = (up.mean(axis=1) - down.mean(axis=1))[flow.loss_positions] / (2 * eps)
        numeric[:, j] = np.linalg.norm(grad.reshape(len(flow.loss_positions), -1), axis=1)
    numeric[flow.state_positions[None, :] > flow.loss_positions[:, None]] = 0.0
    assert np.allclose(flow.matrix, numeric, rtol=1e-4, atol=1e-7)
    kept = flow.truncation_mask
    assert kept.sum() == sum(t - start + 1 for t in flow.loss_positions)  # triangle (k1 = n) or band rows
    assert 0.0 < flow.kept_share < 1.0


def _engine_run(params, x, y, method, update_every, learning_rate, seed=0, count=1, compiled=True, kernel=None):
    key = O.OnlineKey(method, x.shape[0], D, "sgd", update_every, count)
    kernel = kernel or O.OnlineKernel(key)
    kernel.load(params, kernel.fresh_optimizer_state(learning_rate))
    slab = np.zeros((x.shape[0], kernel.slab_width()), np.int8)
    slab[:, : x.shape[1]] = pack(x, y)
    out = kernel.run_packed(slab, O.zero_carry(key), count, 0.0, seed=seed, compiled=compiled)
    return kernel, out, kernel.save()[0]


@pytest.mark.parametrize("compiled", [True, False])
def test_engine_rtrl_mean_gradient_equals_reference(case, compiled):
    params, x, y = case
    _, out, after = _engine_run(params, x, y, "rtrl", T, 1.0, compiled=compiled)  # one SGD step of lr 1
    want = R.full_bptt(params, x, y, np.full(T, 1.0 / T))["grads"]
    for p, a, g in zip(params, after, want):
        assert np.allclose(p - a, g, rtol=1e-4, atol=1e-6 * np.abs(g).max())
    assert out["loss"][0] == pytest.approx(R.weighted_loss(params, x, y, np.full(T, 1.0 / T)), rel=1e-5)


def test_engine_rtrl_per_step_gradient_norms_across_chunks(case):
    params, x, y = case
    key = O.OnlineKey("rtrl", B, D, "sgd", 1, T // 2)
    kernel = O.OnlineKernel(key)
    kernel.load(params, kernel.fresh_optimizer_state(1e-6))  # SGD so small the weights stay put to float32
    carry, norms = O.zero_carry(key), []
    for half in (0, 1):
        cols = slice(half * T // 2, (half + 1) * T // 2)
        out = kernel.run_packed(pack(x[:, cols], y[:, cols]), carry, T // 2, 0.0)
        carry = out["carry"]
        norms.extend(out["global_norm"])
    want = [np.linalg.norm(R.flatten(g)) for g in R.rtrl(params, x, y)]
    assert np.allclose(norms, want, rtol=1e-3)


def _unbiased(draws: np.ndarray, target: np.ndarray, sigmas: float = 4.0, rounding: float = 1e-9) -> bool:
    """Every coordinate's mean within `sigmas` standard errors of the target.

    Coordinates without noise (U, b_p) must match to `rounding` times the largest target entry.
    """
    draws = np.asarray(draws, np.float64)
    mean, std = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    bound = sigmas * std / np.sqrt(len(draws)) + rounding * np.abs(target).max()
    return bool(np.all(np.abs(mean - target) <= bound))


def test_reference_uoro_is_unbiased_and_a_biased_variant_fails(case):
    params, x, y = case
    x, y = x[:, :10], y[:, :10]
    target = R.flatten(R.rtrl(params, x, y)[-1])
    draws = np.array([R.flatten(R.uoro(params, x, y, np.random.default_rng(i))[-1]) for i in range(1500)])
    assert _unbiased(draws, target)
    assert draws.std(axis=0).max() > 0.1 * np.abs(target).max()  # noisy: the test measures something
    wrong = np.array([R.flatten(R.uoro(params, x, y, np.random.default_rng(i), biased=True)[-1]) for i in range(1500)])
    assert not _unbiased(wrong, target)


def test_engine_uoro_is_unbiased(case):
    params, x, y = case
    x, y = x[:, :10], y[:, :10]
    target = R.flatten(R.full_bptt(params, x, y, np.full(10, 0.1))["grads"])
    kernel, draws = None, []
    for seed in range(400):
        kernel, _, after = _engine_run(params, x, y, "uoro", 10, 1.0, seed=seed, kernel=kernel)
        draws.append(np.concatenate([(p - a).ravel() for p, a in zip(params, after)]))
    draws = np.array(draws)
    assert _unbiased(draws, target, sigmas=4.5, rounding=1e-5)  # float32 engine
    rec = slice(0, D * (3 + D))  # W and b_s: the estimated coordinates (U and b_p are exact)
    # the bound is tight enough to see a 30% bias
    assert not _unbiased(draws[:, rec], 0.7 * target[rec], sigmas=4.5, rounding=1e-5)


def test_rtrl_refused_above_its_limit_with_the_cost():
    with pytest.raises(ValueError, match=r"d <= 32.*d=33.*GFLOP"):
        O.OnlineKernel(O.OnlineKey("rtrl", 200, 33, "adagrad", 1, 4))
    with pytest.raises(ValueError, match="one of rtrl, uoro"):
        O.check_affordable("bptt", 4, 200)


def test_bad_window_is_a_clear_error(case):
    params, x, y = case
    with pytest.raises(ValueError, match="does not fit"):
        E.full_gradient_comparison(params, x, y, T - 2, 5, 5, False)
    with pytest.raises(ValueError, match="k1 must be"):
        E.gradient_flow(params, x, y, 3, 5, 6, False)


def test_tolerance_stops_the_backward_pass_early_and_bounds_what_it_drops(case):
    params, x, y = case
    start, n = 18, 5
    full = E.full_gradient_comparison(params, x, y, start, n, n, False)
    early = E.full_gradient_comparison(params, x, y, start, n, n, False, tolerance=0.5)
    assert early.history_steps < full.history_steps == start + n
    e_full, e_early, t = (R.flatten(g) for g in (full.exact, early.exact, full.truncated))
    # stopping early drops part of what the cut dropped, never more
    assert np.linalg.norm(e_full - e_early) < np.linalg.norm(e_full - t)


def test_comparison_returns_the_same_flow_from_one_pass(case):
    params, x, y = case
    comp = E.full_gradient_comparison(params, x, y, 10, 5, 2, False, flow_extra=5)
    alone = E.gradient_flow(params, x, y, 10, 5, 2, False, extra=5)
    assert np.allclose(comp.flow.matrix, alone.matrix, rtol=1e-6, atol=1e-12)
    assert list(comp.flow.state_positions) == list(alone.state_positions)
