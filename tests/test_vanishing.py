"""Per-step error factors and Pascanu's bound, held against the engine's own gradients (model.step)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_core import model, spectral
from rnn_core.vanishing import mean_factor, pascanu_bound, step_factors, steps_to_shrink


def test_factors_of_a_geometric_profile():
    profile = 0.5 ** np.arange(6)[::-1]  # the error halves per step back from the last position
    assert np.allclose(step_factors(profile), 0.5)
    assert mean_factor(profile) == pytest.approx(0.5)
    assert math.isnan(mean_factor([1.0])) and math.isnan(mean_factor([0.0, 1.0]))
    assert np.allclose(pascanu_bound([9.0, 9.0, 2.0], 3.0), [18.0, 6.0, 2.0])


def test_steps_to_shrink():
    assert steps_to_shrink(0.1) == pytest.approx(3.0)
    assert steps_to_shrink(1.0) == math.inf and steps_to_shrink(float("nan")) == math.inf


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_every_step_back_obeys_the_singular_value_bound(scale):
    n, d, B = 12, 6, 16
    params = model.init_params(d, init_scale=scale, seed=4)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (B, n)).astype(np.int32)
    y = rng.integers(0, 2, (B, n)).astype(np.int32)
    _, _, metrics, _ = model.step(params, x, y, np.zeros((B, d), np.float32))
    temporal = metrics["temporal"].numpy()
    sigma = spectral.sigma_max(params.W)
    assert (step_factors(temporal) <= sigma * (1 + 1e-4)).all()
    assert (temporal <= pascanu_bound(temporal, sigma) * (1 + 1e-4)).all()
