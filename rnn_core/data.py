"""Echo-sequence tasks, CSV sequences, batching into windows, and exact loss baselines.

A task says P(Y_t = 1) = clip(base + sum_i e_i * X_{t - L_i}, 0, 1) with X_t ~ Bernoulli(q).
R2RT part I: lags (3, 8), effects (+0.5, -0.25), base 0.5, q 0.5.
Hallstrom's pure echo: one lag (the echo step), effect 1, base 0, so y_t = x_{t - s} exactly.
"""
from __future__ import annotations

import copy
import io
import itertools
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import BOUNDS, RunConfig

MAX_FILE_STEPS = int(BOUNDS["series_length"].high)
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class EchoTask:
    """A synthetic echo task: lags, their effects, base probability and input probability."""

    lags: tuple[int, ...]
    effects: tuple[float, ...]
    base_prob: float = 0.5
    input_prob: float = 0.5

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(Y_t = 1) for every t of a 0/1 series x (inputs before t = 0 count as 0).

        Looked up: each t's lagged inputs index a table of the 2^|L| probabilities, which are computed with
        the same float64 operations in the same order as summing the effects over the whole series would
        (base, plus each lag's effect times its bit, clipped), so the values are bit for bit those sums.
        """
        kind = np.min_scalar_type((1 << len(self.lags)) - 1)  # uint8 up to 8 lags (config.MAX_LAGS)
        pattern = np.zeros(np.shape(x), kind)  # bit i: X_{t - L_i}
        bits = np.asarray(x).astype(kind)
        for i, lag in enumerate(self.lags):
            pattern[lag:] |= bits[:-lag] << kind.type(i)
        return self.pattern_table()[pattern]

    def pattern_table(self) -> np.ndarray:
        """P(Y = 1) for each pattern j of the lagged inputs (bit i of j: X_{t - L_i}), float64 [2^|L|]."""
        bits = np.arange(1 << len(self.lags))
        p = np.full(bits.shape, self.base_prob, dtype=np.float64)
        for i, effect in enumerate(self.effects):
            p += effect * ((bits >> i) & 1).astype(np.int8)
        return np.clip(p, 0.0, 1.0)

    def generate(self, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A fresh series (x, y) of 0/1 int8 arrays of the given length.

        The same values as `(rng.random(length) < q).astype(np.int8)`, then the same for y against P(Y_t = 1),
        and `rng` left where those two draws leave it. A long series from a generator that can jump ahead
        (NumPy's default, PCG64) is drawn in two halves at once, the second on a helper thread from a copy of
        the generator advanced to its first draw (NumPy draws and compares without Python's lock): 1.4-1.9x faster
        at the default million steps on two cores, the same bits. The uniforms go into reused buffers
        (`_uniforms`), which saves a new 8 MB array's page faults twice per million steps.
        """
        x, y = np.empty(length, np.int8), np.empty(length, np.int8)
        bits = rng.bit_generator
        if length < SPLIT_FROM or not hasattr(bits, "advance"):
            self._draw_part(rng, length, 0, length, x, y)
            return x, y
        middle = length // 2
        later = copy.deepcopy(rng)
        later.bit_generator.advance(middle - self._context(middle))
        second = _HALVES.submit(self._draw_part, later, length, middle, length, x, y)
        self._draw_part(rng, length, 0, middle, x, y)  # leaves rng at draw length + middle
        second.result()
        bits.advance(length - middle)  # where drawing the whole series would have left it
        return x, y

    def _context(self, start: int) -> int:
        """How many inputs before `start` a part starting there draws again: those its first steps lag."""
        return min(start, max(self.lags))

    def _draw_part(self, rng: np.random.Generator, length: int, start: int, stop: int,
                   x: np.ndarray, y: np.ndarray) -> None:
        """Fill x[start:stop] and y[start:stop] from `rng`, which stands `_context(start)` draws before `start`.

        The inputs before `start` are drawn again, for the probabilities of the part's first steps: the same
        draws (and so the same inputs) the part before this one makes. Leaves `rng` at draw length + stop."""
        before = self._context(start)
        with _uniforms(stop - start + before) as u:
            rng.random(out=u)
            inputs = (u < self.input_prob).view(np.int8)
            x[start:stop] = inputs[before:]
            p = self.probability(inputs)[before:]
            if length + start > stop:
                rng.bit_generator.advance(length + start - stop)  # from draw stop to length + start: y's part
            rng.random(out=u[: stop - start])
            np.less(u[: stop - start], p, out=y[start:stop].view(np.bool_))

    def conditional_table(self) -> list[tuple[tuple[int, ...], float]]:
        """Every combination of the lagged inputs with its P(Y = 1), lags in the task's order."""
        rows = []
        for bits in itertools.product((0, 1), repeat=len(self.lags)):
            p = self.base_prob + sum(e * b for e, b in zip(self.effects, bits))
            rows.append((bits, min(1.0, max(0.0, p))))
        return rows


SPLIT_FROM = 100_000  # a series at least this long is drawn in two halves at once (`EchoTask.generate`)
_HALVES = ThreadPoolExecutor(2, thread_name_prefix="series-half")  # second halves; a server generates a few at once
KEPT_UNIFORMS = 4  # buffers kept for reuse: a server's runs generate from a few threads at once, two halves each
KEPT_UNIFORMS_SIZE = 1_000_000  # the largest buffer kept (8 MB); a longer series draws into a new one
_kept: list[np.ndarray] = []
_kept_lock = threading.Lock()


@contextmanager
def _uniforms(length: int) -> Iterator[np.ndarray]:
    """A float64 buffer of `length` for one generation at a time: a kept one if one is free and long enough."""
    with _kept_lock:
        buffer = next((b for b in _kept if b.size >= length), None)
        if buffer is not None:
            _kept.remove(buffer)
    if buffer is None:
        buffer = np.empty(length if length > KEPT_UNIFORMS_SIZE else KEPT_UNIFORMS_SIZE)
    try:
        yield buffer[:length]
    finally:
        if buffer.size <= KEPT_UNIFORMS_SIZE:
            with _kept_lock:
                if len(_kept) < KEPT_UNIFORMS:
                    _kept.append(buffer)


R2RT = EchoTask(lags=(3, 8), effects=(0.5, -0.25), base_prob=0.5, input_prob=0.5)


def task_for(cfg: RunConfig) -> EchoTask | None:
    """The generated task a config names, or None for a file sequence."""
    if cfg.task == "r2rt":
        return R2RT
    if cfg.task == "echo":
        return EchoTask(lags=(cfg.echo_step,), effects=(1.0,), base_prob=0.0, input_prob=cfg.input_prob)
    if cfg.task == "custom":
        return EchoTask(tuple(cfg.lags), tuple(cfg.effects), cfg.base_prob, cfg.input_prob)
    return None


def _entropy_terms(p_true: float, p_model: float) -> float:
    """Cross-entropy in nats of a Bernoulli(p_true) target under a Bernoulli(p_model) prediction."""
    total = 0.0
    for p, q in ((p_true, p_model), (1.0 - p_true, 1.0 - p_model)):
        if p > 0.0:
            total -= p * math.log(q) if q > 0.0 else math.inf
    return total


def baselines(task: EchoTask) -> list[float]:
    """Exact expected cross-entropy of the best predictor knowing the k shortest lags, k = 0..len(lags).

    Enumerates all 2^|L| combinations of lagged inputs; p_k = E[p_true | the k shortest lags].
    """
    order = np.argsort(task.lags)
    lags = [task.lags[i] for i in order]
    effects = [task.effects[i] for i in order]
    q = task.input_prob
    combos = []
    for bits in itertools.product((0, 1), repeat=len(lags)):
        weight = math.prod(q if b else 1.0 - q for b in bits)
        p = min(1.0, max(0.0, task.base_prob + sum(e * b for e, b in zip(effects, bits))))
        combos.append((bits, weight, p))
    out = []
    for k in range(len(lags) + 1):
        groups: dict[tuple[int, ...], list[tuple[float, float]]] = {}
        for bits, weight, p in combos:
            groups.setdefault(bits[:k], []).append((weight, p))
        loss = 0.0
        for members in groups.values():
            mass = sum(w for w, _ in members)
            if mass == 0.0:
                continue
            p_k = sum(w * p for w, p in members) / mass
            loss += sum(w * _entropy_terms(p, p_k) for w, p in members if w > 0.0)
        out.append(loss)
    return out


def baseline_labels(task: EchoTask) -> list[str]:
    """Human labels for `baselines(task)`: 'learns nothing', 'learns lag 3', 'learns all lags'."""
    lags = sorted(task.lags)
    labels = ["learns nothing"]
    for k in range(1, len(lags) + 1):
        if k == len(lags) and k > 1:
            labels.append("learns both" if k == 2 else "learns all lags")
        else:
            labels.append("learns lag " + ", ".join(str(lag) for lag in lags[:k]))
    return labels


def task_baselines(cfg: RunConfig) -> tuple[list[float], list[str]]:
    """The exact baselines of a config's task and their labels (both empty for a file sequence)."""
    task = task_for(cfg)
    return (baselines(task), baseline_labels(task)) if task is not None else ([], [])


def load_sequence_csv(source: str | Path | bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read a user's sequence: a header line `x,y`, then one 0/1 pair per line.

    Raises ValueError with the line number and what is wrong for a malformed file.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"data file {str(path)!r} does not exist")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"data file is too large ({path.stat().st_size:,} bytes; at most {MAX_FILE_BYTES:,})")
        raw = path.read_bytes()
    else:
        raw = bytes(source)
        if len(raw) > MAX_FILE_BYTES:
            raise ValueError(f"data file is too large ({len(raw):,} bytes; at most {MAX_FILE_BYTES:,})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("data file is not UTF-8 text; expected a CSV with header x,y") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError("data file is empty; expected a header line x,y and one 0/1 pair per line")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if header != ["x", "y"]:
        raise ValueError(f"data file header is {lines[0].strip()!r}; expected exactly the two columns x,y")
    body = lines[1:]
    if not body:
        raise ValueError("data file has a header but no rows")
    if len(body) > MAX_FILE_STEPS:
        raise ValueError(f"data file has {len(body):,} rows; at most {MAX_FILE_STEPS:,} are allowed")
    try:
        arr = np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        arr = None
    if arr is None or arr.shape[1] != 2 or arr.shape[0] != len(body):
        for number, line in enumerate(body, start=2):
            parts = line.split(",")
            if len(parts) != 2:
                raise ValueError(f"data file line {number}: {line.strip()!r} does not have 2 columns")
            for part in parts:
                if part.strip() not in ("0", "1"):
                    raise ValueError(f"data file line {number}: {part.strip()!r} is not 0 or 1")
        raise ValueError("data file could not be read as x,y pairs")
    bad = np.argwhere((arr != 0) & (arr != 1))
    if bad.size:
        row, col = bad[0]
        raise ValueError(f"data file line {row + 2}: {'xy'[col]} = {body[row].split(',')[col].strip()!r} is not 0 or 1")
    return arr[:, 0].astype(np.int8), arr[:, 1].astype(np.int8)


def to_csv(x: np.ndarray, y: np.ndarray) -> str:
    """The CSV text `load_sequence_csv` reads."""
    return "x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x.tolist(), y.tolist()))


def batch_rows(x: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut a series row-major into batch_size rows of floor(T / B) steps (row i = i-th contiguous block)."""
    length = len(x) // batch_size
    return np.ascontiguousarray(x[: batch_size * length].reshape(batch_size, length))


def epoch_data(cfg: RunConfig, epoch: int,
               sequence: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) rows [B, L] of one epoch: fresh seeded data for generated tasks, the file otherwise."""
    task = task_for(cfg)
    if task is None:
        if sequence is None:
            raise ValueError("task 'file' needs a sequence (load one with load_sequence_csv)")
        x, y = sequence
    else:
        rng = np.random.default_rng([cfg.seed, epoch, 7919])
        x, y = task.generate(cfg.series_length, rng)
    xb, yb = batch_rows(x, cfg.batch_size), batch_rows(y, cfg.batch_size)
    if xb.shape[1] < cfg.truncation:
        raise ValueError(
            f"the sequence has {len(x)} steps: too short for batch_size={cfg.batch_size} rows of at least "
            f"n={cfg.truncation} steps; use a smaller batch size or n"
        )
    return xb, yb
