"""The sweep reading places each loss between the baselines and shows the seeds' spread."""
from __future__ import annotations

import pandas as pd

from ui.sweep_reading import partway, reading, spread

BASE = [0.661563, 0.519167, 0.454454]
LABELS = ["learns nothing", "learns lag 3", "learns lags 3 and 8"]


def test_a_loss_less_than_halfway_is_read_as_partway_not_learned():
    # d = 4, n = 2 ended at 0.582: (0.6616 - 0.582) / (0.6616 - 0.5192) = 56% of the way
    text = partway(0.582, BASE, LABELS)
    assert text.startswith(f"{(0.661563 - 0.582) / (0.661563 - 0.519167):.0%} of the way from 0.662 (learns nothing)")
    assert "learns lag 3" in text
    assert partway(0.615, BASE, LABELS).startswith("33% of the way")


def test_near_a_baseline_and_beyond_the_ladder():
    assert partway(0.515, BASE, LABELS) == "at learns lag 3 (0.519)"  # 6% past it
    assert partway(0.522, BASE, LABELS) == "at learns lag 3 (0.519)"  # 98% of the way
    assert partway(0.467, BASE, LABELS).startswith("81% of the way from 0.519 (learns lag 3)")
    assert partway(0.70, BASE, LABELS).startswith("no better than a model that learns nothing")
    assert partway(0.45, BASE, LABELS) == "at learns lags 3 and 8 (0.454) or below"
    assert partway(0.5, [], []) == ""


def test_spread_over_seeds():
    assert spread([0.615]) == "0.615"
    assert spread([0.60, 0.62, 0.59]) == "0.603 (0.590–0.620, 3 seeds)"


def test_reading_groups_by_d_and_n_and_names_failed_runs():
    table = pd.DataFrame([
        {"n": 1, "d": 4, "seed": 0, "final_loss": 0.60, "status": "completed"},
        {"n": 1, "d": 4, "seed": 1, "final_loss": 0.62, "status": "completed"},
        {"n": 5, "d": 16, "seed": 0, "final_loss": 0.467, "status": "completed"},
        {"n": 5, "d": 16, "seed": 1, "final_loss": 5.5, "status": "failed"},
    ])
    text = reading(table, BASE, LABELS)
    assert "- d = 4: n = 1: 0.610 (0.600–0.620, 2 seeds), 36% of the way" in text
    assert "- d = 16: n = 5: 0.467, 81% of the way from 0.519 (learns lag 3) to 0.454 (learns lags 3 and 8)" in text
    assert "failed (left out): n = 5, d = 16, seed 1" in text
    assert "5.5" not in text
