"""ui/compare_view.py's sweep keeper: every finished run kept, the chart redrawn at most once a REDRAW_S."""
from __future__ import annotations

from ui import compare_view
from ui.state import SweepResult


def test_the_sweep_keeper_keeps_every_run_and_redraws_the_chart_at_most_once_a_period(monkeypatch):
    drawn: list[int] = []
    monkeypatch.setattr(compare_view, "draw_sweep", lambda slot, sweep: drawn.append(len(sweep.points)))
    monkeypatch.setattr(compare_view, "sweep_point", lambda record: {"run": record})
    now = [100.0]
    sweep = SweepResult(6, [0.66], ["none"])
    keep = compare_view.sweep_keeper(sweep, slot=None, every=1.0, clock=lambda: now[0])
    for i, t in enumerate([100.0, 100.4, 100.9, 101.0, 101.5, 103.0]):
        now[0] = t
        keep(i, f"run {i}", None)
    assert [p["run"] for p in sweep.points] == [f"run {i}" for i in range(6)]  # none skipped
    assert drawn == [1, 4, 6]  # the first at once, then 1.0 s after the last drawing at the earliest
