"""How fast a run's error fades going back through the window, and Pascanu's singular-value bound.

With S_t = tanh(W (X_t || S_{t-1}) + b_s), the last loss's error obeys
    dL_last/dS_t = (dL_last/dS_{t+1} * (1 - S_{t+1}^2)) W_s,
and |tanh'| <= 1, so ||dL_last/dS_t|| <= sigma_max(W_s) ||dL_last/dS_{t+1}|| at every step back
(Pascanu, Mikolov & Bengio 2013: sigma_max < 1 is sufficient for vanishing, > 1 necessary for exploding).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def step_factors(temporal: Sequence[float]) -> np.ndarray:
    """||dL_last/dS_t|| / ||dL_last/dS_{t+1}|| for t = 0..n-2: the factor the error changes by per step back."""
    g = np.asarray(temporal, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return g[:-1] / g[1:]


def mean_factor(temporal: Sequence[float]) -> float:
    """Geometric mean of `step_factors`: (||g_0|| / ||g_{n-1}||)^(1/(n-1)); NaN for n < 2 or a zero norm."""
    g = np.asarray(temporal, dtype=np.float64)
    if len(g) < 2 or not np.all(np.isfinite(g)) or g[0] <= 0 or g[-1] <= 0:
        return math.nan
    return float((g[0] / g[-1]) ** (1.0 / (len(g) - 1)))


def pascanu_bound(temporal: Sequence[float], sigma_max: float) -> np.ndarray:
    """The largest ||dL_last/dS_t|| the bound allows: ||dL_last/dS_{n-1}|| * sigma_max^(n-1-t)."""
    g = np.asarray(temporal, dtype=np.float64)
    n = len(g)
    return g[-1] * float(sigma_max) ** (n - 1 - np.arange(n)) if n else g


def steps_to_shrink(factor: float, by: float = 1e-3) -> float:
    """Steps back until a per-step factor < 1 has shrunk the error by `by`; inf when it does not shrink."""
    if not 0.0 < factor < 1.0:
        return math.inf
    return math.log(by) / math.log(factor)
