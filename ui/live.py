"""The Train page's charts and their teaching captions, drawn in place into fixed placeholders.

`figures` turns a run (a RunRecord plus the trainer's latest row-0 snapshot, if live) into charts
with captions whose numbers all come from the run; `Board` owns one placeholder per chart so a
redraw replaces each chart where it stands, and `Board.maybe_draw` throttles redraws.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import altair as alt
import numpy as np
import streamlit as st

from rnn_core import charts
from rnn_core.data import baseline_labels, task_for
from rnn_core.report import RunRecord
from rnn_core.train import Snapshot

NAMES = ("loss", "gradient-profile", "gradient-heatmap", "position-loss", "sigma-max", "global-norm",
         "input-target-prediction", "hidden-state")
RECENT = 50  # kept profiles averaged for the loss per position
SMOOTH = 100  # steps in the loss chart's trailing mean (the engine's final_loss uses 100 too)


@dataclass
class Figure:
    """One chart of the board, its caption, or why it cannot be drawn."""

    name: str
    chart: alt.TopLevelMixin | None
    caption: str
    missing: str = ""


def _fmt(x: float) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.3g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3f}"


def _labels(record: RunRecord) -> list[str]:
    task = task_for(record.config)
    return baseline_labels(task) if task is not None else []


def task_rule(record: RunRecord) -> str:
    """The task's rule for Y_t in words, from the config."""
    cfg = record.config
    task = task_for(cfg)
    if task is None:
        return "The targets come from your CSV file."
    if cfg.task == "echo":
        return f"Target rule: Y_t = X_(t−{cfg.echo_step})."
    terms = " ".join(f"{'+' if e >= 0 else '−'} {abs(e):g}·X_(t−{lag})" for lag, e in zip(task.lags, task.effects))
    return f"Target rule: P(Y_t = 1) = {task.base_prob:g} {terms} (clipped to [0, 1])."


def figures(record: RunRecord, snapshot: Snapshot | None) -> list[Figure]:
    """Every chart of the Train page with its caption, built from the run's own numbers."""
    cfg, sc, pr = record.config, record.scalars, record.profiles
    labels, base = _labels(record), record.baselines
    loss, steps = sc["loss"], sc["step"]
    out: list[Figure] = []

    final = record.final_loss()
    text = f"Loss now {_fmt(final)} nats (mean of the last {min(SMOOTH, len(loss))} steps)."
    if base:
        pairs = ", ".join(f"{lab} {_fmt(b)}" for lab, b in zip(labels, base))
        nearest = labels[int(np.argmin([abs(final - b) for b in base]))] if np.isfinite(final) else None
        text += f" Exact baselines, the best possible expected loss of a model that {pairs}."
        if nearest:
            text += f" Closest: **{nearest}**."
    out.append(Figure("loss", charts.loss_chart(loss, base, labels, steps=steps, window=SMOOTH), text))

    if len(pr["step"]):
        g, tmp = pr["grad_norms"][-1], pr["temporal"][-1]
        ratio = tmp[0] / tmp[-1] if tmp[-1] > 0 else float("nan")
        text = (f"Step {int(pr['step'][-1]):,}: the last loss's gradient reaching the oldest state S_0 is "
                f"{_fmt(ratio)} × the one at the newest (‖∂L_last/∂S_0‖ / ‖∂L_last/∂S_{cfg.truncation - 1}‖). "
                f"No gradient crosses into the previous window.")
        out.append(Figure("gradient-profile", charts.grad_profile_chart(g, tmp), text))
        out.append(Figure(
            "gradient-heatmap", charts.grad_heatmap_chart(pr["step"], pr["grad_norms"]),
            f"‖∂L/∂S_t‖ at each position for {len(pr['step']):,} recorded steps, log colour scale: "
            "darker means less error signal reaches that state."))
        recent = pr["position_loss"][-RECENT:]
        k1 = cfg.effective_k1
        trained = "all n" if k1 == cfg.truncation else f"the last k1 = {k1}"
        out.append(Figure(
            "position-loss", charts.position_loss_chart(np.nanmean(recent, axis=0), base, labels),
            f"Mean over the last {len(recent)} recorded steps. The loss at position t is backpropagated through "
            f"t + 1 steps only, so only positions t ≥ L can teach a lag-L dependency (n = {cfg.truncation}; "
            f"{trained} positions are trained)."))
    else:
        for name in ("gradient-profile", "gradient-heatmap", "position-loss"):
            out.append(Figure(name, None, "", "This run has no per-position profiles recorded."))

    sigma = sc["sigma_max"]
    if len(sigma):
        now, first = sigma[-1], sigma[0]
        out.append(Figure(
            "sigma-max", charts.sigma_chart(sigma, steps=steps),
            f"σ_max(W_s) is {_fmt(now)} now ({_fmt(first)} after the first step). Below 1 long-term gradients "
            "must vanish; above 1 is necessary, not sufficient, for them to explode (Pascanu et al. 2013)."))
    norms = sc["global_norm"]
    finite = norms[np.isfinite(norms)]
    if len(finite):
        mean = float(np.mean(finite))
        text = (f"Mean ‖g‖ so far {_fmt(mean)}. Pascanu et al.'s heuristic clips at half to ten times the average: "
                f"{_fmt(mean / 2)} to {_fmt(mean * 10)}.")
        if cfg.clip > 0:
            text += f" Clipping at {cfg.clip:g} rescaled {np.mean(finite > cfg.clip):.0%} of the steps."
        out.append(Figure("global-norm", charts.global_norm_chart(norms, cfg.clip, steps=steps), text))

    if snapshot is not None and len(snapshot.x):
        out.append(Figure(
            "input-target-prediction", charts.strip_chart(snapshot.x, snapshot.y, snapshot.prob),
            f"Row 0 of the last window trained. {task_rule(record)}"))
        out.append(Figure(
            "hidden-state", charts.state_heatmap(snapshot.states),
            f"S_t of row 0 in the last window, d = {cfg.state_size} units; tanh keeps each in (−1, 1)."))
    else:
        why = "A run bundle stores no per-row snapshot: train this run to see it."
        out.append(Figure("input-target-prediction", None, "", why))
        out.append(Figure("hidden-state", None, "", why))
    return out


def divergence_advice(record: RunRecord) -> str:
    """Say plainly that and where a run diverged, and what to try: clipping or a smaller learning rate."""
    cfg, at = record.config, record.summary.get("diverged_at")
    where = f" at step {int(at):,}" if at is not None else ""
    norms = record.scalars["global_norm"]
    norms = norms[np.isfinite(norms)]
    typical = float(np.median(norms)) if len(norms) else float("nan")
    clip = (f"turn on gradient clipping (Optimisation → Clip gradient norm at; the median ‖g‖ was {_fmt(typical)}, "
            f"so try {_fmt(typical / 2)} to {_fmt(typical * 10)})") if cfg.clip <= 0 and np.isfinite(typical) else (
            "clip harder (a lower threshold)" if cfg.clip > 0 else "turn on gradient clipping")
    return (f"**The run diverged{where}**: the loss became NaN or infinite. Try again: {clip}, "
            f"or use a smaller learning rate (e.g. {cfg.learning_rate / 10:g} instead of {cfg.learning_rate:g}).")


class Board:
    """One placeholder per chart (two per row, one in presentation mode), redrawn in place."""

    def __init__(self, present: bool, min_interval: float = 0.3):
        self.present = present
        self.min_interval = min_interval
        self.slots: dict[str, tuple] = {}
        per_row = 1 if present else 2
        for i in range(0, len(NAMES), per_row):
            for name, col in zip(NAMES[i : i + per_row], st.columns(per_row, gap="large")):
                with col:
                    self.slots[name] = (st.empty(), st.empty())
        self._last = 0.0
        self._cost = 0.0

    def draw(self, record: RunRecord, snapshot: Snapshot | None) -> list[Figure]:
        """Redraw every chart and caption now; returns the figures drawn."""
        t0 = time.perf_counter()
        figs = figures(record, snapshot)
        for fig in figs:
            chart_slot, caption_slot = self.slots[fig.name]
            if fig.chart is None:
                chart_slot.info(fig.missing)
                caption_slot.empty()
            else:
                chart_slot.altair_chart(charts.presentation(fig.chart) if self.present else fig.chart, width="stretch")
                caption_slot.caption(fig.caption)
        self._last = time.perf_counter()
        self._cost = self._last - t0
        return figs

    def due(self) -> bool:
        """Whether a redraw is due: at most every `min_interval` s, and never more than a third of the time."""
        return time.perf_counter() - self._last >= max(self.min_interval, 2 * self._cost)
