"""Largest singular values of the recurrent block W_s, the quantity Pascanu's bound is stated in."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

SUBSET_FROM_D = 48  # from this d on, only the top eigenvalue is computed (LAPACK dsyevr), one matrix a call
BEHIND_FROM_D = SUBSET_FROM_D  # from this d on, a trainer takes a chunk's norms behind its next call (`norms_behind`)

_BEHIND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigma-max")


def spectral_norms(recurrent: np.ndarray) -> np.ndarray:
    """Largest singular value of each d x d matrix in a stack [k, d, d] (float64); inf where not finite.

    The square root of the top eigenvalue of W_s^T W_s from LAPACK, in float64, where float32 weights
    cannot overflow. Run on the host on the W_s a compiled chunk recorded after each step (from
    `BEHIND_FROM_D` on, behind the next call: `norms_behind`): LAPACK on the host costs far less than an
    eigh inside the compiled step loop (bench/README.md has the numbers). Below `SUBSET_FROM_D` one
    batched `numpy.linalg.eigvalsh` (all eigenvalues) is cheapest; from it on, `_top_eigenvalues` asks
    dsyevr for the top one only: at d = 256, 4.1 -> 2.6 ms a matrix, equal to 1e-15.
    """
    stack = np.asarray(recurrent, dtype=np.float64)
    out = np.full(stack.shape[0], np.inf)
    finite = np.isfinite(stack).all(axis=(1, 2))
    if finite.any():
        good = stack[finite]
        if good.shape[-1] >= SUBSET_FROM_D:
            top = _top_eigenvalues(good)
        else:
            top = np.linalg.eigvalsh(np.matmul(good.transpose(0, 2, 1), good))[:, -1]
        out[finite] = np.sqrt(np.maximum(top, 0.0))
    return out


def _top_eigenvalues(stack: np.ndarray) -> np.ndarray:
    """Top eigenvalue of W^T W for each float64 W in a stack [k, d, d]: the Gram's lower triangle by
    dsyrk (half a matmul's work), then dsyevr for the largest eigenvalue alone (no full spectrum)."""
    from scipy.linalg import eigh
    from scipy.linalg.blas import dsyrk

    d = stack.shape[-1]
    top = np.empty(stack.shape[0])
    for i, w in enumerate(stack):
        gram = dsyrk(1.0, w, trans=1, lower=1)
        top[i] = eigh(gram, lower=True, eigvals_only=True, subset_by_index=[d - 1, d - 1], driver="evr",
                      overwrite_a=True, check_finite=False)[0]
    return top


def norms_behind(recurrent: np.ndarray) -> Future[np.ndarray]:
    """`spectral_norms(recurrent)` as float32, computed on the one sigma_max thread; the Future's result.

    A trainer hands a chunk's recorded W_s here and starts its next compiled call, which runs without
    Python's lock while LAPACK runs on the other core (at d = 256 about 2.6 ms a step that the XLA thread
    otherwise waited through). The values are the same floats as the direct call.
    """
    return _BEHIND.submit(lambda: spectral_norms(recurrent).astype(np.float32))


def settled(norms: np.ndarray | Future) -> np.ndarray:
    """The values of `spectral_norms` or of `norms_behind` (waiting for them if still being computed)."""
    return norms.result() if isinstance(norms, Future) else norms


def sigma_max(W) -> float:
    """Largest singular value of the recurrent block W_s = W[:, 2:]; inf once W_s is not finite."""
    W = np.asarray(W)
    return float(spectral_norms(W[None, :, 2:])[0])
