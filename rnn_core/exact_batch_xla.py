"""The full-gradient sampler's arithmetic as XLA programs, for a long-lived server: compiled once in the background.

`exact_batch.py` computes a batch of samples in NumPy (no compile); one XLA-compiled call per batch
takes about as long alone (6 ms against 7 at the defaults) but runs without the GIL: with thirty
sessions training, NumPy's many small calls cost 0.14 s of server CPU per Train (bench.classroom,
session 6). Each program costs 3-5 s of CPU to compile, once per shape, history and process. A
server (ui/warmup.py) opts in with `enable()`: from then on a batch of a shape whose program is
compiled runs it, and a batch of a new shape runs in NumPy and queues that shape's compile on a
background thread, which waits until no run has trained for QUIET_S seconds, so a later run of the
shape gets it (windows up to BACKGROUND_MAX_N steps: a wider one's trace held the GIL for many
seconds). A CLI process never compiles these. Tests check the two paths agree.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .backend import tf  # TensorFlow from one thread at a time
from .exact_batch import REL_TOL

log = logging.getLogger(__name__)
_ENABLED = False
_READY: dict[tuple[int, int, int, int, int], _BatchProgram] = {}
_QUEUED: set[tuple[int, int, int, int, int]] = set()
_LOCK = threading.Lock()
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sampling-compile")
# Wider windows are left to NumPy: building a program traces its window step by step in Python, holding the GIL
# (d = 16, history 64: n = 5 1.1 s, 20 2.2 s, 50 4.8 s, 200 17.8 s), and one student's n = 200 run stalled a class.
BACKGROUND_MAX_N = 20
# A queued compile starts only once no run has trained for QUIET_S seconds: a sampling program is for later runs,
# and its 3-5 s of compile on one of the two cores slowed the runs training now. A Compare sweep of 8 shapes
# queued 21 programs, whose compiles kept a core busy through the whole sweep (bench/results.md, session 22).
QUIET_S = 2.0
QUIET_POLL = 0.25


SMALL_D = 8  # up to here products with W_s are written as d broadcast multiply-adds, which XLA fuses
# (the operands' columns taken by one Split and one Unpack: d strided slices each would be 4 graph nodes apiece)


def _by_rows(S, W_s):
    """S W_s^T per sample: [N, B, e] x [N, d, e] -> [N, B, d]."""
    d = W_s.shape[2]
    if d > SMALL_D:
        return tf.einsum("nbe,nde->nbd", S, W_s)
    s_cols, w_cols = tf.split(S, d, axis=2), tf.unstack(W_s[:, None], axis=3)  # [N, B, 1] and [N, 1, d] each
    out = s_cols[0] * w_cols[0]
    for e in range(1, d):
        out = out + s_cols[e] * w_cols[e]
    return out


def _back(dZ, W_s):
    """dZ W_s per sample: [N, B, d] x [N, d, e] -> [N, B, e]."""
    d = W_s.shape[1]
    if d > SMALL_D:
        return tf.einsum("nbd,nde->nbe", dZ, W_s)
    z_cols, w_rows = tf.split(dZ, d, axis=2), tf.unstack(W_s[:, None], axis=2)  # [N, B, 1] and [N, 1, e] each
    out = z_cols[0] * w_rows[0]
    for k in range(1, d):
        out = out + z_cols[k] * w_rows[k]
    return out


def _outer_sum(a, b):
    """sum over rows of a b^T per sample: [N, B, i] x [N, B, j] -> [N, i, j]."""
    if a.shape[2] > SMALL_D:
        return tf.einsum("nbi,nbj->nij", a, b)
    return tf.reduce_sum(a[:, :, :, None] * b[:, :, None, :], axis=1)


class _BatchProgram:
    def __init__(self, N: int, B: int, K: int, n: int, d: int):
        self.shape = (N, B, K, n, d)
        # autograph=False: its loops are explicit tf.while_loops, and autograph's ast.parse on this thread while
        # Streamlit parses a page script on another hits CPython 3.11's "AST constructor recursion depth
        # mismatch" SystemError (the page shows it); a server compiles these on a background thread at start.
        self.fn = tf.function(self._run, jit_compile=True, reduce_retracing=False, autograph=False)
        self.call = self.fn  # its concrete function once compiled

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
        limit = REL_TOL * tf.norm(carry, axis=[1, 2])  # [N]

        def above(dS):
            return tf.norm(dS, axis=[1, 2]) > limit  # [N]

        def backward(t, dS, gW, gb, depth, alive):
            # `alive`: the samples whose error dS is still above the limit and always was; a sample stops for
            # good, and from then on adds exact zeros, so its numbers do not hang on which samples share the batch
            S_t = S_all[t] * live(t)
            S_prev = tf.gather(S_all, tf.maximum(t - 1, 0)) * tf.cast(t > 0, tf.float32) * live(t - 1)
            dZ = dS * (1.0 - S_t * S_t) * live(t) * tf.cast(alive, tf.float32)[:, None, None]
            h = tf.concat([tf.one_hot(cols[t] % 2, 2), S_prev], axis=2)  # [N, B, 2+d]
            active = tf.cast(tf.logical_and(alive, t >= begin), tf.int32)
            dS = _back(dZ, W_s)
            return (t - 1, dS, gW + _outer_sum(dZ, h), gb + tf.reduce_sum(dZ, 1), depth + active,
                    tf.logical_and(alive, above(dS)))

        _, _, gW, gb, depth, _ = tf.while_loop(
            lambda t, dS, gW, gb, depth, alive: tf.logical_and(t >= 0, tf.reduce_any(alive)), backward,
            (tf.constant(K - 1), carry, tf.zeros_like(W), tf.zeros_like(b_s), tf.zeros([N], tf.int32),
             above(carry)))
        exact = [exact_win[0] + gW, exact_win[1] + gb, exact_win[2], exact_win[3]]
        return exact, truncated, depth


def enable() -> None:
    """Use compiled programs from now on in this process (compiling each new shape in the background)."""
    global _ENABLED
    _ENABLED = True


def enabled() -> bool:
    """Whether this process uses compiled sampling programs."""
    return _ENABLED


def _compile(key: tuple[int, int, int, int, int]) -> None:
    N, B, K, n, d = key
    program = _BatchProgram(*key)
    try:
        args = (tf.zeros([N, d, 2 + d]), tf.zeros([N, d]), tf.zeros([N, 2, d]), tf.zeros([N, 2]),
                tf.zeros([N, B, K + n], tf.int8), tf.zeros([N], tf.int32), tf.ones([N, n]), tf.zeros([N, B, d]))
        program.fn(*args)
        program.call = program.fn.get_concrete_function(*args)  # skips tf.function's per-call signature lookup
    except Exception:  # noqa: BLE001 - that shape stays on NumPy
        log.exception("compiling the sampling program of %s failed", key)
        return
    with _LOCK:
        _READY[key] = program


def _compile_when_quiet(key: tuple[int, int, int, int, int]) -> None:
    """`_compile` once the process has trained nothing for QUIET_S seconds (`kernels.wait_until_quiet`)."""
    from .kernels import wait_until_quiet

    wait_until_quiet(QUIET_S, QUIET_POLL)
    _compile(key)


def compile_now(N: int, B: int, K: int, n: int, d: int) -> None:
    """Compile the program of this shape at once (a server warming its default run's shapes)."""
    key = (N, B, K, n, d)
    with _LOCK:
        if key in _READY:
            return
        _QUEUED.add(key)
    _compile(key)


def run(W, b_s, U, b_p, slab, begin, mask, S0):
    """(exact, truncated, depth) as `exact_batch._batched` returns them, from the compiled program of this
    batch's shape; None when not enabled or not compiled yet (a new shape's compile is then queued, if its window
    is at most BACKGROUND_MAX_N steps wide)."""
    if not _ENABLED:
        return None
    N, B, T = slab.shape
    n = mask.shape[1]
    key = (N, B, T - n, n, W.shape[1])
    with _LOCK:
        program = _READY.get(key)
        if program is None and key not in _QUEUED and n <= BACKGROUND_MAX_N:
            _QUEUED.add(key)
            _COMPILER.submit(_compile_when_quiet, key)
    if program is None:
        return None
    exact, truncated, depth = program.call(*(tf.constant(a) for a in (W, b_s, U, b_p, slab)),
                                         tf.constant(begin, tf.int32), tf.constant(mask, tf.float32),
                                         tf.constant(S0, tf.float32))
    return [g.numpy() for g in exact], [g.numpy() for g in truncated], depth.numpy().astype(np.int64)
