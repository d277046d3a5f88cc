"""One compiled program per shape serves every run at once: keras's updates as pure functions round as keras
does, and runs trained concurrently on one program (different seeds, threads) are each bit-for-bit the same
run trained alone, with the program traced once."""
from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import warm
from rnn_core import kernels, optimizers, train
from rnn_core.config import RunConfig


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_pure_updates_equal_keras_optimizers_bit_for_bit(name):
    rng = np.random.default_rng(0)
    shapes = [(3, 5), (3,), (2, 3), (2,)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    variables = [keras.Variable(p.copy()) for p in start]
    opt = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad, "adam": keras.optimizers.Adam}[name](
        learning_rate=0.05)
    opt.build(variables)
    state = optimizers.fresh_state(name, 0.05, shapes)
    assert [v.shape for v in state] == [tuple(v.shape) for v in opt.variables]  # keras's own layout
    for v, mine in zip(opt.variables, state):
        np.testing.assert_array_equal(v.numpy(), mine)
    params = [p.copy() for p in start]
    for _ in range(4):
        grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
        opt.apply(grads, variables)
        new_params, new_state = optimizers.apply(name, [tf.constant(v) for v in state],
                                                 [tf.constant(g) for g in grads], [tf.constant(p) for p in params])
        params, state = [p.numpy() for p in new_params], [v.numpy() for v in new_state]
        for v, p in zip(variables, params):
            np.testing.assert_array_equal(v.numpy(), p)
        for v, s in zip(opt.variables, state):
            np.testing.assert_array_equal(v.numpy(), s)
    assert not np.array_equal(params[0], start[0])  # the weights moved, so the check has teeth


def _cfg(seed: int, optimizer: str) -> RunConfig:
    return RunConfig(state_size=4, batch_size=4, series_length=4 * 90 + 3, epochs=2, optimizer=optimizer,
                     learning_rate=0.1, seed=seed, truncation=6).validate()


@pytest.mark.parametrize("optimizer", ["adagrad", "adam"])
def test_concurrent_runs_on_one_program_equal_each_run_alone(fresh_pool, optimizer):
    seeds = [1, 2, 3, 4, 5, 6]
    key = train.Trainer(_cfg(seeds[0], optimizer)).key
    warm(key)
    program = fresh_pool.program(key)
    alone = {}
    for seed in seeds:
        t = train.Trainer(_cfg(seed, optimizer), max_profiles=None, chunk_seconds=1e-9).run_to_end()
        alone[seed] = t

    together: dict[int, train.Trainer] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(seeds))

    def one(seed: int) -> None:
        try:
            t = train.Trainer(_cfg(seed, optimizer), max_profiles=None, chunk_seconds=1e-9)  # one step a call
            barrier.wait()
            together[seed] = t.run_to_end()
        except BaseException as exc:  # reported below, a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,)) for s in seeds]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors
    assert program._fn.experimental_get_tracing_count() == 1  # one trace, one XLA program, for all twelve runs
    losses = {s: together[s].history.scalars()["loss"] for s in seeds}
    assert len({round(float(v[-1]), 6) for v in losses.values()}) == len(seeds)  # distinct runs: equality has teeth
    for seed in seeds:
        a, b = alone[seed], together[seed]
        assert a.state.uncompiled_steps == b.state.uncompiled_steps == 0
        np.testing.assert_array_equal(losses[seed], a.history.scalars()["loss"])
        for p, q in zip(a.params, b.params):
            np.testing.assert_array_equal(p, q)
        for p, q in zip(a.state.optimizer_state, b.state.optimizer_state):
            np.testing.assert_array_equal(p, q)
        assert a.summary()["final_loss"] == b.summary()["final_loss"]


def test_a_kernel_is_one_runs_own_state(fresh_pool):
    key = train.Trainer(_cfg(1, "sgd")).key
    a, b = fresh_pool.lease(key), fresh_pool.lease(key)
    assert a.program is b.program
    a.load([np.ones_like(p) for p in a.params], a.fresh_optimizer_state(0.5))
    assert all(not p.any() for p in b.params) and b.optimizer_state[1] == np.float32(0.1)
    assert kernels.POOL is fresh_pool
