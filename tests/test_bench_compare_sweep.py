"""bench/compare_sweep.py: its table and verdict from given timings, and its bad flags (no server started)."""
from __future__ import annotations

import os

import pytest

from bench import compare_sweep


def _server(first: float, later: float) -> dict:
    return {"sweeps": [first, later], "rss": [1000.0, 1100.0, 1200.0], "runs": 24}


def test_the_table_gives_each_sweep_and_judges_this_checkouts_first_sweep():
    results = {"this checkout": [_server(9.0, 7.0), _server(7.5, 6.0), _server(8.0, 6.5)],
               "other (/w)": [_server(26.0, 15.0), _server(27.0, 16.0), _server(25.0, 14.0)]}
    text = compare_sweep.markdown(results, 40)
    assert "| this checkout | 24 | 9.0, 7.5, 8.0 | **8.0** | 7.0, 6.0, 6.5 | 6.5 | 1,000 / 1,200 |" in text
    assert "| other (/w) | 24 | 26.0, 27.0, 25.0 | **26.0** |" in text
    assert "<= 8 s: met (first sweep of this code, median 8.0 s)" in text
    slower = {"this checkout": [_server(8.1, 7.0)]}
    assert "MISSED (first sweep of this code, median 8.1 s)" in compare_sweep.markdown(slower, 40)


@pytest.mark.parametrize("argv, says", [
    (["--servers", "0"], "'0' must be at least 1"),
    (["--idle", "-1"], "--idle -1: seconds cannot be negative"),
    (["--other", os.devnull], "no app.py there"),
])
def test_a_bad_flag_is_refused_naming_it(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare_sweep.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_rss_is_read_from_proc():
    assert 1 < compare_sweep.rss_mb(os.getpid()) < 100_000
