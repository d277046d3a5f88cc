"""bench/new_shapes.py: its shape list, its bad flags, and one real fresh-process run whose numbers it reports."""
from __future__ import annotations

import pytest

from bench import new_shapes


def test_shapes_parse_as_d_n_and_steps():
    assert new_shapes.parse_shapes("256x20:40,3X2:5") == [(256, 20, 40), (3, 2, 5)]


@pytest.mark.parametrize("text", ["256x20", "256:40", "axb:3", "4x0:5", "4x5:-1", ""])
def test_a_bad_shape_is_refused_naming_it(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        new_shapes.main(["--shapes", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--shapes" in err and repr(text.split(",")[0]) in err and "Traceback" not in err


def test_other_must_be_a_checkout(tmp_path, capsys):
    with pytest.raises(SystemExit):
        new_shapes.main(["--other", str(tmp_path)])
    assert "no rnn_core/" in capsys.readouterr().err


def test_one_run_reports_what_its_trainer_did():
    """A fresh process of this checkout: a new shape's steps all counted, the first chunk before the last."""
    result = new_shapes.one_run(new_shapes.HERE, 3, 2, 6)
    assert result["steps"] == 6 and 0 < result["first"] <= result["end"]
    assert result["eager"] <= result["uncompiled"] <= result["steps"]
    assert result["how"].startswith(("eager", "TensorFlow graph", "XLA"))
