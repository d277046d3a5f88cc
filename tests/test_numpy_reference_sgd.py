"""The trainer's SGD steps against a NumPy float64 replay of truncated BPTT (tests/numpy_reference.py).

From the same weights on the same data, every step's loss, per-position loss and gradient norms,
the final weights and the carried state of `Trainer` (compiled XLA kernel, and uncompiled: one eager
chunk, then TensorFlow graph chunks) equal the reference's; the replay starts each window from the
state the previous window handed on, and the tests show that replays with a wrong hand-over disagree.
Also: BPTT(n; n) Williams-Peng is TensorFlow style, BPTT(k2; 1) trains only the last loss of each
window through all k2 positions, and global-norm clipping and Adagrad follow their formulas.
"""
from __future__ import annotations

import numpy as np
import pytest

import numpy_reference as ref
from conftest import warm
from rnn_core import train
from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.model import init_params

TOL = dict(rtol=1e-5, atol=1e-5)

CASES = {
    # name: config changes; B = 4, d = 3, rows of 60 steps (the 3-step tail of the series is dropped)
    "tf-n5": dict(truncation=5),
    # 56 steps: at lr 1.0 float32 rounding (which depends on how XLA arranges the products) grows past 1e-5
    "wp-n5-k1=2": dict(truncation=5, style="williams-peng", k1=2, learning_rate=0.25),
    # 57 steps at a small learning rate: float32 rounding grows along the trajectory when lr is large
    "wp-n4-k1=1": dict(truncation=4, style="williams-peng", k1=1, epochs=1, learning_rate=0.25),
    "tf-n20-rolled": dict(truncation=20),  # n > window.UNROLL_LIMIT: the rolled window passes
}


def make_cfg(**changes) -> RunConfig:
    base = dict(state_size=3, batch_size=4, series_length=4 * 60 + 3, epochs=2, optimizer="sgd",
                learning_rate=1.0, init_scale=1.5, seed=3)
    base.update(changes)
    return RunConfig(**base).validate()




def run_engine(cfg: RunConfig, compiled: bool, **kwargs) -> tuple[train.Trainer, list[train.Chunk]]:
    """Train to the end; compiled runs use a kernel compiled beforehand, so every chunk is compiled."""
    trainer = train.Trainer(cfg, use_compiled=compiled, max_profiles=None, **kwargs)
    if compiled:
        warm(trainer.key)
    chunks: list[train.Chunk] = []
    trainer.run_to_end(chunks.append)
    assert chunks and all(c.compiled == compiled for c in chunks), "the run did not use the kernel asked for"
    assert trainer.state.status == "completed"
    return trainer, chunks


def run_reference(cfg: RunConfig, carry: str = "k1", params=None) -> dict:
    epochs = [epoch_data(cfg, e) for e in range(cfg.epochs)]
    start = params if params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
    return ref.train(start, epochs, cfg.truncation, cfg.effective_k1, cfg.learning_rate, cfg.optimizer,
                     cfg.clip, carry=carry)


def assert_matches(trainer: train.Trainer, chunks: list[train.Chunk], expected: dict, label: str) -> None:
    scalars = trainer.history.scalars()
    profiles = trainer.history.profiles()
    steps = len(expected["loss"])
    assert trainer.total_steps == steps, f"{label}: step count"
    assert trainer.state.steps_done == steps
    np.testing.assert_allclose(scalars["loss"], expected["loss"], **TOL, err_msg=f"{label}: loss")
    np.testing.assert_allclose(scalars["global_norm"], expected["global_norm"], **TOL, err_msg=f"{label}: global_norm")
    np.testing.assert_allclose(scalars["sigma_max"], expected["sigma_max"], **TOL, err_msg=f"{label}: sigma_max")
    np.testing.assert_array_equal(profiles["step"], np.arange(steps))
    for key in ("position_loss", "grad_norms", "temporal"):
        np.testing.assert_allclose(profiles[key], expected[key], **TOL, err_msg=f"{label}: {key}")
    for name, got, want in zip(("W", "b_s", "U", "b_p"), trainer.params, expected["params"]):
        np.testing.assert_allclose(got, want, **TOL, err_msg=f"{label}: final {name}")
    np.testing.assert_allclose(trainer.state.state, expected["state"], **TOL, err_msg=f"{label}: carried state")
    # the last chunk's snapshot is row 0 of the last window trained
    snap, last = chunks[-1].snapshot, expected["last"]
    epoch, start = expected["windows"][-1]
    n = trainer.cfg.truncation
    x_rows, y_rows = epoch_data(trainer.cfg, epoch)
    np.testing.assert_array_equal(snap.x, x_rows[0, start:start + n])
    np.testing.assert_array_equal(snap.y, y_rows[0, start:start + n])
    np.testing.assert_allclose(snap.states, last["states"][:, 0, :], **TOL)
    np.testing.assert_allclose(snap.prob, last["probs"][:, 0], **TOL)


@pytest.mark.parametrize("gradient", ["autodiff", "derived"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "uncompiled"])
@pytest.mark.parametrize("case", list(CASES))
def test_sgd_steps_match_numpy_reference(case, compiled, gradient, request):
    if not compiled:
        request.getfixturevalue("fresh_pool")
    cfg = make_cfg(**CASES[case], gradient=gradient)
    expected = run_reference(cfg)
    start = init_params(cfg.state_size, cfg.init_scale, cfg.seed)
    moved = max(np.abs(p - q).max() for p, q in zip(expected["params"], start))
    assert moved > 0.05, "the steps barely move the weights; the comparison would be weak"
    trainer, chunks = run_engine(cfg, compiled)
    assert_matches(trainer, chunks, expected, f"{case} {gradient} {'compiled' if compiled else 'uncompiled'}")


@pytest.mark.parametrize("case,wrong", [("tf-n5", "zero"), ("wp-n5-k1=2", "final")])
def test_each_window_starts_from_the_state_the_previous_one_handed_on(case, wrong):
    """Step by step, the state the trainer hands on is the replay's next first state (zero each epoch)."""
    cfg = make_cfg(**CASES[case])
    expected = run_reference(cfg)
    firsts, windows = expected["first_states"], expected["windows"]
    trainer = train.Trainer(cfg, max_profiles=None)
    warm(trainer.key)
    for i in range(len(windows)):
        chunks = list(trainer.run(max_steps=1))
        assert len(chunks) == 1 and chunks[0].compiled
        assert trainer.history.scalars()["loss"][-1] == pytest.approx(expected["loss"][i], rel=1e-5, abs=1e-6)
        if i + 1 < len(windows) and windows[i + 1][0] == windows[i][0]:
            np.testing.assert_allclose(trainer.state.state, firsts[i + 1], **TOL, err_msg=f"state after step {i}")
        elif i + 1 < len(windows):
            np.testing.assert_array_equal(firsts[i + 1], 0.0)  # a new epoch starts from zero
    assert trainer.state.status == "completed"
    # a replay with a wrong hand-over is told apart
    wrong_replay = run_reference(cfg, carry=wrong)
    loss = trainer.history.scalars()["loss"]
    assert np.abs(loss - wrong_replay["loss"]).max() > 1e-3, f"carry={wrong} should be told apart"
    np.testing.assert_allclose(loss, expected["loss"], **TOL)


def test_williams_peng_with_k1_equal_to_n_is_tensorflow_style():
    tf_cfg = make_cfg(truncation=5)
    wp_cfg = make_cfg(truncation=5, style="williams-peng", k1=5)
    tf_run, _ = run_engine(tf_cfg, compiled=True)
    wp_run, _ = run_engine(wp_cfg, compiled=True)
    assert tf_run.key == wp_run.key
    for name in ("loss", "global_norm", "sigma_max"):
        np.testing.assert_array_equal(tf_run.history.scalars()[name], wp_run.history.scalars()[name])
    for name in ("position_loss", "grad_norms", "temporal"):
        np.testing.assert_array_equal(tf_run.history.profiles()[name], wp_run.history.profiles()[name])
    for p, q in zip(tf_run.params, wp_run.params):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(tf_run.state.state, wp_run.state.state)


def test_true_truncation_backpropagates_each_loss_exactly_k2_steps():
    """BPTT(k2; 1): after an epoch's first window only the last loss is trained, through all k2 states."""
    cfg = make_cfg(**CASES["wp-n4-k1=1"])
    n = cfg.truncation
    trainer, _ = run_engine(cfg, compiled=True)
    prof = trainer.history.profiles()
    later = slice(1, None)  # step 0 is an epoch's first window: all positions trained
    assert (prof["temporal"][later] > 1e-6).all(), "the last loss's error must reach every position"
    np.testing.assert_allclose(prof["grad_norms"][later], prof["temporal"][later], rtol=1e-5)
    # trained loss = the last position's loss; the first window's is the mean over all positions
    np.testing.assert_allclose(trainer.history.scalars()["loss"][later], prof["position_loss"][later, -1], rtol=1e-6)
    np.testing.assert_allclose(trainer.history.scalars()["loss"][0], prof["position_loss"][0].mean(), rtol=1e-6)

    # two steps by hand: window 0 with every loss, window 1 (starting 1 step later) with only the last
    lr = cfg.learning_rate
    p0 = ref.as_params(init_params(cfg.state_size, cfg.init_scale, cfg.seed))
    x_rows, y_rows = epoch_data(cfg, 0)
    w0 = ref.window(p0, x_rows[:, :n], y_rows[:, :n], np.zeros((4, 3)), mask=np.ones(n))
    p1 = [p - lr * g for p, g in zip(p0, w0["grads"])]
    last_only = np.zeros(n)
    last_only[-1] = 1.0
    w1 = ref.window(p1, x_rows[:, 1:n + 1], y_rows[:, 1:n + 1], w0["states"][0], mask=last_only)
    p2 = [p - lr * g for p, g in zip(p1, w1["grads"])]
    two = train.Trainer(cfg, max_profiles=None)
    warm(two.key)
    for _ in two.run(max_steps=2):
        pass
    assert two.state.steps_done == 2
    for got, want in zip(two.params, p2):
        np.testing.assert_allclose(got, want, **TOL)
    # training every position's loss in window 1 instead would give other weights
    w1_all = ref.window(p1, x_rows[:, 1:n + 1], y_rows[:, 1:n + 1], w0["states"][0], mask=np.ones(n))
    p2_all = [p - lr * g for p, g in zip(p1, w1_all["grads"])]
    assert max(np.abs(a - b).max() for a, b in zip(p2_all, p2)) > 1e-3


def test_global_norm_clipping_matches_reference():
    cfg = make_cfg(truncation=5, clip=0.35)
    expected = run_reference(cfg)
    norms = expected["global_norm"]
    assert (norms > cfg.clip).any() and (norms < cfg.clip).any(), "pick a clip that bites on some steps only"
    unclipped = run_reference(cfg.replace(clip=0.0))
    assert np.abs(unclipped["params"][0] - expected["params"][0]).max() > 1e-3
    trainer, chunks = run_engine(cfg, compiled=True)
    assert_matches(trainer, chunks, expected, "clip 0.35")


def test_adagrad_matches_reference():
    """The default (R2RT) optimizer, Keras Adagrad: accumulator from 0.1, p -= lr g / sqrt(acc + 1e-7)."""
    cfg = make_cfg(truncation=5, optimizer="adagrad", learning_rate=0.1)
    expected = run_reference(cfg)
    trainer, chunks = run_engine(cfg, compiled=True)
    assert_matches(trainer, chunks, expected, "adagrad")


def test_r2rt_one_step_graph_epoch_matches_reference():
    """R2RT with n = 1 over a whole epoch (5,000 Adagrad steps): the engine's loss curve is the reference's.

    n = 1 cannot propagate error to t - 1, yet ends near 0.60 (below 'learns nothing', 0.6616): the
    output layer learns to read what the carried state happens to hold about recent inputs.
    """
    cfg = RunConfig(truncation=1)
    expected = run_reference(cfg)
    trainer, _ = run_engine(cfg, compiled=True)
    loss = trainer.history.scalars()["loss"]
    assert len(loss) == len(expected["loss"]) == 5000
    np.testing.assert_allclose(loss, expected["loss"], atol=1e-5)  # every one of the 5,000 steps
    assert train.final_loss(loss) == pytest.approx(train.final_loss(expected["loss"]), abs=1e-5)
    for got, want in zip(trainer.params, expected["params"]):
        np.testing.assert_allclose(got, want, atol=1e-4)
