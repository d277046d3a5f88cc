"""The peers the engine races: what a user would write instead, trained exactly the same way.

Same rows of the same series (`rnn_core.data.epoch_data`), the same windows of n in order, the
same batch B, the same starting weights (`rnn_core.model.init_params`), Adagrad 0.1 with Keras's
initial accumulator 0.1, state carried from window to window and zeroed at every epoch start,
TensorFlow-style BPTT(n; n): each window's loss is the mean over batch and all n positions.

- `KerasPeer`: `SimpleRNN(d, return_sequences=True, stateful=True)` + `Dense(2)`, fixed batch size,
  one `model.train_on_batch` per window in order (what `fit(..., shuffle=False)` does per batch,
  without its per-call dataset overhead), `reset_state()` at each epoch start.
- `NumpyPeer`: min-char-rnn style: one `loss_fun(x, y, S0) -> loss, grads, last_state` doing the
  forward pass and BPTT by hand, then Adagrad; vectorised over the batch, looped over time.
  float64 by default (min-char-rnn's dtype); `dtype=np.float32` is offered and measured too.
- `JaxPeer`: a plain JAX program: the whole epoch one `jax.jit` function, `lax.scan` over the
  windows, `jax.grad` through a `lax.scan` over the n time steps, Adagrad written out (float32).

Every peer's `train_epoch` returns per-step losses and per-step end times, so a caller can compute
a final loss (mean of the last 100 steps) and steps/s over any steady stretch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.model import Params, init_params

ADAGRAD_INITIAL = 0.1  # keras.optimizers.Adagrad default (and TF1's), used by the engine too
ADAGRAD_EPSILON = 1e-7


def r2rt_config(n: int = 10, d: int = 4, series_length: int = 1_000_000, **changes) -> RunConfig:
    """R2RT part I set-up: B=200, Adagrad 0.1, TF style, r2rt data, 1 epoch (validated)."""
    return RunConfig(
        state_size=d, truncation=n, batch_size=200, series_length=series_length, learning_rate=0.1,
        optimizer="adagrad", style="tensorflow", task="r2rt", **changes,
    ).validate()


def windows(cfg: RunConfig, epoch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The epoch's rows (int32 [B, L]) and its number of TF-style windows floor(L / n)."""
    xb, yb = epoch_data(cfg, epoch)
    return xb.astype(np.int32), yb.astype(np.int32), xb.shape[1] // cfg.truncation


@dataclass
class EpochResult:
    """Per-step losses and end times (perf_counter seconds, relative to the epoch's start)."""

    loss: np.ndarray  # [steps]
    ends: np.ndarray  # [steps]

    @property
    def seconds(self) -> float:
        return float(self.ends[-1]) if len(self.ends) else 0.0

    def steps_per_second(self, skip: int = 0) -> float:
        """Steps/s over steps skip.. (skip > 0 leaves out warm-up such as Keras's first trace)."""
        if len(self.ends) <= skip:
            return float("nan")
        start = self.ends[skip - 1] if skip > 0 else 0.0
        return (len(self.ends) - skip) / max(self.ends[-1] - start, 1e-12)

    def final_loss(self, last: int = 100) -> float:
        return float(np.mean(self.loss[-last:]))


class KerasPeer:
    """Keras stateful SimpleRNN + Dense(2), trained window by window with train_on_batch."""

    label = "Keras SimpleRNN stateful, train_on_batch"

    def __init__(self, cfg: RunConfig, params: Params | None = None, jit_compile="auto"):
        import keras

        self.cfg = cfg
        B, n, d = cfg.batch_size, cfg.truncation, cfg.state_size
        self.rnn = keras.layers.SimpleRNN(d, return_sequences=True, stateful=True)
        self.model = keras.Sequential([keras.Input(batch_shape=(B, n, 2)), self.rnn, keras.layers.Dense(2)])
        self.model.compile(
            optimizer=keras.optimizers.Adagrad(learning_rate=cfg.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
        p = params if params is not None else init_params(d, cfg.init_scale, cfg.seed)
        # S_t = tanh(X_t Wx^T + S_{t-1} Ws^T + b_s): keras kernel = Wx^T, recurrent_kernel = Ws^T.
        self.rnn.set_weights([p.W[:, :2].T.copy(), p.W[:, 2:].T.copy(), p.b_s.copy()])
        self.model.layers[-1].set_weights([p.U.T.copy(), p.b_p.copy()])
        self._eye = np.eye(2, dtype=np.float32)

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> EpochResult:
        xb, yb, steps = windows(self.cfg, epoch)
        n = self.cfg.truncation
        steps = steps if max_steps is None else min(steps, max_steps)
        X = self._eye[xb]  # one-hot [B, L, 2], built once per epoch
        loss = np.empty(steps)
        ends = np.empty(steps)
        self.rnn.reset_state()  # zero state at epoch start
        t0 = time.perf_counter()
        for w in range(steps):
            sl = slice(w * n, (w + 1) * n)
            loss[w] = self.model.train_on_batch(X[:, sl], yb[:, sl])
            ends[w] = time.perf_counter() - t0
        return EpochResult(loss, ends)


class NumpyPeer:
    """Hand-written BPTT in NumPy (min-char-rnn's lossFun, vectorised over the batch) + Adagrad."""

    def __init__(self, cfg: RunConfig, params: Params | None = None, dtype=np.float64):
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.label = f"NumPy hand-written BPTT ({self.dtype.name})"
        p = params if params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
        self.params = [np.array(a, dtype=self.dtype) for a in p]  # W, b_s, U, b_p
        self.acc = [np.full_like(a, ADAGRAD_INITIAL) for a in self.params]
        self._eye = np.eye(2, dtype=self.dtype)

    def loss_fun(self, x: np.ndarray, y: np.ndarray, S0: np.ndarray):
        """x, y int [B, n]; S0 [B, d] -> (loss, [dW, db_s, dU, db_p], last state [B, d])."""
        W, b_s, U, b_p = self.params
        B, n = x.shape
        d = S0.shape[1]
        Wx, Ws = W[:, :2], W[:, 2:]
        S = np.empty((n + 1, B, d), self.dtype)
        S[0] = S0
        xin = Wx.T[x] + b_s  # [B, n, d]: one-hot X_t times Wx^T is a row lookup
        for t in range(n):
            S[t + 1] = np.tanh(xin[:, t] + S[t] @ Ws.T)
        P = S[1:] @ U.T + b_p  # [n, B, 2]
        P -= P.max(axis=2, keepdims=True)
        e = np.exp(P)
        probs = e / e.sum(axis=2, keepdims=True)
        yt = y.T  # [n, B]
        rows = np.arange(B)
        picked = probs[np.arange(n)[:, None], rows[None, :], yt]
        loss = -np.log(picked).mean()
        dP = probs  # softmax - onehot(y), scaled by the mean over n * B
        dP[np.arange(n)[:, None], rows[None, :], yt] -= 1.0
        dP /= n * B
        dU = dP.reshape(-1, 2).T @ S[1:].reshape(-1, d)
        db_p = dP.sum(axis=(0, 1))
        dS_local = dP @ U  # [n, B, d]
        dZ = np.empty((n, B, d), self.dtype)
        dZ_next = np.zeros((B, d), self.dtype)
        for t in reversed(range(n)):
            dS = dS_local[t] + dZ_next @ Ws
            dZ_next = dZ[t] = dS * (1.0 - S[t + 1] * S[t + 1])
        H = np.concatenate([self._eye[x.T], S[:-1]], axis=2)  # (X_t || S_{t-1})
        dW = dZ.reshape(-1, d).T @ H.reshape(-1, 2 + d)
        db_s = dZ.sum(axis=(0, 1))
        return loss, [dW, db_s, dU, db_p], S[n].copy()

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> EpochResult:
        xb, yb, steps = windows(self.cfg, epoch)
        n, lr = self.cfg.truncation, self.cfg.learning_rate
        steps = steps if max_steps is None else min(steps, max_steps)
        S = np.zeros((self.cfg.batch_size, self.cfg.state_size), self.dtype)
        loss = np.empty(steps)
        ends = np.empty(steps)
        t0 = time.perf_counter()
        for w in range(steps):
            sl = slice(w * n, (w + 1) * n)
            loss[w], grads, S = self.loss_fun(xb[:, sl], yb[:, sl], S)
            for p, a, g in zip(self.params, self.acc, grads):
                a += g * g
                p -= lr * g / np.sqrt(a + ADAGRAD_EPSILON)
            ends[w] = time.perf_counter() - t0
        return EpochResult(loss, ends)


class JaxPeer:
    """Plain JAX: one jitted epoch (lax.scan over windows; jax.grad through lax.scan over time) + Adagrad."""

    label = "JAX jitted epoch, lax.scan + jax.grad"

    def __init__(self, cfg: RunConfig, params: Params | None = None):
        import jax
        import jax.numpy as jnp

        self.cfg = cfg
        p = params if params is not None else init_params(cfg.state_size, cfg.init_scale, cfg.seed)
        self.params = tuple(jnp.asarray(a, jnp.float32) for a in p)  # W, b_s, U, b_p
        self.acc = tuple(jnp.full_like(a, ADAGRAD_INITIAL) for a in self.params)
        n, lr = cfg.truncation, cfg.learning_rate

        def window_loss(params, S0, x, y):  # x, y int [n, B]; S0 [B, d]
            W, b_s, U, b_p = params
            Wx, Ws = W[:, :2], W[:, 2:]

            def cell(S, xy):
                xt, yt = xy
                S = jnp.tanh(Wx.T[xt] + S @ Ws.T + b_s)  # one-hot X_t times Wx^T is a row lookup
                logits = S @ U.T + b_p  # [B, 2]
                nll = jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, yt[:, None], 1)[:, 0]
                return S, jnp.mean(nll)

            S, losses = jax.lax.scan(cell, S0, (x, y))
            return jnp.mean(losses), S

        grad_fn = jax.value_and_grad(window_loss, has_aux=True)

        def step(carry, xy):
            params, acc, S = carry
            (loss, S), g = grad_fn(params, S, *xy)
            acc = tuple(a + gi * gi for a, gi in zip(acc, g))
            params = tuple(pi - lr * gi / jnp.sqrt(a + ADAGRAD_EPSILON) for pi, gi, a in zip(params, g, acc))
            return (params, acc, S), loss

        def epoch(params, acc, xw, yw):  # xw, yw int [windows, n, B]
            S0 = jnp.zeros((xw.shape[2], params[0].shape[0]), jnp.float32)
            (params, acc, _), losses = jax.lax.scan(step, (params, acc, S0), (xw, yw))
            return params, acc, losses

        self._epoch = jax.jit(epoch)
        self._n = n

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> EpochResult:
        """One epoch, data generation included in the time (per-step ends spread evenly: one call)."""
        t0 = time.perf_counter()
        xb, yb, steps = windows(self.cfg, epoch)
        steps = steps if max_steps is None else min(steps, max_steps)
        B, n = xb.shape[0], self._n
        xw = xb[:, :steps * n].reshape(B, steps, n).transpose(1, 2, 0)  # [windows, n, B]
        yw = yb[:, :steps * n].reshape(B, steps, n).transpose(1, 2, 0)
        self.params, self.acc, losses = self._epoch(self.params, self.acc, xw, yw)
        loss = np.asarray(losses)  # waits for the device
        total = time.perf_counter() - t0
        return EpochResult(loss.astype(np.float64), total * np.arange(1, steps + 1) / steps)


def engine_epoch(cfg: RunConfig, params: Params | None = None, chunk_seconds: float = 0.1,
                 with_data: bool = True):
    """One epoch of the engine's Trainer to its final chunk: (EpochResult, trainer, first-chunk s).

    With `with_data` (what the JAX peer and `race.py` measure) the time starts before the Trainer is built,
    so it holds the epoch's data generation (the Trainer generates epoch 0 when it is built) and the run's
    set-up; without it, from `run()` on, as `run.py`'s Keras and NumPy peers, which are handed their rows.
    Per-step end times are spread evenly within each chunk (a chunk's steps finish together).
    """
    from rnn_core.train import Trainer

    t0 = time.perf_counter()
    trainer = Trainer(cfg.replace(epochs=1), initial_params=params, chunk_seconds=chunk_seconds)
    losses, ends = [], []
    first = None
    if not with_data:
        t0 = time.perf_counter()
    last = 0.0
    for chunk in trainer.run():
        now = time.perf_counter() - t0
        first = now if first is None else first
        k = len(chunk.loss)
        losses.append(chunk.loss)
        ends.append(last + (now - last) * np.arange(1, k + 1) / k)
        last = now
    return EpochResult(np.concatenate(losses), np.concatenate(ends)), trainer, first
