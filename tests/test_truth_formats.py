"""Numbers a student reads are written as people write them, and never claim what did not happen."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from rnn_core import data
from rnn_core.config import RunConfig
from ui import settings
from ui.live import _times
from ui.progress import bundle_compile_note, progress_text


def test_bounds_are_written_with_thousands_separators():
    with pytest.raises(ValueError, match=r"\[0, 2,147,483,647\]"):
        settings.parse_field("seed", "9999999999")
    with pytest.raises(ValueError, match=r"series_length=1 is out of range \[2, 5,000,000\]"):
        RunConfig(series_length=1).validate()


def test_file_size_messages_use_separators(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "MAX_FILE_STEPS", 3000)
    path = tmp_path / "big.csv"
    path.write_text("x,y\n" + "0,1\n" * 4000)
    with pytest.raises(ValueError, match=r"has 4,000 rows; at most 3,000 are allowed"):
        data.load_sequence_csv(str(path))


def test_an_underflowed_ratio_is_not_zero_times():
    assert _times(0.0) == "less than 1e-38 ×"
    assert _times(0.0123) == "0.012 ×"


def test_a_loaded_bundle_does_not_claim_a_zero_second_compile():
    assert bundle_compile_note(0.0) == "no compile time recorded"
    assert bundle_compile_note(3.14) == "compiling took 3.1 s"


def _trainer(compiled: bool):
    state = SimpleNamespace(steps_done=100, seconds=7.5, status="running", compile_seconds=0.0)
    return SimpleNamespace(state=state, total_steps=5000, last_chunk=SimpleNamespace(compiled=compiled))


def test_no_time_left_from_the_uncompiled_rate_while_compiling():
    text = progress_text(_trainer(compiled=False), wall_rate=6.0)  # 4,900 steps at 6/s would be 13 min 37 s
    assert "left" not in text.replace("time left known", "")
    assert "time left known once the compiled program runs" in text
    assert "about 2 s left" in progress_text(_trainer(compiled=True), wall_rate=2450.0)
