"""Independent float64 NumPy reference for untruncated gradients: full BPTT, gradient flow, RTRL, UORO.

    S_t = tanh(W (X_t || S_{t-1}) + b_s),   P_t = U S_t + b_p,   L_t = batch mean of CE(P_t, Y_t)

A history is x, y int [B, T] read from a zero state (S_{-1} = 0). A set of losses is a weight per
position, w [T]; the loss is sum_t w_t L_t (the trainer's mean over trained positions has
w_t = 1 / #trained on them).

- `full_bptt`: one backward pass of sum_t w_t L_t through the whole history.
- `flow_matrix`: ||dL_t/dS_s|| for chosen losses t and states s (zero where s > t).
- `rtrl`: Williams & Zipser (1989). The influence matrix M_t = dS_t/dtheta, theta = (W, b_s),
  obeys M_t = J_t M_{t-1} + M_t^imm with J_t = diag(1 - S_t^2) W_s and
  M_t^imm[i, (k, j)] = (1 - S_t,i^2) delta_ik h_t,j, h_t = (X_t || S_{t-1} || 1); the gradient of
  L_t is dL_t/dS_t M_t, and U, b_p get their exact local gradients.
- `uoro`: Tallec & Ollivier (ICLR 2018). M_t ~ a_t b_t^T per batch row, with random signs nu:
  a_t = rho0 J_t a_{t-1} + rho1 nu,  b_t = b_{t-1} / rho0 + (nu^T M_t^imm) / rho1,
  rho0 = sqrt(|b_{t-1}| / |J_t a_{t-1}|),  rho1 = sqrt(|nu^T M_t^imm| / |nu|);
  the estimate of L_t's gradient is (dL_t/dS_t . a_t) b_t. rho0 and rho1 are even in nu, so the
  cross terms have zero mean and E[a_t b_t^T] = M_t.

Nothing here imports the engine or TensorFlow.
"""
from __future__ import annotations

import numpy as np


def as_params(params) -> list[np.ndarray]:
    """W (d, 2+d), b_s (d,), U (2, d), b_p (2,) as float64 copies."""
    return [np.array(p, dtype=np.float64) for p in params]


def one_hot(x: np.ndarray) -> np.ndarray:
    """int [...] -> float64 [..., 2]."""
    return np.eye(2)[np.asarray(x, dtype=np.int64)]


def forward(params, x, y, first_state=None, perturb: dict[int, np.ndarray] | None = None):
    """states [T+1, B, d] (index 0 = S_{-1}), probs [T, B, 2], losses [T, B].

    `perturb` maps a position t to an array added to S_t right after it is computed (for finite
    differences of the total derivative dL/dS_t).
    """
    W, b_s, U, b_p = as_params(params)
    x, y = np.asarray(x), np.asarray(y)
    B, T = x.shape
    d = W.shape[0]
    S = [np.zeros((B, d)) if first_state is None else np.array(first_state, np.float64)]
    for t in range(T):
        s = np.tanh(np.concatenate([one_hot(x[:, t]), S[-1]], axis=1) @ W.T + b_s)
        if perturb is not None and t in perturb:
            s = s + perturb[t]
        S.append(s)
    states = np.stack(S)
    logits = np.einsum("tbd,kd->tbk", states[1:], U) + b_p
    top = logits.max(axis=2, keepdims=True)
    z = np.exp(logits - top)
    probs = z / z.sum(axis=2, keepdims=True)
    log_z = top[..., 0] + np.log(z.sum(axis=2))
    chosen = np.take_along_axis(logits, y.T[..., None].astype(np.int64), axis=2)[..., 0]
    return states, probs, log_z - chosen


def weighted_loss(params, x, y, weights, first_state=None, perturb=None) -> float:
    """sum_t w_t L_t."""
    _, _, losses = forward(params, x, y, first_state, perturb)
    return float((np.asarray(weights, np.float64) * losses.mean(axis=1)).sum())


def full_bptt(params, x, y, weights, first_state=None) -> dict:
    """Gradient of sum_t w_t L_t through the whole history: grads [dW, db_s, dU, db_p], dS [T, B, d]."""
    W, b_s, U, b_p = as_params(params)
    x = np.asarray(x)
    B, T = x.shape
    w = np.asarray(weights, np.float64)
    states, probs, _ = forward(params, x, y, first_state)
    Y, X = one_hot(np.asarray(y).T), one_hot(x.T)
    W_s = W[:, 2:]
    grads = [np.zeros_like(W), np.zeros_like(b_s), np.zeros_like(U), np.zeros_like(b_p)]
    dS_all = np.zeros((T, B, W.shape[0]))
    carry = np.zeros((B, W.shape[0]))  # dL/dS_t through S_{t+1}
    for t in reversed(range(T)):
        dP = (probs[t] - Y[t]) * w[t] / B
        dS = dP @ U + carry
        dS_all[t] = dS
        dZ = dS * (1.0 - states[t + 1] ** 2)
        grads[0] += dZ.T @ np.concatenate([X[t], states[t]], axis=1)
        grads[1] += dZ.sum(axis=0)
        grads[2] += dP.T @ states[t + 1]
        grads[3] += dP.sum(axis=0)
        carry = dZ @ W_s
    return {"grads": grads, "dS": dS_all}


def flow_matrix(params, x, y, loss_positions, state_positions, first_state=None) -> np.ndarray:
    """||dL_t/dS_s|| [len(loss_positions), len(state_positions)], L_t the batch-mean loss at t."""
    T = np.asarray(x).shape[1]
    out = np.zeros((len(loss_positions), len(state_positions)))
    for i, t in enumerate(loss_positions):
        w = np.zeros(T)
        w[t] = 1.0
        dS = full_bptt(params, x, y, w, first_state)["dS"]
        for j, s in enumerate(state_positions):
            out[i, j] = np.linalg.norm(dS[s]) if s <= t else 0.0
    return out


def _flat(grads) -> np.ndarray:
    return np.concatenate([np.ravel(g) for g in grads])


def flatten(grads) -> np.ndarray:
    """[dW, db_s, dU, db_p] as one vector."""
    return _flat(grads)


def _step_pieces(W, b_s, U, b_p, X_t, Y_t, S_prev):
    """One step: S_t, h_t = (X_t || S_{t-1} || 1), tanh' and dL_t/dP_t (batch mean)."""
    B = X_t.shape[0]
    h = np.concatenate([X_t, S_prev, np.ones((B, 1))], axis=1)  # [B, 3+d]
    S = np.tanh(h[:, :-1] @ W.T + b_s)
    logits = S @ U.T + b_p
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return S, h, 1.0 - S**2, (p - Y_t) / B


def rtrl(params, x, y) -> list[list[np.ndarray]]:
    """The gradient of each L_t through the whole history, online: a list over t of [dW, db_s, dU, db_p]."""
    W, b_s, U, b_p = as_params(params)
    x = np.asarray(x)
    B, T = x.shape
    d = W.shape[0]
    W_s = W[:, 2:]
    X, Y = one_hot(x.T), one_hot(np.asarray(y).T)
    M = np.zeros((B, d, d, 3 + d))  # dS_t,i / dWaug_kj, Waug = (W || b_s)
    S = np.zeros((B, d))
    out = []
    for t in range(T):
        S_new, h, tanh_grad, dP = _step_pieces(W, b_s, U, b_p, X[t], Y[t], S)
        M = np.einsum("im,bmkj->bikj", W_s, M)  # W_s M_{t-1}
        M[:, np.arange(d), np.arange(d), :] += h[:, None, :]  # + immediate delta_ik h_j
        M *= tanh_grad[:, :, None, None]  # diag(1 - S_t^2)
        dS = dP @ U  # [B, d]
        g_aug = np.einsum("bi,bikj->kj", dS, M)
        out.append([g_aug[:, :-1], g_aug[:, -1], dP.T @ S_new, dP.sum(axis=0)])
        S = S_new
    return out


def uoro(params, x, y, rng: np.random.Generator, eps: float = 1e-7, biased: bool = False) -> list[list[np.ndarray]]:
    """UORO estimates of each L_t's gradient (a list over t of [dW, db_s, dU, db_p]), one draw of signs.

    `biased=True` uses rho0 = rho1 = 1 but forgets half the carried product each step (a = J a / 2):
    a deliberately wrong variant the tests use to show the unbiasedness check can fail.
    """
    W, b_s, U, b_p = as_params(params)
    x = np.asarray(x)
    B, T = x.shape
    d = W.shape[0]
    W_s = W[:, 2:]
    X, Y = one_hot(x.T), one_hot(np.asarray(y).T)
    a = np.zeros((B, d))
    b = np.zeros((B, d, 3 + d))  # theta-tilde per row, shaped like Waug
    S = np.zeros((B, d))
    out = []
    for t in range(T):
        S_new, h, tanh_grad, dP = _step_pieces(W, b_s, U, b_p, X[t], Y[t], S)
        nu = rng.choice([-1.0, 1.0], size=(B, d))
        Ja = tanh_grad * (a @ W_s.T)  # J_t a_{t-1}
        nuM = (nu * tanh_grad)[:, :, None] * h[:, None, :]  # nu^T M_t^imm  [B, d, 3+d]
        nb = np.sqrt((b**2).sum(axis=(1, 2)))
        nJa = np.linalg.norm(Ja, axis=1)
        nnuM = np.sqrt((nuM**2).sum(axis=(1, 2)))
        rho0 = np.sqrt((nb + eps) / (nJa + eps))[:, None]
        rho1 = np.sqrt((nnuM + eps) / (np.sqrt(d) + eps))[:, None]
        if biased:
            a, b = Ja / 2 + nu, b + nuM
        else:
            a = rho0 * Ja + rho1 * nu
            b = b / rho0[:, :, None] + nuM / rho1[:, :, None]
        dS = dP @ U
        g_aug = np.einsum("b,bkj->kj", (dS * a).sum(axis=1), b)
        out.append([g_aug[:, :-1], g_aug[:, -1], dP.T @ S_new, dP.sum(axis=0)])
        S = S_new
    return out


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """u . v / (|u| |v|)."""
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
