"""The seed's RNN cell and its graph unrolled n time steps wide, TensorFlow style.

    S_t = tanh(W (X_t || S_{t-1}) + b_s)     W: d x (2 + d), b_s: d
    P_t = U S_t + b_p                        U: 2 x d,       b_p: 2

`unroll` builds the graph exactly as the source document describes it: each kind of duplicated
tensor (inputs, states, predictions, losses) is a Python list of n tensors sharing W, b_s, U, b_p,
and the caller feeds the final state of one run in as the initial state of the next. `step` is one
training step on that graph, differentiated by tf.GradientTape: `loss, grads, metrics, last_state`.
Which losses train and which state is handed on is the truncation rule (`truncation.py`).

With the setting gradient = "autodiff" the compiled trainer runs `step` itself (rnn_core/window.py);
"derived" runs the same window with its backward pass written out by hand (rnn_core/derived.py).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import tf  # TensorFlow from one thread at a time
from .truncation import carried_position, loss_mask


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


def cell(W, b_s, X_t, S_prev):
    """One time step of the seed's cell: S_t = tanh(W (X_t || S_{t-1}) + b_s)  [B, d]."""
    return tf.tanh(tf.matmul(tf.concat([X_t, S_prev], axis=1), W, transpose_b=True) + b_s)


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
        S = cell(W, b_s, X_t, S)
        states.append(S)
    predictions = [tf.matmul(S_t, U, transpose_b=True) + b_p for S_t in states]
    losses = [
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y_t, logits=P_t)
        for Y_t, P_t in zip(targets, predictions)
    ]
    return rnn_inputs, states, predictions, losses


def step(params, x_window, y_window, first_state, k1: int | None = None, first_window: bool = True, mask=None):
    """One training step on the unrolled graph: (loss, grads, metrics, last_state).

    The trained loss is the mean over batch of the losses at the positions `loss_mask` selects
    (TF style, k1 = n: all of them), or at the positions a given float `mask` [n] weights.
    `last_state` is the state handed to the next step: S after k1 inputs (the final state when
    k1 = n). metrics has `position_loss` [n], `grad_norms` [n] (||dL/dS_t||), `temporal` [n]
    (||dL_last/dS_t||), `global_norm`, `states` [n, B, d] and `prob_one` [n, B] (P(Y_t = 1)).
    """
    params = [tf.convert_to_tensor(p) for p in params]
    n = int(x_window.shape[1])
    k1 = n if k1 is None else k1
    mask = tf.constant(loss_mask(n, k1, first_window), params[0].dtype) if mask is None else mask
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        _, states, predictions, losses = unroll(params, x_window, y_window, first_state)
        per_position = tf.stack([tf.reduce_mean(L_t) for L_t in losses])  # [n]
        loss = tf.reduce_sum(per_position * mask) / tf.reduce_sum(mask)
        last_loss = per_position[-1]
    grads_and_states = tape.gradient(loss, params + states)
    temporal = tape.gradient(last_loss, states)
    del tape
    grads = grads_and_states[:4]
    metrics = {
        "position_loss": per_position,
        "grad_norms": tf.stack([tf.norm(g) for g in grads_and_states[4:]]),
        "temporal": tf.stack([tf.norm(g) for g in temporal]),
        "global_norm": tf.linalg.global_norm(grads),
        "states": tf.stack(states),
        "prob_one": tf.stack([tf.nn.softmax(P_t)[:, 1] for P_t in predictions]),
    }
    return loss, grads, metrics, states[carried_position(k1)]
