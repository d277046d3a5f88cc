"""rnn_core.config: the defaults are R2RT part I's set-up, every bounded field's error names the
field, the value and the range, raw values (URL / CLI / JSON strings) are coerced or rejected with
the field's name, and the custom task's lags/effects and BPTT(k2; k1) are checked.
"""
from __future__ import annotations

import math

import pytest

from rnn_core.config import BOUNDS, RunConfig, coerce


def test_defaults_reproduce_r2rt_part_one():
    cfg = RunConfig()
    assert cfg.validate() is cfg
    assert (cfg.state_size, cfg.truncation, cfg.batch_size, cfg.series_length, cfg.epochs) == (4, 5, 200, 1_000_000, 1)
    assert (cfg.optimizer, cfg.learning_rate, cfg.style, cfg.task) == ("adagrad", 0.1, "tensorflow", "r2rt")
    assert (cfg.lags, cfg.effects, cfg.base_prob, cfg.input_prob) == ((3, 8), (0.5, -0.25), 0.5, 0.5)
    assert cfg.clip == 0.0 and cfg.init_scale == 1.0
    assert cfg.k2 == 5 and cfg.effective_k1 == 5  # TF style is BPTT(n; n)


def test_effective_k1():
    assert RunConfig(style="williams-peng", k1=2).effective_k1 == 2
    assert RunConfig(style="tensorflow", k1=2).effective_k1 == 5
    assert RunConfig(style="williams-peng", k1=2, truncation=7).k2 == 7


# field: (a value below the range, a value above it, the range as the message writes it)
OUT_OF_RANGE = {
    "state_size": (0, 257, "[1, 256]"),
    "truncation": (0, 201, "[1, 200]"),
    "k1": (0, 201, "[1, 200]"),
    "batch_size": (0, 1025, "[1, 1024]"),
    "series_length": (1, 5_000_001, "[2, 5,000,000]"),
    "epochs": (0, 101, "[1, 100]"),
    "learning_rate": (0.0, 10.5, "[1e-06, 10]"),
    "clip": (-1.0, 2e6, "[0, 1,000,000]"),
    "init_scale": (-0.5, 11.0, "[0, 10]"),
    "seed": (-1, 2**31, "[0, 2,147,483,647]"),
    "base_prob": (-0.1, 1.1, "[0, 1]"),
    "input_prob": (-0.1, 1.5, "[0, 1]"),
    "echo_step": (0, 201, "[1, 200]"),
}


def test_every_bounded_field_is_covered():
    assert set(OUT_OF_RANGE) == set(BOUNDS)


@pytest.mark.parametrize("field", list(OUT_OF_RANGE))
def test_out_of_range_errors_name_field_value_and_range(field):
    low, high, text = OUT_OF_RANGE[field]
    for value in (low, high):
        with pytest.raises(ValueError) as info:
            RunConfig(**{field: value}).validate()
        message = str(info.value)
        assert f"{field}={value!r}" in message
        assert text in message
    for value in (BOUNDS[field].low, BOUNDS[field].high):  # the bounds themselves are allowed
        values = dict(batch_size=1, truncation=1, series_length=5000)
        values[field] = value
        RunConfig(**values).validate()


@pytest.mark.parametrize("field", ["learning_rate", "clip", "base_prob", "state_size"])
def test_nan_and_non_numbers_are_rejected(field):
    with pytest.raises(ValueError, match=rf"{field}=nan is out of range"):
        RunConfig(**{field: math.nan}).validate()
    with pytest.raises(ValueError, match=rf"{field} must be a number, got '3'"):
        RunConfig(**{field: "3"}).validate()
    with pytest.raises(ValueError, match=rf"{field} must be a number, got True"):
        RunConfig(**{field: True}).validate()


def test_whole_number_fields_reject_fractions():
    with pytest.raises(ValueError, match=r"state_size must be a whole number, got 2.5"):
        RunConfig(state_size=2.5).validate()
    assert RunConfig(state_size=3.0).validate()


def test_float_fields_hold_floats():
    """A whole-number learning rate (as a widget or a test may give) reaches keras as a float."""
    cfg = RunConfig(learning_rate=1, clip=2, init_scale=1, base_prob=0, input_prob=1)
    for name in ("learning_rate", "clip", "init_scale", "base_prob", "input_prob"):
        assert type(getattr(cfg, name)) is float, name
    assert cfg.learning_rate == 1.0


@pytest.mark.parametrize("field,value,allowed", [
    ("style", "pytorch", "tensorflow, williams-peng"),
    ("optimizer", "rmsprop", "sgd, adagrad, adam"),
    ("task", "ptb", "r2rt, echo, custom, file"),
])
def test_choices(field, value, allowed):
    with pytest.raises(ValueError, match=rf"{field}='{value}' is not one of {allowed}"):
        RunConfig(**{field: value}).validate()


def test_k1_larger_than_n_is_rejected_for_williams_peng():
    with pytest.raises(ValueError, match=r"k1=6 must be at most k2 = n = 5"):
        RunConfig(style="williams-peng", k1=6, truncation=5).validate()
    RunConfig(style="williams-peng", k1=5, truncation=5).validate()
    RunConfig(style="tensorflow", k1=6, truncation=5).validate()  # k1 is unused by TF style


def test_series_must_fill_one_window():
    with pytest.raises(ValueError, match=r"series_length=99 is too short: it must be at least batch_size x n = 100"):
        RunConfig(series_length=99, batch_size=20, truncation=5).validate()
    RunConfig(series_length=100, batch_size=20, truncation=5).validate()
    RunConfig(series_length=2, batch_size=20, truncation=5, task="file").validate()  # the file decides


LAG_ERRORS = [
    ((), (), "lags must list at least one lag"),
    (tuple(range(1, 10)), (0.1,) * 9, "lags has 9 entries; at most 8"),
    ((3, 8), (0.5,), "effects has 1 entries but lags has 2"),
    ((0, 8), (0.5, 0.1), "lags: 0 is out of range [1, 200]"),
    ((3, 201), (0.5, 0.1), "lags: 201 is out of range [1, 200]"),
    ((3, 3), (0.5, 0.1), "lags must be distinct, got [3, 3]"),
    ((3, 8), (1.5, 0.1), "effects: 1.5 is out of range [-1, 1]"),
    ((3, 8), (0.5, math.nan), "effects: nan is out of range [-1, 1]"),
]


@pytest.mark.parametrize("lags,effects,message", LAG_ERRORS)
def test_custom_lags_and_effects_are_checked(lags, effects, message):
    cfg = RunConfig(task="custom", lags=lags, effects=effects)
    with pytest.raises(ValueError) as info:
        cfg.validate()
    assert message in str(info.value)
    cfg.replace(task="r2rt").validate()  # only the custom task uses them


def test_good_custom_task():
    RunConfig(task="custom", lags=(1, 200, 7), effects=(-1.0, 1.0, 0.0)).validate()


def test_from_dict_roundtrips_to_dict():
    cfg = RunConfig(task="custom", lags=(2, 5), effects=(0.25, -0.5), style="williams-peng", k1=3, clip=1.5)
    raw = cfg.to_dict()
    assert raw["lags"] == [2, 5] and raw["effects"] == [0.25, -0.5]
    assert "extra" not in raw
    assert RunConfig.from_dict(raw) == cfg
    as_strings = {k: (",".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in raw.items()}
    assert RunConfig.from_dict(as_strings) == cfg  # URL query parameters are all strings


def test_from_dict_coerces_numbers_in_strings():
    cfg = RunConfig.from_dict({"state_size": "16", "series_length": "1e4", "learning_rate": "0.05",
                               "truncation": "10.0"})
    assert (cfg.state_size, cfg.series_length, cfg.learning_rate, cfg.truncation) == (16, 10_000, 0.05, 10)
    assert type(cfg.state_size) is int and type(cfg.learning_rate) is float


JUNK = [
    ({"state_size": "abc"}, "state_size='abc' is not a whole number"),
    ({"state_size": "2.5"}, "state_size='2.5' is not a whole number"),
    ({"state_size": ""}, "state_size='' is not a whole number"),
    ({"state_size": None}, "state_size=None is not a whole number"),
    ({"series_length": "inf"}, "series_length='inf' is not a whole number"),
    ({"seed": "nan"}, "seed='nan' is not a whole number"),
    ({"learning_rate": "fast"}, "learning_rate='fast' is not a number"),
    ({"learning_rate": [0.1]}, "learning_rate=[0.1] is not a number"),
    ({"learning_rate": "nan"}, "learning_rate=nan is out of range"),
    ({"learning_rate": "1e9"}, "learning_rate=1000000000.0 is out of range [1e-06, 10]"),
    ({"style": "pytorch"}, "style='pytorch' is not one of"),
    ({"lags": "3,x", "task": "custom"}, "lags='3,x' is not a comma-separated list of int values"),
    ({"effects": "0.5,abc", "task": "custom"}, "effects='0.5,abc' is not a comma-separated list of float values"),
    ({"lags": [3, 8.5], "task": "custom"}, "lags: 8.5 is not a whole number"),
    ({"lags": [3, "x"], "task": "custom"}, "lags: 'x' is not a whole number"),
    ({"lags": [None], "task": "custom"}, "lags: None is not a whole number"),
    ({"lags": 5, "task": "custom"}, "lags=5 is not a list"),
    ({"effects": ["abc", 0.1], "task": "custom"}, "effects: 'abc' is not a number"),
    ({"effects": None, "task": "custom"}, "effects=None is not a list"),
    ({"batch_size": 0}, "batch_size=0 is out of range [1, 1024]"),
    ({"state_size": True}, "state_size=True is a true/false value, not a number"),
    ({"learning_rate": False}, "learning_rate=False is a true/false value, not a number"),
    ({"effects": [0.5, True], "lags": [3, 8], "task": "custom"}, "effects: True is a true/false value"),
    ({"color": "red"}, "unknown setting(s): color"),
]


@pytest.mark.parametrize("values,message", JUNK, ids=[str(v) for v, _ in JUNK])
def test_from_dict_rejects_junk_naming_the_field(values, message):
    with pytest.raises(ValueError) as info:
        RunConfig.from_dict(values)
    assert message in str(info.value)


def test_coerce():
    assert coerce("state_size", "8") == 8
    assert coerce("state_size", 8.0) == 8
    assert coerce("clip", "0") == 0.0
    assert coerce("lags", "3, 8") == (3, 8)
    assert coerce("lags", [3.0, 8]) == (3, 8)
    assert coerce("effects", "0.5,-0.25") == (0.5, -0.25)
    assert coerce("effects", [1, 0]) == (1.0, 0.0)
    assert coerce("style", "williams-peng") == "williams-peng"
