"""bench/store_writes.py: a small full store gives its table (the index's store faster is not asserted: timing),
and bad flags exit 2 naming the value."""
from __future__ import annotations

import pytest

from bench import store_writes


def test_a_small_full_store_gives_the_table_with_both_stores(capsys):
    assert store_writes.main(["--mb", "4", "--saves", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| with") or line.startswith("| without")]
    assert len(rows) == 2
    held = [int(r.split("|")[2]) for r in rows]
    assert held[0] == held[1] and 1 <= held[0] <= 3  # 4 MB of 1.43 MB bundles, pruned on every save
    assert rows[1].rstrip().endswith("| 1.00 |")


@pytest.mark.parametrize("flags, words", [(["--mb", "0"], "'0' must be at least 1"),
                                          (["--saves", "x"], "'x' is not a whole number")])
def test_bad_flags_exit_2_naming_the_value(flags, words, capsys):
    with pytest.raises(SystemExit) as exc:
        store_writes.main(flags)
    assert exc.value.code == 2 and words in capsys.readouterr().err
