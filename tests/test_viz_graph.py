"""DOT sources of the Learn page's graphs, against direct enumeration and `dot`."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from viz.graph import drawn_positions, one_step_dot, unrolled_dot


def test_drawn_positions_caps_the_drawing():
    assert drawn_positions(12) == list(range(12))
    shown = drawn_positions(40)
    assert len(shown) == 12 and shown.count(None) == 1
    assert shown[0] == 0 and shown[-1] == 39


def test_unrolled_dot_marks_trained_losses_and_the_traced_reach():
    dot = unrolled_dot(6, k1=2, trace=3)
    trained = re.findall(r'L(\d) \[[^\]]*fillcolor="#ffe8d9"', dot)
    assert trained == ["4", "5"]
    reached = re.findall(r'S(\d) \[[^\]]*fillcolor="#d0e1f5"', dot)
    assert reached == ["0", "1", "2", "3"]
    assert "S₁\\nto the next window" in dot  # the state after k1 = 2 inputs is carried on
    wide = unrolled_dot(30)
    assert "… 19 more …" in wide and "S29 ->" not in wide.split("gap")[0]


@pytest.mark.parametrize("args", [(0,), (5, 6), (5, 0), (5, 5, 5)])
def test_unrolled_dot_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        unrolled_dot(*args)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")
@pytest.mark.parametrize("source", [one_step_dot(), unrolled_dot(1), unrolled_dot(5), unrolled_dot(8, 1, 0),
                                    unrolled_dot(40, 7, 20)])
def test_dot_sources_are_valid_graphviz(source):
    out = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert b"<svg" in out.stdout
