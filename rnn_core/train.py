"""The trainer: runs a `RunConfig` in chunks of compiled steps and yields metrics after each chunk.

    trainer = Trainer(cfg)
    for chunk in trainer.run():      # stop any time by leaving the loop; run() again continues
        draw(chunk, trainer.history)

Each training step takes the window's first state and returns the state to carry: the final state
for TensorFlow style BPTT(n; n), the state after k1 inputs for Williams-Peng BPTT(n; k1). The
state is zero at the start of every epoch, and no gradient crosses from one window to the last.

The rule of which window trains what and which state is carried is `truncation.py`.

A chunk runs as many steps as fit in about `chunk_seconds` inside one call of the XLA program that
every run of the same shapes shares (kernels.Program). A shape never compiled before trains while the
program is built on a background thread: its first chunk eagerly (one step, its metrics at once), the
next ones on TensorFlow's graph executor (the chunk traced once, a graph step a few times a compiled
one where an eager step is worth hundreds), and the run moves to the XLA program as soon as it is ready.
The compile starts after the first chunk (its tracing would compete with that chunk for the GIL and
delay the first metrics) and reuses the graph's trace.

While more runs train in this process than it has cores, a chunk's wall time is stretched by the others'
(`contention`); the chunk is then sized to the steps it would fit alone, so a class of runs makes as many
calls, progress messages and redraws as each run alone, not N times as many smaller ones. A heavy run (one
step longer than its chunk's budget) calls its next chunk only when no light run trains and no other run holds
or waits for a server's turn (`_after_light_runs`), and its full-gradient samples wait the same way (sampling.py).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace

import numpy as np

from . import sampling
from .compare import compiled_step_seconds
from .config import RunConfig
from .data import baselines, epoch_data, task_for
from .kernels import (
    MAX_PAUSE,
    POOL,
    begin_training,
    compile_in_background,
    compiling,
    end_training,
    fair_pause,
    key_for,
    pack,
    program_name,
    sample_slots,
    set_heavy,
    slab_width,
    training_runs,
)
from .model import Params, init_params
from .outcome import classify, reference_loss
from .spectral import BEHIND_FROM_D, settled
from .truncation import epoch_start_state, window_start, windows_per_epoch


@dataclass
class Snapshot:
    """Row 0 of the last window trained: inputs, targets, P(Y=1) and the states S_t."""

    x: np.ndarray  # [n] int
    y: np.ndarray  # [n] int
    prob: np.ndarray  # [n] float
    states: np.ndarray  # [n, d]


@dataclass
class Chunk:
    """Metrics of the training steps one call ran, and where the run stands."""

    first_step: int  # global index of the chunk's first step
    loss: np.ndarray  # [k] trained loss per step
    position_loss: np.ndarray  # [k, n] loss at each window position
    grad_norms: np.ndarray  # [k, n] ||dL/dS_t||, position 0 the oldest state of the window
    temporal: np.ndarray  # [k, n] ||dL_last/dS_t||
    global_norm: np.ndarray  # [k] gradient norm before clipping
    # [k] largest singular value of W_s after the step; for the latest chunk of a run at d >= BEHIND_FROM_D a
    # Future of it while LAPACK still runs behind the next call (read it through `spectral.settled`)
    sigma_max: np.ndarray | Future
    epoch: int
    steps_done: int
    total_steps: int
    seconds: float  # training time of the run so far
    compile_seconds: float  # time spent building compiled programs so far
    compiled: bool  # whether this chunk ran in the compiled program
    status: str  # "running", "completed" or "diverged"
    diverged_at: int | None
    snapshot: Snapshot

    @property
    def steps(self) -> np.ndarray:
        """Global step indices of the chunk's rows."""
        return np.arange(self.first_step, self.first_step + len(self.loss))


class History:
    """All per-step scalars, and per-position profiles thinned to at most `max_profiles` rows."""

    def __init__(self, max_profiles: int | None = 2000):
        self.max_profiles = max_profiles
        self.loss: list[np.ndarray] = []
        self.global_norm: list[np.ndarray] = []
        self.sigma_max: list[np.ndarray] = []
        self.profile_steps: list[int] = []
        self.position_loss: list[np.ndarray] = []
        self.grad_norms: list[np.ndarray] = []
        self.temporal: list[np.ndarray] = []
        self._stride = 1

    def add(self, chunk: Chunk) -> None:
        """Append a chunk's metrics."""
        self.loss.append(chunk.loss)
        self.global_norm.append(chunk.global_norm)
        self.sigma_max.append(chunk.sigma_max)
        for row, step in enumerate(chunk.steps):
            if step % self._stride == 0:
                self.profile_steps.append(int(step))
                self.position_loss.append(chunk.position_loss[row])
                self.grad_norms.append(chunk.grad_norms[row])
                self.temporal.append(chunk.temporal[row])
        while self.max_profiles is not None and len(self.profile_steps) > self.max_profiles:
            self._stride *= 2
            keep = [i for i, s in enumerate(self.profile_steps) if s % self._stride == 0]
            for name in ("profile_steps", "position_loss", "grad_norms", "temporal"):
                values = getattr(self, name)
                setattr(self, name, [values[i] for i in keep])

    def scalars(self) -> dict[str, np.ndarray]:
        """Per-step arrays: step, loss, global_norm, sigma_max."""
        loss = np.concatenate(self.loss) if self.loss else np.zeros(0, np.float32)
        return {
            "step": np.arange(len(loss)),
            "loss": loss,
            "global_norm": np.concatenate(self.global_norm) if self.global_norm else np.zeros(0, np.float32),
            "sigma_max": np.concatenate([settled(s) for s in self.sigma_max]) if self.sigma_max
            else np.zeros(0, np.float32),
        }

    def settle(self) -> None:
        """Wait for the norms still being computed (`spectral.norms_behind`) and keep their values. Only the
        latest chunk's can be pending (the trainer settles each before adding the next), so only it is looked at:
        the trainer calls this every chunk, and a walk over the whole list would grow with the run."""
        if self.sigma_max:
            self.sigma_max[-1] = settled(self.sigma_max[-1])

    def profiles(self) -> dict[str, np.ndarray]:
        """Kept per-position rows: step [r], position_loss, grad_norms, temporal [r, n]."""
        def stack(rows: list[np.ndarray]) -> np.ndarray:
            return np.stack(rows) if rows else np.zeros((0, 0), np.float32)

        return {
            "step": np.asarray(self.profile_steps, dtype=np.int64),
            "position_loss": stack(self.position_loss),
            "grad_norms": stack(self.grad_norms),
            "temporal": stack(self.temporal),
        }


@dataclass
class RunState:
    """Everything a run carries between chunks: weights, optimizer state, data position, state S."""

    params: list[np.ndarray]
    optimizer_state: list[np.ndarray] | None = None
    epoch: int = 0
    window: int = 0  # next window of the current epoch
    state: np.ndarray | None = None  # [B, d] first state of the next window
    steps_done: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    uncompiled_steps: int = 0  # steps run before the XLA program was built: eagerly or on TensorFlow's graph executor
    eager_steps: int = 0  # of those, the steps run eagerly (a new shape's first chunk)
    status: str = "ready"
    diverged_at: int | None = None


# s, estimated compiled step (compare.compiled_step_seconds) above which a run waits for its program: its eager
# step, about a hundred compiled ones, would take a second or more. 0.05 s on the estimate before session 23 (3-6x
# high at large d, low at large n); on the refitted one 0.01 s makes the same choice for 267 of 280 shapes (n 1..200,
# d 4..256, B 1..1,000): 12 wide windows (n >= 20, measured costlier than the old estimate said) now wait, and one
# (n = 100, d = 256, B = 10, 9.6 ms a step) now steps eagerly.
EAGER_STEP_LIMIT = 0.01
COMPILE_POLL = 0.25  # s between a waiting run's looks at its compile (and its pause hook's turn)


def final_loss(loss: np.ndarray, last: int = 100) -> float:
    """Mean loss over the last `last` steps (all of them if fewer)."""
    return float(np.mean(loss[-last:])) if len(loss) else float("nan")


LIGHT_POLL = 0.05  # s between a heavy run's looks at whether the light runs are done


def contention() -> float:
    """How many times longer a call takes now than alone: the runs training in this process per core (at least 1)."""
    return max(1.0, training_runs() / (os.cpu_count() or 1))


class Trainer:
    """Trains one `RunConfig`; `run()` yields `Chunk`s and can be called again to continue."""

    def __init__(
        self,
        cfg: RunConfig,
        sequence: tuple[np.ndarray, np.ndarray] | None = None,
        initial_params: Params | None = None,
        chunk_seconds: float = 0.1,
        max_profiles: int | None = 2000,
        use_compiled: bool = True,
    ):
        self.cfg = cfg.validate()
        self.sequence = sequence
        self.chunk_seconds = chunk_seconds
        # How the run leaves the CPU to the others for `fair_pause`'s seconds; a server with a line of runs
        # (rnn_core/turns.py) sends it to the back of the line instead of sleeping while it holds a turn.
        self.pause: Callable[[float], None] = time.sleep
        self.use_compiled = use_compiled
        params = initial_params if initial_params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
        self.state = RunState(params=[np.asarray(p, np.float32) for p in params])
        self.history = History(max_profiles)
        self.task = task_for(cfg)
        self.baselines = baselines(self.task) if self.task is not None else []
        self.key = key_for(cfg)
        self._rows: np.ndarray | None = None
        self._rows_epoch = -1
        self.steps_per_epoch = windows_per_epoch(self._epoch_rows(0).shape[1], cfg.truncation, cfg.effective_k1)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.last_chunk: Chunk | None = None
        self.sampler = sampling.for_run(cfg, self.total_steps)  # full-gradient samples (sampling.py)

    @property
    def params(self) -> Params:
        """Current weights."""
        return Params(*self.state.params)

    @property
    def finished(self) -> bool:
        """Whether the run completed or diverged (nothing left to continue)."""
        return self.state.status in ("completed", "diverged")

    def _epoch_rows(self, epoch: int) -> np.ndarray:
        if self._rows_epoch != epoch:
            xb, yb = epoch_data(self.cfg, epoch, self.sequence)
            self._rows = pack(xb, yb)  # x + 2 y, one byte a time step
            self._rows_epoch = epoch
        assert self._rows is not None
        return self._rows

    def _slab(self, rows: np.ndarray, window: int, count: int) -> np.ndarray:
        k1, n = self.cfg.effective_k1, self.cfg.truncation
        start = window_start(window, k1)
        stop = window_start(window + count - 1, k1) + n
        slab = np.empty((rows.shape[0], slab_width(self.key)), np.int8)
        slab[:, : stop - start] = rows[:, start:stop]
        slab[:, stop - start :] = 0
        return slab

    def run(self, max_steps: int | None = None) -> Iterator[Chunk]:
        """Train until the run ends (or `max_steps` more steps), yielding a Chunk after each call."""
        st, cfg = self.state, self.cfg
        if self.finished:
            return
        st.status = "running"
        kernel = POOL.lease(self.key)  # this run's own state on the one program of its shapes
        waiting_since = time.perf_counter()
        compile_job = None
        defer_compile = False
        if self.use_compiled and not kernel.compiled:  # train uncompiled until the program is built
            if compiling(self.key):
                compile_job = compile_in_background(self.key)  # another run's compile of these shapes
            else:
                defer_compile = True  # started after the first chunk, which its tracing would slow down
        if st.optimizer_state is None:
            st.optimizer_state = kernel.fresh_optimizer_state(cfg.learning_rate)
        kernel.load(st.params, st.optimizer_state)
        budget = max_steps if max_steps is not None else math.inf
        uncompiled_chunks = 0
        compiled = self.use_compiled and kernel.compiled
        per_step = kernel.seconds_per_step if compiled else None  # known from an earlier run: no 1-step probe
        pause = 0.0
        heavy = False  # its steps overrun its chunks' budget: it goes after the light runs (`_after_light_runs`)
        norms_later = cfg.state_size >= BEHIND_FROM_D  # each chunk's sigma_max behind the next call (`_record`)
        begin_training()
        try:
            if self.use_compiled and not compiled and compiled_step_seconds(cfg) > EAGER_STEP_LIMIT:
                # An eager step of these shapes would take seconds (hundreds of compiled steps), all of it
                # holding Python's lock: wait for the program instead, leaving the CPU to others meanwhile.
                if compile_job is None:
                    compile_job, defer_compile = compile_in_background(self.key), False
                while not compile_job.done():
                    wait([compile_job], timeout=COMPILE_POLL)
                    self.pause(0.0)
            while st.epoch < cfg.epochs and budget > 0:
                if compiled and per_step is not None and (per_step > self.chunk_seconds) != heavy:
                    heavy = not heavy
                    set_heavy(heavy)
                    if self.sampler is not None:
                        self.sampler.heavy = heavy
                if heavy and sampling.light_work():
                    self._after_light_runs()  # its one call would hold up every light run's calls
                elif pause > 0:
                    self.pause(pause)  # the last chunk overran while others train: leave them the CPU
                if self.use_compiled and not compiled:
                    pooled = kernel if kernel.compiled else POOL.lease_compiled(self.key)
                    if pooled is not None:  # the program of these shapes is built (by this run's compile or another's)
                        kernel.program = pooled.program
                        st.compile_seconds += time.perf_counter() - waiting_since
                        compiled, per_step = True, kernel.seconds_per_step
                    elif not defer_compile and not compiling(self.key):  # compile failed, or the pool dropped it
                        compile_job = compile_in_background(self.key)
                rows = self._epoch_rows(st.epoch)
                if st.window == 0:
                    st.state = epoch_start_state(cfg.batch_size, cfg.state_size)
                left = self.steps_per_epoch - st.window
                count = self._next_count(per_step, left, budget, compiled)
                planned = [] if self.sampler is None else self.sampler.planned_in(st.steps_done, count)
                first_step, first_window = st.steps_done, st.window
                # A new shape's first chunk runs eagerly (its metrics at once), the next ones on the traced graph;
                # the call that traces it takes mostly the trace's time, not its steps'.
                eager = not compiled and uncompiled_chunks == 0 and not kernel.program.traced
                traces = not compiled and not eager and not kernel.program.traced
                t0 = time.perf_counter()
                out = kernel.run_packed(
                    self._slab(rows, st.window, count), st.state, count, st.window == 0, cfg.clip, compiled=compiled,
                    sample_at=planned, norms_later=norms_later, eager=eager,
                )
                elapsed = time.perf_counter() - t0
                stretch = contention()
                pause = 0.0 if traces else fair_pause(elapsed, self.chunk_seconds * stretch)  # a trace is once a shape
                uncompiled_chunks += 0 if compiled else 1
                per_step = None if traces else elapsed / count / stretch  # a step's cost alone: sizes the next chunk
                if compiled and count > 1:
                    kernel.seconds_per_step = per_step
                st.seconds += elapsed
                chunk = self._record(out, count, compiled, rows, eager)
                for j, offset in enumerate(planned):
                    if first_step + offset < st.steps_done:  # trained (a diverged chunk stops early)
                        self.sampler.observe(first_step + offset, st.epoch, first_window + offset, rows,
                                             out["taken_state"][j], [p[j] for p in out["taken_params"]])
                if defer_compile:
                    compile_job, defer_compile = compile_in_background(self.key), False
                st.window += count
                budget -= count
                if st.window >= self.steps_per_epoch:
                    st.epoch, st.window = st.epoch + 1, 0
                if chunk.status == "diverged":
                    yield chunk
                    return
                if st.epoch >= cfg.epochs:
                    st.status = chunk.status = "completed"
                yield chunk
        finally:
            self._settle_norms()
            end_training(heavy)
            if st.status == "running":
                st.status = "paused"
            st.params, st.optimizer_state = kernel.save()
            POOL.give_back(kernel)

    def _settle_norms(self) -> None:
        """Wait for the last chunk's sigma_max if it is still computed behind (`spectral.norms_behind`)."""
        self.history.settle()
        if self.last_chunk is not None:
            self.last_chunk.sigma_max = settled(self.last_chunk.sigma_max)

    def _after_light_runs(self) -> None:
        """Wait (through `pause`, so a server's line goes on meanwhile) while there is light work: a light run
        training or its samples, another run holding or waiting for a turn (`sampling.light_work`); at most
        `MAX_PAUSE` s.

        With one intra-op thread (runtime.py) the process's compiled calls share one compute thread, and a call
        cannot be cut short: a heavy run's one-step calls (half a second each at d = 256, n = 200), back to back,
        starved a light run's call for 7 to 13 s in one process (bench/results.md, session 12). Going after the
        light runs, a heavy run holds them up by at most the one call it has in flight when they start; the cap
        keeps it moving under a steady stream of them.
        """
        started = time.perf_counter()
        while sampling.light_work():
            left = MAX_PAUSE - (time.perf_counter() - started)
            if left <= 0:
                return
            self.pause(min(LIGHT_POLL, left))

    def _next_count(self, per_step: float | None, left: int, budget: float, compiled: bool) -> int:
        cap = self.key.capacity
        if per_step is None:
            count = 1
        else:
            count = int(self.chunk_seconds / max(per_step, 1e-7))
        if not compiled:
            count = min(count, 64)
        if self.sampler is not None:  # no more sampled steps in one call than it has slots for
            planned = self.sampler.planned_in(self.state.steps_done, count)
            slots = sample_slots(self.key)
            if len(planned) > slots:
                count = planned[slots]
        return int(max(1, min(count, cap, left, budget)))

    def _record(self, out: dict[str, np.ndarray], count: int, compiled: bool, rows: np.ndarray,
                eager: bool = False) -> Chunk:
        st, cfg = self.state, self.cfg
        loss = out["loss"][:count]
        bad = np.flatnonzero(~np.isfinite(loss))
        status = "running"
        if bad.size:
            count = int(bad[0]) + 1
            loss = loss[:count]
            status = "diverged"
            st.status = "diverged"
            st.diverged_at = st.steps_done + count - 1
        sigma = out["sigma_max"]
        if status == "diverged":
            sigma = settled(sigma)[:count]
        self._settle_norms()  # the chunk before's: at most one chunk's norms are being computed at a time
        first = st.steps_done
        st.steps_done += count
        st.uncompiled_steps += 0 if compiled else count
        st.eager_steps += count if eager else 0
        st.state = out["state"]
        k1, n = cfg.effective_k1, cfg.truncation
        last_start = window_start(st.window + count - 1, k1)
        chunk = Chunk(
            first_step=first,
            loss=loss,
            position_loss=out["position_loss"][:count],
            grad_norms=out["grad_norms"][:count],
            temporal=out["temporal"][:count],
            global_norm=out["global_norm"][:count],
            sigma_max=sigma,
            epoch=st.epoch,
            steps_done=st.steps_done,
            total_steps=self.total_steps,
            seconds=st.seconds,
            compile_seconds=st.compile_seconds,
            compiled=compiled,
            status=status,
            diverged_at=st.diverged_at,
            snapshot=Snapshot(
                x=rows[0, last_start : last_start + n] & 1,
                y=rows[0, last_start : last_start + n] >> 1,
                prob=out["snapshot_probs"].copy(),
                states=out["snapshot_states"].copy(),
            ),
        )
        self.history.add(chunk)
        self.last_chunk = chunk
        return chunk

    def run_to_end(self, on_chunk=None) -> Trainer:
        """Train to the end, calling `on_chunk(chunk)` after each chunk if given.

        Full-gradient samples observed so far are computed behind the next chunk (`sampler.flush_behind`),
        so a CLI run or a sweep waits at its end only for the last chunk's samples.
        """
        for chunk in self.run():
            if self.sampler is not None and not self.finished:
                self.sampler.flush_behind()
            if on_chunk is not None:
                on_chunk(chunk)
        return self

    def summary(self) -> dict:
        """final_loss (mean of the last 100 steps), steps, seconds, steps/s, status (outcome.classify), program."""
        scalars = self.history.scalars()
        st = self.state
        status, failure = classify(st.status, final_loss(scalars["loss"]), scalars["global_norm"],
                                   scalars["sigma_max"], reference_loss(self.baselines, self.sequence))
        return {
            "final_loss": final_loss(scalars["loss"]),
            "steps": st.steps_done,
            "seconds": st.seconds,
            "compile_seconds": st.compile_seconds,
            "steps_per_second": st.steps_done / st.seconds if st.seconds > 0 else 0.0,
            "status": status,
            "failure": failure,
            "diverged_at": st.diverged_at,
            "program": self.program(),
        }

    def extend(self, epochs: int) -> None:
        """Give a completed run `epochs` more epochs: `run()` continues from its weights, optimizer state and
        data position as if the run had been configured with them from the start (epoch e's data is seeded by e)."""
        cfg = replace(self.cfg, epochs=self.cfg.epochs + int(epochs)).validate()
        self.cfg, self.total_steps = cfg, self.steps_per_epoch * cfg.epochs
        if self.state.status == "completed":
            self.state.status = "paused"

    def program(self) -> str:
        """Which program computed the gradients so far, and how: eagerly, as a TensorFlow graph, XLA-compiled."""
        st = self.state
        how = how_steps_ran(st.steps_done, st.uncompiled_steps, st.eager_steps)
        return f"{program_name(self.cfg.gradient, self.cfg.truncation)}; {how}"


def how_steps_ran(steps_done: int, uncompiled: int, eager: int) -> str:
    """How a run's steps ran, in order: 'XLA-compiled', or e.g. 'eager for 1 step, then TensorFlow graph (not
    XLA) for 999 steps' (`uncompiled` steps ran before the XLA program was built, the first `eager` of them eagerly)."""
    graph, xla = uncompiled - eager, steps_done - uncompiled
    if steps_done == 0:
        return "not run yet"
    if xla == steps_done:
        return "XLA-compiled"
    if eager == steps_done:
        return "eager (uncompiled)"
    if graph == steps_done:
        return "TensorFlow graph (not XLA-compiled)"
    parts = [f"{what} for {k:,} step{'s' if k != 1 else ''}" for what, k in
             (("eager", eager), ("TensorFlow graph (not XLA)", graph), ("XLA-compiled", xla)) if k]
    return ", then ".join(parts)
