"""Compiled training chunks, cached across runs and sessions.

A `Kernel` owns keras variables (W, b_s, U, b_p and a keras optimizer's slots) and one
XLA-compiled function that runs up to `capacity` training steps inside one call, the loop over
steps and the loop over time both in the graph. Kernels are keyed by everything that fixes the
compiled program (B, n, k1, d, optimizer, capacity, and which window pass computes the gradient)
and kept in a bounded pool: a run leases one, loads its own weights and optimizer state into it,
trains, and hands it back with its state copied out, so two sessions never share live variables
and a second run of the same shapes starts without compiling.

Each step of a chunk reads its window and loss mask by the rule of `truncation.py` and calls the
window pass `window_pass_for(gradient, n)` picks (rnn_core/window.py, rnn_core/derived.py), which
returns a `WindowResult`; the step clips the gradient and applies the optimizer.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from . import derived, runtime, window
from .config import RunConfig
from .spectral import spectral_norms
from .truncation import loss_mask, window_start
from .window import UNROLL_LIMIT

POOL_LIMIT = 48
SLAB_BUDGET = 4_000_000  # most cells (bytes) of one chunk's input slab
RECORD_BUDGET = 2_000_000  # most floats of the W_s a chunk records, one d x d matrix per step
MAX_CAPACITY = 1024


@dataclass(frozen=True)
class KernelKey:
    """What fixes a compiled chunk's program."""

    batch_size: int
    n: int
    k1: int
    d: int
    optimizer: str
    capacity: int
    gradient: str = RunConfig.gradient  # "autodiff" (model.step under tf.GradientTape) or "derived" (by hand)


WINDOW_PASSES = {
    ("autodiff", True): window.autodiff_unrolled,
    ("autodiff", False): window.autodiff_rolled,
    ("derived", True): derived.unrolled_window,
    ("derived", False): derived.rolled_window,
}
PROGRAMS = {
    window.autodiff_unrolled: "model.step: tf.GradientTape differentiates model.unroll's lists of n tensors",
    window.autodiff_rolled: "model.cell rolled into one tf.scan over the n steps, differentiated by tf.GradientTape",
    derived.unrolled_window: "derived.backward_step by hand over a Python list of the n steps",
    derived.rolled_window: "derived.backward_step by hand inside a tf.scan over the n steps",
}


def window_pass_for(gradient: str, n: int):
    """The window pass a kernel of this gradient setting and window width runs."""
    return WINDOW_PASSES[gradient, n <= UNROLL_LIMIT]


def program_name(gradient: str, n: int) -> str:
    """Which function computes a training step's gradient for this setting and n, and how, in words."""
    fn = window_pass_for(gradient, n)
    return f"{gradient} ({fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}: {PROGRAMS[fn]})"


def capacity_for(batch_size: int, n: int, k1: int, d: int) -> int:
    """Most steps one call may run: bounded so its input slab and its record of W_s stay small."""
    return int(max(1, min(MAX_CAPACITY, SLAB_BUDGET // (batch_size * (k1 + 1) + n), RECORD_BUDGET // (d * d))))


def key_for(cfg) -> KernelKey:
    """The compiled program a run of `cfg` (a RunConfig) trains on."""
    n, k1, d = cfg.truncation, cfg.effective_k1, cfg.state_size
    return KernelKey(cfg.batch_size, n, k1, d, cfg.optimizer, capacity_for(cfg.batch_size, n, k1, d), cfg.gradient)


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
        self.window_pass = window_pass_for(key.gradient, key.n)
        self._fn = tf.function(self._chunk, jit_compile=True, reduce_retracing=False)

    def fresh_optimizer_state(self, learning_rate: float) -> list[np.ndarray]:
        """The optimizer's variables as a newly built keras optimizer would have them.

        Copied from this kernel's own optimizer as built, with the run's learning rate put in: building
        a throwaway keras optimizer per run costs a noticeable share of a warm R2RT epoch.
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
        every_mask = tf.constant(loss_mask(n, k1, first_window=False))
        first_mask = tf.constant(loss_mask(n, k1, first_window=True))

        def body(c: _Carry) -> _Carry:
            window = tf.cast(tf.slice(slab, [0, window_start(c.i, k1)], [key.batch_size, n]), tf.int32)
            xw, yw = tf.bitwise.bitwise_and(window, 1), tf.bitwise.right_shift(window, 1)
            mask = tf.where(tf.logical_and(first_window, tf.equal(c.i, 0)), first_mask, every_mask)
            r = self.window_pass(W.value, b_s.value, U.value, b_p.value, xw, yw, c.S, mask, k1)
            global_norm = tf.linalg.global_norm(r.grads)
            # Pascanu et al.: if ||g|| > threshold, g <- threshold * g / ||g||; clip = 0 means off.
            scale = tf.where(tf.logical_and(clip > 0.0, global_norm > clip), clip / global_norm, 1.0)
            self.optimizer.apply([g * scale for g in r.grads], self.variables)
            return _Carry(
                c.i + 1, r.next_state,
                c.loss.write(c.i, r.loss), c.position_loss.write(c.i, r.position_loss),
                c.grad_norms.write(c.i, r.grad_norms), c.temporal.write(c.i, r.temporal),
                c.global_norm.write(c.i, global_norm), c.recurrent.write(c.i, W.value[:, 2:]),
                r.states[:, 0, :], r.prob_one[:, 0],
            )

        def arrays(shape):
            return tf.TensorArray(tf.float32, size=cap, element_shape=shape)

        init = _Carry(
            tf.constant(0), state,
            arrays([]), arrays([n]), arrays([n]), arrays([n]), arrays([]), arrays([key.d, key.d]),
            tf.zeros([n, key.d]), tf.zeros([n]),
        )
        out = tf.while_loop(lambda c: c.i < count, lambda c: (body(c),), (init,), maximum_iterations=cap)[0]
        return {
            "loss": out.loss.stack(), "position_loss": out.position_loss.stack(), "grad_norms": out.grad_norms.stack(),
            "temporal": out.temporal.stack(), "global_norm": out.global_norm.stack(), "recurrent": out.recurrent.stack(),
            "state": out.S, "snapshot_states": out.snapshot_states, "snapshot_probs": out.snapshot_probs,
        }


class _Carry(NamedTuple):
    """The chunk's step loop state: step index, carried state, per-step records, row 0 of the last window."""

    i: tf.Tensor
    S: tf.Tensor  # [B, d] first state of the next window
    loss: tf.TensorArray
    position_loss: tf.TensorArray
    grad_norms: tf.TensorArray
    temporal: tf.TensorArray
    global_norm: tf.TensorArray
    recurrent: tf.TensorArray  # W_s after each step, for sigma_max on the host
    snapshot_states: tf.Tensor  # [n, d]
    snapshot_probs: tf.Tensor  # [n]


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
_COMPILER = ThreadPoolExecutor(max_workers=runtime.compile_threads(), thread_name_prefix="xla-compile")


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

    A process's first eager chunk pays TensorFlow's one-off start-up of its eager ops; runs of new
    shapes start eagerly, so a server does this once at start-up instead of in a user's first run.
    Nothing enters the pool.
    """
    t0 = time.perf_counter()
    _run_on_zeros(Kernel(key), 1, compiled=False)
    return time.perf_counter() - t0
