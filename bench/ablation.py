"""What each design choice of the compiled kernel buys, measured on the R2RT set-up (B=200, d=4).

Three groups, each timed in one process with the variants interleaved (median of rounds):

- `graph_choice`: the engine's kernel built with the unrolled list graph vs the rolled tf.scan
  (`rnn_core.derived.rolled_window`), at n = 10, 20, 50: compile seconds and compiled ms/step; plus
  the same chunk as a tf.function without XLA, and run eagerly.
- `metric_cost`: the engine's kernel at n = 10 against variants: its d x d products as dot calls
  (the path for d > 4), sigma_max taken inside the XLA loop with eigh (the earlier design), and the
  autodiff window (`rnn_core.window.autodiff_unrolled`: tf.GradientTape, a second tape pass for the
  temporal profile), that with its metrics removed one by one.
- `sigma_cost`: over d, sigma_max of every step taken on the host from the recorded W_s (the
  engine) against XLA's eigh inside the step loop (the earlier design).
- `formulation`: minimal XLA training loops (loss, gradients, Adagrad; no metrics): the tape over
  the unrolled graph (what the engine differentiates) vs a hand-written BPTT with the state laid out
  [B, d] or [d, B], its tiny matmuls as dots or as broadcast-multiply-reduce that XLA fuses.

The first two build variants by swapping module globals of `rnn_core.kernels` / `rnn_core.derived`, or
entries of `kernels.WINDOW_PASSES`, inside this process only (restored afterwards; `rnn_core` files are
not touched). Variant kernels never enter the pool.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np


@contextlib.contextmanager
def patched(module, **values):
    """Temporarily replace module globals (read when a kernel's function is traced), or with
    `derived_window=fn` the hand-derived unrolled pass the kernels pick (`kernels.WINDOW_PASSES`)."""
    import rnn_core.kernels as K

    passes = {("derived", True): values.pop("derived_window")} if "derived_window" in values else {}
    old = {k: getattr(module, k) for k in values}
    old_passes = {k: K.WINDOW_PASSES[k] for k in passes}
    try:
        for k, v in values.items():
            setattr(module, k, v)
        K.WINDOW_PASSES.update(passes)
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)
        K.WINDOW_PASSES.update(old_passes)


def _slabs(key, seed: int = 0):
    from rnn_core.kernels import slab_width

    rng = np.random.default_rng(seed)
    width = slab_width(key)
    x = rng.integers(0, 2, (key.batch_size, width)).astype(np.int32)
    y = rng.integers(0, 2, (key.batch_size, width)).astype(np.int32)
    return x, y, np.zeros((key.batch_size, key.d), np.float32)


def _call(kernel, x, y, S, count: int, compiled: bool = True):
    """A no-argument call running `count` steps the way the Trainer does (one packed int8 slab)."""
    import rnn_core.kernels as K

    slab = K.pack(x, y)
    return lambda: kernel.run_packed(slab, S, count, True, 0.0, compiled=compiled)


def _ready(kernel, d: int):
    """Load real starting weights (Glorot, as a run would): zero weights make eigvalsh unrealistically cheap."""
    from rnn_core.model import init_params

    kernel.load(init_params(d), kernel.fresh_optimizer_state(0.1))
    return kernel


def _interleaved(calls: dict[str, Callable[[], float | None]], rounds: int) -> dict[str, float]:
    """Median seconds of each call over rounds, variants interleaved; a call may return its own timing."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            own = call()
            times[name].append(own if isinstance(own, float) else time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def graph_choice(ns=(10, 20, 50), d: int = 4, steps: int = 200, rounds: int = 5) -> list[dict]:
    """Unrolled vs rolled kernel (and no-XLA, eager) per n: compile s, ms/step."""
    import tensorflow as tf

    import rnn_core.kernels as K

    rows = []
    for n in ns:
        key = K.KernelKey(200, n, n, d, "adagrad", K.capacity_for(200, n, n, d))
        x, y, S = _slabs(key)
        count = min(steps, key.capacity)
        built = {}
        for label, limit in (("unrolled list graph, XLA", 10**6), ("rolled tf.scan, XLA", 0)):
            with patched(K, UNROLL_LIMIT=limit):
                t0 = time.perf_counter()
                built[label] = _ready(K.build_compiled(key), d)
                built[label + " compile"] = time.perf_counter() - t0
        engine_label = "unrolled list graph, XLA" if n <= K.UNROLL_LIMIT else "rolled tf.scan, XLA"
        nojit = _ready(K.Kernel(key), d)
        nojit._fn = tf.function(nojit._chunk, reduce_retracing=False)  # same chunk, XLA off
        t0 = time.perf_counter()
        _call(nojit, x, y, S, 1)()
        nojit_build = time.perf_counter() - t0
        eager = _ready(K.Kernel(key), d)
        _call(eager, x, y, S, 1, compiled=False)()  # first eager call pays one-off costs
        eager_count = 16
        calls = {
            "unrolled list graph, XLA": _call(built["unrolled list graph, XLA"], x, y, S, count),
            "rolled tf.scan, XLA": _call(built["rolled tf.scan, XLA"], x, y, S, count),
            "tf.function, no XLA": _call(nojit, x, y, S, count),
        }
        med = _interleaved(calls, rounds)
        eager_med = _interleaved({"e": _call(eager, x, y, S, eager_count, compiled=False)}, 3)["e"]
        for label in calls:
            build = nojit_build if label == "tf.function, no XLA" else built[label + " compile"]
            rows.append({
                "n": n, "d": d, "variant": label + (" (engine's choice)" if label == engine_label else ""),
                "build_s": build, "ms_per_step": 1000 * med[label] / count,
            })
        rows.append({
            "n": n, "d": d, "variant": "eager (while compiling)", "build_s": 0.0,
            "ms_per_step": 1000 * eager_med / eager_count,
        })
    return rows


def tape_window(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1, temporal=True, norms=True):
    """`rnn_core.window.autodiff_unrolled` (tf.GradientTape over `unroll`'s list graph, a second tape
    pass for the temporal norms) with its metrics switchable, to measure what each costs."""
    import tensorflow as tf

    from rnn_core.model import unroll
    from rnn_core.window import WindowResult

    params = [W, b_s, U, b_p]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        _, states, predictions, losses = unroll(params, x_window, y_window, first_state)
        position_loss = tf.stack([tf.reduce_mean(L_t) for L_t in losses])
        loss = tf.reduce_sum(position_loss * mask) / tf.reduce_sum(mask)
        last_loss = position_loss[-1]
    grads = tape.gradient(loss, params + states if norms else params)
    zeros = tf.zeros([len(states)])
    grad_norms = tf.stack([tf.norm(g) for g in grads[4:]]) if norms else zeros
    temporal_norms = tf.stack([tf.norm(g) for g in tape.gradient(last_loss, states)]) if temporal else zeros
    del tape
    S = tf.stack(states)
    probs = tf.stack([tf.nn.softmax(P_t)[:, 1] for P_t in predictions])
    return WindowResult(loss, grads[:4], position_loss, grad_norms, temporal_norms, S, probs, tf.gather(S, k1 - 1))


def xla_sigma_max(W):
    """The earlier design: sigma_max of W_s by XLA's eigh inside the step (overflow-safe scaling)."""
    import tensorflow as tf

    W_s = W[:, 2:]
    m = tf.reduce_max(tf.abs(W_s))
    finite = tf.reduce_all(tf.math.is_finite(W_s))
    safe = tf.where(finite & (m > 0), W_s / tf.where(m > 0, m, 1.0), tf.zeros_like(W_s))
    sigma = m * tf.sqrt(tf.reduce_max(tf.linalg.eigvalsh(tf.matmul(safe, safe, transpose_a=True))))
    return tf.where(finite, tf.where(m > 0, sigma, 0.0), tf.constant(float("inf"), W.dtype))


def with_xla_sigma(window_fn):
    """`window_fn` that also takes sigma_max with eigh in the loop, tied into the loss so XLA keeps it."""
    def window(W, *rest):
        r = window_fn(W, *rest)
        return r._replace(loss=r.loss + 0.0 * xla_sigma_max(W))  # x * 0.0 is not folded away for floats
    return window


def metric_cost(n: int = 10, d: int = 4, steps: int = 500, rounds: int = 7) -> list[dict]:
    """The engine's kernel at n against variants of its products, its sigma_max and its window function."""
    import rnn_core.derived as D
    import rnn_core.kernels as K

    variants = {
        "engine kernel: hand-written backward, all per-step metrics": (K, {}),
        "engine kernel on its d > 4 path (d x d products as dot calls, per-position norms)": (
            D, {"ELEMENTWISE_MAX_D": 0}),
        "engine kernel + sigma_max by eigh inside the XLA loop (the earlier design)": (
            K, {"derived_window": with_xla_sigma(D.unrolled_window)}),
        "autodiff window: GradientTape + 2nd tape pass for the temporal profile": (
            K, {"derived_window": tape_window}),
        "GradientTape, no temporal profile": (K, {"derived_window": lambda *a: tape_window(*a, temporal=False)}),
        "GradientTape, loss and gradients only": (
            K, {"derived_window": lambda *a: tape_window(*a, temporal=False, norms=False)}),
    }
    key = K.KernelKey(200, n, n, d, "adagrad", K.capacity_for(200, n, n, d))
    x, y, S = _slabs(key)
    count = min(steps, key.capacity)
    kernels, builds = {}, {}
    for label, (module, patch) in variants.items():
        with patched(module, **patch):
            t0 = time.perf_counter()
            kernels[label] = _ready(K.build_compiled(key), d)
            builds[label] = time.perf_counter() - t0
    med = _interleaved({k: _call(kernels[k], x, y, S, count) for k in kernels}, rounds)
    return [{"n": n, "d": d, "variant": k, "build_s": builds[k], "ms_per_step": 1000 * med[k] / count} for k in kernels]


def sigma_cost(ds=(4, 16, 64, 256), n: int = 1, rounds: int = 5) -> list[dict]:
    """ms/step over d: sigma_max on the host from the recorded W_s (engine) vs eigh inside the XLA loop."""
    import rnn_core.derived as D
    import rnn_core.kernels as K

    rows = []
    for d in ds:
        key = K.KernelKey(200, n, n, d, "adagrad", K.capacity_for(200, n, n, d))
        x, y, S = _slabs(key)
        count = min(key.capacity, 200 if d <= 16 else (50 if d <= 64 else 8))
        kernels = {}
        for label, patch in (("host", {}), ("xla", {"derived_window": with_xla_sigma(D.unrolled_window)})):
            with patched(K, **patch):
                kernels[label] = _ready(K.build_compiled(key), d)
        med = _interleaved({k: _call(kernels[k], x, y, S, count) for k in kernels}, rounds)
        rows.append({"n": n, "d": d, "host": 1000 * med["host"] / count, "xla": 1000 * med["xla"] / count})
    return rows


def _formulations(n: int, d: int, B: int):
    """Loss-and-gradient functions (W, b_s, U, b_p, x [B,n], y [B,n], S0 [B,d]) -> (loss, grads, S_n)."""
    import tensorflow as tf

    from rnn_core.model import unroll

    def tape(W, b_s, U, b_p, xw, yw, S0):
        ps = [W, b_s, U, b_p]
        with tf.GradientTape() as tp:
            tp.watch(ps)
            _, st, _, ls = unroll(ps, xw, yw, S0)
            loss = tf.reduce_mean(tf.stack(ls))
        return loss, tp.gradient(loss, ps), st[-1]

    def hand_bd(fused: bool):
        def mm(a, M):  # a [B, k] @ M [k, m]
            return tf.reduce_sum(a[:, :, None] * M[None], axis=1) if fused else tf.matmul(a, M)

        def f(W, b_s, U, b_p, xw, yw, S0):
            Wx, Ws = tf.transpose(W[:, :2]), tf.transpose(W[:, 2:])
            X, Y = tf.one_hot(xw, 2), tf.one_hot(yw, 2)  # [B, n, 2]
            S = [S0]
            for t in range(n):
                S.append(tf.tanh(mm(X[:, t], Wx) + mm(S[-1], Ws) + b_s))
            St = tf.stack(S[1:], axis=1)  # [B, n, d]
            P = tf.einsum("bnd,kd->bnk", St, U) + b_p
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(Y, P))
            dP = (tf.nn.softmax(P) - Y) / (B * n)
            dSl = tf.einsum("bnk,kd->bnd", dP, U)
            dZ, dz = [None] * n, tf.zeros_like(S0)
            for t in reversed(range(n)):
                dz = dZ[t] = (dSl[:, t] + mm(dz, W[:, 2:])) * (1 - S[t + 1] * S[t + 1])
            dZs = tf.stack(dZ, axis=1)
            H = tf.concat([X, tf.stack(S[:-1], axis=1)], axis=2)
            grads = [tf.einsum("bni,bnj->ij", dZs, H), tf.reduce_sum(dZs, [0, 1]),
                     tf.einsum("bnk,bnd->kd", dP, St), tf.reduce_sum(dP, [0, 1])]
            return loss, grads, S[-1]
        return f

    def hand_db(fused: bool):
        def mv(M, v):  # M [p, q] @ v [q, B]
            return tf.reduce_sum(M[:, :, None] * v[None], axis=1) if fused else tf.matmul(M, v)

        def f(W, b_s, U, b_p, xw, yw, S0):
            xf = tf.cast(tf.transpose(xw), tf.float32)  # [n, B]
            yf = tf.cast(tf.transpose(yw), tf.float32)
            Ws = W[:, 2:]
            S = [tf.transpose(S0)]  # states [d, B]: the batch is the fast axis
            for t in range(n):
                xin = W[:, 0:1] * (1 - xf[t])[None] + W[:, 1:2] * xf[t][None]
                S.append(tf.tanh(xin + mv(Ws, S[-1]) + b_s[:, None]))
            St = tf.stack(S[1:])  # [n, d, B]
            P = tf.einsum("kd,ndb->nkb", U, St) + b_p[None, :, None]
            Y = tf.stack([1 - yf, yf], axis=1)  # [n, 2, B]
            loss = -tf.reduce_mean(tf.reduce_sum(Y * tf.nn.log_softmax(P, axis=1), axis=1))
            dP = (tf.nn.softmax(P, axis=1) - Y) / (B * n)
            dSl = tf.einsum("kd,nkb->ndb", U, dP)
            WsT = tf.transpose(Ws)
            dZ, dz = [None] * n, tf.zeros_like(S[0])
            for t in reversed(range(n)):
                dz = dZ[t] = (dSl[t] + mv(WsT, dz)) * (1 - S[t + 1] * S[t + 1])
            dZs = tf.stack(dZ)
            H = tf.concat([tf.stack([1 - xf, xf], axis=1), tf.stack(S[:-1])], axis=1)  # [n, 2+d, B]
            grads = [tf.einsum("nib,njb->ij", dZs, H), tf.reduce_sum(dZs, [0, 2]),
                     tf.einsum("nkb,ndb->kd", dP, St), tf.reduce_sum(dP, [0, 2])]
            return loss, grads, tf.transpose(S[-1])
        return f

    return {
        "tape over the unrolled list graph [B, d] (engine's math)": tape,
        "hand-written BPTT, [B, d], dots": hand_bd(False),
        "hand-written BPTT, [B, d], fused multiply-reduce": hand_bd(True),
        "hand-written BPTT, [d, B], dots": hand_db(False),
        "hand-written BPTT, [d, B], fused multiply-reduce": hand_db(True),
    }


def formulation(n: int = 10, d: int = 4, B: int = 200, steps: int = 500, rounds: int = 7) -> list[dict]:
    """Minimal XLA loops (grads + Adagrad, no metrics): ms/step and final loss on R2RT data."""
    import tensorflow as tf

    from bench.peers import r2rt_config, windows
    from rnn_core.model import init_params

    cfg = r2rt_config(n=n, d=d)
    xb, yb, total = windows(cfg, 0)
    steps = min(steps, total)
    x = tf.constant(xb[:, : steps * n])
    y = tf.constant(yb[:, : steps * n])
    p0 = init_params(d)
    rows, fns = [], {}
    for label, fn in _formulations(n, d, B).items():
        V = [tf.Variable(v) for v in p0]
        acc = [tf.Variable(np.full(v.shape, 0.1, np.float32)) for v in p0]

        def chunk(x, y, S, count, fn=fn, V=V, acc=acc):
            def body(i, S, ta):
                xw = tf.slice(x, [0, i * n], [B, n])
                yw = tf.slice(y, [0, i * n], [B, n])
                loss, grads, S_next = fn(*[v.read_value() for v in V], xw, yw, S)
                for v, a, g in zip(V, acc, grads):
                    a.assign_add(g * g)
                    v.assign_sub(0.1 * g / tf.sqrt(a + 1e-7))
                return i + 1, S_next, ta.write(i, loss)

            init = (0, S, tf.TensorArray(tf.float32, size=steps))
            _, S, ta = tf.while_loop(lambda i, *_: i < count, body, init, maximum_iterations=steps)
            return ta.stack(), S

        f = tf.function(chunk, jit_compile=True)
        S0 = tf.zeros([B, d])
        t0 = time.perf_counter()
        f(x, y, S0, tf.constant(1))[0].numpy()
        build = time.perf_counter() - t0

        def reset(V=V, acc=acc):
            for v, a, p in zip(V, acc, p0):
                v.assign(p)
                a.assign(np.full(p.shape, 0.1, np.float32))

        fns[label] = (f, reset, build)
    losses = {}

    def call(label) -> float:
        f, reset, _ = fns[label]
        reset()
        args = (x, y, tf.zeros([B, d]), tf.constant(steps))
        t0 = time.perf_counter()
        losses[label] = f(*args)[0].numpy()
        return time.perf_counter() - t0

    med = _interleaved({k: (lambda k=k: call(k)) for k in fns}, rounds)
    for label, (_, _, build) in fns.items():
        rows.append({
            "n": n, "d": d, "variant": label, "build_s": build, "ms_per_step": 1000 * med[label] / steps,
            "final_loss": float(np.mean(losses[label][-100:])),
        })
    return rows
