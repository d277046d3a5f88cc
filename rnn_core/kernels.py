"""Compiled training chunks, one program per shape, shared by every run and session at once.

A `Program` is one XLA-compiled function that runs up to `capacity` training steps inside one call,
the loop over steps and the loop over time both in the graph. Until XLA has built it, the same traced
graph runs on TensorFlow's own graph executor (a few times slower a step, but no compile), and a new
shape's very first call runs eagerly (no trace before its first metrics). It is stateless: it takes a run's
weights (W, b_s, U, b_p) and optimizer state as arguments and returns the new ones
(rnn_core/optimizers.py holds keras's updates as pure functions), so any number of runs of the same
shapes call one program concurrently and a shape compiles once per process. Programs are keyed by
everything that fixes the compiled program (B, n, k1, d, optimizer, capacity, and which window pass
computes the gradient) and kept in a bounded pool; a `Kernel` is one run's own weights and optimizer
state on its key's program, so two sessions never share state.

Each step of a chunk reads its window and loss mask by the rule of `truncation.py` and calls the
window pass `window_pass_for(gradient, n)` picks (rnn_core/window.py, rnn_core/derived.py), which
returns a `WindowResult`; the step clips the gradient and applies the optimizer.

A call can also keep, before chosen steps (`sample_at`), the weights and the first rows of the
carried state those steps train with: the full-gradient sampler (rnn_core/sampling.py) reads them
without cutting a run into one call per sample.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import derived, optimizers, runtime, sampling, window
from .backend import keras, tf  # TensorFlow from one thread at a time
from .config import RunConfig
from .spectral import norms_behind, spectral_norms
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


def sample_slots(key: KernelKey) -> int:
    """How many steps' weights and state one call can keep for the full-gradient sampler."""
    return min(sampling.SAMPLES, key.capacity)


def slab_width(key: KernelKey) -> int:
    """Time steps of input one call reads: `capacity` windows of n starting every k1."""
    return (key.capacity - 1) * key.k1 + key.n


def pack(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0/1 inputs and targets as one int8 array x + 2 y (what a kernel reads)."""
    return (np.asarray(x, np.int8) | (np.asarray(y, np.int8) << 1)).astype(np.int8)


def _make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A keras optimizer with variables (rnn_core/online.py's stateful kernels use one)."""
    learning_rate = float(learning_rate)  # keras rejects an int learning rate
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    return keras.optimizers.Adagrad(learning_rate=learning_rate)


class Program:
    """The one compiled chunk of a `KernelKey`, shared by every run of those shapes at once.

    Stateless: a call takes a run's weights and optimizer state as arguments and returns the new ones,
    so concurrent runs of the same shapes call one XLA program (TensorFlow functions may be called from
    several threads at once) and no run compiles what another already compiled.
    """

    def __init__(self, key: KernelKey):
        self.key = key
        self.compiled = False  # set once the XLA program is built: calls before then would wait for its tracing
        self.seconds_per_step: float | None = None  # last measured by a run; sizes the next run's first chunk
        self.window_pass = window_pass_for(key.gradient, key.n)
        self.slots = sample_slots(key)
        self.sample_rows = min(sampling.ROWS, key.batch_size)
        # autograph=False: the loops are explicit tf.while_loop/tf.cond; autograph's ast.parse on the warm-up
        # thread races Streamlit's page parsing (CPython 3.11's "AST constructor recursion depth mismatch"
        # SystemError, shown on the page)
        # One trace of the chunk serves both programs: `_graph` runs it on TensorFlow's graph executor (no XLA),
        # a new shape's steps while XLA compiles; `_fn` is XLA's compile of a call to that same traced graph,
        # so whichever comes first traces and the other reuses it (a shape's compile no longer traces twice).
        self._graph = tf.function(self._chunk, jit_compile=False, reduce_retracing=False, autograph=False)
        self._fn = tf.function(self._xla_chunk, jit_compile=True, reduce_retracing=False, autograph=False)
        self._compile_lock = threading.Lock()

    def compile(self) -> None:
        """Build the XLA program (once; a second caller waits for the first) by one call on zeros."""
        with self._compile_lock:
            if self.compiled:
                return
            key = self.key
            d = key.d
            params = [np.zeros((d, 2 + d), np.float32), np.zeros((d,), np.float32), np.zeros((2, d), np.float32),
                      np.zeros((2,), np.float32)]
            opt = optimizers.fresh_state(key.optimizer, 0.1, [p.shape for p in params])
            slab = np.zeros((key.batch_size, slab_width(key)), np.int8)
            self.call(params, opt, slab, np.zeros((key.batch_size, d), np.float32), 0, True, 0.0, compiled=True)

    def call(self, params, opt_state, slab, state, count, first_window, clip, compiled: bool,
             sample_at: list[int] | None = None, norms_later: bool = False,
             eager: bool = False) -> dict[str, np.ndarray]:
        """Run `count` training steps from these weights and optimizer state: XLA-compiled, or uncompiled on
        TensorFlow's graph executor (the first such call traces the graph), or with `eager` op by op (no trace:
        a new shape's first metrics at once).

        Calls from many runs at once are not queued here: each is one thread the OS shares the cores
        among, so a heavy run's one step (which cannot be split) takes its share of the CPU, not a
        core to itself. A queue of one slot per core would hand a heavy step a whole core each turn.

        Returns numpy metrics, the carried state, and the new weights ("params") and optimizer state ("opt").
        With `sample_at` (at most `slots` step offsets in this call, ascending), also "taken_params" (the
        four weights before each of those steps, stacked) and "taken_state" (the carried state's first
        `sample_rows` rows going into it). With `norms_later`, "sigma_max" is a Future of the values
        (`spectral.norms_behind`), so the caller's next call runs while LAPACK computes them.
        """
        taken = list(sample_at or [])
        if len(taken) > self.slots or any(not 0 <= t < count for t in taken):
            raise ValueError(f"sample_at {taken}: at most {self.slots} offsets in 0..{count - 1}")
        at = np.full((self.slots,), -1, np.int32)
        at[: len(taken)] = taken
        args = (
            tuple(tf.constant(p) for p in params), tuple(tf.constant(v) for v in opt_state),
            tf.constant(slab), tf.constant(state), tf.constant(count, tf.int32),
            tf.constant(first_window), tf.constant(clip, tf.float32), tf.constant(at),
        )
        if compiled:
            out = self._fn(*args)
            self.compiled = True
        elif eager:
            out = self._chunk(*args, eager_size=count)
        else:
            out = self._graph(*args)
        result = {k: v.numpy() for k, v in out.items() if k not in ("params", "opt", "taken_params", "taken_state")}
        result["params"] = [np.asarray(v.numpy()) for v in out["params"]]
        result["opt"] = [np.asarray(v.numpy()) for v in out["opt"]]
        if taken:  # copied out only when asked (at large d they are megabytes)
            result["taken_params"] = [np.asarray(v.numpy()[: len(taken)]) for v in out["taken_params"]]
            result["taken_state"] = np.asarray(out["taken_state"].numpy()[: len(taken)])
        records = result.pop("recurrent")[:count]
        result["sigma_max"] = norms_behind(records) if norms_later else spectral_norms(records).astype(np.float32)
        return result

    @property
    def traced(self) -> bool:
        """Whether the chunk's graph is traced (a first uncompiled call traces it: its time is not a step's)."""
        return self._graph.experimental_get_tracing_count() > 0

    def _xla_chunk(self, *args):
        return self._graph(*args)

    def _chunk(self, params, opt_state, slab, state, count, first_window, clip, sample_at,
               eager_size: int | None = None):
        key = self.key
        n, k1 = key.n, key.k1
        cap = key.capacity if eager_size is None else max(1, eager_size)
        every_mask = tf.constant(loss_mask(n, k1, first_window=False))
        first_mask = tf.constant(loss_mask(n, k1, first_window=True))

        rows = self.sample_rows

        def keep(c: _Carry):
            """The weights and carried state's first rows before step c.i, written to its slot if it has one and
            to the spare last row otherwise. Always one write, no tf.cond: a cond's branches each copied all the
            slots every step (6 MB a step at d = 256), where a write in the loop is done in place."""
            hits = tf.equal(sample_at, c.i)
            j = tf.argmax(tf.cast(hits, tf.int32), output_type=tf.int32)
            slot = tf.reshape(tf.where(tf.reduce_any(hits), j, self.slots), [1, 1])
            params = tuple(tf.tensor_scatter_nd_update(t, slot, p[None]) for t, p in zip(c.taken_params, c.params))
            return params, tf.tensor_scatter_nd_update(c.taken_state, slot, c.S[None, :rows])

        def body(c: _Carry) -> _Carry:
            W, b_s, U, b_p = c.params
            taken_params, taken_state = keep(c)
            window = tf.cast(tf.slice(slab, [0, window_start(c.i, k1)], [key.batch_size, n]), tf.int32)
            xw, yw = tf.bitwise.bitwise_and(window, 1), tf.bitwise.right_shift(window, 1)
            mask = tf.where(tf.logical_and(first_window, tf.equal(c.i, 0)), first_mask, every_mask)
            r = self.window_pass(W, b_s, U, b_p, xw, yw, c.S, mask, k1)
            global_norm = tf.linalg.global_norm(r.grads)
            # Pascanu et al.: if ||g|| > threshold, g <- threshold * g / ||g||; clip = 0 means off.
            scale = tf.where(tf.logical_and(clip > 0.0, global_norm > clip), clip / global_norm, 1.0)
            new_params, new_opt = optimizers.apply(key.optimizer, c.opt, [g * scale for g in r.grads], c.params)
            return _Carry(
                c.i + 1, tuple(new_params), tuple(new_opt), r.next_state,
                c.loss.write(c.i, r.loss), c.position_loss.write(c.i, r.position_loss),
                c.grad_norms.write(c.i, r.grad_norms), c.temporal.write(c.i, r.temporal),
                c.global_norm.write(c.i, global_norm), c.recurrent.write(c.i, new_params[0][:, 2:]),
                r.states[:, 0, :], r.prob_one[:, 0], taken_params, taken_state,
            )

        def arrays(shape):
            return tf.TensorArray(tf.float32, size=cap, element_shape=shape)

        init = _Carry(
            tf.constant(0), tuple(params), tuple(opt_state), state,
            arrays([]), arrays([n]), arrays([n]), arrays([n]), arrays([]), arrays([key.d, key.d]),
            tf.zeros([n, key.d]), tf.zeros([n]),
            tuple(tf.zeros([self.slots + 1, *p.shape]) for p in params), tf.zeros([self.slots + 1, rows, key.d]),
        )
        out = tf.while_loop(lambda c: c.i < count, lambda c: (body(c),), (init,), maximum_iterations=cap)[0]
        return {
            "loss": out.loss.stack(), "position_loss": out.position_loss.stack(),
            "grad_norms": out.grad_norms.stack(), "temporal": out.temporal.stack(),
            "global_norm": out.global_norm.stack(), "recurrent": out.recurrent.stack(),
            "state": out.S, "snapshot_states": out.snapshot_states, "snapshot_probs": out.snapshot_probs,
            "params": out.params, "opt": out.opt, "taken_params": out.taken_params, "taken_state": out.taken_state,
        }


class _Carry(NamedTuple):
    """The chunk's step loop state: step index, weights, optimizer state, carried state, per-step records,
    row 0 of the last window."""

    i: tf.Tensor
    params: tuple  # W [d, 2 + d], b_s [d], U [2, d], b_p [2]
    opt: tuple  # the optimizer's state, laid out as `optimizers.fresh_state`
    S: tf.Tensor  # [B, d] first state of the next window
    loss: tf.TensorArray
    position_loss: tf.TensorArray
    grad_norms: tf.TensorArray
    temporal: tf.TensorArray
    global_norm: tf.TensorArray
    recurrent: tf.TensorArray  # W_s after each step, for sigma_max on the host
    snapshot_states: tf.Tensor  # [n, d]
    snapshot_probs: tf.Tensor  # [n]
    taken_params: tuple  # [slots + 1, ...] each weight before the sampled steps (the last row: a spare)
    taken_state: tf.Tensor  # [slots + 1, sample_rows, d] the carried state going into them


class Kernel:
    """One run's weights and optimizer state (NumPy, its own) on the shared `Program` of its key."""

    def __init__(self, key: KernelKey, program: Program | None = None):
        self.key = key
        self.program = program if program is not None else POOL.program(key)
        d = key.d
        self.params = [np.zeros((d, 2 + d), np.float32), np.zeros((d,), np.float32), np.zeros((2, d), np.float32),
                       np.zeros((2,), np.float32)]
        self.optimizer_state = self.fresh_optimizer_state(0.1)

    @property
    def compiled(self) -> bool:
        """Whether this key's XLA program is built (a compiled call would not wait for a compile)."""
        return self.program.compiled

    @property
    def seconds_per_step(self) -> float | None:
        """A compiled step's last measured time for this key (shared by all its runs), or None."""
        return self.program.seconds_per_step

    @seconds_per_step.setter
    def seconds_per_step(self, value: float | None) -> None:
        self.program.seconds_per_step = value

    def fresh_optimizer_state(self, learning_rate: float) -> list[np.ndarray]:
        """The optimizer's state as a newly built keras optimizer would hold it, with this learning rate."""
        return optimizers.fresh_state(self.key.optimizer, float(learning_rate), [p.shape for p in self.params])

    def load(self, params, optimizer_state: list[np.ndarray]) -> None:
        """Take a run's weights and optimizer state (copied)."""
        self.params = [np.array(p, np.float32) for p in params]
        self.optimizer_state = [np.array(v) for v in optimizer_state]

    def save(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Copy the weights and optimizer state out."""
        return [p.copy() for p in self.params], [v.copy() for v in self.optimizer_state]

    def run_packed(self, slab, state, count, first_window, clip, compiled: bool = True,
                   sample_at: list[int] | None = None, norms_later: bool = False,
                   eager: bool = False) -> dict[str, np.ndarray]:
        """Run `count` training steps (XLA-compiled, as a TensorFlow graph, or eagerly); numpy metrics and the
        carried state.

        slab: int8 [B, slab_width] holding x + 2 y per time step (`pack`), one byte a step.
        sample_at, norms_later, eager: as in `Program.call`.
        """
        out = self.program.call(self.params, self.optimizer_state, slab, state, count, first_window, clip, compiled,
                                sample_at, norms_later, eager)
        self.params, self.optimizer_state = out.pop("params"), out.pop("opt")
        return out


class KernelPool:
    """Thread-safe, bounded registry of programs, one per key; a leased `Kernel` is one run's own state."""

    def __init__(self, limit: int = POOL_LIMIT):
        self._lock = threading.Lock()
        self._programs: OrderedDict[KernelKey, Program] = OrderedDict()
        self._limit = limit

    def program(self, key: KernelKey) -> Program:
        """The program of `key` (made, not compiled, if new), dropping the least recently used beyond the limit."""
        with self._lock:
            program = self._programs.get(key)
            if program is None:
                program = self._programs[key] = Program(key)
                while len(self._programs) > self._limit:
                    self._programs.popitem(last=False)  # a run still using it keeps its own reference
            self._programs.move_to_end(key)
            return program

    def lease(self, key: KernelKey) -> Kernel:
        """A kernel on `key`'s program (compiled or not)."""
        return Kernel(key, self.program(key))

    def lease_compiled(self, key: KernelKey) -> Kernel | None:
        """A kernel on `key`'s program if it is compiled, or None."""
        with self._lock:
            program = self._programs.get(key)
        return Kernel(key, program) if program is not None and program.compiled else None

    def has_compiled(self, key: KernelKey) -> bool:
        """Whether `key`'s program is compiled (a run of its shapes trains compiled from its first chunk)."""
        with self._lock:
            program = self._programs.get(key)
        return program is not None and program.compiled

    def give_back(self, kernel: Kernel) -> None:
        """Keep a compiled kernel's program for later runs (its state stays with the run)."""
        if not kernel.compiled:
            return
        with self._lock:
            self._programs.setdefault(kernel.key, kernel.program)
            self._programs.move_to_end(kernel.key)

    def drop(self, key: KernelKey) -> bool:
        """Forget `key`'s program (its next run compiles again); whether there was one."""
        with self._lock:
            return self._programs.pop(key, None) is not None

    def idle_count(self) -> int:
        """How many compiled programs wait for runs."""
        with self._lock:
            return sum(p.compiled for p in self._programs.values())


POOL = KernelPool()
_COMPILER = ThreadPoolExecutor(max_workers=runtime.compile_threads(), thread_name_prefix="xla-compile")


def build_compiled(key: KernelKey) -> Kernel:
    """A kernel on `key`'s program in the pool, the program compiled (once, by one call on zeros)."""
    kernel = POOL.lease(key)
    kernel.program.compile()
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
    _run_on_zeros(Kernel(key, Program(key)), 1, compiled=False)
    return time.perf_counter() - t0


MAX_PAUSE = 5.0  # longest a heavy run's chunk is made to wait, s (bounds the delay of its Stop)
_TRAINING = [0, 0]  # runs inside Trainer.run now in this process, and how many of them are heavy
_TRAINING_LOCK = threading.Lock()
_LAST_TRAINED = [-math.inf]  # time.monotonic() when the last run left Trainer.run (never: -inf)


def begin_training() -> None:
    """Count one more run as training (Trainer.run, until `end_training`), for `fair_pause`."""
    with _TRAINING_LOCK:
        _TRAINING[0] += 1


def end_training(heavy: bool = False) -> None:
    """Count one run fewer as training (`heavy`: it was counted heavy by `set_heavy`)."""
    with _TRAINING_LOCK:
        _TRAINING[0] -= 1
        _TRAINING[1] -= 1 if heavy else 0
        _LAST_TRAINED[0] = time.monotonic()


def set_heavy(heavy: bool) -> None:
    """Count a training run as heavy (one step longer than its chunk's budget) or as light again."""
    with _TRAINING_LOCK:
        _TRAINING[1] += 1 if heavy else -1


def training_runs() -> int:
    """How many runs are training in this process now."""
    with _TRAINING_LOCK:
        return _TRAINING[0]


def quiet_seconds() -> float:
    """How long no run has trained in this process: 0 while one trains, inf if none ever did."""
    with _TRAINING_LOCK:
        return 0.0 if _TRAINING[0] > 0 else time.monotonic() - _LAST_TRAINED[0]


def wait_until_quiet(seconds: float, poll: float = 0.25) -> None:
    """Return once no run has trained in this process for `seconds` (`quiet_seconds`): background work that
    only speeds up later runs (a compile) goes then, not while runs train."""
    while (left := seconds - quiet_seconds()) > 0:
        time.sleep(min(poll, left))


def light_runs() -> int:
    """How many of the runs training now are light: their steps fit their chunks' budget."""
    with _TRAINING_LOCK:
        return _TRAINING[0] - _TRAINING[1]


def fair_pause(elapsed: float, budget: float) -> float:
    """Seconds a run waits after a chunk that overran its budget while others train: its fair share.

    A chunk is sized to `budget` seconds, but one step of a heavy run (say d = 256, n = 200) cannot be split
    and may take seconds. Such a run then waits the overrun times the number of other runs training, so it
    holds the CPU about 1/N of the time, as each light run does, and the others' chunks are not crowded out.
    Alone, or within budget, it does not wait.
    """
    others = training_runs() - 1
    if others <= 0 or elapsed <= 2 * budget:
        return 0.0
    return min(MAX_PAUSE, (elapsed - budget) * others)
