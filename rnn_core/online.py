"""Learners that do not truncate: RTRL and UORO, compiled chunks of online training.

Both run the cell forward one time step at a time and carry, beside the state S_t, what they
need to differentiate L_t (the batch-mean loss at t) through the whole history since the zero state:

- RTRL (Williams & Zipser 1989) carries the influence matrix M_t = dS_t/dtheta for
  theta = (W, b_s), per batch row: M_t = diag(1 - S_t^2) (W_s M_{t-1} + I (x) h_t),
  h_t = (X_t || S_{t-1} || 1). The gradient of L_t is dL_t/dS_t M_t: exact for the weights
  that computed the history. Cost O(B d^2 p) a step and B d p floats, p = d (3 + d).
- UORO (Tallec & Ollivier, ICLR 2018) carries a rank-one estimate M_t ~ a_t b_t^T per row,
  refreshed with random signs nu (see `tests/exact_reference.py` for the update and its rho0,
  rho1 norm balancing): O(B d p) a step, about BPTT(1). Unbiased, noisy.

Weights update online, as both papers do: after every `update_every` time steps the mean of
those steps' gradients (U and b_p exact, W and b_s from M) goes through the same keras optimizer
and global-norm clipping as the truncated styles. update_every = 1 is the papers' real-time
learning (the R2RT epoch gives 5,000 updates instead of TF style n = 5's 1,000); update_every = n
makes as many updates as TF style n with the same loss per update (the mean over n positions).
The carried M (or a, b) then mixes Jacobians of earlier weights, as in any online RTRL.

`OnlineKernel.run_packed` mirrors `kernels.Kernel.run_packed`: `count` updates in one
XLA-compiled call; per update the loss, the global norm before clipping, sigma_max of W_s after
the update and the influence norm (RTRL ||M_t||, UORO ||a_t|| ||b_t||, batch-row mean). The
per-position profiles of the truncated styles (grad_norms, temporal) have no window here and are
not produced.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import keras, tf  # TensorFlow from one thread at a time
from .kernels import _make_optimizer
from .online_cost import METHODS, RTRL_MAX_D, check_affordable, recurrent_size  # noqa: F401 (re-exported)
from .spectral import spectral_norms

MAX_CAPACITY = 4096
SLAB_BUDGET = 4_000_000
UORO_EPS = 1e-7  # keeps rho0, rho1 finite while a or b is still zero


@dataclass(frozen=True)
class OnlineKey:
    """What fixes an online chunk's program."""

    method: str
    batch_size: int
    d: int
    optimizer: str
    update_every: int
    capacity: int


def capacity_for(batch_size: int, update_every: int) -> int:
    """Most updates one call may run: its input slab stays under SLAB_BUDGET bytes."""
    return int(max(1, min(MAX_CAPACITY, SLAB_BUDGET // (batch_size * update_every))))


def zero_carry(key: OnlineKey) -> list[np.ndarray]:
    """The carried state at an epoch start: S = 0 and no influence (RTRL [S, M], UORO [S, a, b])."""
    B, d = key.batch_size, key.d
    S = np.zeros((B, d), np.float32)
    if key.method == "rtrl":
        return [S, np.zeros((d, B, recurrent_size(d)), np.float32)]  # M[i, b, (k, j)] = dS_i / dWaug_kj, row b
    return [S, np.zeros((B, d), np.float32), np.zeros((B, recurrent_size(d)), np.float32)]


def _signs(seed, step, B: int, d: int):
    """UORO's random signs nu [B, d] for one time step, from an integer hash of (seed, step, entry).

    tf.random's stateless generators draw different numbers under XLA than eagerly, and a run
    switches from eager to compiled when its compile is ready: hashed bits are the same in both.
    """
    mask = tf.constant(0xFFFFFFFF, tf.int64)
    h = (tf.range(B * d, dtype=tf.int64) * 0x9E3779B1 + tf.cast(step, tf.int64) * 0x85EBCA77
         + tf.cast(seed, tf.int64) * 0xC2B2AE3D + 0x27D4EB2F) & mask
    for _ in range(3):  # the 'lowbias32'-style mixer: every input bit flips about half the output bits
        h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
        h = (h * 0x45D9F3B) & mask
    bit = tf.bitwise.bitwise_and(tf.bitwise.right_shift(h, 7), 1)
    return tf.reshape(1.0 - 2.0 * tf.cast(bit, tf.float32), [B, d])


class OnlineKernel:
    """keras variables, optimizer and the compiled online chunk for one `OnlineKey`."""

    def __init__(self, key: OnlineKey):
        check_affordable(key.method, key.d, key.batch_size)
        self.key = key
        d = key.d
        self.variables = [
            keras.Variable(np.zeros((d, 2 + d), np.float32), name="W"),
            keras.Variable(np.zeros((d,), np.float32), name="b_s"),
            keras.Variable(np.zeros((2, d), np.float32), name="U"),
            keras.Variable(np.zeros((2,), np.float32), name="b_p"),
        ]
        self.optimizer = _make_optimizer(key.optimizer, 0.1)
        self.optimizer.build(self.variables)
        self._initial_optimizer_state = [(v.name, np.array(v.numpy())) for v in self.optimizer.variables]
        self.compiled = False
        # autograph=False: the loops are explicit tf.while_loop/tf.cond; autograph's ast.parse on the warm-up
        # thread races Streamlit's page parsing (CPython 3.11's "AST constructor recursion depth mismatch"
        # SystemError, shown on the page)
        self._fn = tf.function(self._chunk, jit_compile=True, reduce_retracing=False, autograph=False)
        # Before its XLA program is built, a run calls the same chunk as a plain TensorFlow graph (traced on
        # its first call): an eager update walked every slot of the chunk's arrays in Python, about a second.
        self._graph = tf.function(self._chunk, jit_compile=False, reduce_retracing=False, autograph=False)

    @property
    def traced(self) -> bool:
        """Whether the uncompiled chunk's graph is traced (the first uncompiled call traces it)."""
        return self._graph.experimental_get_tracing_count() > 0

    def fresh_optimizer_state(self, learning_rate: float) -> list[np.ndarray]:
        """The optimizer's variables as newly built, with the run's learning rate."""
        return [np.array(learning_rate, np.float32) if name == "learning_rate" else value.copy()
                for name, value in self._initial_optimizer_state]

    def load(self, params, optimizer_state: list[np.ndarray]) -> None:
        """Put a run's weights and optimizer state into the variables."""
        for var, value in zip(self.variables, params):
            var.assign(value)
        for var, value in zip(self.optimizer.variables, optimizer_state):
            var.assign(value)

    def save(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Copy the weights and optimizer state out."""
        return [np.array(v.numpy()) for v in self.variables], [np.array(v.numpy()) for v in self.optimizer.variables]

    def slab_width(self) -> int:
        """Time steps of input one call reads."""
        return self.key.capacity * self.key.update_every

    def run_packed(self, slab, carry: list[np.ndarray], count: int, clip: float, seed: int = 0,
                   time_offset: int = 0, compiled: bool = True) -> dict[str, np.ndarray]:
        """Run `count` updates (count * update_every time steps) from slab int8 [B, slab_width] (x + 2 y).

        carry: from `zero_carry` at an epoch start, else the previous call's `carry`. seed and
        time_offset fix UORO's signs (time_offset = the time step of the slab's first column, so
        a run's signs do not depend on how it was cut into chunks).
        Returns numpy loss, global_norm, influence_norm, sigma_max [count] and the new carry.
        """
        if not 1 <= count <= self.key.capacity:
            raise ValueError(f"count must be between 1 and the capacity {self.key.capacity}, got {count}")
        args = (tf.constant(slab), [tf.constant(c) for c in carry], tf.constant(count, tf.int32),
                tf.constant(clip, tf.float32), tf.constant(seed, tf.int32), tf.constant(time_offset, tf.int32))
        out = (self._fn if compiled else self._graph)(*args)
        self.compiled = self.compiled or compiled
        result = {k: v.numpy() for k, v in out.items() if k != "carry"}
        result["carry"] = [c.numpy() for c in out["carry"]]
        result["sigma_max"] = spectral_norms(result.pop("recurrent")[:count]).astype(np.float32)
        for name in ("loss", "global_norm", "influence_norm"):
            result[name] = result[name][:count]
        return result

    def _chunk(self, slab, carry, count, clip, seed, time_offset):
        key = self.key
        B, d, every = key.batch_size, key.d, key.update_every
        p = recurrent_size(d)
        W, b_s, U, b_p = self.variables
        eye = tf.eye(d)
        rtrl = key.method == "rtrl"

        def time_step(t, S, infl, acc, loss_sum):
            Wv, bv, Uv, bpv = W.value, b_s.value, U.value, b_p.value
            W_s = Wv[:, 2:]
            column = tf.cast(slab[:, t], tf.int32)
            X = tf.one_hot(tf.bitwise.bitwise_and(column, 1), 2)
            Y = tf.one_hot(tf.bitwise.right_shift(column, 1), 2)
            h = tf.concat([X, S, tf.ones([B, 1])], axis=1)  # (X_t || S_{t-1} || 1)  [B, 3+d]
            S_new = tf.tanh(tf.matmul(h[:, :-1], Wv, transpose_b=True) + bv)
            logits = tf.matmul(S_new, Uv, transpose_b=True) + bpv
            loss_sum = loss_sum + tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=logits))
            dP = (tf.nn.softmax(logits) - Y) / B  # dL_t/dP_t, L_t the batch mean  [B, 2]
            dS = tf.matmul(dP, Uv)  # dL_t/dS_t  [B, d]
            tanh_grad = 1.0 - S_new * S_new
            if rtrl:
                (M,) = infl  # [d, B, p], state index first: W_s M is one [d, d] x [d, B p] product
                imm = tf.reshape(eye[:, None, :, None] * h[None, :, None, :], [d, B, p])  # delta_ik h_j
                WM = tf.reshape(tf.matmul(W_s, tf.reshape(M, [d, B * p])), [d, B, p])
                M = tf.transpose(tanh_grad)[:, :, None] * (WM + imm)
                g_rec = tf.reshape(tf.matmul(tf.reshape(tf.transpose(dS), [1, d * B]), tf.reshape(M, [d * B, p])), [p])
                infl = (M,)
                infl_norm = tf.reduce_mean(tf.sqrt(tf.reduce_sum(M * M, axis=[0, 2])))
            else:
                a, b = infl
                nu = _signs(seed, time_offset + t, B, d)
                Ja = tanh_grad * tf.matmul(a, W_s, transpose_b=True)  # J_t a_{t-1}
                nuM = tf.reshape((nu * tanh_grad)[:, :, None] * h[:, None, :], [B, p])  # nu^T M_t^imm
                rho0 = tf.sqrt((tf.norm(b, axis=1) + UORO_EPS) / (tf.norm(Ja, axis=1) + UORO_EPS))[:, None]
                rho1 = tf.sqrt((tf.norm(nuM, axis=1) + UORO_EPS) / (np.sqrt(d) + UORO_EPS))[:, None]
                a = rho0 * Ja + rho1 * nu
                b = b / rho0 + nuM / rho1
                g_rec = tf.einsum("b,bp->p", tf.reduce_sum(dS * a, axis=1), b)
                infl = (a, b)
                infl_norm = tf.reduce_mean(tf.norm(a, axis=1) * tf.norm(b, axis=1))
            g_aug = tf.reshape(g_rec, [d, 3 + d])
            grads = [g_aug[:, :-1], g_aug[:, -1], tf.matmul(dP, S_new, transpose_a=True), tf.reduce_sum(dP, axis=0)]
            acc = [a_ + g for a_, g in zip(acc, grads)]
            return t + 1, S_new, infl, acc, loss_sum, infl_norm

        def update(i, S, infl, loss_ta, glob_ta, infl_ta, rec_ta):
            acc = [tf.zeros_like(v.value) for v in self.variables]

            def inner(t, S, infl, acc, loss_sum, _):
                return time_step(t, S, infl, acc, loss_sum)

            t0 = i * every
            _, S, infl, acc, loss_sum, infl_norm = tf.while_loop(
                lambda t, *_: t < t0 + every, inner, (t0, S, infl, acc, tf.constant(0.0), tf.constant(0.0)),
            )
            grads = [g / every for g in acc]
            global_norm = tf.linalg.global_norm(grads)
            scale = tf.where(tf.logical_and(clip > 0.0, global_norm > clip), clip / global_norm, 1.0)
            self.optimizer.apply([g * scale for g in grads], self.variables)
            return (i + 1, S, infl, loss_ta.write(i, loss_sum / every), glob_ta.write(i, global_norm),
                    infl_ta.write(i, infl_norm), rec_ta.write(i, W.value[:, 2:]))

        def arrays(shape):
            return tf.TensorArray(tf.float32, size=key.capacity, element_shape=shape)

        S0, infl0 = carry[0], tuple(carry[1:])
        out = tf.while_loop(
            lambda i, *_: i < count, update,
            (tf.constant(0), S0, infl0, arrays([]), arrays([]), arrays([]), arrays([d, d])),
            maximum_iterations=key.capacity,
        )
        _, S, infl, loss_ta, glob_ta, infl_ta, rec_ta = out
        return {"loss": loss_ta.stack(), "global_norm": glob_ta.stack(), "influence_norm": infl_ta.stack(),
                "recurrent": rec_ta.stack(), "carry": [S, *infl]}
