"""rnn_core.model and every window pass the trainer runs, against finite differences and the NumPy reference.

Gradients of `step` (GradientTape on the Python-list graph), the autodiff passes of rnn_core.window
(`step` as a WindowResult; tf.scan under GradientTape) and the hand-derived passes of
rnn_core.derived (unrolled list, rolled scan) are held to central finite differences of the engine's own forward pass in
float64, for TensorFlow style and Williams-Peng k1 in {1, 2}; the per-position state gradients
to finite differences of a perturbed S_t; all window functions to each other and to
tests/numpy_reference.py; plus the list shapes of `unroll`, what a one-step graph can and cannot
learn from, and the weights file format.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
from rnn_core import derived, model, spectral, weights, window

B, N, D = 3, 4, 3
EPS = 1e-6


def make_case(seed: int = 1, n: int = N, d: int = D, batch: int = B, dtype=np.float64):
    """Random weights (biases nonzero, weights big enough for non-trivial tanh'), data and first state."""
    rng = np.random.default_rng(seed)
    p = model.init_params(d, init_scale=1.5, seed=seed, dtype=np.float64)
    params = model.Params(p.W, rng.normal(size=d) * 0.3, p.U, rng.normal(size=2) * 0.3)
    params = model.Params(*(a.astype(dtype) for a in params))
    x = rng.integers(0, 2, (batch, n)).astype(np.int32)
    y = rng.integers(0, 2, (batch, n)).astype(np.int32)
    s0 = rng.uniform(-0.6, 0.6, (batch, d)).astype(dtype)
    return params, x, y, s0


# (k1, first_window): TF style is k1 = n over all positions; Williams-Peng trains the last k1.
STYLES = {
    "tensorflow": (None, True),
    "wp-k1=1": (1, False),
    "wp-k1=2": (2, False),
    "wp-k1=2-first-window": (2, True),
}


def mask_of(k1, first_window, n=N):
    return ref.mask_for(n, n if k1 is None else k1, first_window)


def engine_loss(params, x, y, s0, mask) -> float:
    """The engine's forward (model.unroll) reduced to the trained loss, in float64."""
    _, _, _, losses = model.unroll([tf.constant(p) for p in params], x, y, tf.constant(s0))
    position = np.array([float(np.mean(L_t.numpy())) for L_t in losses])
    return float((position * mask).sum() / mask.sum())


def finite_difference_grads(params, x, y, s0, mask) -> list[np.ndarray]:
    grads = []
    for i, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[i][idx] += EPS
            minus[i][idx] -= EPS
            g[idx] = (engine_loss(plus, x, y, s0, mask) - engine_loss(minus, x, y, s0, mask)) / (2 * EPS)
        grads.append(g)
    return grads


def rel_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def call_window_pass(fn, params, x, y, s0, mask, k1):
    dtype = params[0].dtype
    out = fn(*(tf.constant(p) for p in params), tf.constant(x), tf.constant(y), tf.constant(s0),
             tf.constant(mask.astype(dtype)), k1)
    loss, grads, pos, gnorms, temporal, states, probs, nxt = out
    return {
        "loss": float(loss.numpy()), "grads": [g.numpy() for g in grads], "position_loss": pos.numpy(),
        "grad_norms": gnorms.numpy(), "temporal": temporal.numpy(), "states": states.numpy(),
        "probs": probs.numpy(), "next_state": nxt.numpy(),
    }


# Traced into a graph, as in the compiled kernel, d <= ELEMENTWISE_MAX_D products are fused
# multiply-adds; run eagerly (as a run does while its program compiles) they are tf.matmul.
rolled_graph = tf.function(derived.rolled_window)
unrolled_graph = tf.function(derived.unrolled_window)
WINDOW_PASSES = {
    "rolled-graph": rolled_graph, "rolled-eager": derived.rolled_window,
    "unrolled-graph": unrolled_graph, "unrolled-eager": derived.unrolled_window,
    "autodiff-unrolled-graph": tf.function(window.autodiff_unrolled),
    "autodiff-unrolled-eager": window.autodiff_unrolled,
    "autodiff-rolled-graph": tf.function(window.autodiff_rolled), "autodiff-rolled-eager": window.autodiff_rolled,
}


def call_step(params, x, y, s0, k1, first_window):
    loss, grads, metrics, last = model.step(params, x, y, tf.constant(s0), k1=k1, first_window=first_window)
    return {
        "loss": float(loss.numpy()), "grads": [g.numpy() for g in grads],
        "position_loss": metrics["position_loss"].numpy(), "grad_norms": metrics["grad_norms"].numpy(),
        "temporal": metrics["temporal"].numpy(), "next_state": last.numpy(),
        "global_norm": float(metrics["global_norm"].numpy()),
    }


@pytest.fixture(scope="module")
def case():
    return make_case()


@pytest.fixture(scope="module")
def fd_grads(case):
    """Finite-difference gradients of the engine's forward, one set per style (computed once)."""
    params, x, y, s0 = case
    return {name: finite_difference_grads(params, x, y, s0, mask_of(*style)) for name, style in STYLES.items()}


@pytest.mark.parametrize("style", list(STYLES))
def test_step_gradients_match_finite_differences(case, fd_grads, style):
    params, x, y, s0 = case
    k1, first_window = STYLES[style]
    out = call_step(params, x, y, s0, k1, first_window)
    assert out["loss"] == pytest.approx(engine_loss(params, x, y, s0, mask_of(k1, first_window)), abs=1e-14)
    for name, g, fd in zip(("W", "b_s", "U", "b_p"), out["grads"], fd_grads[style]):
        assert np.linalg.norm(fd) > 1e-4, f"d{name} is trivially small; the check would be vacuous"
        assert rel_error(g, fd) < 1e-5, f"step d{name} ({style}) disagrees with finite differences"


@pytest.mark.parametrize("fn", list(WINDOW_PASSES.values()), ids=list(WINDOW_PASSES))
@pytest.mark.parametrize("style", list(STYLES))
def test_window_pass_gradients_match_finite_differences(case, fd_grads, style, fn):
    params, x, y, s0 = case
    k1, first_window = STYLES[style]
    mask = mask_of(k1, first_window)
    out = call_window_pass(fn, params, x, y, s0, mask, N if k1 is None else k1)
    assert out["loss"] == pytest.approx(engine_loss(params, x, y, s0, mask), abs=1e-14)
    for name, g, fd in zip(("W", "b_s", "U", "b_p"), out["grads"], fd_grads[style]):
        assert rel_error(g, fd) < 1e-5, f"{fn.__name__} d{name} ({style}) disagrees with finite differences"


def state_gradient_fd(params, x, y, s0, mask, t) -> np.ndarray:
    """dL/dS_t by central differences, perturbing S_t (and so everything after it) entry by entry."""
    d = params[0].shape[0]
    g = np.zeros((x.shape[0], d))
    for idx in np.ndindex(g.shape):
        delta = np.zeros_like(g)
        delta[idx] = EPS
        _, _, lp = ref.forward(params, x, y, s0, perturb={t: delta})
        _, _, lm = ref.forward(params, x, y, s0, perturb={t: -delta})
        g[idx] = (ref.masked_loss(lp, mask) - ref.masked_loss(lm, mask)) / (2 * EPS)
    return g


@pytest.mark.parametrize("style", list(STYLES))
def test_state_gradient_norms_match_finite_differences(case, style):
    params, x, y, s0 = case
    k1, first_window = STYLES[style]
    mask = mask_of(k1, first_window)
    last_only = np.zeros(N)
    last_only[-1] = 1.0
    fd_norms = np.array([np.linalg.norm(state_gradient_fd(params, x, y, s0, mask, t)) for t in range(N)])
    fd_temporal = np.array([np.linalg.norm(state_gradient_fd(params, x, y, s0, last_only, t)) for t in range(N)])
    assert (fd_temporal > 1e-6).all()
    stepped = call_step(params, x, y, s0, k1, first_window)
    passes = {name: call_window_pass(fn, params, x, y, s0, mask, N if k1 is None else k1)
              for name, fn in WINDOW_PASSES.items() if name.endswith("graph")}
    reference = ref.window(params, x, y, s0, k1, first_window)
    for name, out in (("step", stepped), *passes.items(), ("numpy reference", reference)):
        assert rel_error(out["grad_norms"], fd_norms) < 1e-5, f"{name} ||dL/dS_t|| ({style})"
        assert rel_error(out["temporal"], fd_temporal) < 1e-5, f"{name} ||dL_last/dS_t|| ({style})"
    if k1 == 1 and not first_window:
        # Only the last loss is trained, so dL/dS_t is dL_last/dS_t at every position.
        np.testing.assert_allclose(stepped["grad_norms"], stepped["temporal"], rtol=1e-12)


def test_numpy_reference_gradients_match_finite_differences(case, fd_grads):
    """The reference's hand-written backward is itself right (so the comparisons below mean something)."""
    params, x, y, s0 = case
    for style, (k1, first_window) in STYLES.items():
        out = ref.window(params, x, y, s0, k1, first_window)
        for g, fd in zip(out["grads"], fd_grads[style]):
            assert rel_error(g, fd) < 1e-5, style


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 2e-6)], ids=["float64", "float32"])
@pytest.mark.parametrize("style", ["tensorflow", "wp-k1=1", "wp-k1=2"])
def test_all_window_functions_agree_with_numpy(style, dtype, atol):
    params, x, y, s0 = make_case(seed=5, n=6, d=4, batch=5, dtype=dtype)
    n = 6
    k1, first_window = STYLES[style]
    k1_value = n if k1 is None else k1
    mask = ref.mask_for(n, k1_value, first_window)
    reference = ref.window(params, x, y, s0, k1, first_window)
    outs = {name: call_window_pass(fn, params, x, y, s0, mask, k1_value) for name, fn in WINDOW_PASSES.items()}
    outs["step"] = call_step(params, x, y, s0, k1, first_window)
    for name, out in outs.items():
        for key in ("loss", "position_loss", "grad_norms", "temporal", "next_state", "states", "probs"):
            if key in out:
                np.testing.assert_allclose(out[key], reference[key], rtol=1e-5, atol=atol, err_msg=f"{name} {key}")
        for g, h in zip(out["grads"], reference["grads"]):
            np.testing.assert_allclose(g, h, rtol=1e-5, atol=atol, err_msg=f"{name} grads")
    global_norm = np.sqrt(sum((g**2).sum() for g in reference["grads"]))
    assert outs["step"]["global_norm"] == pytest.approx(global_norm, rel=1e-5)
    # the carried state is S after k1 inputs, not the window's final state (unless k1 = n)
    np.testing.assert_allclose(outs["step"]["next_state"], reference["states"][k1_value - 1], atol=atol)
    if k1_value < n:
        assert not np.allclose(outs["step"]["next_state"], reference["states"][-1], atol=1e-3)


@pytest.mark.parametrize("name", ["rolled", "autodiff-rolled"])
def test_rolled_passes_compiled_with_xla_match_numpy(name):
    """The rolled passes are what the compiled trainer runs for large n: same numbers under jit_compile."""
    params, x, y, s0 = make_case(seed=9, n=20, d=3, batch=2, dtype=np.float32)
    mask = ref.mask_for(20, 3, False)
    fn = tf.function({"rolled": derived.rolled_window, "autodiff-rolled": window.autodiff_rolled}[name],
                     jit_compile=True)
    out = call_window_pass(fn, params, x, y, s0, mask, 3)
    reference = ref.window(params, x, y, s0, 3, False)
    for key in ("loss", "position_loss", "grad_norms", "temporal", "next_state", "states", "probs"):
        np.testing.assert_allclose(out[key], reference[key], rtol=1e-4, atol=2e-6, err_msg=key)
    for g, h in zip(out["grads"], reference["grads"]):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=2e-6)


def test_unroll_returns_python_lists_of_n_tensors():
    params, x, y, s0 = make_case(seed=2, n=5, d=3, batch=4, dtype=np.float32)
    rnn_inputs, states, predictions, losses = model.unroll([tf.constant(p) for p in params], x, y, tf.constant(s0))
    expected_shapes = {"rnn_inputs": (4, 2), "states": (4, 3), "predictions": (4, 2), "losses": (4,)}
    for name, items in zip(expected_shapes, (rnn_inputs, states, predictions, losses)):
        assert type(items) is list, name
        assert len(items) == 5, name
        for item in items:
            assert isinstance(item, tf.Tensor), name
            assert tuple(item.shape) == expected_shapes[name], name
    np.testing.assert_array_equal(np.stack([r.numpy() for r in rnn_inputs], axis=1), ref.one_hot(x))
    states_ref, logits_ref, losses_ref = ref.forward(params, x, y, s0)
    np.testing.assert_allclose(np.stack([s.numpy() for s in states]), states_ref[1:], atol=2e-6)
    np.testing.assert_allclose(np.stack([p.numpy() for p in predictions]), logits_ref, atol=2e-6)
    np.testing.assert_allclose(np.stack([L_t.numpy() for L_t in losses]), losses_ref, atol=2e-6)


def test_one_step_graph_propagates_no_error_to_the_previous_step():
    """n = 1: the gradient is that of loss_t with S_{t-1} held constant, though dL_t/dS_{t-1} is not 0.

    The engine runs the second of two consecutive steps from the state the first produced; its
    gradient must equal the closed-form one-step gradient, and must differ from the gradient the
    same loss has in a two-step graph (where error does reach step t-1).
    """
    params, x, y, s0 = make_case(seed=4, n=2, d=3, batch=3, dtype=np.float64)
    W, b_s, U, b_p = params
    first = ref.window(params, x[:, :1], y[:, :1], s0)
    carried = first["next_state"]
    stepped = call_step(params, x[:, 1:], y[:, 1:], carried, None, True)
    rolled = call_window_pass(derived.rolled_window, params, x[:, 1:], y[:, 1:], carried, np.ones(1), 1)

    # closed form for one step: H = (X_t || S_{t-1}) is a constant input
    H = np.concatenate([ref.one_hot(x[:, 1]), carried], axis=1)
    S = np.tanh(H @ W.T + b_s)
    P = S @ U.T + b_p
    probs = np.exp(P - P.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dP = (probs - ref.one_hot(y[:, 1])) / 3
    dZ = (dP @ U) * (1 - S**2)
    closed = [dZ.T @ H, dZ.sum(0), dP.T @ S, dP.sum(0)]
    for out in (stepped, rolled):
        for g, c in zip(out["grads"], closed):
            np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-14)
        assert out["temporal"][0] == pytest.approx(out["grad_norms"][0], rel=1e-12)
    # the loss of step t does depend on S_{t-1}: error exists but is not propagated
    assert np.linalg.norm(ref.window(params, x[:, 1:], y[:, 1:], carried)["d_first_state"]) > 1e-3
    # in a two-step graph the same (last) loss does send error back to step t-1, changing dW
    two_step = ref.window(params, x, y, s0, mask=np.array([0.0, 1.0]))
    assert rel_error(two_step["grads"][0], closed[0]) > 1e-2
    # and the previous window's inputs enter only through the carried state's value
    x_other = x.copy()
    x_other[:, 0] = 1 - x_other[:, 0]
    other_state = ref.window(params, x_other[:, :1], y[:, :1], s0)["next_state"]
    again = call_step(params, x[:, 1:], y[:, 1:], other_state, None, True)
    assert rel_error(again["grads"][0], stepped["grads"][0]) > 1e-3
    same = call_step(params, x_other[:, 1:], y[:, 1:], carried, None, True)
    for g, h in zip(same["grads"], stepped["grads"]):
        np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 9])
def test_times_transpose_is_a_times_m_transposed(k):
    rng = np.random.default_rng(k)
    A, M = rng.normal(size=(7, k)), rng.normal(size=(k + 2, k))
    graph = tf.function(derived.times_transpose)(tf.constant(A), tf.constant(M)).numpy()  # elementwise for k <= 4
    eager = derived.times_transpose(tf.constant(A), tf.constant(M)).numpy()  # tf.matmul
    np.testing.assert_allclose(graph, A @ M.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eager, A @ M.T, rtol=1e-12, atol=1e-12)


def test_sigma_max_is_the_largest_singular_value_of_the_recurrent_block():
    params, *_ = make_case(seed=3, d=5, dtype=np.float64)
    assert spectral.sigma_max(params.W) == pytest.approx(ref.sigma_max(params.W), rel=1e-10)


@pytest.mark.parametrize("d", [7, spectral.SUBSET_FROM_D, 96])  # all eigenvalues batched; the top one alone
def test_spectral_norms_of_a_stack_match_svd_and_survive_extreme_weights(d):
    rng = np.random.default_rng(8)
    stack = rng.normal(size=(6, d, d)).astype(np.float32)
    stack[1] *= 3e37  # squares overflow float32 but not the float64 the norms are taken in
    stack[2] = 0.0
    stack[3, 0, 0] = np.nan
    stack[4, 1, 2] = -np.inf
    got = spectral.spectral_norms(stack)
    for i in (0, 1, 5):
        expected = np.linalg.svd(stack[i].astype(np.float64), compute_uv=False)[0]
        assert got[i] == pytest.approx(expected, rel=1e-12)
    assert got[2] == 0.0
    assert got[3] == np.inf and got[4] == np.inf
    assert spectral.spectral_norms(np.zeros((0, 3, 3))).shape == (0,)


def test_init_params_shapes_and_repeatability():
    a = model.init_params(6, init_scale=2.0, seed=11)
    b = model.init_params(6, init_scale=2.0, seed=11)
    c = model.init_params(6, init_scale=2.0, seed=12)
    assert [p.shape for p in a] == [(6, 8), (6,), (2, 6), (2,)]
    assert all(p.dtype == np.float32 for p in a)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.W, c.W)
    np.testing.assert_array_equal(a.b_s, 0)
    # Glorot-uniform limit sqrt(6 / (fan_in + fan_out)), times init_scale
    assert np.abs(a.W).max() <= 2.0 * np.sqrt(6 / (6 + 8)) + 1e-6
    assert np.abs(a.W).max() > 0.5 * 2.0 * np.sqrt(6 / (6 + 8))


# ---------------------------------------------------------------- weights files


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_roundtrip(tmp_path, dtype):
    params, *_ = make_case(seed=7, d=4, dtype=dtype)
    path = tmp_path / "w.npz"
    weights.save_weights(path, params)
    loaded = weights.load_weights(path, state_size=4)
    assert isinstance(loaded, model.Params)
    for p, q in zip(loaded, params):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, q.astype(np.float32))
    loaded_str = weights.load_weights(str(path))
    np.testing.assert_array_equal(loaded_str.W, params.W.astype(np.float32))


def test_weights_roundtrip_keeps_the_path_given(tmp_path):
    params, *_ = make_case(seed=7, d=4, dtype=np.float32)
    path = tmp_path / "trained.weights"
    weights.save_weights(path, params)
    assert path.exists()
    np.testing.assert_array_equal(weights.load_weights(path).W, params.W)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def good_arrays(d=3, dtype=np.float32):
    return {"W": np.zeros((d, 2 + d), dtype), "b_s": np.zeros(d, dtype), "U": np.zeros((2, d), dtype),
            "b_p": np.zeros(2, dtype)}


def bad_files(tmp_path):
    cases = {}
    a = good_arrays()
    del a["U"]
    cases["missing key"] = (_write(tmp_path / "missing.npz", **a), "lacks U")
    a = good_arrays()
    a["W"] = np.zeros((3, 4), np.float32)
    cases["wrong shape"] = (_write(tmp_path / "shape.npz", **a), "W has shape (3, 4); expected (3, 5)")
    a = good_arrays()
    a["b_p"] = np.zeros(3, np.float32)
    cases["wrong bias shape"] = (_write(tmp_path / "bias.npz", **a), "b_p has shape (3,)")
    a = good_arrays()
    a["U"] = np.zeros((2, 3), np.int64)
    cases["wrong dtype"] = (_write(tmp_path / "dtype.npz", **a), "U has dtype int64")
    a = good_arrays()
    a["W"] = np.array([[{"x": 1}] * 5] * 3, dtype=object)
    cases["object array (pickle)"] = (_write(tmp_path / "object.npz", **a), "without pickles")
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps(good_arrays()))
    cases["pickled file"] = (pickled, "without pickles")
    a = good_arrays()
    a["U"][0, 1] = np.nan
    cases["NaN"] = (_write(tmp_path / "nan.npz", **a), "NaN or infinite")
    a = good_arrays()
    a["b_s"][0] = np.inf
    cases["inf"] = (_write(tmp_path / "inf.npz", **a), "NaN or infinite")
    text = tmp_path / "text.npz"
    text.write_text("W,b_s\n1,2\n")
    cases["not a zip"] = (text, "not a readable .npz")
    cases["missing file"] = (tmp_path / "nowhere.npz", "does not exist")
    return cases


CASE_NAMES = ["missing key", "wrong shape", "wrong bias shape", "wrong dtype", "object array (pickle)",
              "pickled file", "NaN", "inf", "not a zip", "missing file"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_weights_files_raise_clear_value_errors(tmp_path, name):
    path, message = bad_files(tmp_path)[name]
    with pytest.raises(ValueError) as info:
        weights.load_weights(path)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_weights_of_another_state_size_are_rejected(tmp_path):
    path = _write(tmp_path / "d3.npz", **good_arrays(3))
    weights.load_weights(path, state_size=3)
    with pytest.raises(ValueError, match=r"state size d=3 but the run has d=4"):
        weights.load_weights(path, state_size=4)
