"""Full-gradient sampling during a truncated run: how far the gradient that trained a step is from the exact one.

The sampler plans `SAMPLES` steps spread evenly over the run (the last is the run's last step, so
its window is the latest trained window). The trainer asks which planned steps a compiled call
will run (`planned_in`); the call keeps the weights and the carried state each of them trains with
(`kernels.Program.call`'s `sample_at`, no extra call), and the trainer hands them with the epoch's
rows to the sampler (`observe`): exactly what the step trained with. The comparison itself is
deferred and batched (`exact_batch.compare_many`), run when a record of the run is made (`flush`)
or behind the next chunk (`flush_behind`). A sample's numbers do not hang on which samples share
its batch: the backward pass adds exact zeros for a sample once it has stopped (`exact_batch`).
`flush(wait=False)` hands the work to a background thread and returns what is done.

The exact gradient backpropagates the window's trained losses through the history before the
window since the epoch's zero state (`exact.py` for the definition), recomputed from a zero state
HISTORIES[0] = 64 steps back. The backward pass stops once the error it sends left has fallen below
float32 precision of what the window sent (`exact_batch.REL_TOL`; 30 to 50 steps at the defaults'
weights, up to a couple of hundred at others), and the recomputed states lose the wrong starting
state as fast (the same Jacobian products), so that equals the gradient since the zero state to
float32 precision (tests check it). A sample whose backward pass still ran in the last eighth of its
history (MARGIN: its first states are still forgetting the zero start) is recomputed from further
back, HISTORIES[1] = 256 and then HISTORIES[2] = 1,000 steps: each sample pays for the history its
own gradient reaches (the forward recompute, linear in the history, is most of a sample's cost);
`first_history` guesses from the weights where to start. The arithmetic is NumPy (`exact_batch.py`),
nothing to compile in a CLI process; a long-lived server switches to compiled programs
(`use_compiled`), which run without the GIL. `Trainer.run_to_end` computes the samples observed so
far behind the next chunk (`flush_behind`).
Samples use the first ROWS = 32 batch rows (their trained losses, truncated and exact): the
arithmetic of a sample grows with rows x history, and all 200 rows x 1,000 steps for 20 samples is
about four times a default epoch's training.

The gradient-flow matrix of the latest sample (`exact_batch.flow_norms`, the numbers of
`exact.gradient_flow`; same rows, 2n states left of the window) comes with each flush. It is
recomputed over the shortest of the sample's histories whose first eighth its backward pass did not
reach even 2n states further left (`flow_level`), so the states it reads have forgotten the zero start.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import RunConfig
from .truncation import loss_mask, window_start

SAMPLES = 20
HISTORIES = (64, 256, 1000)  # recompute windows, shortest first: a sample goes further back only if it must
MARGIN = 8  # a backward pass that went within K / MARGIN steps of its history's start goes further back
ROWS = 32
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="full-gradient")
# A heavy run's samples (its steps overrun their chunks' budget: d = 256, n = 200) cost seconds of NumPy each batch.
# On `_WORKER` they held up every light run's samples, and so its final charts: a class of 30 that pressed Train
# while such a run trained waited 7.1 / 9.7 s (p50 / p95) against 3.9 / 6.3 s without those samples
# (bench/results.md, session 12). They go on their own thread, after the light runs' training and samples.
_HEAVY_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="full-gradient-heavy")
HEAVY_POLL = 0.1  # s between a heavy run's sample batch's looks at whether the light runs are done
_LIGHT_JOBS = [0]  # light runs' sample batches submitted to `_WORKER` and not finished
_LIGHT_JOBS_LOCK = threading.Lock()


def _light_job(compute: Any, batch: list) -> None:
    try:
        compute(batch)
    finally:
        with _LIGHT_JOBS_LOCK:
            _LIGHT_JOBS[0] -= 1


def light_work() -> bool:
    """Whether any light run trains, or has sample batches waiting or being computed, or any other run holds or
    waits for a turn in the server's line (its data, training or final charts: rnn_core/turns.py), in this
    process. The heavy run itself holds at most one turn."""
    from .kernels import light_runs
    from .turns import shared

    with _LIGHT_JOBS_LOCK:
        if _LIGHT_JOBS[0] > 0:
            return True
    line = shared()[0]
    return light_runs() > 0 or line.waiting() > 0 or line.held() > 1


def _heavy_job(compute: Any, batch: list) -> None:
    while light_work():
        time.sleep(HEAVY_POLL)
    compute(batch)


def plan_steps(total_steps: int, samples: int = SAMPLES) -> list[int]:
    """Steps to sample: `samples` evenly spread, ending at the last step (all steps if fewer)."""
    if total_steps <= samples:
        return list(range(total_steps))
    return sorted({round((i + 1) * total_steps / samples) - 1 for i in range(samples)})


@dataclass
class Sample:
    """One sampled step: where it was and, once computed, how its gradient compared with the exact one."""

    step: int
    epoch: int
    window: int  # window index inside its epoch
    cosine_all: float = float("nan")
    cosine_W_s: float = float("nan")
    rel_error: float = float("nan")
    history_steps: int = 0
    done: bool = False


@dataclass
class Pending:
    sample: Sample
    items: list  # exact_batch.BatchItem per history of HISTORIES, up to the first that reaches the epoch's start
    k1: int
    first_window: bool  # the epoch's first window (its loss mask)
    first: int = -1  # the history to try first (`first_history`); -1 until `_compute` guesses it
    level: int = 0  # the history its numbers came from


@dataclass
class GradientSampler:
    """Plans, observes and computes a run's full-gradient samples."""

    cfg: RunConfig
    total_steps: int
    samples: int = SAMPLES
    histories: tuple[int, ...] = HISTORIES
    rows: int = ROWS
    plan: list[int] = field(default_factory=list)
    records: list[Sample] = field(default_factory=list)
    flow: Any = None  # exact.GradientFlow of the latest computed sample
    flow_step: int | None = None
    seconds: float = 0.0  # time spent observing and computing samples
    heavy: bool = False  # the run's steps overrun their chunks' budget (Trainer.run): its batches go after light work
    _pending: list[Pending] = field(default_factory=list)
    _job: Future | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.plan = plan_steps(self.total_steps, self.samples)
        self._planned = set(self.plan)

    def planned_in(self, step: int, count: int) -> list[int]:
        """Offsets from `step` of the planned steps not yet observed among steps `step` .. `step + count - 1`."""
        seen = {r.step for r in self.records}
        return [s - step for s in self.plan if step <= s < step + count and s not in seen]

    def observe(self, step: int, epoch: int, window: int, rows: np.ndarray, state: np.ndarray,
                weights: list[np.ndarray]) -> None:
        """Keep planned step `step`'s inputs: its epoch's rows, and the weights and carried state it trained with
        (at least the first `rows` batch rows of the state)."""
        if step not in self._planned or any(r.step == step for r in self.records):
            return
        from .exact_batch import BatchItem

        t0 = time.perf_counter()
        cfg = self.cfg
        n, k1 = cfg.truncation, cfg.effective_k1
        ws = window_start(window, k1)
        R = min(self.rows, rows.shape[0])
        weights = [np.array(p, np.float32) for p in weights]
        mask = loss_mask(n, k1, window == 0).astype(np.float32)
        first_state = np.array(state[:R], np.float32)
        sample = Sample(step=step, epoch=epoch, window=window)

        def history_of(K: int) -> tuple[np.ndarray, int]:
            """The slab of K history columns (zero-padded where the epoch began later) and the window; begin."""
            have = min(K, ws)
            slab = np.zeros((R, K + n), np.int8)
            slab[:, K - have :] = rows[:R, ws - have : ws + n]
            return slab, K - have

        items = []
        for K in self.histories:
            slab, begin = history_of(K)
            items.append(BatchItem(params=weights, slab=slab, begin=begin, mask=mask, first_state=first_state))
            if ws <= K:  # this history reaches back to the epoch's zero state: nothing further back
                break
        with self._lock:
            self.records.append(sample)
            self._pending.append(Pending(sample, items, k1, window == 0))  # `first` is guessed where it is computed
        self.seconds += time.perf_counter() - t0

    def _compute(self, batch: list[Pending]) -> None:
        from .exact import flow_result
        from .exact_batch import compare_many, flow_norms

        t0 = time.perf_counter()
        for p in batch:  # guessed here, off the training thread: eigvals of W_s is most of an observe at d = 256
            if p.first < 0:
                p.first = first_history(p.items[0].params[0], p.items[0].first_state, self.histories, len(p.items))
        again: list[Pending] = []
        for level, K in enumerate(self.histories):  # shortest first; a sample whose backward pass ran at its
            todo = again + [p for p in batch if p.first == level]  # history's start goes on to the next one
            again = []
            for p, r in zip(todo, compare_many([p.items[level] for p in todo])):
                p.sample.cosine_all, p.sample.cosine_W_s, p.sample.rel_error = r.cosine_all, r.cosine_W_s, r.rel_error
                p.sample.history_steps, p.level = r.history_steps, level
                if level + 1 < len(p.items) and r.history_steps - len(p.items[level].mask) > K - K // MARGIN:
                    again.append(p)
        for p in batch:
            p.sample.done = True
        last = batch[-1]
        item, n = last.items[self.flow_level(last)], len(last.items[0].mask)
        K = item.slab.shape[1] - n
        norms = flow_norms(item.params, item.slab, item.begin, n, extra=2 * n)
        self.flow = flow_result(norms.astype(np.float64), K, n, last.k1, last.first_window, 2 * n, K - item.begin)
        self.flow_step = last.sample.step
        self.seconds += time.perf_counter() - t0

    def flow_level(self, p: Pending) -> int:
        """The history a computed sample's flow matrix is recomputed over: from the one its gradient came from,
        the first in whose last seven eighths its backward pass plus 2n more states fit (else the longest)."""
        n = len(p.items[0].mask)
        reach = p.sample.history_steps - n + 2 * n
        return next((level for level in range(p.level, len(p.items))
                     if reach <= self.histories[level] - self.histories[level] // MARGIN), len(p.items) - 1)

    def flush(self, wait: bool = True, grace: float = 0.0) -> None:
        """Compute the pending samples: now (`wait`), or on the background thread, returning once they are
        done or after `grace` seconds, whichever is first (a page waits a moment rather than redraw later).

        However the pending samples fall into batches, each comes out the same floats: a batch's backward
        pass adds exact zeros for a sample once it has stopped (`exact_batch`), so a run's samples do not
        hang on its chunks, its redraws or the machine's timing.
        """
        job = self._job
        if job is not None and not job.done():
            if not wait:
                _settle(job, grace)
                return
            job.result()
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        if wait:
            self._compute(batch)
        else:
            if self.heavy:
                self._job = _HEAVY_WORKER.submit(_heavy_job, self._compute, batch)
            else:
                with _LIGHT_JOBS_LOCK:
                    _LIGHT_JOBS[0] += 1
                self._job = _WORKER.submit(_light_job, self._compute, batch)
            _settle(self._job, grace)

    def flush_behind(self) -> None:
        """Start computing the samples observed so far on the background thread while the caller trains on,
        unless some are being computed already (they wait for the next call, or for `flush`)."""
        if self._pending and (self._job is None or self._job.done()):
            self.flush(wait=False)

    @property
    def busy(self) -> bool:
        """Whether samples are waiting or being computed."""
        return bool(self._pending) or (self._job is not None and not self._job.done())

    def done(self) -> list[Sample]:
        """The computed samples, in step order."""
        return sorted((s for s in self.records if s.done), key=lambda s: s.step)


def first_history(W: np.ndarray, state: np.ndarray, histories: tuple[int, ...], available: int) -> int:
    """Which of `histories` (index) to recompute a sample with first, from its weights W [d, 2 + d] and the
    state it carried in [rows, d]: a guess, the retry in `_compute` makes any choice exact.

    The error the backward pass sends left shrinks about by rho(W_s) x mean(1 - S^2) a step (the recurrent
    matrix's spectral radius times tanh's mean slope), so it reaches float32 precision (REL_TOL) after about
    ln(REL_TOL) / ln(that) steps. Measured against the real depth at d = 4, 16 and 32, the guess is within
    1.5x but for one sample in thirty; with a quarter more for luck, the first history that long, but never
    past the second (a sample that needs the longest is rare and pays a retry). At most `available` - 1
    (the history that already reaches the epoch's start)."""
    from .exact_batch import REL_TOL

    rate = float(np.max(np.abs(np.linalg.eigvals(np.asarray(W, np.float64)[:, 2:])))
                 * np.mean(1.0 - np.square(np.asarray(state, np.float64))))
    reach = 1.25 * np.log(REL_TOL) / np.log(rate) if 0 < rate < 1 else np.inf
    first = 0 if reach <= histories[0] else min(1, len(histories) - 1)
    return min(first, available - 1)


def use_compiled(cfg: RunConfig) -> float:
    """From now on compute samples with compiled programs where they are built (a long-lived server), and
    build those of `cfg`'s shapes now, all three histories: a class's 600 samples include a few that go
    back 1,000 steps, and that program's compile in the middle of the class cost 0.25 s of CPU per Train
    at 30 students. Other shapes compile in the background the first time a run of them is sampled
    (exact_batch_xla.py). Returns the seconds that took."""
    from . import exact_batch_xla
    from .exact_batch import BATCH

    t0 = time.perf_counter()
    exact_batch_xla.enable()
    for K in HISTORIES:
        exact_batch_xla.compile_now(BATCH, min(ROWS, cfg.batch_size), K, cfg.truncation, cfg.state_size)
    return time.perf_counter() - t0


def _settle(job: Future, grace: float) -> None:
    """Wait up to `grace` seconds for `job` (its errors surface where its samples are read)."""
    if grace > 0:
        wait_for([job], timeout=grace)


def for_run(cfg: RunConfig, total_steps: int) -> GradientSampler | None:
    """The sampler a truncated run gets (None for the online styles, which do not truncate)."""
    return None if cfg.online or total_steps < 1 else GradientSampler(cfg, total_steps)
