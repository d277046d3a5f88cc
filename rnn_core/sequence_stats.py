"""Statistics of a 0/1 sequence (x, y): its rates and how y_t depends on each earlier input x_{t-L}.

Used by the Data page to describe a generated sample or an uploaded file; plain NumPy, no UI.
"""
from __future__ import annotations

import numpy as np

from .data import EchoTask


def sample(task: EchoTask, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded sample of the task: x, y (0/1) and the true P(Y_t = 1), each of `length` steps."""
    rng = np.random.default_rng([seed, 524287])
    x, y = task.generate(length, rng)
    return x, y, task.probability(x)


def rates(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Length, P(x = 1) and P(y = 1) of a sequence."""
    return {"length": int(len(x)), "p_x": float(np.mean(x)) if len(x) else float("nan"),
            "p_y": float(np.mean(y)) if len(y) else float("nan")}


def lag_dependency(x: np.ndarray, y: np.ndarray, max_lag: int) -> list[dict[str, float]]:
    """For L = 1..max_lag: empirical P(y_t = 1 | x_{t-L} = 1), P(y_t = 1 | x_{t-L} = 0) and their difference.

    A lag whose difference stands well clear of zero (compare `stderr`) is one y depends on.
    Lags with no pairs of one kind get NaN.
    """
    x = np.asarray(x, dtype=np.int8)
    y = np.asarray(y, dtype=np.float64)
    rows = []
    for lag in range(1, max(0, min(max_lag, len(x) - 1)) + 1):
        past, now = x[:-lag], y[lag:]
        ones, zeros = now[past == 1], now[past == 0]
        p1 = float(ones.mean()) if ones.size else float("nan")
        p0 = float(zeros.mean()) if zeros.size else float("nan")
        both = ones.size and zeros.size
        se = float(np.sqrt(p1 * (1 - p1) / ones.size + p0 * (1 - p0) / zeros.size)) if both else float("nan")
        rows.append({"lag": lag, "p_given_1": p1, "p_given_0": p0, "difference": p1 - p0,
                     "stderr": se, "pairs_1": int(ones.size), "pairs_0": int(zeros.size)})
    return rows
