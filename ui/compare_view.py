"""The Compare page's helpers: table rows, readings in words, the run picker and what keeps each finished run,
so the page reads top to bottom.

Rows and readings take finished runs (RunRecord) and the kept results (ui.state.SweepResult,
StylesResult) and return plain values; the keepers are the `on_done` callbacks of ui.sweep.train_in_turn.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rnn_core.compare import data_seen, nearest_baseline, row_length
from rnn_core.config import RunConfig
from rnn_core.data import task_baselines
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from ui import state
from ui.state import StylesResult, SweepResult
from viz import compare_charts, sweep_spread

OnDone = Callable[[int, RunRecord, Trainer], None]

DATA_AXIS = "time steps of data consumed (all rows)"


def run_row(record: RunRecord) -> dict:
    """One line of the table of every run of the session."""
    c, s = record.config, record.summary
    return {
        "run": record.label, "from": record.extra.get("source", "") or "train page or bundle",
        "style": "TF BPTT(n;n)" if c.style == "tensorflow" else f"BPTT(n;{c.k1})",
        "n": c.truncation, "d": c.state_size, "steps": s.get("steps"), "final loss": record.final_loss(),
        "closest baseline": nearest_baseline(record.final_loss(), record.baselines, task_baselines(c)[1]),
        "steps/s": s.get("steps_per_second"), "seconds": s.get("seconds"), "status": s.get("status"),
    }


def sweep_point(record: RunRecord) -> dict:
    """A finished sweep run as a point of the sweep chart and a row of its table."""
    c, s = record.config, record.summary
    return {"n": c.truncation, "d": c.state_size, "seed": c.seed, "final_loss": record.final_loss(),
            "steps": s["steps"], "seconds": s["seconds"], "status": s["status"]}


def draw_sweep(slot: DeltaGenerator, sweep: SweepResult) -> None:
    """The sweep chart of the points so far, into its placeholder (with several seeds: their mean and range)."""
    chart = sweep_spread.spread_chart if sweep_spread.has_spread(sweep.points) else compare_charts.sweep_chart
    slot.altair_chart(chart(sweep.points, sweep.baselines, sweep.labels), width="stretch")


def sweep_keeper(sweep: SweepResult, slot: DeltaGenerator) -> OnDone:
    """Add each finished run to the sweep and redraw the chart, so it grows while the sweep runs."""
    def keep(i: int, record: RunRecord, trainer: Trainer) -> None:
        sweep.points.append(sweep_point(record))
        draw_sweep(slot, sweep)
    return keep


def styles_keeper(styles: StylesResult, plans: Sequence[tuple[str, RunConfig]], sequence_length: int | None) -> OnDone:
    """Add each finished run of the styles race: its table row, and its loss against the data read."""
    def keep(i: int, record: RunRecord, trainer: Trainer) -> None:
        name, c = plans[i]
        styles.rows.append(style_row(name, c, record))
        styles.curves[name] = (data_seen(c, record.scalars["step"], row_length(c, sequence_length)),
                               record.scalars["loss"])
    return keep


def sweep_table(result: SweepResult) -> pd.DataFrame:
    """The sweep's points with the baseline closest to each final loss."""
    table = pd.DataFrame(result.points)
    table["closest baseline"] = [nearest_baseline(v, result.baselines, result.labels) for v in table["final_loss"]]
    return table


def sweep_reading(table: pd.DataFrame) -> str:
    """'**Reading:** d = 4, seed 0: n = 1 → learns nothing; n = 5 → learns lag 3.' per (d, seed)."""
    readings: dict[str, list[str]] = {}
    for row in table.to_dict("records"):
        readings.setdefault(f"d = {row['d']}, seed {row['seed']}", []).append(
            f"n = {row['n']} → {row['closest baseline']}")
    return "**Reading:** " + " ".join(f"{series}: " + "; ".join(items) + "." for series, items in readings.items())


def style_row(name: str, cfg: RunConfig, record: RunRecord) -> dict:
    """A finished run of the styles race as a row of its table."""
    s = record.summary
    return {"style": name, "training steps": s["steps"], "losses trained per step": cfg.effective_k1,
            "final loss": record.final_loss(), "steps/s": s["steps_per_second"], "seconds": s["seconds"],
            "status": s["status"]}


def styles_reading(rows: Sequence[dict]) -> str:
    """How much longer each style took than TensorFlow style for the same data, and where it ended
    ('' before two runs have finished, or when the first took no measurable time)."""
    if len(rows) < 2 or rows[0]["seconds"] <= 0:
        return ""
    tf_row = rows[0]
    return "**Reading:** " + " ".join(
        f"{r['style'].split(')')[0]}) took {r['seconds'] / tf_row['seconds']:.1f}× the "
        f"training time of TensorFlow style for the same data and ended at {r['final loss']:.3f} "
        f"(TensorFlow style {tf_row['final loss']:.3f})." for r in rows[1:])


def loss_curves(records: Sequence[RunRecord], by_data: bool, sequence_length: int | None
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each run's (x, loss): x is the training step, or with `by_data` the data read so far (a file run whose
    sequence is not loaded stays on steps)."""
    curves = {}
    for r in records:
        steps = r.scalars["step"]
        if by_data and not (r.config.task == "file" and sequence_length is None):
            curves[r.label] = (data_seen(r.config, steps, row_length(r.config, sequence_length)), r.scalars["loss"])
        else:
            curves[r.label] = (steps, r.scalars["loss"])
    return curves


def shared_baselines(records: Sequence[RunRecord]) -> tuple[list[float], list[str]]:
    """The baselines (and labels) to draw over several runs: only when every run has the same ones."""
    first = records[0]
    if all(r.baselines == first.baselines for r in records) and first.baselines:
        return first.baselines, task_baselines(first.config)[1]
    return [], []


def pick_runs(labels: list[str], key: str = "compare_selected") -> list[str]:
    """The multiselect of runs to overlay: the last three at first, then the user's choice, pruned of runs that
    dropped out of the session's list."""
    if state.has_widget(key):
        state.set_widgets({key: [v for v in state.widget(key) if v in labels]})
        return st.multiselect("Runs to overlay", labels, key=key)
    return st.multiselect("Runs to overlay", labels, default=labels[-3:], key=key)
