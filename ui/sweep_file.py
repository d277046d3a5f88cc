"""Compare's "Load a sweep file": the JSON `python -m rnn_core sweep --json` writes, charted like the page's sweeps.

rnn_core.sweep.load_runs reads the file into RunRecords (clear ValueErrors for a malformed file); each
run becomes a point (n, d, seed, final loss) of a finished ui.state.SweepResult, so the sweep tab draws
it with its own chart, table and reading. A run saved without history (the sweep's default) has its
final loss in summary["final_loss"]. The file is not put in the run store: the user has it.
"""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.data import task_baselines
from rnn_core.report import RunRecord
from rnn_core.sweep import load_runs
from ui import state
from ui.state import SweepResult

KEY, ERROR, NOTE = "sweep_file", "sweep_file_error", "sweep_file_note"
GRID = ("truncation", "state_size", "seed")  # the chart's axes and series; other varying settings are named


def point(record: RunRecord, i: int) -> dict[str, Any]:
    """A sweep file's run as a point of the sweep chart and a row of its table (ValueError if it has no loss)."""
    c, s = record.config, record.summary
    if len(record.scalars["loss"]):
        final = record.final_loss()
    else:
        raw = s.get("final_loss", "missing")
        if raw is not None and not isinstance(raw, (int, float)):
            raise ValueError(f"runs[{i}]: summary has no final_loss number (got {raw!r}) and the run has no history")
        final = math.nan if raw is None else float(raw)  # null: the run diverged
    return {"n": c.truncation, "d": c.state_size, "seed": c.seed, "final_loss": final, "steps": s.get("steps"),
            "seconds": s.get("seconds"), "status": s.get("status", "")}


def varying(configs: list[RunConfig]) -> list[str]:
    """Settings besides n, d and seed that differ between the runs (the chart does not separate them)."""
    first = configs[0].to_dict()
    return sorted(k for k in first if k not in GRID and any(c.to_dict()[k] != first[k] for c in configs[1:]))


def sweep_from_file(data: bytes | str, name: str) -> tuple[SweepResult, str]:
    """A finished sweep result from a sweep file's text and a note for the page ('' or which other settings vary);
    ValueError naming what is wrong with the file."""
    records = load_runs(data)
    if not records:
        raise ValueError("the file holds no runs (a sweep stopped before its first run finished?)")
    points = [point(r, i) for i, r in enumerate(records)]
    first = records[0]
    same = all(r.baselines == first.baselines for r in records)
    base, labels = (list(first.baselines), task_baselines(first.config)[1]) if same and first.baselines else ([], [])
    others = varying([r.config for r in records])
    note = (f" Its runs also differ in {', '.join(others)}: the chart groups them by n, d and seed only."
            if others else "")
    return SweepResult(len(points), base, labels, points, finished=True, source=name), note


def uploader() -> None:
    """The file uploader, the last file's error, and a note on the loaded sweep that is shown."""
    st.file_uploader("Load a sweep file (JSON)", type=["json"], key=KEY, on_change=_on_file,
                     help="The file `python -m rnn_core sweep ... --json sweep.json` writes, on this machine or on a "
                          "Ray cluster. Its runs are charted here like a sweep of this page.")
    if state.memo(ERROR):
        st.error(state.memo(ERROR))
    shown = state.sweep_result()
    if shown is not None and shown.source:
        st.caption(f"Showing the {shown.planned} runs of {shown.source}.{state.memo(NOTE, '')}")


def _on_file() -> None:
    upload = state.widget(KEY)
    if upload is None:
        return
    try:
        result, note = sweep_from_file(upload.getvalue(), upload.name)
    except ValueError as exc:
        state.set_memo(ERROR, f"Could not load {upload.name}: {exc}")
        return
    state.forget(ERROR)
    state.set_memo(NOTE, note)
    state.set_sweep_result(result)
