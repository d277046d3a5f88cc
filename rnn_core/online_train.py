"""The online trainer: RTRL and UORO runs, yielding the same `Chunk`s and `History` as the truncated `Trainer`.

    trainer = make_trainer(cfg)      # a Trainer for tensorflow / williams-peng, an OnlineTrainer for rtrl / uoro
    for chunk in trainer.run():
        draw(chunk, trainer.history)

An online step is one weight update after one time step (update_every = 1, the papers' real-time
learning): the R2RT epoch of 1,000,000 steps over B = 200 rows is 5,000 updates, each trained on
the batch-mean loss of one time step with its exact (RTRL) or unbiased rank-one (UORO) gradient
through the whole history since the epoch start. Same data (`data.epoch_data`), same optimizer
and clipping, same loss, global norm and sigma_max; there is no window, so the per-position
profiles and the row-0 window snapshot are empty (the pages say "not applicable").

Compiling an online program takes seconds: a new shape runs its chunks as a plain TensorFlow graph
(traced on the first call; an eager update took about a second) while the XLA program is built on a
background thread, started after that first chunk so its tracing does not hold up the first metrics,
and moves to it when it is ready.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .config import RunConfig
from .data import baselines, epoch_data, task_for
from .model import Params, init_params
from .train import Chunk, History, RunState, Snapshot, Trainer, final_loss, how_steps_ran

UPDATE_EVERY = 1
UNCOMPILED_CHUNK = 64  # most updates per uncompiled call, so the run moves to the XLA program soon after it is built


class OnlineHistory(History):
    """Per-step scalars only: an online run has no window, so no per-position profiles."""

    def add(self, chunk: Chunk) -> None:
        """Append a chunk's loss, global norm and sigma_max."""
        self.loss.append(chunk.loss)
        self.global_norm.append(chunk.global_norm)
        self.sigma_max.append(chunk.sigma_max)


_IDLE: dict = {}  # OnlineKey -> [compiled OnlineKernel]
_IN_FLIGHT: dict = {}  # OnlineKey -> Future of its compile
_LOCK = threading.Lock()
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="online-compile")


def online_key(cfg: RunConfig):
    """The OnlineKey of a config's program."""
    from .online import OnlineKey, capacity_for

    return OnlineKey(cfg.style, cfg.batch_size, cfg.state_size, cfg.optimizer, UPDATE_EVERY,
                     capacity_for(cfg.batch_size, UPDATE_EVERY))


def _build(key) -> None:
    from .online import OnlineKernel, zero_carry

    kernel = OnlineKernel(key)
    slab = np.zeros((key.batch_size, kernel.slab_width()), np.int8)
    kernel.run_packed(slab, zero_carry(key), 1, 0.0, compiled=True)  # compiles; each run loads its own weights
    with _LOCK:
        _IDLE.setdefault(key, []).append(kernel)
        _IN_FLIGHT.pop(key, None)


def compile_online(key) -> Future:
    """Compile an OnlineKernel for `key` on the background thread (once, however many ask)."""
    with _LOCK:
        future = _IN_FLIGHT.get(key)
        if future is None:
            future = _IN_FLIGHT[key] = _COMPILER.submit(_build, key)
        return future


def _lease(key):
    with _LOCK:
        kernels = _IDLE.get(key)
        return kernels.pop() if kernels else None


def _give_back(kernel) -> None:
    if kernel.compiled:
        with _LOCK:
            _IDLE.setdefault(kernel.key, []).append(kernel)


def warm_up(key) -> float:
    """Make sure a compiled program for `key` (a truncated KernelKey or an OnlineKey) is ready; seconds taken."""
    from .online import OnlineKey

    if not isinstance(key, OnlineKey):
        from .kernels import warm_up as warm_truncated

        return warm_truncated(key)
    t0 = time.perf_counter()
    kernel = _lease(key)
    if kernel is not None:
        _give_back(kernel)
    else:
        compile_online(key).result()
    return time.perf_counter() - t0


class OnlineTrainer:
    """Trains one RTRL or UORO `RunConfig`; `run()` yields `Chunk`s and can be called again to continue."""

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
        if not cfg.online:
            raise ValueError(f"OnlineTrainer trains styles rtrl and uoro, not {cfg.style!r}; use Trainer")
        self.sequence = sequence
        self.chunk_seconds = chunk_seconds
        self.use_compiled = use_compiled
        params = initial_params if initial_params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
        self.state = RunState(params=[np.asarray(p, np.float32) for p in params])
        self.carry: list[np.ndarray] | None = None
        self.history = OnlineHistory(max_profiles)
        self.task = task_for(cfg)
        self.baselines = baselines(self.task) if self.task is not None else []
        self.key = online_key(cfg)
        self.sampler = None  # no truncation, so no truncation bias to sample
        self._rows: np.ndarray | None = None
        self._rows_epoch = -1
        self.steps_per_epoch = self._epoch_rows(0).shape[1]  # one update per time step
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.last_chunk: Chunk | None = None

    params = Trainer.params
    finished = Trainer.finished
    run_to_end = Trainer.run_to_end

    def _epoch_rows(self, epoch: int) -> np.ndarray:
        if self._rows_epoch != epoch:
            xb, yb = epoch_data(self.cfg, epoch, self.sequence)
            self._rows = (xb.astype(np.int8) + 2 * yb.astype(np.int8)).astype(np.int8)  # x + 2 y, as the kernels pack
            self._rows_epoch = epoch
        assert self._rows is not None
        return self._rows

    def run(self, max_steps: int | None = None) -> Iterator[Chunk]:
        """Train until the run ends (or `max_steps` more updates), yielding a Chunk after each call."""
        from .online import OnlineKernel, zero_carry

        st, cfg = self.state, self.cfg
        if self.finished:
            return
        st.status = "running"
        kernel = _lease(self.key) if self.use_compiled else None
        compile_job = None
        waiting_since = time.perf_counter()
        defer_compile = False
        if kernel is None:
            kernel = OnlineKernel(self.key)
            if self.use_compiled:
                defer_compile = True  # queued after the first chunk, whose trace its own would slow down
        if st.optimizer_state is None:
            st.optimizer_state = kernel.fresh_optimizer_state(cfg.learning_rate)
        kernel.load(st.params, st.optimizer_state)
        budget = max_steps if max_steps is not None else math.inf
        per_step = getattr(kernel, "seconds_per_step", None)
        try:
            while st.epoch < cfg.epochs and budget > 0:
                if compile_job is not None and not kernel.compiled:
                    ready = _lease(self.key)
                    if ready is not None:
                        st.compile_seconds += time.perf_counter() - waiting_since
                        ready.load(*kernel.save())
                        kernel, per_step, compile_job = ready, getattr(ready, "seconds_per_step", None), None
                rows = self._epoch_rows(st.epoch)
                if st.window == 0:
                    self.carry = zero_carry(self.key)
                left = self.steps_per_epoch - st.window
                compiled = kernel.compiled
                count = self._next_count(per_step, left, budget, compiled)
                slab = np.zeros((cfg.batch_size, kernel.slab_width()), np.int8)
                slab[:, :count] = rows[:, st.window : st.window + count]
                traces = not compiled and not kernel.traced  # this call's time is mostly the trace
                t0 = time.perf_counter()
                out = kernel.run_packed(slab, self.carry, count, cfg.clip, seed=cfg.seed,
                                        time_offset=st.epoch * self.steps_per_epoch + st.window, compiled=compiled)
                elapsed = time.perf_counter() - t0
                per_step = None if traces else elapsed / count
                if compiled and count > 1:
                    kernel.seconds_per_step = per_step
                st.seconds += elapsed
                chunk = self._record(out, count, compiled)
                if defer_compile:
                    compile_job, defer_compile = compile_online(self.key), False
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
            if st.status == "running":
                st.status = "paused"
            st.params, st.optimizer_state = kernel.save()
            _give_back(kernel)

    def _next_count(self, per_step: float | None, left: int, budget: float, compiled: bool) -> int:
        count = 1 if per_step is None else int(self.chunk_seconds / max(per_step, 1e-7))
        if not compiled:
            count = min(count, UNCOMPILED_CHUNK)
        return int(max(1, min(count, self.key.capacity, left, budget)))

    def _record(self, out: dict, count: int, compiled: bool) -> Chunk:
        st = self.state
        loss = out["loss"][:count]
        bad = np.flatnonzero(~np.isfinite(loss))
        status = "running"
        if bad.size:
            count = int(bad[0]) + 1
            loss = loss[:count]
            status = st.status = "diverged"
            st.diverged_at = st.steps_done + count - 1
        first = st.steps_done
        st.steps_done += count
        st.uncompiled_steps += 0 if compiled else count
        self.carry = out["carry"]
        st.state = self.carry[0]
        empty = np.zeros((count, 0), np.float32)
        chunk = Chunk(
            first_step=first, loss=loss, position_loss=empty, grad_norms=empty, temporal=empty,
            global_norm=out["global_norm"][:count], sigma_max=out["sigma_max"][:count],
            epoch=st.epoch, steps_done=st.steps_done, total_steps=self.total_steps, seconds=st.seconds,
            compile_seconds=st.compile_seconds, compiled=compiled, status=status, diverged_at=st.diverged_at,
            snapshot=Snapshot(x=np.zeros(0, np.int64), y=np.zeros(0, np.int64), prob=np.zeros(0, np.float32),
                              states=np.zeros((0, self.cfg.state_size), np.float32)),
        )
        self.history.add(chunk)
        self.last_chunk = chunk
        return chunk

    def summary(self) -> dict:
        """final_loss (mean of the last 100 updates), steps, seconds, steps_per_second, status, program."""
        st = self.state
        return {
            "final_loss": final_loss(self.history.scalars()["loss"]),
            "steps": st.steps_done,
            "seconds": st.seconds,
            "compile_seconds": st.compile_seconds,
            "steps_per_second": st.steps_done / st.seconds if st.seconds > 0 else 0.0,
            "status": st.status,
            "diverged_at": st.diverged_at,
            "program": self.program(),
        }

    def program(self) -> str:
        """Which learner computed the gradients so far, and whether XLA-compiled or a plain TensorFlow graph."""
        st = self.state
        name = ("RTRL: exact online gradient through the whole history (influence matrix)" if self.cfg.style == "rtrl"
                else "UORO: unbiased rank-one estimate of the online gradient")
        return f"{name}; {how_steps_ran(st.steps_done, st.uncompiled_steps, st.eager_steps)}"


def make_trainer(cfg: RunConfig, *args, **kwargs) -> Trainer | OnlineTrainer:
    """The trainer for a config's style: `Trainer` (truncated styles) or `OnlineTrainer` (rtrl, uoro)."""
    return (OnlineTrainer if cfg.online else Trainer)(cfg, *args, **kwargs)
