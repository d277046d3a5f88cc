"""Many full-gradient samples in one compiled call: each with its own weights, window and carried state.

`exact.full_gradient_comparison` answers one window per call; a call's cost is mostly its loop of
~1,000 sequential time steps, each too small to keep a core busy (1.5 ms fixed + ~4 us a step at
B = 200, d = 4). Stacking N samples on a leading axis makes the same loop do N times the
arithmetic per step for about the same latency, so a run's 20 samples cost about what one did.

Per sample i (weights theta_i, window start w_i, carried state S0_i): the history is the K time
steps before the window (fewer when the epoch began later: the state is zero before its first
step), the window's n steps follow. The exact gradient backpropagates the window's trained
losses through the window and the whole history; the truncated one starts the window from
S0_i, the state the run carried in, and stops at the window's start. Same definitions as
`exact.full_gradient_comparison` (tests check the two agree).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import tensorflow as tf


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


SMALL_D = 8  # up to here products with W_s are written as d broadcast multiply-adds, which XLA fuses


def _by_rows(S, W_s):
    """S W_s^T per sample: [N, B, e] x [N, d, e] -> [N, B, d]."""
    d = W_s.shape[2]
    if d > SMALL_D:
        return tf.einsum("nbe,nde->nbd", S, W_s)
    out = S[:, :, 0:1] * W_s[:, None, :, 0]
    for e in range(1, d):
        out = out + S[:, :, e : e + 1] * W_s[:, None, :, e]
    return out


def _back(dZ, W_s):
    """dZ W_s per sample: [N, B, d] x [N, d, e] -> [N, B, e]."""
    d = W_s.shape[1]
    if d > SMALL_D:
        return tf.einsum("nbd,nde->nbe", dZ, W_s)
    out = dZ[:, :, 0:1] * W_s[:, None, 0, :]
    for k in range(1, d):
        out = out + dZ[:, :, k : k + 1] * W_s[:, None, k, :]
    return out


def _outer_sum(a, b):
    """sum over rows of a b^T per sample: [N, B, i] x [N, B, j] -> [N, i, j]."""
    if a.shape[2] > SMALL_D:
        return tf.einsum("nbi,nbj->nij", a, b)
    return tf.reduce_sum(a[:, :, :, None] * b[:, :, None, :], axis=1)


class _BatchProgram:
    def __init__(self, N: int, B: int, K: int, n: int, d: int):
        self.shape = (N, B, K, n, d)
        self.fn = tf.function(self._run, jit_compile=True, reduce_retracing=False)

    def _run(self, W, b_s, U, b_p, slab, begin, mask, S0):
        # W [N, d, 2+d], b_s [N, d], U [N, 2, d], b_p [N, 2], slab int8 [N, B, K+n], begin [N], mask [N, n],
        # S0 [N, B, d]
        N, B, K, n, d = self.shape
        cols = tf.transpose(tf.cast(slab, tf.int32), [2, 0, 1])  # [K+n, N, B]
        xf = tf.cast(tf.bitwise.bitwise_and(cols, 1), tf.float32)
        W_s = W[:, :, 2:]  # [N, d, d]
        base = W[:, :, 0] + b_s  # [N, d]
        diff = W[:, :, 1] - W[:, :, 0]
        live = lambda t: tf.cast(t >= begin, tf.float32)[:, None, None]  # noqa: E731  [N, 1, 1]

        def cell(S, t):
            z = base[:, None] + xf[t][:, :, None] * diff[:, None] + _by_rows(S, W_s)
            return tf.tanh(z)

        def forward(t, S, states):
            S = cell(S, t) * live(t)
            return t + 1, S, states.write(t, S)

        _, S_hist, states = tf.while_loop(
            lambda t, *_: t < K, forward, (tf.constant(0), tf.zeros([N, B, d]), tf.TensorArray(tf.float32, size=K)))
        S_all = states.stack()  # [K, N, B, d]
        weight = mask / tf.reduce_sum(mask, axis=1, keepdims=True)  # [N, n]

        def window(S_first):
            Ss, S = [], S_first
            for j in range(n):
                S = cell(S, K + j)
                Ss.append(S)
            S_win = tf.stack(Ss)  # [n, N, B, d]
            Y = tf.one_hot(cols[K:] // 2, 2)  # [n, N, B, 2]
            logits = tf.einsum("tnbd,nkd->tnbk", S_win, U) + b_p[None, :, None]
            dP = (tf.nn.softmax(logits) - Y) * (tf.transpose(weight) / B)[:, :, None, None]
            dS_loc = tf.einsum("tnbk,nkd->tnbd", dP, U)
            dZ, nxt = [None] * n, tf.zeros_like(S_first)
            for j in reversed(range(n)):
                dZ[j] = (dS_loc[j] + _back(nxt, W_s)) * (1.0 - S_win[j] * S_win[j])
                nxt = dZ[j]
            dZ = tf.stack(dZ)  # [n, N, B, d]
            prev = tf.concat([S_first[None], S_win[:-1]], axis=0)
            X = tf.one_hot(cols[K:] % 2, 2)
            H = tf.concat([X, prev], axis=3)  # [n, N, B, 2+d]
            grads = [tf.einsum("tnbi,tnbj->nij", dZ, H), tf.reduce_sum(dZ, [0, 2]),
                     tf.einsum("tnbk,tnbd->nkd", dP, S_win), tf.reduce_sum(dP, [0, 2])]
            return grads, _back(dZ[0], W_s)  # dL/dS_{K-1}

        truncated, _ = window(S0)
        exact_win, carry = window(S_hist)
        limit = 0.0

        def backward(t, dS, gW, gb, depth):
            S_t = S_all[t] * live(t)
            S_prev = tf.gather(S_all, tf.maximum(t - 1, 0)) * tf.cast(t > 0, tf.float32) * live(t - 1)
            dZ = dS * (1.0 - S_t * S_t) * live(t)
            h = tf.concat([tf.one_hot(cols[t] % 2, 2), S_prev], axis=2)  # [N, B, 2+d]
            active = tf.cast(tf.reduce_any(tf.not_equal(dZ, 0.0), axis=[1, 2]), tf.int32)
            return (t - 1, _back(dZ, W_s), gW + _outer_sum(dZ, h),
                    gb + tf.reduce_sum(dZ, 1), depth + active)

        _, _, gW, gb, depth = tf.while_loop(
            lambda t, dS, *_: tf.logical_and(t >= 0, tf.reduce_max(tf.abs(dS)) > limit), backward,
            (tf.constant(K - 1), carry, tf.zeros_like(W), tf.zeros_like(b_s), tf.zeros([N], tf.int32)))
        exact = [exact_win[0] + gW, exact_win[1] + gb, exact_win[2], exact_win[3]]
        return exact, truncated, depth


_PROGRAMS: dict[tuple[int, int, int, int, int], _BatchProgram] = {}
_LOCK = threading.Lock()


def _program(N: int, B: int, K: int, n: int, d: int) -> _BatchProgram:
    with _LOCK:
        key = (N, B, K, n, d)
        if key not in _PROGRAMS:
            _PROGRAMS[key] = _BatchProgram(*key)
        return _PROGRAMS[key]


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    den = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v) / den if den > 0 else float("nan")


def _call(items: list[BatchItem]) -> list[BatchResult]:
    N = len(items)
    B, L = items[0].slab.shape
    n = len(items[0].mask)
    d = items[0].params[0].shape[0]
    program = _program(N, B, L - n, n, d)
    stack = [tf.constant(np.stack([np.asarray(it.params[k], np.float32) for it in items])) for k in range(4)]
    exact, truncated, depth = program.fn(
        *stack, tf.constant(np.stack([it.slab for it in items])), tf.constant([it.begin for it in items], tf.int32),
        tf.constant(np.stack([it.mask for it in items]).astype(np.float32)),
        tf.constant(np.stack([np.asarray(it.first_state, np.float32) for it in items])))
    exact = [g.numpy().astype(np.float64) for g in exact]
    truncated = [g.numpy().astype(np.float64) for g in truncated]
    depth = depth.numpy()
    out = []
    for i in range(N):
        e = np.concatenate([g[i].ravel() for g in exact])
        t = np.concatenate([g[i].ravel() for g in truncated])
        norm = float(np.linalg.norm(e))
        out.append(BatchResult(
            cosine_all=_cos(t, e), cosine_W_s=_cos(truncated[0][i][:, 2:].ravel(), exact[0][i][:, 2:].ravel()),
            rel_error=float(np.linalg.norm(t - e)) / norm if norm > 0 else float("nan"),
            history_steps=int(depth[i]) + n))
    return out


def compare_many(items: list[BatchItem]) -> list[BatchResult]:
    """Exact vs truncated gradient for every item, in as few calls as there are set bits in len(items).

    Items must share B, K, n and d. Calls take 16, 8, 4, 2, 1 items, so at most five programs are
    ever compiled per shape and no call computes padding.
    """
    if not items:
        return []
    shapes = {(it.slab.shape, len(it.mask), it.params[0].shape) for it in items}
    if len(shapes) != 1:
        raise ValueError(f"compare_many: the items differ in shape ({sorted(map(str, shapes))})")
    out: list[BatchResult] = []
    i = 0
    for size in (16, 8, 4, 2, 1):
        while len(items) - i >= size:
            out += _call(items[i : i + size])
            i += size
    return out
