"""One training window as the compiled trainer runs it: the result type, and the autodiff passes.

Every window pass (these two, and the hand-derived ones in `derived.py`) takes
`(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1)` and returns a `WindowResult`;
the kernel picks one by the run's `gradient` setting and n (`kernels.window_pass_for`).

autodiff_unrolled   `model.step` itself: `unroll`'s lists of n tensors differentiated by tf.GradientTape
autodiff_rolled     the same cell and losses with the time loop rolled into tf.scan (n > UNROLL_LIMIT),
                    differentiated by tf.GradientTape, so the compiled program's size does not grow with n
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import tf  # TensorFlow from one thread at a time
from .model import cell, step
from .truncation import carried_position

UNROLL_LIMIT = 16  # n up to this builds the window as n separate time steps; beyond, one rolled loop


class WindowResult(NamedTuple):
    """What one window pass returns (tensors)."""

    loss: tf.Tensor  # the trained loss (scalar)
    grads: list  # [dW, db_s, dU, db_p]
    position_loss: tf.Tensor  # [n] loss at each window position
    grad_norms: tf.Tensor  # [n] ||dL/dS_t||
    temporal: tf.Tensor  # [n] ||dL_last/dS_t||
    states: tf.Tensor  # [n, B, d] S_t
    prob_one: tf.Tensor  # [n, B] P(Y_t = 1)
    next_state: tf.Tensor  # [B, d] the state handed to the next window


def autodiff_unrolled(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1) -> WindowResult:
    """`model.step` on `unroll`'s graph, its metrics as a WindowResult."""
    loss, grads, metrics, last_state = step([W, b_s, U, b_p], x_window, y_window, first_state, k1=k1, mask=mask)
    return WindowResult(loss, grads, metrics["position_loss"], metrics["grad_norms"], metrics["temporal"],
                        metrics["states"], metrics["prob_one"], last_state)


def autodiff_rolled(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1) -> WindowResult:
    """`model.step`'s window with the time loop in tf.scan; tf.GradientTape differentiates the scan.

    The tape sees the scan's stacked output S only through the predictions, not through the
    recurrence, so each S_t gets a zero `probe_t` added inside the cell: dL/dprobe_t is the whole
    dL/dS_t, through P_t and through every later state.
    """
    params = [W, b_s, U, b_p]
    n = int(x_window.shape[1])
    X = tf.one_hot(tf.transpose(x_window), 2, dtype=W.dtype)  # [n, B, 2]
    Y = tf.transpose(tf.cast(y_window, tf.int32))  # [n, B]
    probe = tf.zeros([n, tf.shape(first_state)[0], tf.shape(first_state)[1]], W.dtype)  # [n, B, d]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params + [probe])
        S = tf.scan(lambda S_prev, inputs: cell(W, b_s, inputs[0], S_prev) + inputs[1], (X, probe),
                    initializer=first_state)  # [n, B, d]
        P = tf.einsum("nbd,kd->nbk", S, U) + b_p  # [n, B, 2]
        position_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=P), axis=1)
        loss = tf.reduce_sum(position_loss * mask) / tf.reduce_sum(mask)
        last_loss = position_loss[-1]
    *grads, dS = tape.gradient(loss, params + [probe])
    temporal = tape.gradient(last_loss, probe)
    del tape
    return WindowResult(
        loss, grads, position_loss,
        tf.norm(tf.reshape(dS, [n, -1]), axis=1), tf.norm(tf.reshape(temporal, [n, -1]), axis=1),
        S, tf.nn.softmax(P)[:, :, 1], tf.gather(S, carried_position(k1)),
    )
