"""The exact gradient beside the truncated one: full-history gradients and the loss-by-state flow matrix.

What "exact" means while the weights move: the gradient, at the current weights theta, of the
window's trained losses (mean over batch and trained positions, as the trainer trains them) with
every state recomputed under theta from the last zero state (the epoch start) and the error
backpropagated through the whole recomputed history; `history` caps how far back (K steps before
the window start; the error reaching S_{start-K-1} is dropped). This is the definition of
Aicher et al. (arXiv 1905.07473). The truncated gradient is taken at the same theta from the
window's first state: the state the run actually carried into the window when the caller passes
it (the gradient that trained the step), else the recomputed S_{start-1} (then the two differ by
the cut alone).

One XLA program per (B, history capacity, d, n, extra) runs the forward pass over the history, one
backward pass that yields both gradients (the exact one sums each position's weight gradient over
the whole history, the truncated one over the window), the window again from the carried state when
given, and the flow matrix ||dL_t/dS_s|| of the window's n losses over the window and `extra`
states to its left, all n losses backpropagated side by side.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .model import Params

CAPACITY_STEP = 1024  # history capacities are multiples of this: one program serves a range of lengths


@dataclass
class GradientComparison:
    """Full-history gradient vs truncated gradient of one window's trained losses, at the same weights."""

    cosine_all: float  # over W, b_s, U, b_p together
    cosine_W_s: float  # over the recurrent block W[:, 2:] alone
    rel_error: float  # |g_trunc - g_exact| / |g_exact|, all weights
    history_steps: int  # time steps backpropagated by the exact gradient
    exact: list[np.ndarray]  # [dW, db_s, dU, db_p]
    truncated: list[np.ndarray]


@dataclass
class GradientFlow:
    """||dL_t/dS_s|| for a window's trained losses t and states s reaching `extra` steps left of it."""

    matrix: np.ndarray  # [trained losses, states] float64; 0 where s > t
    loss_positions: np.ndarray  # [rows] time index of each trained loss
    state_positions: np.ndarray  # [cols] time index of each state, oldest first
    window_start: int  # first state position inside the window
    truncation_mask: np.ndarray  # [rows, cols] bool: the entries the truncated gradient used
    kept_share: float  # share of the summed norms that lies inside what truncation kept


def trained_positions(n: int, k1: int, first_window: bool) -> np.ndarray:
    """Window positions whose losses are trained: the last k1, all n in an epoch's first window."""
    return np.arange(0 if first_window else n - k1, n)


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    denominator = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v) / denominator if denominator > 0 else float("nan")


class _Program:
    """The compiled forward/backward over one history capacity."""

    def __init__(self, batch_size: int, capacity: int, d: int, n: int, extra: int):
        self.shape = (batch_size, capacity, d, n, extra)
        self.fn = tf.function(self._run, jit_compile=True, reduce_retracing=False)

    def _run(self, W, b_s, U, b_p, slab, begin, start, mask, first_state, use_given):
        B, L, d, n, extra = self.shape
        slab = tf.cast(slab, tf.int32)
        X = tf.one_hot(tf.transpose(tf.bitwise.bitwise_and(slab, 1)), 2)  # [L, B, 2]
        Y = tf.one_hot(tf.transpose(tf.bitwise.right_shift(slab, 1)), 2)
        end = start + n
        W_x, W_s = W[:, :2], W[:, 2:]
        drive = tf.einsum("lbk,dk->lbd", X, W_x) + b_s  # W_x X_t + b_s  [L, B, d]
        zeros = tf.zeros([B, d])

        def forward(t, S, states):
            S = tf.tanh(drive[t] + tf.matmul(S, W_s, transpose_b=True))
            return t + 1, S, states.write(t, S)

        _, _, states = tf.while_loop(
            lambda t, *_: t < end, forward, (tf.constant(0), zeros, tf.TensorArray(tf.float32, size=L)),
        )
        S_all = states.stack()  # [L, B, d]; zero beyond `end`
        weight = tf.scatter_nd(tf.reshape(start + tf.range(n), [n, 1]), mask / tf.reduce_sum(mask), [L])
        probs = tf.nn.softmax(tf.einsum("lbd,kd->lbk", S_all, U) + b_p)
        err = probs - Y  # dL_t/dP_t of the batch-summed loss  [L, B, 2]
        dP = err * (weight / B)[:, None, None]
        dS_local = tf.einsum("lbk,kd->lbd", dP, U)
        tanh_grad = 1.0 - S_all * S_all

        def backward(t, carry, dZ):
            dZ_t = (dS_local[t] + carry) * tanh_grad[t]
            return t - 1, tf.matmul(dZ_t, W_s), dZ.write(t, dZ_t)

        _, _, dZ_ta = tf.while_loop(
            lambda t, *_: t >= begin, backward, (end - 1, zeros, tf.TensorArray(tf.float32, size=L)),
        )
        dZ = dZ_ta.stack()  # [L, B, d]; zero outside [begin, end)
        S_prev = tf.concat([zeros[None], S_all[:-1]], axis=0)
        H = tf.concat([X, S_prev], axis=2)  # (X_t || S_{t-1})
        exact = [tf.einsum("lbi,lbj->ij", dZ, H), tf.reduce_sum(dZ, [0, 1]),
                 tf.einsum("lbk,lbd->kd", dP, S_all), tf.reduce_sum(dP, [0, 1])]
        truncated = self._window(W_s, drive, X, U, b_p, Y, weight, start, n,
                                 tf.where(use_given, first_state, tf.gather(S_prev, start)))
        flow = self._flow(W_s, U, err, tanh_grad, start, n, extra)
        return exact, truncated, flow

    def _window(self, W_s, drive, X, U, b_p, Y, weight, start, n, S0):
        """The truncated gradient: the window alone from its first state S0."""
        idx = start + tf.range(n)
        dr, Xw, Yw, w = tf.gather(drive, idx), tf.gather(X, idx), tf.gather(Y, idx), tf.gather(weight, idx)
        B = self.shape[0]

        def cell(S, drive_t):
            return tf.tanh(drive_t + tf.matmul(S, W_s, transpose_b=True))

        S = tf.scan(cell, dr, initializer=S0)  # [n, B, d]
        dP = (tf.nn.softmax(tf.einsum("nbd,kd->nbk", S, U) + b_p) - Yw) * (w / B)[:, None, None]
        dS_local = tf.einsum("nbk,kd->nbd", dP, U)

        def back(carry, inputs):
            dZ_next, _ = carry
            dS_loc_t, S_t = inputs
            dZ_t = (dS_loc_t + tf.matmul(dZ_next, W_s)) * (1.0 - S_t * S_t)
            return dZ_t, dZ_t

        _, dZ = tf.scan(back, (dS_local, S), initializer=(tf.zeros_like(S0), tf.zeros_like(S0)), reverse=True)
        H = tf.concat([Xw, tf.concat([S0[None], S[:-1]], axis=0)], axis=2)
        return [tf.einsum("nbi,nbj->ij", dZ, H), tf.reduce_sum(dZ, [0, 1]),
                tf.einsum("nbk,nbd->kd", dP, S), tf.reduce_sum(dP, [0, 1])]

    def _flow(self, W_s, U, err, tanh_grad, start, n, extra):
        """||dL_t/dS_s|| [n losses, extra + n states], L_t the batch-mean loss at window position t."""
        B = self.shape[0]
        seeds = tf.einsum("nbk,kd->nbd", tf.gather(err, start + tf.range(n)), U) / B  # dL_t/dS_t local
        width = extra + n

        def step(j, carry, norms):
            s = start + n - 1 - j  # state position, walking left from the window's last state
            col = width - 1 - j
            # inside the window, the loss at position n - 1 - j starts here (one_hot of -1 is all zeros)
            carry = carry + tf.one_hot(n - 1 - j, n)[:, None, None] * tf.gather(seeds, tf.maximum(n - 1 - j, 0))[None]
            norms = norms.write(col, tf.sqrt(tf.reduce_sum(carry * carry, axis=[1, 2])))
            valid = s >= 0
            carry = tf.where(valid, tf.einsum("nbd,de->nbe", carry * tanh_grad[tf.maximum(s, 0)][None], W_s), carry)
            return j + 1, carry, norms

        _, _, norms = tf.while_loop(
            lambda j, *_: j < width, step,
            (tf.constant(0), tf.zeros([n, B, self.shape[2]]), tf.TensorArray(tf.float32, size=width)),
        )
        return tf.transpose(norms.stack())  # [n, width]


_PROGRAMS: dict[tuple[int, int, int, int, int], _Program] = {}
_LOCK = threading.Lock()


def _program(batch_size: int, length: int, d: int, n: int, extra: int) -> _Program:
    capacity = max(CAPACITY_STEP, -(-length // CAPACITY_STEP) * CAPACITY_STEP)
    key = (batch_size, capacity, d, n, extra)
    with _LOCK:
        if key not in _PROGRAMS:
            _PROGRAMS[key] = _Program(*key)
        return _PROGRAMS[key]


def _validate(params, x_hist, y_hist, window_start, n, k1) -> tuple[np.ndarray, int, int]:
    x_hist, y_hist = np.asarray(x_hist), np.asarray(y_hist)
    if x_hist.ndim != 2 or x_hist.shape != y_hist.shape:
        raise ValueError(f"x_hist and y_hist must be [B, T] arrays of the same shape, got {x_hist.shape} and {y_hist.shape}")
    B, T = x_hist.shape
    d = np.asarray(params[0]).shape[0]
    if not 1 <= k1 <= n:
        raise ValueError(f"k1 must be between 1 and n={n}, got {k1}")
    if window_start < 0 or window_start + n > T:
        raise ValueError(f"the window [{window_start}, {window_start + n}) does not fit in a history of {T} steps")
    return (x_hist.astype(np.int8) | (y_hist.astype(np.int8) << 1)), B, d


def _run(params, x_hist, y_hist, window_start, n, k1, first_window, first_state, history, extra):
    slab, B, d = _validate(params, x_hist, y_hist, window_start, n, k1)
    program = _program(B, window_start + n, d, n, extra)
    capacity = program.shape[1]
    padded = np.zeros((B, capacity), np.int8)
    padded[:, : window_start + n] = slab[:, : window_start + n]
    begin = 0 if history is None else max(0, window_start - int(history))
    mask = np.zeros(n, np.float32)
    mask[trained_positions(n, k1, first_window)] = 1.0
    given = first_state is not None
    S0 = np.zeros((B, d), np.float32) if not given else np.asarray(first_state, np.float32)
    W, b_s, U, b_p = (tf.constant(np.asarray(p, np.float32)) for p in params)
    exact, truncated, flow = program.fn(
        W, b_s, U, b_p, tf.constant(padded), tf.constant(begin), tf.constant(window_start),
        tf.constant(mask), tf.constant(S0), tf.constant(given),
    )
    return ([g.numpy().astype(np.float64) for g in exact], [g.numpy().astype(np.float64) for g in truncated],
            flow.numpy().astype(np.float64), window_start - begin + n, mask)


def full_gradient_comparison(
    params: Params,
    x_hist: np.ndarray,
    y_hist: np.ndarray,
    window_start: int,
    n: int,
    k1: int,
    first_window: bool,
    first_state: np.ndarray | None = None,
    history: int | None = None,
) -> GradientComparison:
    """Exact vs truncated gradient of the trained losses of the window [window_start, window_start + n).

    x_hist, y_hist: int [B, T], the epoch's rows from the last zero state (position 0) through at
    least the window's end. first_state [B, d]: the state the run carried into the window (None:
    recomputed under `params`). history: backpropagate at most this many steps before the window
    start (None: to the zero state).
    """
    exact, truncated, _, steps, _ = _run(params, x_hist, y_hist, window_start, n, k1, first_window,
                                         first_state, history, 0)
    e, t = np.concatenate([g.ravel() for g in exact]), np.concatenate([g.ravel() for g in truncated])
    norm = float(np.linalg.norm(e))
    return GradientComparison(
        cosine_all=_cosine(t, e),
        cosine_W_s=_cosine(truncated[0][:, 2:].ravel(), exact[0][:, 2:].ravel()),
        rel_error=float(np.linalg.norm(t - e)) / norm if norm > 0 else float("nan"),
        history_steps=steps, exact=exact, truncated=truncated,
    )


def gradient_flow(
    params: Params,
    x_hist: np.ndarray,
    y_hist: np.ndarray,
    window_start: int,
    n: int,
    k1: int,
    first_window: bool,
    extra: int | None = None,
) -> GradientFlow:
    """||dL_t/dS_s|| for the window's trained losses and states from `extra` (default n) steps left of it.

    States are recomputed under `params` from the zero state at position 0. Columns left of
    position 0 do not exist and are dropped. TF style's kept part is a triangle (s >= window start),
    Williams-Peng's with k1 < n a band.
    """
    extra = n if extra is None else int(extra)
    if extra < 0:
        raise ValueError(f"extra must be >= 0, got {extra}")
    _, _, flow, _, _ = _run(params, x_hist, y_hist, window_start, n, k1, first_window, None, 0, extra)
    rows = trained_positions(n, k1, first_window)
    cols = np.arange(window_start - extra, window_start + n)
    keep = cols >= 0
    matrix = flow[rows][:, keep]
    cols = cols[keep]
    loss_positions = window_start + rows
    causal = cols[None, :] <= loss_positions[:, None]
    matrix = np.where(causal, matrix, 0.0)
    kept = causal & (cols[None, :] >= window_start)
    total = matrix.sum()
    return GradientFlow(
        matrix=matrix, loss_positions=loss_positions, state_positions=cols, window_start=window_start,
        truncation_mask=kept, kept_share=float(matrix[kept].sum() / total) if total > 0 else float("nan"),
    )
