"""The truncation rule BPTT(n; k1), stated once: every part of the engine that cuts a series asks here.

A row of L time steps is read in windows n wide; window w starts at w k1 (TensorFlow style is
k1 = n: windows side by side; Williams-Peng k1 < n: windows overlap). A window trains the losses of
its last k1 positions (all n in an epoch's first window, whose earlier positions no other window
trains), starts from the state the previous window handed on and hands on S after k1 inputs, the
state the next window's first input follows. An epoch starts from the zero state, and no gradient
crosses from one window into the one before. Within a window the loss at position t sends error
back to the states S_0..S_t, so it reaches the input X_{t-L} only if t >= L.

Plain Python and NumPy, no TensorFlow: the kernel, the trainer, the Compare plans and the Learn
page's diagrams all import these functions, and the Learn page shows their source.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def windows_per_epoch(row_length: int, n: int, k1: int) -> int:
    """Training steps in one pass over rows of `row_length`: every window of n that fits, one every k1 steps."""
    if row_length < n:
        return 0
    return 1 + (row_length - n) // k1


def window_start(window: int, k1: int) -> int:
    """Time step of a row where window `window` of an epoch starts."""
    return window * k1


def loss_mask(n: int, k1: int, first_window: bool) -> np.ndarray:
    """Which window positions' losses are trained: the last k1 (all n in an epoch's first window)."""
    mask = np.zeros(n, np.float32)
    mask[0 if first_window else n - k1 :] = 1.0
    return mask


def carried_position(k1: int) -> int:
    """The window position whose state S is handed to the next window: after k1 inputs, S_{k1-1}."""
    return k1 - 1


def epoch_start_state(batch_size: int, state_size: int) -> np.ndarray:
    """The first state of every epoch: zeros [B, d]."""
    return np.zeros((batch_size, state_size), np.float32)


def loss_reach(n: int, k1: int | None = None) -> list[dict[str, int | bool]]:
    """Per window position t: whether L_t is trained under BPTT(n; k1), and how many states (t + 1) its error
    reaches."""
    k1 = n if k1 is None else k1
    trained = loss_mask(n, k1, first_window=False)
    return [{"position": t, "trained": bool(trained[t]), "states_reached": t + 1} for t in range(n)]


def mean_depth(n: int, k1: int | None = None) -> float:
    """Average number of states a trained loss's error reaches: (n + 1) / 2 for TF style, n for k1 = 1."""
    rows = [r for r in loss_reach(n, k1) if r["trained"]]
    return sum(r["states_reached"] for r in rows) / len(rows)


def lag_reach(n: int, k1: int | None, lags: Sequence[int]) -> list[dict[str, float]]:
    """Per lag L: how many of the trained losses (positions t >= L) send error back to X_{t-L}, and the fraction."""
    k1 = n if k1 is None else k1
    trained = [r["position"] for r in loss_reach(n, k1) if r["trained"]]
    out = []
    for lag in lags:
        count = sum(1 for t in trained if t >= lag)
        out.append({"lag": lag, "losses_reaching": count, "trained_losses": len(trained),
                    "fraction": count / len(trained)})
    return out
