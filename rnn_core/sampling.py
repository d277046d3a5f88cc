"""Full-gradient sampling during a truncated run: how far the gradient that trained a step is from the exact one.

The sampler plans `SAMPLES` steps spread evenly over the run (the last is the run's last step, so
its window is the latest trained window). The trainer asks which planned steps a compiled call
will run (`planned_in`); the call keeps the weights and the carried state each of them trains with
(`kernels.Program.call`'s `sample_at`, no extra call), and the trainer hands them with the epoch's
rows to the sampler (`observe`): exactly what the step trained with. The
comparison itself is deferred and batched (`exact_batch.compare_many`, all pending samples in one
compiled call), run when a record of the run is made (`flush`): the CLI pays the fixed cost once,
the page once per redraw. `flush(wait=False)` hands the work to a background thread and returns
what is done.

The exact gradient backpropagates the window's trained losses through the history before the
window since the epoch's zero state (`exact.py` for the definition), recomputed from a zero state
HISTORY = 256 steps back. The backward pass stops once the error it sends left has fallen below
float32 precision of what the window sent (`exact_batch.REL_TOL`; tens to a couple of hundred steps
at R2RT's weights), and the recomputed states lose the wrong starting state as fast (the same
Jacobian products), so that equals the gradient since the zero state to float32 precision (tests
check it). A sample whose backward pass still ran at the history's start is recomputed with
LONG_HISTORY = 1,000 steps. The arithmetic is NumPy (`exact_batch.py`): no compile, in the app or in
a CLI process. Samples use the first ROWS = 32 batch rows (their trained losses,
truncated and exact): the arithmetic of a sample grows with rows x history, and all 200 rows x
1,000 steps for 20 samples is about four times a default epoch's training.

The gradient-flow matrix of the latest sample (`exact_batch.flow_norms`, the numbers of
`exact.gradient_flow`; same rows and history, 2n states left of the window) comes with each flush.
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
HISTORY = 256
LONG_HISTORY = 1000
ROWS = 32
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="full-gradient")


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
    item: Any  # exact_batch.BatchItem
    flow_inputs: tuple
    long: Any  # the same sample with LONG_HISTORY steps of history (a BatchItem), when the epoch is older than HISTORY


@dataclass
class GradientSampler:
    """Plans, observes and computes a run's full-gradient samples."""

    cfg: RunConfig
    total_steps: int
    samples: int = SAMPLES
    history: int = HISTORY
    rows: int = ROWS
    plan: list[int] = field(default_factory=list)
    records: list[Sample] = field(default_factory=list)
    flow: Any = None  # exact.GradientFlow of the latest computed sample
    flow_step: int | None = None
    seconds: float = 0.0  # time spent observing and computing samples
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
        K = self.history
        have = min(K, ws)
        R = min(self.rows, rows.shape[0])
        slab = np.zeros((R, K + n), np.int8)
        slab[:, K - have :] = rows[:R, ws - have : ws + n]
        weights = [np.array(p, np.float32) for p in weights]
        mask = loss_mask(n, k1, window == 0).astype(np.float32)
        sample = Sample(step=step, epoch=epoch, window=window)
        item = BatchItem(params=weights, slab=slab, begin=K - have, mask=mask,
                         first_state=np.array(state[:R], np.float32))
        long = None
        if ws > K:
            have_long = min(ws, LONG_HISTORY)
            long_slab = np.zeros((R, LONG_HISTORY + n), np.int8)
            long_slab[:, LONG_HISTORY - have_long :] = rows[:R, ws - have_long : ws + n]
            long = BatchItem(params=weights, slab=long_slab, begin=LONG_HISTORY - have_long, mask=mask,
                             first_state=item.first_state)
        with self._lock:
            self.records.append(sample)
            self._pending.append(Pending(sample, item, (weights, slab, K, n, k1, window == 0, have), long))
        self.seconds += time.perf_counter() - t0

    def _compute(self, batch: list[Pending]) -> None:
        from .exact import flow_result
        from .exact_batch import compare_many, flow_norms

        t0 = time.perf_counter()
        again = []
        for p, r in zip(batch, compare_many([p.item for p in batch])):
            p.sample.cosine_all, p.sample.cosine_W_s, p.sample.rel_error = r.cosine_all, r.cosine_W_s, r.rel_error
            p.sample.history_steps = r.history_steps
            if p.long is not None and r.history_steps >= self.history + len(p.item.mask):
                again.append(p)  # the error still travelled at the history's start: go back LONG_HISTORY steps
        for p, r in zip(again, compare_many([p.long for p in again])):
            p.sample.cosine_all, p.sample.cosine_W_s, p.sample.rel_error = r.cosine_all, r.cosine_W_s, r.rel_error
            p.sample.history_steps = r.history_steps
        for p in batch:
            p.sample.done = True
        weights, slab, K, n, k1, first, have = batch[-1].flow_inputs
        norms = flow_norms(weights, slab, K - have, n, extra=2 * n)
        self.flow = flow_result(norms.astype(np.float64), K, n, k1, first, 2 * n, have)
        self.flow_step = batch[-1].sample.step
        self.seconds += time.perf_counter() - t0

    def flush(self, wait: bool = True, grace: float = 0.0) -> None:
        """Compute the pending samples: now (`wait`), or on the background thread, returning once they are
        done or after `grace` seconds, whichever is first (a page waits a moment rather than redraw later)."""
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
            self._job = _WORKER.submit(self._compute, batch)
            _settle(self._job, grace)

    @property
    def busy(self) -> bool:
        """Whether samples are waiting or being computed."""
        return bool(self._pending) or (self._job is not None and not self._job.done())

    def done(self) -> list[Sample]:
        """The computed samples, in step order."""
        return sorted((s for s in self.records if s.done), key=lambda s: s.step)


def use_compiled(cfg: RunConfig) -> float:
    """From now on compute samples with compiled programs where they are built (a long-lived server), and
    build those of `cfg`'s shapes now (both histories); the seconds that took. Other shapes compile in the
    background the first time a run of them is sampled (exact_batch_xla.py)."""
    from . import exact_batch_xla
    from .exact_batch import BATCH

    t0 = time.perf_counter()
    exact_batch_xla.enable()
    for K in (HISTORY, LONG_HISTORY):
        exact_batch_xla.compile_now(BATCH, min(ROWS, cfg.batch_size), K, cfg.truncation, cfg.state_size)
    return time.perf_counter() - t0


def _settle(job: Future, grace: float) -> None:
    """Wait up to `grace` seconds for `job` (its errors surface where its samples are read)."""
    if grace > 0:
        wait_for([job], timeout=grace)


def for_run(cfg: RunConfig, total_steps: int) -> GradientSampler | None:
    """The sampler a truncated run gets (None for the online styles, which do not truncate)."""
    return None if cfg.online or total_steps < 1 else GradientSampler(cfg, total_steps)
