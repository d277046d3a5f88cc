"""A run's outcome in one word: did it learn, or did it fail without ever producing a NaN?

A run whose loss stays finite can still have failed: it ends above the loss of a model that learns
nothing (the no-lag baseline, or for a file task the entropy of the targets' marginal), or its
gradient norm or σ_max(W_s) grows beyond anything a working run of this model reaches. Such a run
is `failed`, with a sentence saying why; `diverged` stays the word for a NaN or infinite loss.
The trainer's summary and the command line both call `classify`, so the app, the JSON and the
sweep's tables agree.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# A working run of this model (Adagrad 0.1, d up to 256) ends within a few hundredths of a nat of its
# baselines, keeps ‖g‖ below ~10 and σ_max(W_s) below ~20 even at init scale 10 (measured in
# tests/test_outcome.py's runs); the limits sit orders of magnitude above that.
LOSS_MARGIN = 0.1  # nats above the learns-nothing loss
NORM_LIMIT = 1e6  # global gradient norm before clipping
SIGMA_LIMIT = 1e3  # largest singular value of W_s


def marginal_entropy(y: np.ndarray) -> float:
    """Cross-entropy in nats of predicting every target by the targets' mean frequency."""
    p = float(np.mean(np.asarray(y, dtype=np.float64))) if len(y) else 0.5
    return -sum(q * math.log(q) for q in (p, 1.0 - p) if q > 0.0)


def reference_loss(baselines: Sequence[float], sequence: tuple[np.ndarray, np.ndarray] | None = None) -> float | None:
    """The loss of a model that learns nothing: baseline 0, or the file targets' marginal entropy."""
    if len(baselines):
        return float(baselines[0])
    if sequence is not None:
        return marginal_entropy(sequence[1])
    return None


def classify(status: str, final_loss: float, global_norm: np.ndarray, sigma_max: np.ndarray,
             reference: float | None) -> tuple[str, str | None]:
    """(status, why it failed or None). Only a `completed` run is reclassified: `failed` when it ended
    more than LOSS_MARGIN above `reference`, or its gradient norm or σ_max exploded."""
    if status != "completed":
        return status, None
    g = np.asarray(global_norm, dtype=np.float64)
    s = np.asarray(sigma_max, dtype=np.float64)
    g, s = g[np.isfinite(g)], s[np.isfinite(s)]
    if len(g) and g.max() > NORM_LIMIT:
        return "failed", f"the gradient norm reached {g.max():.2g} (a working run stays below 10)"
    if len(s) and s.max() > SIGMA_LIMIT:
        return "failed", f"σ_max(W_s) reached {s.max():.4g} (a working run stays below 20)"
    if reference is not None and math.isfinite(final_loss) and final_loss > reference + LOSS_MARGIN:
        return "failed", (f"it ended at {final_loss:.3f} nats, above the {reference:.3f} of a model that "
                          "learns nothing")
    return status, None
