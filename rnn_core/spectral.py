"""Largest singular values of the recurrent block W_s, the quantity Pascanu's bound is stated in."""
from __future__ import annotations

import numpy as np


def spectral_norms(recurrent: np.ndarray) -> np.ndarray:
    """Largest singular value of each d x d matrix in a stack [k, d, d] (float64); inf where not finite.

    The square root of the top eigenvalue of W_s^T W_s from LAPACK (numpy.linalg.eigvalsh), in
    float64, where float32 weights cannot overflow. Run on the host after a compiled chunk on the
    W_s it recorded after each step: one batched LAPACK call costs far less than an eigh inside the
    compiled step loop (bench/README.md has the numbers).
    """
    stack = np.asarray(recurrent, dtype=np.float64)
    out = np.full(stack.shape[0], np.inf)
    finite = np.isfinite(stack).all(axis=(1, 2))
    if finite.any():
        good = stack[finite]
        gram = np.matmul(good.transpose(0, 2, 1), good)
        out[finite] = np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))
    return out


def sigma_max(W) -> float:
    """Largest singular value of the recurrent block W_s = W[:, 2:]; inf once W_s is not finite."""
    W = np.asarray(W)
    return float(spectral_norms(W[None, :, 2:])[0])
