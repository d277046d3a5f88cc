"""The exact gradient beside the truncated one: full-history gradients and the loss-by-state flow matrix.

What "exact" means while the weights move: the gradient, at the current weights theta, of the
window's trained losses (mean over batch and trained positions, as the trainer trains them) with
every state recomputed under theta from the last zero state (the epoch start) and the error
backpropagated through the whole recomputed history. `history` = K instead starts the history K
steps before the window from a zero state, as if the epoch had begun there (the issue asks for the
history since the last zero state or at least 1,000 steps): forward and backward then cost O(K),
not O(epoch so far). This is the exact gradient of Aicher et al. (arXiv 1905.07473).
The truncated gradient is taken at the same theta from the
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

from .backend import tf  # TensorFlow from one thread at a time
from .model import Params

MIN_CAPACITY = 1024  # capacities are powers of two from this: fewer compiles (5-10 s each), some work on padding


@dataclass
class GradientComparison:
    """Full-history gradient vs truncated gradient of one window's trained losses, at the same weights."""

    cosine_all: float  # over W, b_s, U, b_p together
    cosine_W_s: float  # over the recurrent block W[:, 2:] alone
    rel_error: float  # |g_trunc - g_exact| / |g_exact|, all weights
    history_steps: int  # time steps backpropagated by the exact gradient
    exact: list[np.ndarray]  # [dW, db_s, dU, db_p]
    truncated: list[np.ndarray]
    flow: GradientFlow | None = None  # the window's flow matrix, when asked for (flow_extra)


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


UNROLL = 1  # time steps per loop iteration; 4 and 8 compiled 2-3x slower and ran no faster (bench/README.md)


def _times_transpose(A, M):
    """A @ M^T for A [B, k], M [m, k]; for k <= 4 as k fused multiply-adds (a dot call costs more there)."""
    k = M.shape[1]
    if k > 4:
        return tf.matmul(A, M, transpose_b=True)
    out = A[:, 0:1] * M[None, :, 0]
    for j in range(1, k):
        out = out + A[:, j : j + 1] * M[None, :, j]
    return out


def _loop(body, first, count, carry, step, keep_going=None):
    """body(t, carry) for t = first, first + step, ... (count of them), UNROLL per iteration.

    keep_going(carry) -> bool, checked every UNROLL steps, may stop early.
    """
    full = count // UNROLL

    def outer(i, c):
        for u in range(UNROLL):
            c = body(first + step * (i * UNROLL + u), c)
        return i + 1, c

    def go_on(i, c):
        return tf.logical_and(i < full, True if keep_going is None else keep_going(c))

    i, carry = tf.while_loop(go_on, outer, (tf.constant(0), carry))
    stopped = i < full
    _, carry = tf.while_loop(lambda j, c: tf.logical_and(j < count, tf.logical_not(stopped)),
                             lambda j, c: (j + 1, body(first + step * j, c)), (i * UNROLL, carry))
    return carry


class _Program:
    """The compiled forward/backward over one history capacity."""

    def __init__(self, batch_size: int, capacity: int, d: int, n: int, extra: int):
        self.shape = (batch_size, capacity, d, n, extra)
        self.fn = tf.function(self._run, jit_compile=True, reduce_retracing=False)

    def _run(self, W, b_s, U, b_p, slab, begin, start, mask, first_state, use_given, tolerance):
        # the history is [begin, start + n): S_{begin-1} = 0, the states before begin are never written (zero)
        B, L, d, n, extra = self.shape
        cols = tf.cast(tf.transpose(slab), tf.int32)  # [L, B]
        xf = tf.cast(tf.bitwise.bitwise_and(cols, 1), tf.float32)
        end = start + n
        W_x, W_s = W[:, :2], W[:, 2:]
        base, diff = W_x[:, 0] + b_s, W_x[:, 1] - W_x[:, 0]  # W_x X_t + b_s = base + x_t diff
        zeros = tf.zeros([B, d])

        def forward(t, c):
            S, states = c
            S = tf.tanh(base + xf[t][:, None] * diff + _times_transpose(S, W_s))
            return S, states.write(t, S)

        _, states = _loop(forward, begin, end - begin, (zeros, tf.TensorArray(tf.float32, size=L)), 1)
        S_all = states.stack()  # [L, B, d]; zero beyond `end`
        S_before = tf.gather(S_all, tf.maximum(start - 1, 0)) * tf.cast(start > begin, tf.float32)  # S_{start-1}
        S0 = tf.where(use_given, first_state, S_before)
        window = start + tf.range(n)
        X_win = tf.one_hot(tf.gather(cols, window) % 2, 2)
        Y_win = tf.one_hot(tf.gather(cols, window) // 2, 2)
        weight = mask / tf.reduce_sum(mask)
        truncated, _ = self._window(W_s, base, diff, U, b_p, X_win, Y_win, weight, S0)
        exact_win, carry = self._window(W_s, base, diff, U, b_p, X_win, Y_win, weight, S_before)
        limit = tolerance * tf.norm(carry)  # stop once the error sent left is this small

        def backward(t, c):
            dS, gW, gb, k = c  # dS = dL/dS_t
            S_t = S_all[t]
            S_prev = tf.gather(S_all, tf.maximum(t - 1, 0)) * tf.cast(t > begin, tf.float32)
            dZ = dS * (1.0 - S_t * S_t)
            h = tf.concat([tf.one_hot(cols[t] % 2, 2), S_prev], axis=1)  # (X_t || S_{t-1})
            return tf.matmul(dZ, W_s), gW + tf.matmul(dZ, h, transpose_a=True), gb + tf.reduce_sum(dZ, 0), k + 1

        _, gW, gb, depth = _loop(backward, start - 1, start - begin,
                                 (carry, tf.zeros_like(W), tf.zeros_like(b_s), tf.constant(0)), -1,
                                 keep_going=lambda c: tf.norm(c[0]) > limit)
        exact = [exact_win[0] + gW, exact_win[1] + gb, exact_win[2], exact_win[3]]
        flow = self._flow(W_s, U, b_p, S_all, cols, start, n, extra)
        return exact, truncated, flow, depth

    def _window(self, W_s, base, diff, U, b_p, X, Y, weight, S0):
        """Gradient of the window's weighted losses from its first state S0, and dL/dS0 (what truncation drops)."""
        B = self.shape[0]
        drive = base + X[:, :, 1:2] * diff  # [n, B, d]
        S = tf.scan(lambda S, dr: tf.tanh(dr + _times_transpose(S, W_s)), drive, initializer=S0)  # [n, B, d]
        dP = (tf.nn.softmax(tf.einsum("nbd,kd->nbk", S, U) + b_p) - Y) * (weight / B)[:, None, None]
        dS_local = tf.einsum("nbk,kd->nbd", dP, U)

        def back(dZ_next, inputs):
            dS_loc_t, S_t = inputs
            return (dS_loc_t + tf.matmul(dZ_next, W_s)) * (1.0 - S_t * S_t)

        dZ = tf.scan(back, (dS_local, S), initializer=tf.zeros_like(S0), reverse=True)
        H = tf.concat([X, tf.concat([S0[None], S[:-1]], axis=0)], axis=2)
        grads = [tf.einsum("nbi,nbj->ij", dZ, H), tf.reduce_sum(dZ, [0, 1]),
                 tf.einsum("nbk,nbd->kd", dP, S), tf.reduce_sum(dP, [0, 1])]
        return grads, tf.matmul(dZ[0], W_s)

    def _flow(self, W_s, U, b_p, S_all, cols, start, n, extra):
        """||dL_t/dS_s|| [n losses, extra + n states], L_t the batch-mean loss at window position t.

        All n losses are backpropagated side by side (a leading axis of n), walking left from the
        window's last state; the loss at position p joins when the walk reaches S_p.
        """
        B, d = self.shape[0], self.shape[2]
        window = start + tf.range(n)
        S_win = tf.gather(S_all, window)
        err = tf.nn.softmax(tf.einsum("nbd,kd->nbk", S_win, U) + b_p) - tf.one_hot(tf.gather(cols, window) // 2, 2)
        seeds = tf.einsum("nbk,kd->nbd", err, U) / B  # the local part of dL_p/dS_p
        width = extra + n

        def step(j, carry, norms):
            s = start + n - 1 - j  # state position of column width - 1 - j
            carry = carry + tf.one_hot(n - 1 - j, n)[:, None, None] * tf.gather(seeds, tf.maximum(n - 1 - j, 0))[None]
            norms = norms.write(width - 1 - j, tf.sqrt(tf.reduce_sum(carry * carry, axis=[1, 2])))
            S_s = tf.gather(S_all, tf.maximum(s, 0))
            carry = tf.einsum("nbd,de->nbe", carry * (1.0 - S_s * S_s)[None], W_s)  # dL_p/dS_{s-1}
            return j + 1, carry, norms

        _, _, norms = tf.while_loop(
            lambda j, *_: j < width, step,
            (tf.constant(0), tf.zeros([n, B, d]), tf.TensorArray(tf.float32, size=width)),
        )
        return tf.transpose(norms.stack())  # [n, width]; columns left of position 0 are meaningless


_PROGRAMS: dict[tuple[int, int, int, int, int], _Program] = {}
_LOCK = threading.Lock()


def _program(batch_size: int, length: int, d: int, n: int, extra: int) -> _Program:
    capacity = max(MIN_CAPACITY, 1 << (length - 1).bit_length())
    key = (batch_size, capacity, d, n, extra)
    with _LOCK:
        if key not in _PROGRAMS:
            _PROGRAMS[key] = _Program(*key)
        return _PROGRAMS[key]


def _validate(params, x_hist, y_hist, window_start, n, k1) -> tuple[np.ndarray, np.ndarray, int, int]:
    x_hist, y_hist = np.asarray(x_hist), np.asarray(y_hist)
    if x_hist.ndim != 2 or x_hist.shape != y_hist.shape:
        raise ValueError(f"x_hist and y_hist must be [B, T] arrays of the same shape, "
                         f"got {x_hist.shape} and {y_hist.shape}")
    B, T = x_hist.shape
    d = np.asarray(params[0]).shape[0]
    if not 1 <= k1 <= n:
        raise ValueError(f"k1 must be between 1 and n={n}, got {k1}")
    if window_start < 0 or window_start + n > T:
        raise ValueError(f"the window [{window_start}, {window_start + n}) does not fit in a history of {T} steps")
    return x_hist, y_hist, B, d


def _run(params, x_hist, y_hist, window_start, n, k1, first_window, first_state, history, extra, tolerance=0.0):
    x_hist, y_hist, B, d = _validate(params, x_hist, y_hist, window_start, n, k1)
    if history is not None and history < 0:
        raise ValueError(f"history must be >= 0 steps, got {history}")
    first = 0 if history is None else max(0, window_start - int(history))  # the history's zero state
    program = _program(B, window_start + n - first, d, n, extra)
    padded = np.zeros((B, program.shape[1]), np.int8)
    cols = slice(first, window_start + n)
    padded[:, : window_start + n - first] = x_hist[:, cols].astype(np.int8) | (y_hist[:, cols].astype(np.int8) << 1)
    window_start, begin = window_start - first, 0  # positions inside the slab
    mask = np.zeros(n, np.float32)
    mask[trained_positions(n, k1, first_window)] = 1.0
    given = first_state is not None
    S0 = np.zeros((B, d), np.float32) if not given else np.asarray(first_state, np.float32)
    W, b_s, U, b_p = (tf.constant(np.asarray(p, np.float32)) for p in params)
    if not tolerance >= 0.0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    exact, truncated, flow, depth = program.fn(
        W, b_s, U, b_p, tf.constant(padded), tf.constant(begin), tf.constant(window_start),
        tf.constant(mask), tf.constant(S0), tf.constant(given), tf.constant(float(tolerance), tf.float32),
    )
    return ([g.numpy().astype(np.float64) for g in exact], [g.numpy().astype(np.float64) for g in truncated],
            flow.numpy().astype(np.float64), int(depth) + n, mask)


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
    tolerance: float = 0.0,
    flow_extra: int | None = None,
) -> GradientComparison:
    """Exact vs truncated gradient of the trained losses of the window [window_start, window_start + n).

    x_hist, y_hist: int [B, T], the epoch's rows from the last zero state (position 0) through at
    least the window's end. first_state [B, d]: the state the run carried into the window (None:
    recomputed under `params`). history: the history starts this many steps before the window, from
    a zero state (None: at position 0). The backward pass stops early, checked every UNROLL steps,
    once the error still travelling left, ||dL/dS_s||, is at most tolerance times what left the
    window, ||dL/dS_{start-1}|| (with the default 0: once it is exactly zero in float32, which at
    R2RT's initial weights happens about 110 steps back). When sigma_max(W_s) = sigma < 1 the error
    shrinks at least by sigma a step (tanh' <= 1), so what an early stop drops is at most about
    that error times max ||h|| / (1 - sigma). history_steps says how far it went.
    flow_extra = k: also the `gradient_flow` matrix reaching k states left of the window, from the
    same pass (one program and one call for both).
    """
    extra = 0 if flow_extra is None else _check_extra(flow_extra)
    exact, truncated, flow, steps, _ = _run(params, x_hist, y_hist, window_start, n, k1, first_window,
                                            first_state, history, extra, tolerance)
    e, t = np.concatenate([g.ravel() for g in exact]), np.concatenate([g.ravel() for g in truncated])
    norm = float(np.linalg.norm(e))
    return GradientComparison(
        cosine_all=_cosine(t, e),
        cosine_W_s=_cosine(truncated[0][:, 2:].ravel(), exact[0][:, 2:].ravel()),
        rel_error=float(np.linalg.norm(t - e)) / norm if norm > 0 else float("nan"),
        history_steps=steps, exact=exact, truncated=truncated,
        flow=None if flow_extra is None else flow_result(flow, window_start, n, k1, first_window, extra, history),
    )


def _check_extra(extra: int) -> int:
    if int(extra) < 0:
        raise ValueError(f"extra must be >= 0, got {extra}")
    return int(extra)


def gradient_flow(
    params: Params,
    x_hist: np.ndarray,
    y_hist: np.ndarray,
    window_start: int,
    n: int,
    k1: int,
    first_window: bool,
    extra: int | None = None,
    history: int | None = None,
) -> GradientFlow:
    """||dL_t/dS_s|| for the window's trained losses and states from `extra` (default n) steps left of it.

    States are recomputed under `params` from the zero state at position 0 (or `history` steps
    before the window, as in `full_gradient_comparison`); columns before that do not exist and are
    dropped. TF style's kept part is a triangle (s >= window start),
    Williams-Peng's with k1 < n a band.
    """
    extra = n if extra is None else _check_extra(extra)
    _, _, flow, _, _ = _run(params, x_hist, y_hist, window_start, n, k1, first_window, None, history, extra,
                            tolerance=np.inf)  # the exact gradient's backward pass is not needed here
    return flow_result(flow, window_start, n, k1, first_window, extra, history)


def flow_result(flow, window_start, n, k1, first_window, extra, history) -> GradientFlow:
    rows = trained_positions(n, k1, first_window)
    cols = np.arange(window_start - extra, window_start + n)
    keep = cols >= (0 if history is None else max(0, window_start - history))
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
