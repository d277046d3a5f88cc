"""rnn_core.train.Trainer: divergence ends a run cleanly, stop/continue gives the uninterrupted
run's numbers, a run that switches from uncompiled chunks (eager, then a TensorFlow graph) to the
compiled program mid-way matches the NumPy reference, compiled and uncompiled runs agree, history
thinning keeps the right rows, a file sequence trains like the reference says, and the summary is
what it claims.
"""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest

import numpy_reference as ref
from conftest import warm
from rnn_core import kernels, spectral, train
from rnn_core.config import RunConfig
from rnn_core.data import batch_rows, epoch_data
from rnn_core.model import Params, init_params

TOL = dict(rtol=1e-5, atol=1e-5)


def make_cfg(**changes) -> RunConfig:
    # the shapes of tests/test_numpy_reference_sgd.py, so compiled kernels are shared
    base = dict(state_size=3, batch_size=4, series_length=4 * 60 + 3, epochs=2, optimizer="sgd",
                learning_rate=1.0, init_scale=1.5, seed=3, truncation=5)
    base.update(changes)
    return RunConfig(**base).validate()




def compiled_trainer(cfg: RunConfig, **kwargs) -> train.Trainer:
    trainer = train.Trainer(cfg, **kwargs)
    warm(trainer.key)
    return trainer


def reference(cfg: RunConfig, params=None) -> dict:
    start = params if params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
    return ref.train(start, [epoch_data(cfg, e) for e in range(cfg.epochs)], cfg.truncation, cfg.effective_k1,
                     cfg.learning_rate, cfg.optimizer, cfg.clip)


# ---------------------------------------------------------------- divergence


def exploding_params(d: int = 3) -> Params:
    """Finite weights whose first SGD step overflows float32: logits ~ 1e37, so dW ~ 1e37 too."""
    p = init_params(d, 0.1, 0)
    U = np.full((2, d), 3e37, np.float32)
    U[1] *= -1
    return Params(p.W, p.b_s, U, p.b_p)


def check_diverged(trainer: train.Trainer, chunks: list[train.Chunk]) -> None:
    loss = trainer.history.scalars()["loss"]
    assert np.isfinite(loss[0]), "step 0 starts from finite weights"
    assert not np.isfinite(loss[-1])
    assert np.isfinite(loss[:-1]).all()
    assert trainer.state.status == "diverged"
    assert trainer.state.diverged_at == len(loss) - 1 == 1
    assert chunks[-1].status == "diverged" and chunks[-1].diverged_at == 1
    assert all(c.status == "running" for c in chunks[:-1])
    summary = trainer.summary()
    assert summary["status"] == "diverged" and summary["diverged_at"] == 1 and summary["steps"] == 2
    assert trainer.finished
    assert list(trainer.run()) == []  # nothing to continue


def test_divergence_ends_the_run_with_its_step_index():
    cfg = make_cfg(epochs=1)
    trainer = compiled_trainer(cfg, initial_params=exploding_params())
    chunks = list(trainer.run())
    assert all(c.compiled for c in chunks)
    check_diverged(trainer, chunks)


def test_reasonable_huge_settings_run_to_the_end_as_the_reference_does():
    """SGD at the largest learning rate and init scale: the loss is bounded (tanh, softmax), the run completes."""
    cfg = make_cfg(epochs=1, learning_rate=10.0, init_scale=10.0)
    trainer = compiled_trainer(cfg)
    trainer.run_to_end()
    expected = reference(cfg)
    assert trainer.state.status == "completed" and trainer.summary()["steps"] == len(expected["loss"]) == 12
    # float32 and float64 part ways under such steps, so the early steps are compared
    np.testing.assert_allclose(trainer.history.scalars()["loss"][:3], expected["loss"][:3], rtol=1e-4)


def test_divergence_in_an_uncompiled_chunk_ends_the_run(fresh_pool):
    cfg = make_cfg(epochs=1)
    trainer = train.Trainer(cfg, initial_params=exploding_params(), use_compiled=False)
    chunks = list(trainer.run())
    assert not any(c.compiled for c in chunks)
    check_diverged(trainer, chunks)


def test_divergence_of_a_run_whose_norms_are_taken_behind_ends_it_the_same_way():
    d = spectral.BEHIND_FROM_D
    cfg = make_cfg(epochs=1, state_size=d)
    trainer = compiled_trainer(cfg, initial_params=exploding_params(d))
    chunks = list(trainer.run())
    check_diverged(trainer, chunks)
    sigma = trainer.history.scalars()["sigma_max"]
    assert len(sigma) == 2 and np.isfinite(sigma[0]) and sigma[-1] == np.inf  # the overflowed W_s reads inf


# ---------------------------------------------------------------- sigma_max behind the next call


def test_a_wide_runs_norms_are_taken_behind_its_next_call_one_chunk_at_a_time(monkeypatch):
    """From BEHIND_FROM_D on, a chunk's sigma_max is computed while the next chunk trains: the chunk yielded
    may still hold a Future, the one before it never does, and the values are the NumPy reference's."""
    d = spectral.BEHIND_FROM_D
    cfg = make_cfg(epochs=1, state_size=d, learning_rate=0.5, init_scale=1.0)
    behind = compiled_trainer(cfg, chunk_seconds=1e-9)  # one step a call: many chunks
    chunks, pending = [], []
    for chunk in behind.run():
        pending.append(isinstance(chunk.sigma_max, Future))
        assert all(isinstance(c.sigma_max, np.ndarray) for c in chunks)  # only the latest may be pending
        chunks.append(chunk)
    assert len(chunks) == 12 and any(pending)  # the path under test was taken
    assert all(isinstance(c.sigma_max, np.ndarray) for c in chunks)  # all settled once the run ends

    expected = reference(cfg)
    np.testing.assert_allclose(behind.history.scalars()["sigma_max"], expected["sigma_max"], rtol=1e-5)
    assert behind.history.scalars()["sigma_max"][-1] == pytest.approx(ref.sigma_max(behind.params.W), rel=1e-6)

    monkeypatch.setattr(train, "BEHIND_FROM_D", d + 1)  # the same run with its norms taken after each call
    direct = compiled_trainer(cfg, chunk_seconds=1e-9)
    direct_chunks = list(direct.run())
    assert not any(isinstance(c.sigma_max, Future) for c in direct_chunks)
    np.testing.assert_array_equal(behind.history.scalars()["sigma_max"], direct.history.scalars()["sigma_max"])


def test_norms_behind_are_the_direct_norms_bit_for_bit():
    rng = np.random.default_rng(4)
    stack = rng.standard_normal((5, 48, 48)).astype(np.float32)
    stack[2, 3, 4] = np.inf
    got = spectral.norms_behind(stack).result()
    np.testing.assert_array_equal(got, spectral.spectral_norms(stack).astype(np.float32))
    assert got.dtype == np.float32 and got[2] == np.inf and np.isfinite(np.delete(got, 2)).all()
    assert spectral.settled(got) is got


# ---------------------------------------------------------------- chunk sizing under contention


def test_contention_is_the_runs_training_per_core(monkeypatch):
    monkeypatch.setattr(train.os, "cpu_count", lambda: 2)
    for runs, expected in ((0, 1.0), (1, 1.0), (2, 1.0), (8, 4.0), (30, 15.0)):
        monkeypatch.setattr(train, "training_runs", lambda runs=runs: runs)
        assert train.contention() == expected


def test_a_contended_chunk_is_sized_to_the_steps_it_fits_alone(monkeypatch):
    cfg = make_cfg(epochs=1)
    alone = [len(c.loss) for c in compiled_trainer(cfg, max_profiles=None, chunk_seconds=1e-5).run()]
    assert alone == [1] * 12  # a budget of 10 µs, below any call's cost: one step per call
    monkeypatch.setattr(train, "contention", lambda: 1e12)  # as if every call waited behind countless others
    crowded = [len(c.loss) for c in compiled_trainer(cfg, max_profiles=None, chunk_seconds=1e-5).run()]
    assert sum(crowded) == 12 and len(crowded) <= 2  # the probe step, then the rest in one call


# ---------------------------------------------------------------- stop and continue


def test_stop_and_continue_gives_the_uninterrupted_run():
    cfg = make_cfg(optimizer="adagrad", learning_rate=0.1, clip=0.5)  # carries optimizer slots too
    whole = compiled_trainer(cfg, max_profiles=None)
    whole.run_to_end()
    assert whole.state.status == "completed" and whole.total_steps == 24

    parts = compiled_trainer(cfg, max_profiles=None, chunk_seconds=1e-9)  # one step per chunk
    chunks = list(parts.run(max_steps=7))
    assert [len(c.loss) for c in chunks] == [1] * 7
    assert parts.state.steps_done == 7 and parts.state.status == "paused" and not parts.finished
    for _ in parts.run():  # stop by leaving the loop
        break
    assert parts.state.steps_done == 8 and parts.state.status == "paused"
    list(parts.run(max_steps=6))  # crosses the epoch boundary at step 12
    assert parts.state.steps_done == 14 and parts.state.epoch == 1
    parts.run_to_end()
    assert parts.state.status == "completed" and parts.state.steps_done == 24
    assert list(parts.run()) == []

    for name in ("loss", "global_norm", "sigma_max"):
        np.testing.assert_allclose(parts.history.scalars()[name], whole.history.scalars()[name], rtol=1e-6, atol=1e-7)
    for name in ("position_loss", "grad_norms", "temporal"):
        np.testing.assert_allclose(parts.history.profiles()[name], whole.history.profiles()[name], rtol=1e-6, atol=1e-7)
    for p, q in zip(parts.params, whole.params):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
    for p, q in zip(parts.state.optimizer_state, whole.state.optimizer_state):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
    # and both are the reference's run
    np.testing.assert_allclose(whole.history.scalars()["loss"], reference(cfg)["loss"], **TOL)


def test_switch_from_uncompiled_to_compiled_mid_run_keeps_weights_and_optimizer_state(fresh_pool):
    """A new shape starts uncompiled while XLA compiles; the hand-over must not change the numbers."""
    cfg = make_cfg(optimizer="adagrad", learning_rate=0.1, truncation=6, epochs=1)
    trainer = train.Trainer(cfg, max_profiles=None, chunk_seconds=1e-9)
    flags = []
    for chunk in trainer.run():
        flags.append(chunk.compiled)
        if len(flags) == 3:
            kernels.warm_up(trainer.key)  # waits for the compile (there may be more than one compile thread)
    assert flags[0] is False and flags[-1] is True, flags  # the compile cannot be done before the first chunk
    expected = reference(cfg)
    np.testing.assert_allclose(trainer.history.scalars()["loss"], expected["loss"], **TOL)
    for p, q in zip(trainer.params, expected["params"]):
        np.testing.assert_allclose(p, q, **TOL)
    np.testing.assert_allclose(trainer.state.state, expected["state"], **TOL)


def test_a_new_shapes_compile_starts_after_its_first_eager_chunk(fresh_pool, monkeypatch):
    """The first metrics do not wait for (or compete with) the compile's tracing."""
    calls, futures = [], []
    real = train.compile_in_background

    def recording(key):
        calls.append(trainer.state.steps_done)
        futures.append(real(key))
        return futures[-1]

    monkeypatch.setattr(train, "compile_in_background", recording)
    cfg = make_cfg(truncation=9, epochs=1)
    trainer = train.Trainer(cfg, max_profiles=None, chunk_seconds=1e-9)
    runner = trainer.run()
    first = next(runner)
    assert not first.compiled and calls == [1]  # queued once the first chunk has run, before it is shown
    runner.close()
    futures[0].result(timeout=600)  # the queued compile puts one compiled kernel of these shapes in the pool
    assert fresh_pool.idle_count() == 1
    pooled = fresh_pool.lease_compiled(trainer.key)
    assert pooled is not None and pooled.compiled and pooled.key == trainer.key


def test_a_new_shape_trains_eagerly_once_then_on_one_traced_graph_that_the_compile_reuses(fresh_pool):
    """While XLA compiles: the first chunk eagerly (no trace before the first metrics), then TensorFlow graph
    chunks; the chunk is traced once for both the graph and the XLA program, and the numbers are the reference's."""
    cfg = make_cfg(truncation=7, epochs=1)
    trainer = train.Trainer(cfg, max_profiles=None, chunk_seconds=1e-9)
    program = kernels.POOL.program(trainer.key)
    runner = trainer.run()
    first = next(runner)
    assert not first.compiled and trainer.state.eager_steps == 1 and not program.traced
    chunks = [first, *runner]
    graph_steps = trainer.state.uncompiled_steps - trainer.state.eager_steps
    assert graph_steps > 0 and trainer.state.eager_steps == 1  # graph chunks followed the one eager chunk
    kernels.warm_up(trainer.key)  # the compile started after the first chunk: wait for it
    assert program.compiled and program._graph.experimental_get_tracing_count() == 1
    how = trainer.program().split("; ")[1]
    xla = trainer.state.steps_done - trainer.state.uncompiled_steps
    expected = "eager for 1 step, then TensorFlow graph (not XLA) for " + f"{graph_steps:,} steps"
    assert how == (expected + f", then XLA-compiled for {xla:,} steps" if xla else expected), how
    assert sum(len(c.loss) for c in chunks) == trainer.state.steps_done
    np.testing.assert_allclose(trainer.history.scalars()["loss"], reference(cfg)["loss"], **TOL)


def test_a_program_label_names_each_way_the_steps_ran():
    trainer = train.Trainer(make_cfg(), max_profiles=None)
    st = trainer.state
    name = trainer.program().split("; ")[0]
    cases = [((0, 0, 0), "not run yet"), ((10, 0, 0), "XLA-compiled"), ((3, 3, 3), "eager (uncompiled)"),
             ((5, 5, 0), "TensorFlow graph (not XLA-compiled)"),
             ((1001, 1000, 1), "eager for 1 step, then TensorFlow graph (not XLA) for 999 steps, then XLA-compiled "
                               "for 1 step"),
             ((1200, 200, 0), "TensorFlow graph (not XLA) for 200 steps, then XLA-compiled for 1,000 steps")]
    for (done, uncompiled, eager), how in cases:
        st.steps_done, st.uncompiled_steps, st.eager_steps = done, uncompiled, eager
        assert trainer.program() == f"{name}; {how}"


# ---------------------------------------------------------------- compiled vs eager


def test_compiled_and_uncompiled_runs_agree(fresh_pool):
    cfg = make_cfg(style="williams-peng", k1=2, optimizer="adagrad", learning_rate=0.1, clip=0.3, epochs=1)
    eager = train.Trainer(cfg, use_compiled=False, max_profiles=None)
    eager_chunks = []
    eager.run_to_end(eager_chunks.append)
    assert not any(c.compiled for c in eager_chunks)
    compiled = compiled_trainer(cfg, max_profiles=None)
    compiled_chunks = []
    compiled.run_to_end(compiled_chunks.append)
    assert all(c.compiled for c in compiled_chunks)
    for name in ("loss", "global_norm", "sigma_max"):
        np.testing.assert_allclose(eager.history.scalars()[name], compiled.history.scalars()[name], **TOL)
    for name in ("position_loss", "grad_norms", "temporal"):
        np.testing.assert_allclose(eager.history.profiles()[name], compiled.history.profiles()[name], **TOL)
    for p, q in zip(eager.params, compiled.params):
        np.testing.assert_allclose(p, q, **TOL)
    np.testing.assert_allclose(eager.state.state, compiled.state.state, **TOL)


@pytest.mark.parametrize("n", [5, 20], ids=["unrolled", "rolled"])
def test_autodiff_and_derived_give_the_same_weights_after_an_r2rt_epoch(n):
    """R2RT (B = 200, d = 4, Adagrad 0.1); n = 20 on a fifth of the series, to keep the test short."""
    cfg = RunConfig(truncation=n, series_length=1_000_000 if n == 5 else 200_000)
    runs = {}
    for gradient in ("autodiff", "derived"):
        trainer = compiled_trainer(cfg.replace(gradient=gradient), max_profiles=None)
        trainer.run_to_end()
        assert trainer.summary()["program"].startswith(gradient) and trainer.state.uncompiled_steps == 0
        runs[gradient] = trainer
    a, h = runs["autodiff"], runs["derived"]
    assert a.state.steps_done == h.state.steps_done == cfg.series_length // 200 // n
    start = init_params(cfg.state_size, cfg.init_scale, cfg.seed)
    assert max(np.abs(p - q).max() for p, q in zip(h.params, start)) > 0.1  # the epoch moved the weights
    for p, q in zip(a.params, h.params):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.history.scalars()["loss"], h.history.scalars()["loss"], rtol=0, atol=1e-5)


def test_use_compiled_false_runs_eagerly_even_when_a_compiled_kernel_is_pooled():
    cfg = make_cfg(epochs=1)
    warm(train.Trainer(cfg).key)
    chunks = []
    train.Trainer(cfg, use_compiled=False).run_to_end(chunks.append)
    assert not any(c.compiled for c in chunks)


# ---------------------------------------------------------------- history, files, summary


def test_history_thinning_keeps_at_most_max_profiles_rows_on_a_regular_grid():
    cfg = make_cfg(truncation=5, epochs=2)
    full = compiled_trainer(cfg, max_profiles=None)
    full.run_to_end()
    for max_profiles, chunk_seconds in ((5, 1e-9), (5, 0.1), (7, 1e-9), (24, 1e-9)):
        thin = compiled_trainer(cfg, max_profiles=max_profiles, chunk_seconds=chunk_seconds)
        thin.run_to_end()
        scalars, prof, all_prof = thin.history.scalars(), thin.history.profiles(), full.history.profiles()
        assert len(scalars["loss"]) == 24  # per-step scalars are never thinned
        steps = prof["step"]
        assert 1 <= len(steps) <= max_profiles
        assert steps[0] == 0 and (np.diff(steps) > 0).all()
        stride = steps[1] - steps[0] if len(steps) > 1 else 1
        assert stride & (stride - 1) == 0, "the stride doubles"
        np.testing.assert_array_equal(steps, np.arange(0, 24, stride))
        assert len(steps) * 2 > max_profiles or stride == 1, "thinned more than needed"
        for name in ("position_loss", "grad_norms", "temporal"):
            assert prof[name].shape == (len(steps), 5)
            np.testing.assert_allclose(prof[name], all_prof[name][steps], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(scalars["loss"], full.history.scalars()["loss"], rtol=1e-6, atol=1e-7)


def test_a_file_sequence_trains_as_the_reference_says():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 2, 4 * 30 + 2).astype(np.int8)
    y = np.concatenate([[0], x[:-1]]).astype(np.int8)
    cfg = make_cfg(task="file", epochs=2)
    trainer = compiled_trainer(cfg, sequence=(x, y), max_profiles=None)
    assert trainer.steps_per_epoch == 6 and trainer.total_steps == 12 and trainer.baselines == []
    trainer.run_to_end()
    rows = (batch_rows(x, 4), batch_rows(y, 4))
    expected = ref.train(init_params(3, 1.5, 3), [rows, rows], 5, 5, 1.0)
    np.testing.assert_allclose(trainer.history.scalars()["loss"], expected["loss"], **TOL)
    for p, q in zip(trainer.params, expected["params"]):
        np.testing.assert_allclose(p, q, **TOL)


def test_initial_params_and_whole_number_learning_rate(fresh_pool):
    cfg = make_cfg(learning_rate=1, epochs=1)  # an int learning rate once crashed keras' optimizer
    start = init_params(3, 0.7, 42)
    trainer = train.Trainer(cfg, initial_params=start, use_compiled=False)
    list(trainer.run(max_steps=2))
    expected = ref.train(start, [epoch_data(cfg, 0)], 5, 5, 1.0)
    np.testing.assert_allclose(trainer.history.scalars()["loss"], expected["loss"][:2], **TOL)


def test_summary_and_progress_fields():
    cfg = make_cfg(series_length=4 * 600, epochs=1)  # 120 steps
    trainer = compiled_trainer(cfg, chunk_seconds=1e-9)
    chunks = []
    trainer.run_to_end(chunks.append)
    loss = trainer.history.scalars()["loss"]
    summary = trainer.summary()
    assert summary["status"] == "completed" and summary["steps"] == 120 == trainer.total_steps
    assert summary["final_loss"] == pytest.approx(float(np.mean(loss[-100:])), rel=1e-6)
    assert summary["steps_per_second"] == pytest.approx(120 / summary["seconds"])
    assert [c.steps_done for c in chunks] == list(range(1, 121))
    np.testing.assert_array_equal(np.concatenate([c.steps for c in chunks]), np.arange(120))
    assert chunks[-1].status == "completed" and all(c.status == "running" for c in chunks[:-1])
    assert all(c.total_steps == 120 and c.epoch == 0 for c in chunks)


def test_a_fair_pause_goes_through_the_trainers_pause_hook(monkeypatch):
    import rnn_core.train as train_module

    monkeypatch.setattr(train_module, "fair_pause", lambda elapsed, budget: 0.25)
    monkeypatch.setattr(train_module.time, "sleep", lambda s: pytest.fail("slept instead of the hook"))
    trainer = train.Trainer(RunConfig(series_length=20_000), chunk_seconds=0.0)  # one step a chunk: several chunks
    paused = []
    trainer.pause = paused.append
    for _ in zip(range(4), trainer.run()):
        pass
    assert paused == [0.25] * 3  # after each chunk but the last one taken


def test_a_run_whose_eager_steps_would_be_costly_waits_for_its_program_instead(monkeypatch):
    monkeypatch.setattr(train, "EAGER_STEP_LIMIT", 0.0)  # every shape counts as costly here
    cfg = RunConfig(series_length=3_000, batch_size=7, state_size=3, truncation=3)  # a shape nothing compiled yet
    kernels.POOL.drop(kernels.key_for(cfg))
    trainer = train.Trainer(cfg)
    paused = []
    trainer.pause = paused.append
    first = next(trainer.run())
    assert first.compiled and trainer.state.uncompiled_steps == 0  # no step ran eagerly
    assert paused and set(paused) == {0.0}  # while it waited, it let others go first each time it looked
    assert trainer.state.compile_seconds > 0


# ---------------------------------------------------------------- a heavy run goes after the light runs


def test_a_heavy_run_waits_while_a_light_run_trains_and_counts_itself_heavy(monkeypatch):
    """A run whose step overruns its chunk's budget calls its compiled chunks only when no light run trains (at
    most MAX_PAUSE s per chunk), through its pause hook; the census sees it as heavy while it trains."""
    cfg = make_cfg(epochs=1)
    trainer = compiled_trainer(cfg, chunk_seconds=1e-9)  # every step overruns: heavy from its first measured chunk
    alone = [c.loss for c in compiled_trainer(cfg, chunk_seconds=1e-9).run()]
    assert kernels.training_runs() == 0
    kernels.begin_training()  # a light run of another session, training
    light_training = [True]
    paused, seen = [], []

    def pause(seconds):
        paused.append(seconds)
        seen.append((kernels.training_runs(), kernels.light_runs()))
        if len(paused) == 3 and light_training[0]:
            light_training[0] = False
            kernels.end_training()  # the light run finishes: the heavy one goes on

    trainer.pause = pause
    try:
        chunks = [c.loss for c in trainer.run()]
    finally:
        if light_training[0]:
            kernels.end_training()
    assert paused == [train.LIGHT_POLL] * 3  # it waited, in polls, only while the light run trained
    assert seen[0] == (2, 1)  # two training, the light one of them; this one counted heavy
    assert trainer.sampler.heavy  # its samples go after the light runs' too
    assert kernels.training_runs() == 0 and kernels.light_runs() == 0  # heavy count given back with the run
    for a, b in zip(chunks, alone):  # waiting changes when, never what
        np.testing.assert_array_equal(a, b)


def test_a_heavy_run_waits_at_most_max_pause_a_chunk(monkeypatch):
    monkeypatch.setattr(train, "MAX_PAUSE", 0.2)
    cfg = make_cfg(epochs=1, series_length=4 * 5 * 3)  # three windows
    trainer = compiled_trainer(cfg, chunk_seconds=1e-9)
    import time

    kernels.begin_training()  # a light run that never ends while this one trains
    waited = []
    try:
        trainer.pause = lambda s: (waited.append(s), time.sleep(s))
        steps = sum(len(c.loss) for c in trainer.run())
    finally:
        kernels.end_training()
    assert steps == 3 and waited and sum(waited) <= 3 * 0.2 + 1e-9  # it kept going under a steady light load


def test_a_light_run_does_not_wait_for_other_light_runs():
    cfg = make_cfg(epochs=1)
    trainer = compiled_trainer(cfg, chunk_seconds=60.0)
    kernels.begin_training()
    try:
        trainer.pause = lambda s: pytest.fail(f"a light run paused {s} s")
        list(trainer.run())
    finally:
        kernels.end_training()
    assert not trainer.sampler.heavy and kernels.light_runs() == 0


def test_the_census_counts_light_runs_apart_from_heavy_ones():
    assert kernels.light_runs() == 0  # none trains
    kernels.begin_training()
    try:
        assert kernels.light_runs() == 1  # a light run trains
        kernels.set_heavy(True)
        assert kernels.light_runs() == 0 and kernels.training_runs() == 1  # the only run training is heavy
        kernels.set_heavy(False)
        assert kernels.light_runs() == 1
    finally:
        kernels.end_training()
    assert kernels.training_runs() == 0 and kernels.light_runs() == 0
