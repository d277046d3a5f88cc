"""Many full-gradient samples at once, in NumPy: each with its own weights, window and carried state.

The full-gradient sampler's arithmetic (rnn_core/sampling.py). `exact.full_gradient_comparison` is
the definition, one window per XLA-compiled call; this computes the same numbers for N samples
stacked on a leading axis, so each of the ~K sequential time steps does N samples' work in a few
NumPy calls. In NumPy because a compiled program's compile costs seconds of CPU for every new shape
(and every new process: each CLI run), while a run's 20 samples here cost about 7 ms at the defaults
(bench/exact_sampling.py); float32 like the trainer, so the backward pass underflows where the
trainer's would. A long-lived server computes the same pass as XLA programs (exact_batch_xla.py):
about as fast alone (6 ms), but they run without the GIL, and with thirty sessions training NumPy's
many small calls cost 0.14 s of server CPU per Train where the compiled calls cost next to nothing.
Products are `matmul`s and the softmax goes column by column: NumPy's einsum and its reductions over
an axis of length 2 are ten times slower on arrays this small.

Per sample i (weights theta_i, window start w_i, carried state S0_i): the history is the K time
steps before the window (fewer when the epoch began later: the state is zero before its first
step), the window's n steps follow. The exact gradient backpropagates the window's trained
losses through the window and the whole history; the truncated one starts the window from
S0_i, the state the run carried in, and stops at the window's start. Same definitions as
`exact.full_gradient_comparison` and `exact.gradient_flow` (tests check they agree).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BatchItem:
    """One sample's inputs."""

    params: list[np.ndarray]  # W [d, 2+d], b_s [d], U [2, d], b_p [2]
    slab: np.ndarray  # int8 [B, K + n] x + 2 y: K history columns (zero-padded on the left), then the window
    begin: int  # first real history column (K - available history)
    mask: np.ndarray  # [n] 1 for trained positions
    first_state: np.ndarray  # [B, d] the state the run carried into the window


@dataclass
class BatchResult:
    """One sample's comparison numbers."""

    cosine_all: float
    cosine_W_s: float
    rel_error: float
    history_steps: int  # time steps the exact gradient's backward pass went through (window included)


REL_TOL = float(np.finfo(np.float32).eps)  # the backward pass stops once the error it sends left is this small
# relative to what the window sent: below it no float32 sum of the gradient changes (exact.py's `tolerance`)
CHUNK = 16  # time steps a product of the backward pass's sums covers
BATCH = 20  # samples stacked in one pass: a run's whole plan (sampling.SAMPLES)
def _one_hot(bits: np.ndarray) -> np.ndarray:
    """0/1 -> [1, 0] / [0, 1] on a new last axis (float32)."""
    return np.stack([1.0 - bits, bits], axis=-1).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over a last axis of two (the model's two classes), column by column: the floats of the
    textbook form (max, exp, sum, divide), without NumPy's slow reductions over an axis of length 2."""
    z0, z1 = z[..., 0], z[..., 1]
    top = np.maximum(z0, z1)
    e0, e1 = np.exp(z0 - top), np.exp(z1 - top)
    total = e0 + e1
    return np.stack([e0 / total, e1 / total], axis=-1)


def _sum_outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum over time and rows of a b^T per sample: [T, N, B, i] x [T, N, B, j] -> [N, i, j]."""
    N = a.shape[1]
    A = a.transpose(1, 0, 2, 3).reshape(N, -1, a.shape[3])
    Bm = b.transpose(1, 0, 2, 3).reshape(N, -1, b.shape[3])
    return np.matmul(A.transpose(0, 2, 1), Bm)


def _batched(W, b_s, U, b_p, slab, begin, mask, S0):
    """Both gradients of every sample, and how far back the exact one's backward pass went (float32).

    W [N, d, 2+d], b_s [N, d], U [N, 2, d], b_p [N, 2], slab int8 [N, B, K+n], begin [N], mask [N, n],
    S0 [N, B, d].
    """
    N, B, T = slab.shape
    n = mask.shape[1]
    K = T - n
    cols = slab.astype(np.int32).transpose(2, 0, 1)  # [K+n, N, B]
    d = W.shape[1]
    W_s = W[:, :, 2:]
    W_sT = np.ascontiguousarray(W_s.transpose(0, 2, 1))
    U_T = np.ascontiguousarray(U.transpose(0, 2, 1))  # [N, d, 2]
    base = W[:, :, 0] + b_s  # [N, d]: W_x X_t + b_s for X_t = 0, and for X_t = 1 below
    drive = np.stack([base, base + (W[:, :, 1] - W[:, :, 0])], axis=1)[np.arange(N)[None, :, None], cols & 1]
    live = (np.arange(T)[:, None] >= begin[None, :]).astype(np.float32)[:, :, None, None]  # [T, N, 1, 1]
    last_dead = int(begin.max())  # before this column some sample's history has not begun (its state stays 0)

    def cell(S, t, out=None):
        z = np.matmul(S, W_sT, out=out)
        z += drive[t]
        return np.tanh(z, out=z)

    states = np.empty((K, N, B, d), np.float32)  # S_t of the history, each written once below
    S = np.zeros_like(S0)
    for t in range(K):  # each state straight into its slot: no copies in the loop
        S = cell(S, t, out=states[t])
        if t < last_dead:
            S *= live[t]
    weight = (mask / mask.sum(axis=1, keepdims=True)).T  # [n, N]

    def window(S_first):
        S_win, S = [], S_first
        for j in range(n):
            S = cell(S, K + j)
            S_win.append(S)
        S_win = np.stack(S_win)  # [n, N, B, d]
        logits = np.matmul(S_win, U_T) + b_p[None, :, None]  # [n, N, B, 2] (matmul: einsum is 10x slower here)
        dP = (_softmax(logits) - _one_hot(cols[K:] >> 1)) * (weight / B)[:, :, None, None]
        dS_loc = np.matmul(dP, U)  # [n, N, B, d]
        dZ, nxt = np.empty_like(S_win), np.zeros_like(S_first)
        for j in reversed(range(n)):
            nxt = dZ[j] = (dS_loc[j] + np.matmul(nxt, W_s)) * (1.0 - S_win[j] * S_win[j])
        prev = np.concatenate([S_first[None], S_win[:-1]], axis=0)
        H = np.concatenate([_one_hot(cols[K:] & 1), prev], axis=3)  # [n, N, B, 2+d]
        grads = [_sum_outer(dZ, H), dZ.sum(axis=(0, 2)), _sum_outer(dP, S_win), dP.sum(axis=(0, 2))]
        return grads, np.matmul(dZ[0], W_s)  # dL/dS_{K-1}

    truncated, _ = window(S0)
    exact_win, dS = window(S)
    depth = np.zeros(N, np.int64)
    limit = REL_TOL**2 * np.einsum("nbd,nbd->n", dS, dS)
    alive = np.ones(N, bool)  # a sample stops for good at its first step below the limit
    dZs = []  # dL/dZ_t for t = K-1, K-2, ... as far as the backward pass goes
    t = K - 1
    while t >= 0:  # until every sample's error is below float32 precision of where it started, or the history ends
        alive &= np.einsum("nbd,nbd->n", dS, dS) > limit
        if not alive.any():
            break
        slope = 1.0 - states[t] * states[t]  # dS_t/dZ_t
        if t < last_dead:
            slope *= live[t]  # zero before a sample's history begins
        if not alive.all():
            slope *= alive[:, None, None]  # a stopped sample adds exact zeros from here: its numbers are the
            # floats it gets alone, whichever samples share its batch (and however long they go on)
        dZ = dS * slope
        dZs.append(dZ)
        depth += alive & (t >= begin)
        dS = np.matmul(dZ, W_s)
        t -= 1
    low = t + 1  # the backward pass reached state `low`; the steps before it add nothing
    if dZs:  # the sums over time and rows, as matmuls over CHUNK steps at a time (time running backwards from
        # the window, zero-padded): each chunk's product has the same shape and a stopped sample's chunks after its
        # numbers are zeros, so its sums are the floats it gets alone (a BLAS product's rounding hangs on its length)
        L = K - low
        C = -(-L // CHUNK)
        dZ_all = np.zeros((N, C * CHUNK, B, d), np.float32)  # t = K-1 down to low, then zeros
        dZ_all[:, :L] = np.stack(dZs, axis=1)
        H = np.zeros((N, C * CHUNK, B, 3 + d), np.float32)  # 1, X_t one-hot, then S_{t-1} (zero before the history)
        x = (cols[K - 1 : low - 1 if low > 0 else None : -1] & 1).transpose(1, 0, 2)
        H[:, :L, :, 0], H[:, :L, :, 1], H[:, :L, :, 2] = 1, 1 - x, x
        if low > 0:
            H[:, :L, :, 3:] = states[K - 2 : low - 2 if low > 1 else None : -1].transpose(1, 0, 2, 3)
        else:
            H[:, : L - 1, :, 3:] = states[K - 2 :: -1].transpose(1, 0, 2, 3)
        rows = dZ_all.reshape(N, C, CHUNK * B, d).transpose(0, 1, 3, 2)
        parts = np.matmul(rows, H.reshape(N, C, CHUNK * B, 3 + d))  # [N, C, d, 3 + d]
        total = parts[:, 0]
        for c in range(1, C):  # in order: the zeros a stopped sample's later chunks add change nothing
            total = total + parts[:, c]
        gb, gW = total[:, :, 0], total[:, :, 1:]
    else:
        gW, gb = np.zeros_like(exact_win[0]), np.zeros_like(exact_win[1])
    exact = [exact_win[0] + gW, exact_win[1] + gb, exact_win[2], exact_win[3]]
    return exact, truncated, depth


def flow_norms(params, slab: np.ndarray, begin: int, n: int, extra: int) -> np.ndarray:
    """||dL_p/dS_s|| [n losses, extra + n states] of one sample: its window's n per-position batch-mean
    losses (the window is the slab's last n columns), backpropagated side by side from the window's last
    state to `extra` states left of it; states are recomputed from zero at column `begin` (float32).
    Columns before `begin` are meaningless (the caller drops them), as in `exact.gradient_flow`."""
    W, b_s, U, b_p = (np.asarray(p, np.float32) for p in params)
    B, T = slab.shape
    K, d = T - n, W.shape[0]
    cols = slab.astype(np.int32)
    W_s, base, diff = W[:, 2:], W[:, 0] + b_s, W[:, 1] - W[:, 0]
    drive = base + (cols.T & 1).astype(np.float32)[..., None] * diff  # [T, B, d]
    W_sT = np.ascontiguousarray(W_s.T)
    S_all = np.zeros((T, B, d), np.float32)
    S = np.zeros((B, d), np.float32)
    for t in range(begin, T):
        S = np.matmul(S, W_sT)
        S += drive[t]
        S_all[t] = S = np.tanh(S, out=S)
    S_win = S_all[K:]  # [n, B, d]
    err = _softmax(S_win @ U.T + b_p) - _one_hot((cols[:, K:] >> 1).T)
    seeds = err @ U / B  # the local part of dL_p/dS_p
    width = extra + n
    norms = np.zeros((width, n), np.float32)
    carry = np.zeros((n, B, d), np.float32)
    for j in range(width):
        s = K + n - 1 - j
        if j < n:
            carry[n - 1 - j] += seeds[n - 1 - j]
        norms[width - 1 - j] = np.sqrt((carry * carry).sum(axis=(1, 2)))
        S_s = S_all[max(s, 0)]
        carry = np.matmul(carry * (1.0 - S_s * S_s)[None], W_s)  # dL_p/dS_{s-1}
    return norms.T


def _cosines(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise cosine of [N, P] arrays (NaN where a row is zero)."""
    den = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.einsum("np,np->n", u, v) / den, np.nan)


def _arrays(items: list[BatchItem]) -> tuple[np.ndarray, ...]:
    """The batch's inputs stacked on a leading axis: W, b_s, U, b_p, slab, begin, mask, S0."""
    stack = [np.stack([np.asarray(it.params[k], np.float32) for it in items]) for k in range(4)]
    return (*stack, np.stack([it.slab for it in items]), np.array([it.begin for it in items]),
            np.stack([it.mask for it in items]).astype(np.float32),
            np.stack([np.asarray(it.first_state, np.float32) for it in items]))


def _call(items: list[BatchItem]) -> list[BatchResult]:
    from . import exact_batch_xla  # a server's compiled programs (padded to BATCH samples), else None

    n = len(items[0].mask)
    compiled = None
    if exact_batch_xla.enabled():
        compiled = exact_batch_xla.run(*_arrays(items + [items[-1]] * (BATCH - len(items))))
    if compiled is not None:
        exact, truncated = [[g[: len(items)] for g in part] for part in compiled[:2]]
        depth = compiled[2][: len(items)]
    else:
        exact, truncated, depth = _batched(*_arrays(items))
    N = len(items)
    e = np.concatenate([g.reshape(N, -1) for g in exact], axis=1).astype(np.float64)  # [N, all weights]
    t = np.concatenate([g.reshape(N, -1) for g in truncated], axis=1).astype(np.float64)
    e_s = exact[0][:, :, 2:].reshape(N, -1).astype(np.float64)  # W_s alone
    t_s = truncated[0][:, :, 2:].reshape(N, -1).astype(np.float64)
    cos_all, cos_s = _cosines(t, e), _cosines(t_s, e_s)
    norm = np.linalg.norm(e, axis=1)
    err = np.linalg.norm(t - e, axis=1)
    return [BatchResult(cosine_all=float(cos_all[i]), cosine_W_s=float(cos_s[i]),
                        rel_error=float(err[i] / norm[i]) if norm[i] > 0 else float("nan"),
                        history_steps=int(depth[i]) + n) for i in range(N)]


def compare_many(items: list[BatchItem], batch: int = BATCH) -> list[BatchResult]:
    """Exact vs truncated gradient for every item, `batch` items a call.

    Items must share B, K, n and d.
    """
    if not items:
        return []
    shapes = {(it.slab.shape, len(it.mask), it.params[0].shape) for it in items}
    if len(shapes) != 1:
        raise ValueError(f"compare_many: the items differ in shape ({sorted(map(str, shapes))})")
    out: list[BatchResult] = []
    for i in range(0, len(items), batch):
        out += _call(items[i : i + batch])
    return out
