"""Compiled training chunks, cached across runs and sessions.

A `Kernel` owns keras variables (W, b_s, U, b_p and a keras optimizer's slots) and one
XLA-compiled function that runs up to `capacity` training steps inside one call, the loop over
steps and the loop over time both in the graph. Kernels are keyed by everything that fixes the
compiled program's shapes (B, n, k1, d, optimizer, capacity) and kept in a bounded pool: a run
leases one, loads its own weights and optimizer state into it, trains, and hands it back with its
state copied out, so two sessions never share live variables and a second run of the same shapes
starts without compiling.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .model import spectral_norms, window_pass, window_pass_unrolled

POOL_LIMIT = 48
SLAB_BUDGET = 4_000_000  # most cells (bytes) of one chunk's input slab
RECORD_BUDGET = 2_000_000  # most floats of the W_s a chunk records, one d x d matrix per step
MAX_CAPACITY = 1024
UNROLL_LIMIT = 16  # n up to this runs the unrolled list graph itself; beyond, the rolled scan


@dataclass(frozen=True)
class KernelKey:
    """What fixes a compiled chunk's program."""

    batch_size: int
    n: int
    k1: int
    d: int
    optimizer: str
    capacity: int


def capacity_for(batch_size: int, n: int, k1: int, d: int) -> int:
    """Most steps one call may run: bounded so its input slab and its record of W_s stay small."""
    return int(max(1, min(MAX_CAPACITY, SLAB_BUDGET // (batch_size * (k1 + 1) + n), RECORD_BUDGET // (d * d))))


def slab_width(key: KernelKey) -> int:
    """Time steps of input one call reads: `capacity` windows of n starting every k1."""
    return (key.capacity - 1) * key.k1 + key.n


def pack(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0/1 inputs and targets as one int8 array x + 2 y (what a kernel reads)."""
    return (np.asarray(x, np.int8) | (np.asarray(y, np.int8) << 1)).astype(np.int8)


def _make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    learning_rate = float(learning_rate)  # keras rejects an int learning rate
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    return keras.optimizers.Adagrad(learning_rate=learning_rate)


class Kernel:
    """Variables plus the compiled chunk for one `KernelKey`; used by one run at a time."""

    def __init__(self, key: KernelKey):
        self.key = key
        d = key.d
        self.variables = [
            keras.Variable(np.zeros((d, 2 + d), np.float32), name="W"),
            keras.Variable(np.zeros((d,), np.float32), name="b_s"),
            keras.Variable(np.zeros((2, d), np.float32), name="U"),
            keras.Variable(np.zeros((2,), np.float32), name="b_p"),
        ]
        self.optimizer = _make_optimizer(key.optimizer, 0.1)
        self.optimizer.build(self.variables)
        self._initial_optimizer_state = [(v.name, np.array(v.numpy())) for v in self.optimizer.variables]
        self.compiled = False
        self.seconds_per_step: float | None = None  # last measured by a run; sizes the next run's first chunk
        self._fn = tf.function(self._chunk, jit_compile=True, reduce_retracing=False)

    def fresh_optimizer_state(self, learning_rate: float) -> list[np.ndarray]:
        """The optimizer's variables as a newly built keras optimizer would have them.

        Copied from this kernel's own optimizer as built (building a throwaway keras optimizer per
        run cost about 9 ms, a tenth of a warm R2RT epoch), with the run's learning rate put in.
        """
        return [np.array(learning_rate, np.float32) if name == "learning_rate" else value.copy()
                for name, value in self._initial_optimizer_state]

    def load(self, params, optimizer_state: list[np.ndarray]) -> None:
        """Put a run's weights and optimizer state into the variables."""
        for var, value in zip(self.variables, params):
            var.assign(value)
        for var, value in zip(self.optimizer.variables, optimizer_state):
            var.assign(value)

    def save(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Copy the weights and optimizer state out."""
        return [np.array(v.numpy()) for v in self.variables], [np.array(v.numpy()) for v in self.optimizer.variables]

    def run(self, x_slab, y_slab, state, count, first_window, clip, compiled: bool = True) -> dict[str, np.ndarray]:
        """Run `count` training steps on separate 0/1 input and target slabs (see `run_packed`)."""
        return self.run_packed(pack(x_slab, y_slab), state, count, first_window, clip, compiled)

    def run_packed(self, slab, state, count, first_window, clip, compiled: bool = True) -> dict[str, np.ndarray]:
        """Run `count` training steps (XLA-compiled, or eagerly); numpy metrics and the carried state.

        slab: int8 [B, slab_width] holding x + 2 y per time step (`pack`), one byte a step.
        """
        args = (
            tf.constant(slab), tf.constant(state), tf.constant(count, tf.int32),
            tf.constant(first_window), tf.constant(clip, tf.float32),
        )
        out = self._fn(*args) if compiled else self._chunk(*args, eager_size=count)
        if compiled:
            self.compiled = True
        result = {k: v.numpy() for k, v in out.items()}
        result["sigma_max"] = spectral_norms(result.pop("recurrent")[:count]).astype(np.float32)
        return result

    def _chunk(self, slab, state, count, first_window, clip, eager_size: int | None = None):
        key = self.key
        n, k1 = key.n, key.k1
        cap = key.capacity if eager_size is None else max(1, eager_size)
        W, b_s, U, b_p = self.variables
        positions = tf.range(n)
        every = tf.cast(positions >= n - k1, tf.float32)

        window_fn = window_pass_unrolled if n <= UNROLL_LIMIT else window_pass

        def body(i, S, loss_ta, pos_ta, gn_ta, tmp_ta, glob_ta, rec_ta, snap_S, snap_p):
            start = i * k1
            window = tf.cast(tf.slice(slab, [0, start], [key.batch_size, n]), tf.int32)
            xw, yw = tf.bitwise.bitwise_and(window, 1), tf.bitwise.right_shift(window, 1)
            mask = tf.where(tf.logical_and(first_window, tf.equal(i, 0)), tf.ones([n]), every)
            loss, grads, pos, gnorms, temporal, states, probs, S_next = window_fn(
                W.value, b_s.value, U.value, b_p.value, xw, yw, S, mask, k1
            )
            global_norm = tf.linalg.global_norm(grads)
            # Pascanu et al.: if ||g|| > threshold, g <- threshold * g / ||g||; clip = 0 means off.
            scale = tf.where(tf.logical_and(clip > 0.0, global_norm > clip), clip / global_norm, 1.0)
            clipped = [g * scale for g in grads]
            self.optimizer.apply(clipped, self.variables)
            return (
                i + 1, S_next,
                loss_ta.write(i, loss), pos_ta.write(i, pos), gn_ta.write(i, gnorms), tmp_ta.write(i, temporal),
                glob_ta.write(i, global_norm), rec_ta.write(i, W.value[:, 2:]),
                states[:, 0, :], probs[:, 0],
            )

        def arrays(shape):
            return tf.TensorArray(tf.float32, size=cap, element_shape=shape)

        init = (
            tf.constant(0), state,
            arrays([]), arrays([n]), arrays([n]), arrays([n]), arrays([]), arrays([key.d, key.d]),
            tf.zeros([n, key.d]), tf.zeros([n]),
        )
        out = tf.while_loop(lambda i, *_: i < count, body, init, maximum_iterations=cap)
        _, S, loss_ta, pos_ta, gn_ta, tmp_ta, glob_ta, rec_ta, snap_S, snap_p = out
        return {
            "loss": loss_ta.stack(), "position_loss": pos_ta.stack(), "grad_norms": gn_ta.stack(),
            "temporal": tmp_ta.stack(), "global_norm": glob_ta.stack(), "recurrent": rec_ta.stack(),
            "state": S, "snapshot_states": snap_S, "snapshot_probs": snap_p,
        }


class KernelPool:
    """Thread-safe, bounded pool of kernels; a kernel is leased to one run at a time."""

    def __init__(self, limit: int = POOL_LIMIT):
        self._lock = threading.Lock()
        self._idle: OrderedDict[KernelKey, list[Kernel]] = OrderedDict()
        self._limit = limit

    def lease(self, key: KernelKey) -> Kernel:
        """An idle kernel for `key`, or a new (not yet compiled) one."""
        return self.lease_compiled(key) or Kernel(key)

    def lease_compiled(self, key: KernelKey) -> Kernel | None:
        """An idle compiled kernel for `key`, or None."""
        with self._lock:
            kernels = self._idle.get(key)
            if kernels:
                self._idle.move_to_end(key)
                return kernels.pop()
        return None

    def give_back(self, kernel: Kernel) -> None:
        """Return a kernel for reuse, dropping the least recently used beyond the limit."""
        if not kernel.compiled:
            return
        with self._lock:
            self._idle.setdefault(kernel.key, []).append(kernel)
            self._idle.move_to_end(kernel.key)
            while sum(len(v) for v in self._idle.values()) > self._limit:
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                if not self._idle[oldest]:
                    del self._idle[oldest]

    def idle_count(self) -> int:
        """How many compiled kernels wait for reuse."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())


POOL = KernelPool()
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xla-compile")


def build_compiled(key: KernelKey) -> Kernel:
    """A new kernel for `key` with its XLA program compiled (by one call on its own idle variables)."""
    kernel = Kernel(key)
    _run_on_zeros(kernel, 0, compiled=True)
    return kernel


def _run_on_zeros(kernel: Kernel, count: int, compiled: bool) -> None:
    """Run `count` steps on an all-zero slab and state (to compile, or to warm the eager path)."""
    key = kernel.key
    zeros = np.zeros((key.batch_size, slab_width(key)), np.int8)
    kernel.run_packed(zeros, np.zeros((key.batch_size, key.d), np.float32), count, True, 0.0, compiled=compiled)


_IN_FLIGHT: dict[KernelKey, Future] = {}
_IN_FLIGHT_LOCK = threading.Lock()


_FAILED: dict[KernelKey, BaseException] = {}  # compiles that raised: runs of these shapes stay eager


def _build_into_pool(key: KernelKey) -> None:
    try:
        POOL.give_back(build_compiled(key))
    except BaseException as exc:
        _FAILED[key] = exc
        raise
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.pop(key, None)


def compile_in_background(key: KernelKey) -> Future:
    """Compile a kernel for `key` on the compile thread into the pool (once, however many ask).

    Runs that wait for it take it with `POOL.lease_compiled(key)` when it is done.
    """
    with _IN_FLIGHT_LOCK:
        future = _IN_FLIGHT.get(key)
        if future is None and key in _FAILED:
            future = Future()
            future.set_exception(_FAILED[key])
        elif future is None:
            future = _IN_FLIGHT[key] = _COMPILER.submit(_build_into_pool, key)
        return future


def compiling(key: KernelKey) -> bool:
    """Whether a compile for `key` is queued or running."""
    with _IN_FLIGHT_LOCK:
        return key in _IN_FLIGHT or key in _FAILED


def warm_up(key: KernelKey) -> float:
    """Make sure a compiled kernel for `key` waits in the pool; returns the seconds taken."""
    t0 = time.perf_counter()
    kernel = POOL.lease_compiled(key)
    if kernel is not None:
        POOL.give_back(kernel)
    else:
        compile_in_background(key).result()
    return time.perf_counter() - t0


def warm_eager(key: KernelKey) -> float:
    """Run one eager step of `key`'s chunk on idle variables; returns the seconds taken.

    A process's first eager chunk pays TensorFlow's one-off start-up of its eager ops (about 0.1 s
    measured, up to 1 s under load); runs of new shapes start eagerly, so a server does this once
    at start-up instead of in a user's first run. Nothing enters the pool.
    """
    t0 = time.perf_counter()
    _run_on_zeros(Kernel(key), 1, compiled=False)
    return time.perf_counter() - t0
