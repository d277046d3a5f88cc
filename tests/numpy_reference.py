"""Independent NumPy float64 reference of the seed's RNN and of truncated BPTT (no TensorFlow).

    S_t = tanh(W (X_t || S_{t-1}) + b_s),   P_t = U S_t + b_p,   loss = softmax cross-entropy (nats)

`window` is min-char-rnn's `lossFun`: one forward and one hand-written backward pass over a window
give the loss, the gradients, the per-position norms ||dL/dS_t|| and ||dL_last/dS_t||, and the state
to carry. `train` replays Williams-Peng BPTT(k2 = n; k1) (TensorFlow style is k1 = n) with plain
SGD or Keras-style Adagrad, optional global-norm clipping, state reset to zero at every epoch and
the loss on the last k1 positions of each window (all n in an epoch's first window).

Nothing here imports the engine: the tests compare the engine to these numbers.
"""
from __future__ import annotations

import numpy as np

ADAGRAD_INITIAL = 0.1  # keras.optimizers.Adagrad defaults
ADAGRAD_EPSILON = 1e-7


def as_params(params) -> list[np.ndarray]:
    """W (d, 2+d), b_s (d,), U (2, d), b_p (2,) as float64 copies."""
    return [np.array(p, dtype=np.float64) for p in params]


def one_hot(x: np.ndarray) -> np.ndarray:
    """int [...] -> float64 [..., 2]."""
    return np.eye(2)[np.asarray(x, dtype=np.int64)]


def mask_for(n: int, k1: int, first_window: bool) -> np.ndarray:
    """Trained positions: the last k1 of the window, or all n in an epoch's first window."""
    mask = np.zeros(n)
    if first_window:
        mask[:] = 1.0
    else:
        mask[n - k1:] = 1.0
    return mask


def forward(params, x, y, first_state, perturb: dict[int, np.ndarray] | None = None):
    """States [n+1, B, d] (index 0 = first_state), logits [n, B, 2] and losses [n, B].

    `perturb` maps a position t to an array added to S_t right after it is computed, so that
    (L(S_t + eps) - L(S_t - eps)) / 2 eps is the total derivative dL/dS_t.
    """
    W, b_s, U, b_p = as_params(params)
    x, y = np.asarray(x), np.asarray(y)
    B, n = x.shape
    S = [np.array(first_state, dtype=np.float64)]
    for t in range(n):
        h = np.concatenate([one_hot(x[:, t]), S[-1]], axis=1)  # (X_t || S_{t-1})  [B, 2+d]
        s = np.tanh(h @ W.T + b_s)
        if perturb is not None and t in perturb:
            s = s + perturb[t]
        S.append(s)
    states = np.stack(S)
    logits = np.einsum("nbd,kd->nbk", states[1:], U) + b_p
    top = logits.max(axis=2, keepdims=True)
    log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=2))
    chosen = np.take_along_axis(logits, y.T[..., None].astype(np.int64), axis=2)[..., 0]
    return states, logits, log_z - chosen


def masked_loss(losses: np.ndarray, mask: np.ndarray) -> float:
    """Mean over batch, then the mask-weighted mean over positions."""
    position_loss = losses.mean(axis=1)
    return float((position_loss * mask).sum() / mask.sum())


def window(params, x, y, first_state, k1: int | None = None, first_window: bool = True, mask=None) -> dict:
    """Loss, gradients, per-position norms and the carried state of one training window.

    Returns a dict: loss, grads (dW, db_s, dU, db_p), position_loss [n], grad_norms [n]
    (||dL/dS_t||), temporal [n] (||dL_last/dS_t||, L_last the batch-mean loss of the last
    position), states [n, B, d], probs [n, B] of Y = 1, next_state (S after k1 inputs) and
    d_first_state (dL/dS_{-1}, the gradient truncation throws away).
    """
    W, b_s, U, b_p = as_params(params)
    x, y = np.asarray(x), np.asarray(y)
    B, n = x.shape
    d = W.shape[0]
    k1 = n if k1 is None else k1
    mask = mask_for(n, k1, first_window) if mask is None else np.asarray(mask, dtype=np.float64)
    states, logits, losses = forward((W, b_s, U, b_p), x, y, first_state)
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    Y = one_hot(y.T)  # [n, B, 2]
    X = one_hot(x.T)

    W_s = W[:, 2:]
    dW, db_s, dU, db_p = np.zeros_like(W), np.zeros_like(b_s), np.zeros_like(U), np.zeros_like(b_p)
    grad_norms, temporal = np.zeros(n), np.zeros(n)
    dS_next = np.zeros((B, d))  # dL/dS_t through S_{t+1}
    g_next = np.zeros((B, d))  # dL_last/dS_t through S_{t+1}
    for t in reversed(range(n)):
        dP = (probs[t] - Y[t]) * mask[t] / (mask.sum() * B)
        dS = dP @ U + dS_next
        grad_norms[t] = np.linalg.norm(dS)
        g = (probs[t] - Y[t]) @ U / B if t == n - 1 else g_next
        temporal[t] = np.linalg.norm(g)
        S_t, S_prev = states[t + 1], states[t]
        dU += dP.T @ S_t
        db_p += dP.sum(axis=0)
        dZ = dS * (1.0 - S_t**2)
        dW += dZ.T @ np.concatenate([X[t], S_prev], axis=1)
        db_s += dZ.sum(axis=0)
        dS_next = dZ @ W_s
        g_next = (g * (1.0 - S_t**2)) @ W_s
    position_loss = losses.mean(axis=1)
    return {
        "loss": float((position_loss * mask).sum() / mask.sum()),
        "grads": [dW, db_s, dU, db_p],
        "position_loss": position_loss,
        "grad_norms": grad_norms,
        "temporal": temporal,
        "states": states[1:],
        "probs": probs[:, :, 1],
        "next_state": states[k1],
        "d_first_state": dS_next,
    }


def sigma_max(W) -> float:
    """Largest singular value of the recurrent block W[:, 2:]."""
    return float(np.linalg.svd(np.asarray(W, dtype=np.float64)[:, 2:], compute_uv=False)[0])


def window_starts(row_length: int, n: int, k1: int) -> list[int]:
    """Start of every window of n that fits in a row, one every k1 steps."""
    starts, start = [], 0
    while start + n <= row_length:
        starts.append(start)
        start += k1
    return starts


def train(
    params,
    epochs: list[tuple[np.ndarray, np.ndarray]],
    n: int,
    k1: int | None = None,
    learning_rate: float = 0.1,
    optimizer: str = "sgd",
    clip: float = 0.0,
    carry: str = "k1",
) -> dict:
    """Replay a run: `epochs` holds each epoch's (x, y) rows [B, L].

    carry = "k1" hands S after k1 inputs to the next window (the correct rule); "final" and "zero"
    are wrong rules the tests use to show that the comparison can tell them apart.
    Returns params, state (the carried state after the last step), and per-step arrays loss,
    position_loss, grad_norms, temporal, global_norm, sigma_max, first_states, windows
    (epoch, start) and the last window's `window` result.
    """
    k1 = n if k1 is None else k1
    params = as_params(params)
    accum = [np.full_like(p, ADAGRAD_INITIAL) for p in params]
    rec: dict[str, list] = {k: [] for k in (
        "loss", "position_loss", "grad_norms", "temporal", "global_norm", "sigma_max", "first_states", "windows")}
    state = None
    last = None
    for e, (xr, yr) in enumerate(epochs):
        B = xr.shape[0]
        state = np.zeros((B, params[0].shape[0]))
        for i, start in enumerate(window_starts(xr.shape[1], n, k1)):
            out = window(params, xr[:, start:start + n], yr[:, start:start + n], state, k1, first_window=(i == 0))
            grads = out["grads"]
            norm = float(np.sqrt(sum((g**2).sum() for g in grads)))
            if clip > 0.0 and norm > clip:
                grads = [g * (clip / norm) for g in grads]
            if optimizer == "sgd":
                params = [p - learning_rate * g for p, g in zip(params, grads)]
            elif optimizer == "adagrad":
                accum = [a + g**2 for a, g in zip(accum, grads)]
                params = [p - learning_rate * g / np.sqrt(a + ADAGRAD_EPSILON) for p, g, a in zip(params, grads, accum)]
            else:
                raise ValueError(f"reference has no optimizer {optimizer!r}")
            for name in ("loss", "position_loss", "grad_norms", "temporal"):
                rec[name].append(out[name])
            rec["global_norm"].append(norm)
            rec["sigma_max"].append(sigma_max(params[0]))
            rec["first_states"].append(state)
            rec["windows"].append((e, start))
            if carry == "k1":
                state = out["next_state"]
            elif carry == "final":
                state = out["states"][-1]
            else:
                state = np.zeros_like(state)
            last = out
    result = {k: np.asarray(v) for k, v in rec.items()}
    result.update(params=params, state=state, last=last)
    return result
