"""The Compare page's helpers: table rows, readings in words, the run picker and what keeps each finished run,
so the page reads top to bottom.

Rows and readings take finished runs (RunRecord) and the kept results (ui.state.SweepResult,
StylesResult) and return plain values; the keepers are the `on_done` callbacks of ui.sweep.train_in_turn.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rnn_core.compare import data_seen, nearest_baseline, row_length
from rnn_core.config import RunConfig
from rnn_core.data import task_baselines
from rnn_core.online_cost import RTRL_MAX_D
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from ui import state
from ui.state import StylesResult, SweepResult
from ui.sweep_reading import reading
from viz import compare_charts, sweep_spread
from viz.common import with_subtitle

OnDone = Callable[[int, RunRecord, Trainer], None]

DATA_AXIS = "time steps of data consumed (all rows)"
# A sweep's chart is redrawn at most this often while it runs: each redraw is an Altair spec built and validated on
# the script thread (30 ms) and a chart the browser draws again, and a default sweep finishes a run every 0.4 s
REDRAW_S = 1.0


def run_row(record: RunRecord) -> dict:
    """One line of the table of every run of the session."""
    c, s = record.config, record.summary
    return {
        "run": record.label, "from": record.extra.get("source", "") or "train page or bundle",
        "style": c.style.upper() if c.online else "TF BPTT(n;n)" if c.style == "tensorflow" else f"BPTT(n;{c.k1})",
        "n": c.truncation, "d": c.state_size, "steps": s.get("steps"), "final loss": record.final_loss(),
        "closest baseline": closest({"final_loss": record.final_loss(), "status": s.get("status")},
                                    record.baselines, task_baselines(c)[1]),
        "steps/s": s.get("steps_per_second"), "seconds": s.get("seconds"), "status": s.get("status"),
        "why": s.get("failure") or "",
    }


def sweep_point(record: RunRecord) -> dict:
    """A finished sweep run as a point of the sweep chart and a row of its table."""
    c, s = record.config, record.summary
    return {"n": c.truncation, "d": c.state_size, "seed": c.seed, "final_loss": record.final_loss(),
            "steps": s["steps"], "seconds": s["seconds"], "status": s["status"],
            "style": "TensorFlow style" if c.style == "tensorflow" else f"Williams–Peng k1 = {c.k1}", "task": c.task}


def sweep_subtitle(points: Sequence[dict]) -> str:
    """What the sweep chart's runs share: style, task, and the d and seeds drawn ('' for no points)."""
    def values(key: str) -> str:
        return ", ".join(str(v) for v in sorted({p[key] for p in points if key in p}))
    if not points:
        return ""
    return (f"{values('style') or 'style —'}, task {values('task') or '—'}; d = {values('d')}; "
            f"n = {values('n')}; seeds {values('seed')}")


def draw_sweep(slot: DeltaGenerator, sweep: SweepResult) -> None:
    """The sweep chart of the points so far, into its placeholder (with several seeds: their mean and range)."""
    build = sweep_spread.spread_chart if sweep_spread.has_spread(sweep.points) else compare_charts.sweep_chart
    chart = build(sweep.points, sweep.baselines, sweep.labels)
    slot.altair_chart(with_subtitle(chart.properties(title="Final loss against n"), sweep_subtitle(sweep.points)),
                      width="stretch")


def sweep_keeper(sweep: SweepResult, slot: DeltaGenerator, every: float = REDRAW_S,
                 clock: Callable[[], float] = time.monotonic) -> OnDone:
    """Add each finished run to the sweep and redraw the chart, so it grows while the sweep runs: after the first
    run, then at most once every `every` seconds (the page draws the finished sweep's chart itself)."""
    last = [-math.inf]

    def keep(i: int, record: RunRecord, trainer: Trainer) -> None:
        sweep.points.append(sweep_point(record))
        if clock() - last[0] >= every:
            draw_sweep(slot, sweep)
            last[0] = clock()
    return keep


def styles_keeper(styles: StylesResult, plans: Sequence[tuple[str, RunConfig]], sequence_length: int | None) -> OnDone:
    """Add each finished run of the styles race: its table row, and its loss against the data read."""
    def keep(i: int, record: RunRecord, trainer: Trainer) -> None:
        name, c = plans[i]
        styles.rows.append(style_row(name, c, record))
        styles.curves[name] = (data_seen(c, record.scalars["step"], row_length(c, sequence_length)),
                               record.scalars["loss"])
    return keep


def closest(record_or_row: dict, baselines: Sequence[float], labels: Sequence[str]) -> str:
    """The baseline closest to a run's final loss, or 'failed' for a run the engine classed as failed."""
    if record_or_row.get("status") == "failed":
        return "failed"
    return nearest_baseline(record_or_row["final_loss"], baselines, labels)


def sweep_table(result: SweepResult) -> pd.DataFrame:
    """The sweep's points with the baseline closest to each final loss ('failed' for a failed run)."""
    table = pd.DataFrame(result.points)
    table["closest baseline"] = [closest(p, result.baselines, result.labels) for p in result.points]
    return table


def sweep_reading(table: pd.DataFrame, baselines: Sequence[float], labels: Sequence[str]) -> str:
    """Each (d, n): mean final loss over seeds, min–max, and how far it sits between the baselines."""
    return reading(table, baselines, labels)


def style_row(name: str, cfg: RunConfig, record: RunRecord) -> dict:
    """A finished run of the styles race as a row of its table."""
    s = record.summary
    return {"style": name, "seed": cfg.seed, "training steps": s["steps"], "losses trained per step": cfg.effective_k1,
            "final loss": record.final_loss(), "steps/s": s["steps_per_second"], "seconds": s["seconds"],
            "status": s["status"]}


def equal_data_windows(rows: Sequence[dict], window: int) -> dict[str, int]:
    """Per style, the smoothing window in steps that averages the data of `window` TensorFlow-style steps:
    a BPTT(n; k1) step reads k1 time steps a row, a TensorFlow-style step n, so k1 < n needs n / k1 times more."""
    n = max(r["losses trained per step"] for r in rows)
    return {r["style"]: max(1, round(window * n / r["losses trained per step"])) for r in rows}


def style_short(cfg: RunConfig) -> str:
    """'BPTT(5; 1)' or 'RTRL' for a step count."""
    return cfg.style.upper() if cfg.online else f"BPTT({cfg.truncation}; {cfg.effective_k1})"


def online_inputs(cfg: RunConfig, seed_options: Sequence[int]) -> tuple[list[str], list[int]]:
    """The styles race's extra inputs: which untruncated learners join, and the seeds each style runs with."""
    c1, c2 = st.columns(2)
    offered = ["uoro"] if cfg.state_size > RTRL_MAX_D else ["rtrl", "uoro"]
    online = c1.multiselect("Learners that do not truncate", offered, default=offered, key="styles_online",
                            format_func={"rtrl": "RTRL (exact, O(d⁴) a step)", "uoro": "UORO (unbiased rank-one)"}.get,
                            help="Online, one update per time step, gradient through the whole history. "
                                 f"RTRL is offered up to d = {RTRL_MAX_D}.")
    seeds = c2.multiselect("Seeds (each style runs every seed: the table then shows the spread)", list(seed_options),
                           default=[cfg.seed if cfg.seed in seed_options else 0], key="styles_seeds")
    return online, seeds


def seed_spread(rows: Sequence[dict]) -> None:
    """With several seeds: each style's final loss and steps/s, mean, spread (min to max) and count."""
    if len({r["seed"] for r in rows}) < 2:
        return
    table = pd.DataFrame(rows)
    table["style"] = table["style"].str.replace(r", seed \d+$", "", regex=True)
    spread = table.groupby("style", sort=False).agg(
        runs=("seed", "count"), mean_loss=("final loss", "mean"), min_loss=("final loss", "min"),
        max_loss=("final loss", "max"), sd_loss=("final loss", "std"), steps_per_s=("steps/s", "mean")).reset_index()
    st.markdown("**Across seeds**")
    st.dataframe(spread.rename(columns={"mean_loss": "mean final loss", "min_loss": "lowest", "max_loss": "highest",
                                        "sd_loss": "std", "steps_per_s": "mean steps/s"}),
                 hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f") for c in
                                                 ("mean final loss", "lowest", "highest", "std")})


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
