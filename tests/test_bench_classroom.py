"""bench/classroom.py's pure parts: the results.md section writer, the profile breakdown, the --students check."""
from __future__ import annotations

import pytest

from bench import classroom


def test_write_section_replaces_only_its_own(tmp_path):
    md = tmp_path / "results.md"
    md.write_text("# R\n\n## A\n\na\n\n## Classroom load\n\nold\n\n## Classroom load: baseline\n\nbase\n")
    classroom.write_section(md, "## Classroom load\n\nnew\n", "Classroom load")
    assert md.read_text() == "# R\n\n## A\n\na\n\n## Classroom load\n\nnew\n\n## Classroom load: baseline\n\nbase\n"
    classroom.write_section(md, "## Other\n\nx\n", "Other")
    assert md.read_text().endswith("base\n\n## Other\n\nx\n")


def test_profile_summary_puts_each_sample_in_one_part(tmp_path):
    prof = tmp_path / "p.txt"
    prof.write_text(
        "run (threading.py:1);<module> (train.py:113);Board.draw_live (ui/live.py:1);to_dict (altair/x.py:2) 30\n"
        "run (threading.py:1);Trainer.run (rnn_core/train.py:250);"
        "Kernel._chunk.<locals>.body (rnn_core/kernels.py:9) 50\n"
        "run (threading.py:1);Trainer.run (rnn_core/train.py:250);Kernel.run_packed (rnn_core/kernels.py:5) 20\n"
        "run (threading.py:1);EpollSelector.select (selectors.py:468) 40\n"
    )
    text = classroom.profile_summary(prof)
    assert "100 busy samples" in text and "40 samples waiting" in text
    assert "| live chart redraws while training (Board.draw_live) | 30 % |" in text
    assert ("| training uncompiled (no idle compiled kernel of the shapes: Python runs the chunk body, eager or "
            "tracing) | 50 % |") in text
    assert "| training, rest (compiled calls, loading weights, metrics) | 20 % |" in text
    assert "| Altair (schema validation, to_dict) | 30 % |" in text


@pytest.mark.parametrize("text", ["", "0", "1,x", f"{classroom.MAX_STUDENTS + 1}"])
def test_bad_class_sizes_are_refused_with_a_message(text):
    with pytest.raises(SystemExit, match="--students"):
        classroom._sizes(text)


def test_class_sizes():
    assert classroom._sizes("1,10, 30") == [1, 10, 30]
