"""Keras's SGD, Adagrad and Adam updates as pure functions: weights and optimizer state in, new ones out.

A compiled chunk takes a run's weights and optimizer state as arguments and returns the new ones, so one
program serves every run of its shapes at once (keras's `stateless_apply` is not supported by its
TensorFlow backend). The state is laid out as keras's built optimizer's `variables` (iteration,
learning_rate, then its slots per weight), and each update is keras 3's `update_step` written with the
same operations in the same order, so a step rounds as keras's does (tests/test_optimizers.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backend import tf  # TensorFlow from one thread at a time

OPTIMIZERS = ("sgd", "adagrad", "adam")
ADAGRAD_INITIAL, ADAGRAD_EPSILON = 0.1, 1e-7  # keras.optimizers.Adagrad's defaults
BETA_1, BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # keras.optimizers.Adam's defaults


def fresh_state(name: str, learning_rate: float, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """The state a newly built keras optimizer `name` holds for weights of these shapes."""
    head = [np.array(0, np.int64), np.array(learning_rate, np.float32)]
    if name == "sgd":
        return head
    if name == "adagrad":
        return head + [np.full(s, ADAGRAD_INITIAL, np.float32) for s in shapes]
    if name == "adam":
        return head + [np.zeros(s, np.float32) for s in shapes for _ in range(2)]  # m, v per weight
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def apply(name: str, state: Sequence[tf.Tensor], grads: Sequence[tf.Tensor],
          params: Sequence[tf.Tensor]) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
    """One optimizer step: (new weights, new state), as keras's `optimizer.apply(grads, params)` leaves them."""
    iteration, lr = state[0], state[1]
    slots = list(state[2:])
    new_params, new_slots = [], []
    if name == "sgd":
        new_params = [p - g * lr for p, g in zip(params, grads)]
    elif name == "adagrad":
        for p, g, acc in zip(params, grads, slots):
            acc = acc + tf.square(g)
            new_params.append(p - (lr * g) / tf.sqrt(acc + ADAGRAD_EPSILON))
            new_slots.append(acc)
    elif name == "adam":
        local_step = tf.cast(iteration + 1, tf.float32)
        beta_1_power = tf.pow(tf.constant(BETA_1, tf.float32), local_step)
        beta_2_power = tf.pow(tf.constant(BETA_2, tf.float32), local_step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        for i, (p, g) in enumerate(zip(params, grads)):
            m, v = slots[2 * i], slots[2 * i + 1]
            m = m + (g - m) * (1 - BETA_1)
            v = v + (tf.square(g) - v) * (1 - BETA_2)
            new_params.append(p - (m * alpha) / (tf.sqrt(v) + ADAM_EPSILON))
            new_slots += [m, v]
    else:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return new_params, [iteration + 1, lr, *new_slots]
