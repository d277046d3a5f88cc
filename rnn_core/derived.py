"""The window of `model.step` with its backward pass derived by hand, arranged for XLA.

With Z_t = W (X_t || S_{t-1}) + b_s and S_t = tanh(Z_t), going back one time step is

    dL/dS_t = dL/dP_t U + dL/dZ_{t+1} W_s        (the part through P_t, the part through S_{t+1})
    dL/dZ_t = dL/dS_t * (1 - S_t^2)

and dW = sum_t dL/dZ_t^T (X_t || S_{t-1}), dU = sum_t dL/dP_t^T S_t. `backward_step` is that one
step, for the trained loss and for the last loss alone (the temporal profile); both passes use it:

unrolled_window   the n time steps as a Python list of tensors (n <= UNROLL_LIMIT)
rolled_window     the time loop in tf.scan forward and backward, so the program's size does not grow with n

Both return a `WindowResult` and are held to `model.step`, to finite differences and to the NumPy
reference by the tests.
"""
from __future__ import annotations

from .backend import tf  # TensorFlow from one thread at a time
from .truncation import carried_position
from .window import WindowResult

ELEMENTWISE_MAX_D = 4  # state sizes where per-operation overhead outweighs arithmetic (see times_transpose)


def times_transpose(A, M):
    """A @ M^T for A [B, k], M [m, k].

    For k <= ELEMENTWISE_MAX_D it is written as sum_j A[:, j] M[:, j], elementwise work XLA fuses with
    its neighbours (the tanh of the forward step, the tanh' product of the backward one): at such d a
    dot call costs more than its arithmetic. Larger k uses tf.matmul, and so does eager execution
    (a run's start while its program compiles), where each of the k operations is a Python call.
    """
    k = M.shape[1]
    if k is None or k > ELEMENTWISE_MAX_D or tf.executing_eagerly():
        return tf.matmul(A, M, transpose_b=True)
    # One Split and one Unpack instead of 2 k strided slices: each slice is four graph nodes to trace and
    # to hand to XLA (most of the unrolled step's graph); the products and sums are the same, in the same order.
    a_cols, m_cols = tf.split(A, k, axis=1), tf.unstack(M, axis=1)  # [B, 1] each, [m] each
    out = a_cols[0] * m_cols[0]
    for j in range(1, k):
        out = out + a_cols[j] * m_cols[j]
    return out


def _through(local, Z_next, W_sT):
    """local + dZ_{t+1} W_s, where either part may be absent (None) at the window's ends."""
    if Z_next is None:
        return local
    back = times_transpose(Z_next, W_sT)
    return back if local is None else local + back


def backward_step(S_t, W_sT, dS_local, dZ_next, gS_local, gZ_next):
    """One time step back through the cell: (dS_t, dZ_t, gS_t, gZ_t).

    d*: the trained loss L; g*: the last loss alone (for ||dL_last/dS_t||). dS_local, gS_local
    [B, d] are the parts through P_t; dZ_next, gZ_next the dL/dZ_{t+1} of the step after, None at
    the window's last position (a local part is None where that loss does not depend on P_t).
    W_sT: W_s transposed [d, d].
    """
    dS_t = _through(dS_local, dZ_next, W_sT)
    gS_t = _through(gS_local, gZ_next, W_sT)
    tanh_grad = 1.0 - S_t * S_t
    return dS_t, dS_t * tanh_grad, gS_t, gS_t * tanh_grad


def unrolled_window(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1) -> WindowResult:
    """The window with the recurrence as a Python list of n state tensors; fastest for small n.

    Arranged for XLA, where at small d each separate operation costs more than its arithmetic:
    W (X_t || S_{t-1}) is split into W_x X_t (all t in one product) + W_s S_{t-1}; the predictions,
    losses and dL/dP of all t are one operation each over the n B rows; for d <= ELEMENTWISE_MAX_D
    the d x d products are fused multiply-adds and the 2 n gradient norms one reduction.
    x_window, y_window: int [B, n]; mask: float [n]; k1: the window position after which S is carried, plus one.
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
    losses = tf.reshape(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=P_all), [n, -1])  # [n, B]
    position_loss = tf.reduce_mean(losses, axis=1)
    probs_all = tf.nn.softmax(P_all)  # [n B, 2]
    trained = tf.reduce_sum(mask)
    loss = tf.reduce_sum(position_loss * mask) / trained
    weight = (mask / (trained * B))[:, None, None]  # each position's weight in the mean loss
    dP_all = tf.reshape(tf.reshape(probs_all - Y, [n, -1, 2]) * weight, [-1, 2])  # dL/dP_t for all t  [n B, 2]
    dS_local = tf.split(tf.matmul(dP_all, U), n)  # the part of dL/dS_t through P_t
    probs_last, targets_last = tf.split(probs_all, n)[-1], tf.split(Y, n)[-1]
    gS_last = tf.matmul((probs_last - targets_last) / B, U)  # dL_last/dS_(n-1)
    dS, dZ, temporal = [None] * n, [None] * n, [None] * n
    dZ_next = gZ_next = None
    for t in reversed(range(n)):
        dS[t], dZ[t], temporal[t], gZ_next = backward_step(
            states[t], W_sT, dS_local[t], dZ_next, gS_last if t == n - 1 else None, gZ_next)
        dZ_next = dZ[t]
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
    else:  # from d = 16 on the stack's copy costs more than separate reductions (bench/README.md)
        norms = tf.stack([tf.norm(g) for g in dS + temporal])  # ||dL/dS_t|| then ||dL_last/dS_t||
    S_stack = tf.reshape(S_all, [n, -1, tf.shape(first_state)[1]])  # [n, B, d]
    prob_one = tf.reshape(probs_all[:, 1], [n, -1])  # [n, B]
    return WindowResult(loss, grads, position_loss, norms[:n], norms[n:], S_stack, prob_one,
                        tf.gather(S_stack, carried_position(k1)))


def rolled_window(W, b_s, U, b_p, x_window, y_window, first_state, mask, k1) -> WindowResult:
    """The window with the time loop in tf.scan, forward and back: same numbers, program size independent of n.

    x_window, y_window: int [B, n]; mask: float [n]; k1: int (or int tensor).
    """
    X = tf.one_hot(tf.transpose(x_window), 2, dtype=W.dtype)  # [n, B, 2]
    Y = tf.one_hot(tf.transpose(y_window), 2, dtype=W.dtype)  # [n, B, 2]
    B = tf.cast(tf.shape(x_window)[0], W.dtype)

    W_s = W[:, 2:]  # recurrent block [d, d]
    W_sT = tf.transpose(W_s)
    input_part = tf.einsum("nbk,dk->nbd", X, W[:, :2]) + b_s  # W_x X_t + b_s for all t  [n, B, d]

    def forward(S_prev, input_t):
        return tf.tanh(input_t + times_transpose(S_prev, W_s))

    S = tf.scan(forward, input_part, initializer=first_state)  # [n, B, d]
    P = tf.einsum("nbd,kd->nbk", S, U) + b_p  # [n, B, 2]
    losses = tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=P)  # [n, B]
    position_loss = tf.reduce_mean(losses, axis=1)  # [n]
    loss = tf.reduce_sum(position_loss * mask) / tf.reduce_sum(mask)

    probs = tf.nn.softmax(P)
    dP = (probs - Y) * (mask / (tf.reduce_sum(mask) * B))[:, None, None]  # dL/dP_t  [n, B, 2]
    dS_local = tf.einsum("nbk,kd->nbd", dP, U)  # the part of dL/dS_t through P_t
    n = tf.shape(X)[0]
    gS_last = tf.einsum("bk,kd->bd", (probs[-1] - Y[-1]) / B, U)  # dL_last/dS_(n-1)
    gS_local = tf.concat([tf.zeros_like(S[:-1]), gS_last[None]], axis=0)  # the last loss depends on P_(n-1) only

    def back(carry, inputs):
        _, dZ_next, _, gZ_next = carry
        dS_loc_t, gS_loc_t, S_t = inputs
        return backward_step(S_t, W_sT, dS_loc_t, dZ_next, gS_loc_t, gZ_next)

    zeros = tf.zeros_like(first_state)
    dS, dZ, gS, _ = tf.scan(back, (dS_local, gS_local, S), initializer=(zeros, zeros, zeros, zeros), reverse=True)
    S_prev = tf.concat([first_state[None], S[:-1]], axis=0)  # [n, B, d]
    H = tf.concat([X, S_prev], axis=2)  # (X_t || S_{t-1})  [n, B, 2 + d]
    grads = [
        tf.einsum("nbi,nbj->ij", dZ, H),
        tf.reduce_sum(dZ, axis=[0, 1]),
        tf.einsum("nbk,nbd->kd", dP, S),
        tf.reduce_sum(dP, axis=[0, 1]),
    ]
    grad_norms = tf.norm(tf.reshape(dS, [n, -1]), axis=1)
    temporal = tf.norm(tf.reshape(gS, [n, -1]), axis=1)
    return WindowResult(loss, grads, position_loss, grad_norms, temporal, S, probs[:, :, 1],
                        tf.gather(S, carried_position(k1)))
