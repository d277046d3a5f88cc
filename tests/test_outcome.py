"""A run that ends above the learns-nothing loss, or whose norms explode, is `failed`, never `completed`.

Unit checks of rnn_core.outcome.classify against hand-made histories, then real (short) runs: the R2RT
defaults stay `completed`, the settings a teacher found ending at 5.5 nats become `failed`, and the JSON
and stderr of the command line say why.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn_core.config import RunConfig
from rnn_core.outcome import LOSS_MARGIN, classify, marginal_entropy, reference_loss
from rnn_core.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
OK = np.ones(10)


def test_classify_keeps_a_run_near_its_baselines():
    assert classify("completed", 0.52, OK, OK, 0.6616) == ("completed", None)
    assert classify("completed", 0.6616 + LOSS_MARGIN * 0.9, OK, OK, 0.6616)[0] == "completed"


def test_classify_fails_a_run_above_the_learns_nothing_loss():
    status, why = classify("completed", 5.5, OK, OK, 0.6616)
    assert status == "failed"
    assert "5.500 nats" in why and "0.662" in why


def test_classify_fails_exploding_norms_even_with_a_low_loss():
    status, why = classify("completed", 0.5, np.array([1.0, 4.6e16]), OK, 0.6616)
    assert status == "failed" and "4.6e+16" in why
    status, why = classify("completed", 0.5, OK, np.array([1.0, 1611.0]), 0.6616)
    assert status == "failed" and "1611" in why


def test_classify_leaves_other_statuses_alone():
    assert classify("diverged", math.nan, OK, OK, 0.66) == ("diverged", None)
    assert classify("paused", 5.0, OK, OK, 0.66) == ("paused", None)


def test_file_task_reference_is_the_marginal_entropy():
    y = np.array([1, 0, 0, 0], np.int8)
    p = 0.25
    assert marginal_entropy(y) == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert reference_loss([], (np.zeros(4), y)) == pytest.approx(marginal_entropy(y))
    assert reference_loss([0.66, 0.52]) == 0.66
    assert reference_loss([]) is None


def test_r2rt_defaults_stay_completed():
    summary = Trainer(RunConfig(series_length=60_000)).run_to_end().summary()
    assert summary["final_loss"] < 0.64
    assert (summary["status"], summary["failure"]) == ("completed", None)


def test_sgd_lr_10_init_10_is_a_failed_run():
    cfg = RunConfig(optimizer="sgd", learning_rate=10.0, init_scale=10.0, series_length=60_000)
    summary = Trainer(cfg).run_to_end().summary()
    assert summary["final_loss"] > 1.0  # a model that learns nothing scores 0.662
    assert summary["status"] == "failed"
    assert "above the 0.662 of a model that learns nothing" in summary["failure"]


def test_cli_reports_a_failed_run(tmp_path):
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "rnn_core", "train", "--quiet", "--optimizer", "sgd", "--lr", "10", "--init-scale", "10",
         "--series-length", "40000", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["status"] == "failed"
    assert "learns nothing" in summary["failure"]
    assert "status failed" in proc.stdout
    assert proc.stderr.strip().splitlines() == [f"failed: {summary['failure']}; try --clip 1 or a smaller --lr"]


def test_cli_bad_weights_file_prints_only_the_tools_line(tmp_path):
    """TensorFlow's C++ start-up log (absl, oneDNN) stays off stderr: the user sees the tool's one line."""
    np.savez(tmp_path / "bad.npz", W=np.zeros((4, 4)), b_s=np.zeros(4), U=np.zeros((2, 4)), b_p=np.zeros(2))
    proc = subprocess.run([sys.executable, "-m", "rnn_core", "train", "--init", str(tmp_path / "bad.npz")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m rnn_core: error: weights file"), proc.stderr


def test_a_completed_run_extended_by_an_epoch_equals_a_two_epoch_run():
    cfg = RunConfig(series_length=4_000, batch_size=20)
    one = Trainer(cfg, use_compiled=False).run_to_end()
    assert one.finished and one.state.epoch == 1
    one.extend(1)
    assert not one.finished and one.total_steps == 2 * one.steps_per_epoch and one.cfg.epochs == 2
    one.run_to_end()
    two = Trainer(RunConfig(series_length=4_000, batch_size=20, epochs=2), use_compiled=False).run_to_end()
    assert one.summary()["status"] == "completed" and one.state.steps_done == two.state.steps_done
    np.testing.assert_allclose(one.history.scalars()["loss"], two.history.scalars()["loss"], rtol=1e-6)
    for a, b in zip(one.params, two.params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
