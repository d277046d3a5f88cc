"""viz.common: the one smoothing, thinning, rule-drawing and number-formatting helper every chart uses;
and the engine stays free of view libraries."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from viz import common


def test_smooth_is_a_trailing_mean():
    values = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    expected = [np.mean(values[max(0, i - 2): i + 1]) for i in range(len(values))]
    assert np.allclose(common.smooth(values, 3), expected)
    assert np.allclose(common.smooth(values, 1), values)


def test_smooth_skips_nan_instead_of_blanking_the_tail():
    out = common.smooth([1.0, np.nan, 3.0], 2)
    assert out.tolist() == [1.0, 1.0, 3.0]


@pytest.mark.parametrize("length, most", [(100_000, 2000), (10_000, 600), (1001, 1000)])
def test_thin_indices_keeps_ends_and_bounds_the_count(length, most):
    idx = common.thin_indices(length, most)
    assert len(idx) <= most and idx[0] == 0 and idx[-1] == length - 1
    assert (np.diff(idx) > 0).all()


def test_thin_indices_keeps_a_short_series_whole():
    assert common.thin_indices(5, 600).tolist() == [0, 1, 2, 3, 4]


def test_finite_rows_drops_nan_and_for_log_scales_non_positive():
    df = pd.DataFrame({"v": [1.0, np.nan, 0.0, -2.0, np.inf, 3.0]})
    assert common.finite_rows(df, "v")["v"].tolist() == [1.0, 0.0, -2.0, 3.0]
    assert common.finite_rows(df, "v", positive=True)["v"].tolist() == [1.0, 3.0]


def test_reference_lines_put_every_value_on_a_rule_and_label_each_once():
    rules, *texts = common.reference_lines([0.66, 0.52, 0.45], ["a", "b", "c"])
    assert rules.data["value"].tolist() == [0.66, 0.52, 0.45]
    labelled = pd.concat([t.data for t in texts])
    assert sorted(labelled["label"]) == ["a", "b", "c"]
    below = [t for t in texts if t.mark.baseline == "top"][0]
    assert below.data["label"].tolist() == ["c"]  # the lowest label goes under its line
    assert common.reference_lines([], []) == []


@pytest.mark.parametrize("x, text", [(0.5192, "0.519"), (1.2e-5, "1.2e-05"), (34567.0, "3.46e+04"),
                                     (0.0, "0"), (float("nan"), "—"), (float("inf"), "—"), (None, "—")])
def test_fmt(x, text):
    assert common.fmt(x) == text


def test_the_engine_imports_no_view_library():
    code = ("import importlib, pkgutil, sys, rnn_core\n"
            "for m in pkgutil.iter_modules(rnn_core.__path__): importlib.import_module('rnn_core.' + m.name)\n"
            "print(len(list(pkgutil.iter_modules(rnn_core.__path__))), "
            "sorted(m for m in ('altair', 'vl_convert', 'streamlit', 'graphviz', 'viz', 'ui') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, loaded = out.stdout.strip().split(" ", 1)
    assert int(count) >= 10 and loaded == "[]"  # every engine module was imported, and no view library with them
