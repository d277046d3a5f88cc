"""rnn_core.report: a RunRecord survives to_json -> JSON text -> from_json with its numbers
(non-finite values as null -> NaN, thinned profiles on the right steps), and malformed bundles
give a ValueError that names the problem.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_core.config import RunConfig
from rnn_core.report import FORMAT, RunRecord, describe

N = 3


def make_record(steps: int = 6, profile_steps=(0, 2, 4)) -> RunRecord:
    rng = np.random.default_rng(0)
    cfg = RunConfig(truncation=N, state_size=2, batch_size=2, series_length=100, style="williams-peng", k1=2,
                    task="custom", lags=(1, 2), effects=(0.3, -0.2), learning_rate=0.05, clip=1.0)
    loss = rng.uniform(0.3, 0.7, steps).astype(np.float32)
    loss[3] = np.nan
    scalars = {
        "step": np.arange(steps),
        "loss": loss,
        "global_norm": rng.uniform(0, 2, steps).astype(np.float32),
        "sigma_max": rng.uniform(0, 2, steps).astype(np.float32),
    }
    r = len(profile_steps)
    profiles = {
        "step": np.asarray(profile_steps, np.int64),
        "position_loss": rng.uniform(0, 1, (r, N)).astype(np.float32),
        "grad_norms": rng.uniform(0, 1, (r, N)).astype(np.float32),
        "temporal": rng.uniform(0, 1, (r, N)).astype(np.float32),
    }
    if r > 1:
        profiles["temporal"][1, 0] = np.inf
    summary = {"final_loss": 0.51234, "steps": steps, "seconds": 1.5, "steps_per_second": 4.0,
               "status": "completed", "diverged_at": None, "compile_seconds": 0.25}
    return RunRecord(cfg, [0.69, 0.6, 0.55], scalars, profiles, summary, label="my run")


def roundtrip(record: RunRecord) -> RunRecord:
    return RunRecord.from_json(json.dumps(record.to_json()))


def test_roundtrip_keeps_the_numbers():
    record = make_record()
    bundle = record.to_json()
    assert bundle["format"] == FORMAT
    text = json.dumps(bundle, allow_nan=False)  # strict JSON: NaN and inf became null
    back = RunRecord.from_json(text)
    assert back.config == record.config
    assert back.baselines == pytest.approx(record.baselines, abs=0)
    assert back.label == "my run"
    assert back.summary == record.summary
    for key in ("step", "loss", "global_norm", "sigma_max"):
        np.testing.assert_array_equal(back.scalars[key], record.scalars[key])
    assert np.isnan(back.scalars["loss"][3])
    for key in ("step", "position_loss", "grad_norms", "temporal"):
        expected = record.profiles[key].copy()
        if key == "temporal":
            expected[1, 0] = np.nan  # inf is not JSON; it comes back as NaN
        np.testing.assert_array_equal(back.profiles[key], expected)
    # a second trip changes nothing
    assert json.dumps(roundtrip(back).to_json()) == json.dumps(back.to_json())


def test_history_rows_carry_profiles_only_on_kept_steps():
    bundle = make_record().to_json()
    assert [("grad_norms" in rec) for rec in bundle["history"]] == [True, False, True, False, True, False]
    rec = bundle["history"][2]
    assert set(rec) == {"step", "loss", "global_norm", "sigma_max", "grad_norms", "temporal", "position_loss",
                        "full_gradient_cosine"}
    assert all(r["full_gradient_cosine"] is None for r in bundle["history"])  # this record has no samples
    assert len(rec["grad_norms"]) == N and rec["step"] == 2
    assert bundle["history"][3]["loss"] is None
    assert bundle["config"]["lags"] == [1, 2]


def test_final_loss_is_the_mean_of_the_last_100_losses():
    record = make_record(steps=150, profile_steps=())
    record.scalars["loss"] = np.arange(150, dtype=np.float32)
    assert record.final_loss() == pytest.approx(np.arange(50, 150).mean())
    assert roundtrip(record).final_loss() == pytest.approx(99.5)


def test_describe():
    assert describe(RunConfig()) == "TF n=5 d=4 adagrad 0.1 r2rt seed 0"
    assert describe(RunConfig(style="williams-peng", k1=2, task="echo", echo_step=4, clip=2.0)) == \
        "WP k1=2 n=5 d=4 adagrad 0.1 clip 2 echo 4 seed 0"


def _bundle() -> dict:
    return json.loads(json.dumps(make_record().to_json()))


def _set(path, value):
    def change(b):
        target = b
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _drop(key):
    return lambda b: b.pop(key)


NOT_A_PROFILE = "must be a list of n = 3 numbers"
MALFORMED = {
    "not json": ("{config: 1", "run bundle is not valid JSON"),
    "not utf-8": (b"\xff\xfe{", "run bundle is not valid JSON"),
    "a list": ("[1, 2]", "run bundle must be a JSON object"),
    "no config": (_drop("config"), "run bundle lacks 'config'"),
    "no history": (_drop("history"), "run bundle lacks 'history'"),
    "no summary": (_drop("summary"), "run bundle lacks 'summary'"),
    "history not a list": (_set(["history"], {"0": 1}), "'history' must be a list"),
    "config not an object": (_set(["config"], [1]), "'config' must be an object"),
    "config out of range": (_set(["config", "state_size"], 0), "state_size=0 is out of range [1, 256]"),
    "config unknown key": (_set(["config", "colour"], "red"), "unknown setting(s): colour"),
    "record without loss": (lambda b: b["history"][1].pop("loss"), "history[1] needs at least 'step' and 'loss'"),
    "record not an object": (_set(["history", 2], 5), "history[2] needs at least 'step' and 'loss'"),
    "loss not a number": (_set(["history", 1, "loss"], "low"), "history[1] has a non-numeric value"),
    "loss a list": (_set(["history", 1, "loss"], [1]), "history[1] has a non-numeric value"),
    "step not a number": (_set(["history", 0, "step"], "first"), "history[0] has a non-numeric value"),
    "profile too short": (_set(["history", 0, "grad_norms"], [1.0]), f"history[0].grad_norms {NOT_A_PROFILE}"),
    "profile not a list": (_set(["history", 2, "temporal"], 1.0), f"history[2].temporal {NOT_A_PROFILE}"),
    "profile junk item": (_set(["history", 0, "grad_norms"], [1.0, "x", 2.0]),
                          f"history[0].grad_norms {NOT_A_PROFILE}"),
    "profile nested item": (_set(["history", 0, "position_loss"], [[1.0], 1.0, 2.0]),
                            f"history[0].position_loss {NOT_A_PROFILE}"),
    "baselines not a list": (_set(["baselines"], 0.5), "'baselines' must be a list of numbers"),
    "baselines junk": (_set(["baselines"], [0.6, "x"]), "'baselines' must be a list of numbers"),
    "summary not an object": (_set(["summary"], [1]), "'summary' must be an object"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bundles_raise_value_errors_naming_the_problem(name):
    change, message = MALFORMED[name]
    if callable(change):
        data = _bundle()
        change(data)
        inputs = [data, json.dumps(data)]
    else:
        inputs = [change]
    for bundle in inputs:
        with pytest.raises(ValueError) as info:
            RunRecord.from_json(bundle)
        assert message in str(info.value)
