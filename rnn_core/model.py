"""The seed's RNN cell and its graph unrolled n time steps wide, TensorFlow style.

    S_t = tanh(W (X_t || S_{t-1}) + b_s)     W: d x (2 + d), b_s: d
    P_t = U S_t + b_p                        U: 2 x d,       b_p: 2

`unroll` builds the graph exactly as the source document describes it: each kind of duplicated
tensor (inputs, states, predictions, losses) is a Python list of n tensors sharing W, b_s, U, b_p,
and the caller feeds the final state of one run in as the initial state of the next. `step` is one
training step on that graph, differentiated by tf.GradientTape: `loss, grads, metrics, last_state`.

`window_pass` is the same window computed with the time loop rolled up (tf.scan forward and a
hand-written backward scan) so that the compiled trainer's build time does not grow with n; the
tests hold it to `step` and to finite differences.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf


class Params(NamedTuple):
    """The four weight arrays of the seed's model."""

    W: np.ndarray  # (d, 2 + d)
    b_s: np.ndarray  # (d,)
    U: np.ndarray  # (2, d)
    b_p: np.ndarray  # (2,)


def init_params(state_size: int, init_scale: float = 1.0, seed: int = 0, dtype=np.float32) -> Params:
    """Glorot-uniform W and U times init_scale, zero biases; repeatable for a seed."""
    rng = np.random.default_rng([seed, 104729])
    d = state_size

    def glorot(rows: int, cols: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (rows + cols))
        return (rng.uniform(-limit, limit, size=(rows, cols)) * init_scale).astype(dtype)

    return Params(glorot(d, 2 + d), np.zeros(d, dtype), glorot(2, d), np.zeros(2, dtype))


def unroll(params, x_window, y_window, first_state):
    """The graph n steps wide as Python lists of tensors.

    x_window, y_window: int [B, n]; first_state: [B, d].
    Returns (rnn_inputs, states, predictions, losses), each a list of n tensors:
    rnn_inputs[t] [B, 2] one-hot X_t, states[t] [B, d] S_t, predictions[t] [B, 2] logits P_t,
    losses[t] [B] cross-entropy of P_t against Y_t in nats.
    """
    W, b_s, U, b_p = params
    rnn_inputs = tf.unstack(tf.one_hot(x_window, 2, dtype=W.dtype), axis=1)
    targets = tf.unstack(tf.cast(y_window, tf.int32), axis=1)
    states = []
    S = first_state
    for X_t in rnn_inputs:
        S = tf.tanh(tf.matmul(tf.concat([X_t, S], axis=1), W, transpose_b=True) + b_s)
        states.append(S)
    predictions = [tf.matmul(S_t, U, transpose_b=True) + b_p for S_t in states]
    losses = [
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y_t, logits=P_t)
        for Y_t, P_t in zip(targets, predictions)
    ]
    return rnn_inputs, states, predictions, losses


def loss_mask(n: int, k1: int, first_window: bool) -> np.ndarray:
    """Which window positions' losses are trained: the last k1 (all n in an epoch's first window)."""
    mask = np.zeros(n, np.float32)
    mask[0 if first_window else n - k1 :] = 1.0
    return mask


def step(params, x_window, y_window, first_state, k1: int | None = None, first_window: bool = True):
    """One training step on the unrolled graph: (loss, grads, metrics, last_state).

    The trained loss is the mean over batch of the losses at the positions `loss_mask` selects
    (TF style, k1 = n: all of them). `last_state` is the state handed to the next step: S after k1
    inputs (the final state when k1 = n). metrics has `position_loss` [n], `grad_norms` [n]
    (||dL/dS_t||), `temporal` [n] (||dL_last/dS_t||), `global_norm`.
    """
    params = [tf.convert_to_tensor(p) for p in params]
    n = int(x_window.shape[1])
    k1 = n if k1 is None else k1
    mask = loss_mask(n, k1, first_window)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        _, states, _, losses = unroll(params, x_window, y_window, first_state)
        per_position = [tf.reduce_mean(l) for l in losses]
        loss = tf.add_n([m * l for m, l in zip(mask.tolist(), per_position)]) / float(mask.sum())
    grads_and_states = tape.gradient(loss, params + states)
    temporal = tape.gradient(per_position[-1], states)
    del tape
    grads = grads_and_states[:4]
    metrics = {
        "position_loss": tf.stack(per_position),
        "grad_norms": tf.stack([tf.norm(g) for g in grads_and_states[4:]]),
        "temporal": tf.stack([tf.norm(g) for g in temporal]),
        "global_norm": tf.linalg.global_norm(grads),
    }
    return loss, grads, metrics, states[k1 - 1]


def window_pass(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1):
    """The window of `unroll`/`step` with the time loop rolled: same numbers, build cost independent of n.

    x_window, y_window: int [B, n]; mask: float [n]; k1: int tensor.
    Returns (loss, [dW, db_s, dU, db_p], position_loss [n], grad_norms [n], temporal [n],
    states [n, B, d], probs [n, B] of Y = 1, next_state [B, d]).
    """
    X = tf.one_hot(tf.transpose(x_window), 2, dtype=W.dtype)  # [n, B, 2]
    Y = tf.one_hot(tf.transpose(y_window), 2, dtype=W.dtype)  # [n, B, 2]
    B = tf.cast(tf.shape(x_window)[0], W.dtype)

    W_s = W[:, 2:]  # recurrent block [d, d]
    W_sT = tf.transpose(W_s)
    input_part = tf.einsum("nbk,dk->nbd", X, W[:, :2]) + b_s  # W_x X_t + b_s for all t  [n, B, d]

    def cell(S_prev, input_t):
        return tf.tanh(input_t + times_transpose(S_prev, W_s))

    S = tf.scan(cell, input_part, initializer=first_state)  # [n, B, d]
    P = tf.einsum("nbd,kd->nbk", S, U) + b_p  # [n, B, 2]
    losses = tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=P)  # [n, B]
    position_loss = tf.reduce_mean(losses, axis=1)  # [n]
    loss = tf.reduce_sum(position_loss * mask) / tf.reduce_sum(mask)

    probs = tf.nn.softmax(P)
    dP = (probs - Y) * (mask / (tf.reduce_sum(mask) * B))[:, None, None]  # dL/dP_t  [n, B, 2]
    dS_local = tf.einsum("nbk,kd->nbd", dP, U)  # the part of dL/dS_t through P_t
    dP_last = (probs[-1] - Y[-1]) / B
    n = tf.shape(X)[0]
    seed_last = tf.einsum("bk,kd->bd", dP_last, U)

    def back(carry, inputs):
        dZ_next, gZ_next, _, _, t = carry
        dS_loc_t, S_t = inputs
        dS_t = dS_loc_t + times_transpose(dZ_next, W_sT)  # dL/dS_t
        gS_t = tf.where(t == n - 1, seed_last, times_transpose(gZ_next, W_sT))  # dL_last/dS_t
        one_minus = 1.0 - S_t * S_t  # tanh'
        return dS_t * one_minus, gS_t * one_minus, dS_t, gS_t, t - 1

    zeros = tf.zeros_like(first_state)
    dZ, _, dS, gS, _ = tf.scan(back, (dS_local, S), initializer=(zeros, zeros, zeros, zeros, n - 1), reverse=True)
    S_prev = tf.concat([first_state[None], S[:-1]], axis=0)  # [n, B, d]
    H = tf.concat([X, S_prev], axis=2)  # (X_t || S_{t-1})  [n, B, 2 + d]
    dW = tf.einsum("nbi,nbj->ij", dZ, H)
    db_s = tf.reduce_sum(dZ, axis=[0, 1])
    dU = tf.einsum("nbk,nbd->kd", dP, S)
    db_p = tf.reduce_sum(dP, axis=[0, 1])
    grad_norms = tf.norm(tf.reshape(dS, [n, -1]), axis=1)
    temporal = tf.norm(tf.reshape(gS, [n, -1]), axis=1)
    next_state = tf.gather(S, k1 - 1)
    return loss, [dW, db_s, dU, db_p], position_loss, grad_norms, temporal, S, probs[:, :, 1], next_state


def spectral_norms(recurrent: np.ndarray) -> np.ndarray:
    """Largest singular value of each d x d matrix in a stack [k, d, d] (float64); inf where not finite.

    The square root of the top eigenvalue of W_s^T W_s from LAPACK (numpy.linalg.eigvalsh), in
    float64, where float32 weights cannot overflow. Run on the host after a compiled chunk on the
    W_s it recorded after each step: XLA's eigh inside the step loop had cost 27% of a step at
    d = 4 and 99% at d = 256.
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


def save_weights(path: str | Path, params: Params) -> None:
    """Write W, b_s, U, b_p to an .npz file (no pickle)."""
    with open(path, "wb") as fh:  # a handle, so numpy does not append ".npz" to the name
        np.savez(fh, W=params.W, b_s=params.b_s, U=params.U, b_p=params.b_p)


def load_weights(path: str | Path, state_size: int | None = None) -> Params:
    """Read an .npz of W (d, 2+d), b_s (d,), U (2, d), b_p (2,), float32 or float64; ValueError if bad."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise ValueError(f"weights file {str(path)!r} does not exist") from None
    except Exception as exc:  # zip, header or pickle errors all mean a bad file
        raise ValueError(f"weights file {str(path)!r} is not a readable .npz without pickles ({exc})") from None
    missing = [k for k in ("W", "b_s", "U", "b_p") if k not in arrays]
    if missing:
        raise ValueError(f"weights file lacks {', '.join(missing)}; it needs W, b_s, U and b_p")
    for name, a in arrays.items():
        if name in ("W", "b_s", "U", "b_p") and a.dtype not in (np.float32, np.float64):
            raise ValueError(f"weights file: {name} has dtype {a.dtype}; expected float32 or float64")
    d = arrays["b_s"].shape[0] if arrays["b_s"].ndim == 1 else -1
    expect = {"W": (d, 2 + d), "b_s": (d,), "U": (2, d), "b_p": (2,)}
    for name, shape in expect.items():
        if arrays[name].shape != shape or d < 1:
            raise ValueError(f"weights file: {name} has shape {arrays[name].shape}; expected {shape}")
    if state_size is not None and d != state_size:
        raise ValueError(f"weights file has state size d={d} but the run has d={state_size}")
    if not all(np.isfinite(arrays[k]).all() for k in expect):
        raise ValueError("weights file holds NaN or infinite values")
    return Params(*(arrays[k].astype(np.float32) for k in ("W", "b_s", "U", "b_p")))


ELEMENTWISE_MAX_D = 4  # state sizes where per-operation overhead outweighs arithmetic (see times_transpose)


def times_transpose(A, M):
    """A @ M^T for A [B, k], M [m, k].

    For k <= ELEMENTWISE_MAX_D it is written as sum_j A[:, j] M[:, j], elementwise work XLA fuses with
    its neighbours (the tanh of the forward step, the tanh' product of the backward one): at d = 4 a
    dot call costs more than the arithmetic, and the R2RT step ran 25-30% faster this way. Larger
    k uses tf.matmul, which was faster from d = 8 on in the same measurement; so does eager
    execution (a run's start while its program compiles), where d ops cost more than one.
    """
    k = M.shape[1]
    if k is None or k > ELEMENTWISE_MAX_D or tf.executing_eagerly():  # eagerly, each op is a Python call
        return tf.matmul(A, M, transpose_b=True)
    out = A[:, 0:1] * M[None, :, 0]
    for j in range(1, k):
        out = out + A[:, j : j + 1] * M[None, :, j]
    return out


def window_pass_unrolled(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1):
    """`window_pass` with the recurrence unrolled as a Python list of n state tensors.

    Same arguments and results, and the same numbers as `step` on `unroll`'s graph, but arranged
    for XLA, where at small d each separate operation costs more than its arithmetic: W (X_t || S_{t-1})
    is split into W_x X_t (all t in one product) + W_s S_{t-1}; the predictions, losses and dL/dP of
    all t are one operation each over the n B rows; the backward pass walks the state list by hand
    from the last time step to the first; for d <= ELEMENTWISE_MAX_D the d x d products are fused
    multiply-adds and the 2 n gradient norms one reduction. Fastest for small n; build time grows
    with n.
    """
    n = int(x_window.shape[1])
    B = tf.cast(tf.shape(x_window)[0], W.dtype)
    W_x, W_s = W[:, :2], W[:, 2:]  # input and recurrent blocks of W
    W_sT = tf.transpose(W_s)
    X = tf.one_hot(tf.reshape(tf.transpose(x_window), [-1]), 2, dtype=W.dtype)  # [n B, 2], time-major
    Y = tf.one_hot(tf.reshape(tf.transpose(tf.cast(y_window, tf.int32)), [-1]), 2, dtype=W.dtype)
    input_part = tf.split(tf.matmul(X, W_x, transpose_b=True) + b_s, n)  # W_x X_t + b_s, a list of n
    states = []
    S = first_state
    for t in range(n):
        S = tf.tanh(input_part[t] + times_transpose(S, W_s))
        states.append(S)
    S_all = tf.concat(states, 0)  # [n B, d]
    P_all = tf.matmul(S_all, U, transpose_b=True) + b_p
    position_loss = tf.reduce_mean(tf.reshape(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=P_all), [n, -1]), axis=1)
    probs_all = tf.nn.softmax(P_all)  # [n B, 2]
    trained = tf.reduce_sum(mask)
    loss = tf.reduce_sum(position_loss * mask) / trained
    weight = (mask / (trained * B))[:, None, None]  # each position's weight in the mean loss
    dP_all = tf.reshape(tf.reshape(probs_all - Y, [n, -1, 2]) * weight, [-1, 2])  # dL/dP_t for all t  [n B, 2]
    dS_local = tf.split(tf.matmul(dP_all, U), n)  # the part of dL/dS_t through P_t
    probs_last, targets_last = tf.split(probs_all, n)[-1], tf.split(Y, n)[-1]
    tanh_grad = [1.0 - S_t * S_t for S_t in states]
    dS, dZ = [None] * n, [None] * n
    temporal = [None] * n  # dL_last/dS_t
    for t in reversed(range(n)):
        dS[t] = dS_local[t] if t == n - 1 else dS_local[t] + times_transpose(dZ[t + 1], W_sT)
        dZ[t] = dS[t] * tanh_grad[t]
        if t == n - 1:
            temporal[t] = tf.matmul((probs_last - targets_last) / B, U)
        else:
            temporal[t] = times_transpose(temporal[t + 1] * tanh_grad[t + 1], W_sT)
    inputs = tf.concat([X, tf.concat([first_state] + states[:-1], axis=0)], axis=1)  # (X_t || S_{t-1})  [n B, 2 + d]
    dZ_all = tf.concat(dZ, 0)
    grads = [
        tf.matmul(dZ_all, inputs, transpose_a=True),
        tf.reduce_sum(dZ_all, axis=0),
        tf.matmul(dP_all, S_all, transpose_a=True),
        tf.reduce_sum(dP_all, axis=0),
    ]
    d = first_state.shape[1]
    if d is not None and d <= ELEMENTWISE_MAX_D:  # one reduction: fewer, if bigger, operations
        norms = tf.sqrt(tf.reduce_sum(tf.reshape(tf.square(tf.stack(dS + temporal)), [2 * n, -1]), axis=1))
    else:  # measured faster from d = 16 on (the stack's copy costs more than the separate reductions)
        norms = tf.stack([tf.norm(g) for g in dS + temporal])  # ||dL/dS_t|| then ||dL_last/dS_t||
    S_stack = tf.reshape(S_all, [n, -1, tf.shape(first_state)[1]])  # [n, B, d]
    prob_one = tf.reshape(probs_all[:, 1], [n, -1])  # [n, B]
    return loss, grads, position_loss, norms[:n], norms[n:], S_stack, prob_one, tf.gather(S_stack, k1 - 1)
