"""The Train page's charts and their teaching captions, drawn in place into fixed placeholders.

`figures` turns a run (a RunRecord plus the trainer's latest row-0 snapshot, if live) into charts
with captions whose numbers all come from the run; `Board` owns one placeholder per chart so a
redraw replaces each chart where it stands, and `Board.maybe_draw` throttles redraws.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import streamlit as st

from rnn_core.compare import nearest_baseline
from rnn_core.config import RunConfig
from rnn_core.data import task_baselines, task_for
from rnn_core.report import RunRecord, settings_lines
from ui import chart_spec, explain
from ui.exact_view import not_applicable
from viz import train_charts
from viz.common import fmt, presentation, with_subtitle

if TYPE_CHECKING:  # the trainer imports TensorFlow; the landing page draws without it
    from rnn_core.train import Snapshot

NAMES = ("loss", "gradient-profile", "gradient-heatmap", "position-loss", "sigma-max", "global-norm",
         "input-target-prediction", "hidden-state")
TITLES = {
    "loss": "Loss", "gradient-profile": "Gradient per time step", "gradient-heatmap": "Gradient heatmap",
    "position-loss": "Loss per position", "sigma-max": "σ_max(W_s)", "global-norm": "Global gradient norm",
    "input-target-prediction": "Input, target, prediction", "hidden-state": "Hidden state",
}
RECENT = 50  # kept profiles averaged for the loss per position
SMOOTH = 100  # steps in the loss chart's trailing mean (the engine's final_loss uses 100 too)


@dataclass
class Figure:
    """One chart of the board, its caption, or why it cannot be drawn."""

    name: str
    chart: alt.TopLevelMixin | None
    caption: str
    missing: str = ""


def _baseline_pairs(labels: list[str], base: list[float]) -> str:
    """'learns nothing 0.662, learns lag 3 0.519, ...' for a caption."""
    return ", ".join(f"{lab} {fmt(b)}" for lab, b in zip(labels, base))


def _labels(record: RunRecord) -> list[str]:
    return task_baselines(record.config)[1]


def task_rule(cfg: RunConfig) -> str:
    """The task's rule for Y_t in words."""
    task = task_for(cfg)
    if task is None:
        return "The targets come from your CSV file."
    if cfg.task == "echo":
        return f"Target rule: Y_t = X_(t−{cfg.echo_step})."
    terms = " ".join(f"{'+' if e >= 0 else '−'} {abs(e):g}·X_(t−{lag})" for lag, e in zip(task.lags, task.effects))
    return f"Target rule: P(Y_t = 1) = {task.base_prob:g} {terms} (clipped to [0, 1])."


def _loss(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    labels, base = _labels(record), record.baselines
    loss = record.scalars["loss"]
    final = record.final_loss()
    text = f"Loss now {fmt(final)} nats (mean of the last {min(SMOOTH, len(loss))} steps)."
    if base:
        text += f" Exact baselines, the best possible expected loss of a model that {_baseline_pairs(labels, base)}."
        if np.isfinite(final):
            text += f" Closest: **{nearest_baseline(final, base, labels)}**."
    chart = train_charts.loss_chart(loss, base, labels, steps=record.scalars["step"], window=SMOOTH)
    return Figure("loss", chart, text)


NO_PROFILES = "This run has no per-position profiles recorded."


def _gradient_profile(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    pr, n = record.profiles, record.config.truncation
    if not len(pr["step"]):
        return Figure("gradient-profile", None, "", NO_PROFILES)
    g, tmp = pr["grad_norms"][-1], pr["temporal"][-1]
    ratio = tmp[0] / tmp[-1] if tmp[-1] > 0 else float("nan")
    at, done = int(pr["step"][-1]), int(record.summary.get("steps") or 0)
    kept = f" (the latest kept profile of {done:,} steps)" if done and at != done - 1 else ""
    text = (f"Step {at:,}{kept}: the last loss's gradient reaching the oldest state S_0 is "
            f"{_times(ratio)} the one at the newest (‖∂L_last/∂S_0‖ / ‖∂L_last/∂S_{n - 1}‖). "
            "No gradient crosses into the previous window.")
    return Figure("gradient-profile", train_charts.grad_profile_chart(g, tmp), text)


def _times(ratio: float) -> str:
    """'0.012 ×', or for a ratio that underflowed float32 to 0 'less than 1e-38 ×' (never '0 ×')."""
    return "less than 1e-38 ×" if ratio == 0 else f"{fmt(ratio)} ×"


def _gradient_heatmap(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    pr = record.profiles
    if not len(pr["step"]):
        return Figure("gradient-heatmap", None, "", NO_PROFILES)
    return Figure("gradient-heatmap", train_charts.grad_heatmap_chart(pr["step"], pr["grad_norms"]),
                  f"‖∂L/∂S_t‖ at each position for {len(pr['step']):,} recorded steps, log colour scale: "
                  "darker means less error signal reaches that state.")


def _position_loss(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    cfg, pr = record.config, record.profiles
    if not len(pr["step"]):
        return Figure("position-loss", None, "", NO_PROFILES)
    recent = pr["position_loss"][-RECENT:]
    k1 = cfg.effective_k1
    trained = "all n" if k1 == cfg.truncation else f"the last k1 = {k1}"
    chart = train_charts.position_loss_chart(np.nanmean(recent, axis=0), record.baselines, _labels(record), k1=k1)
    return Figure(
        "position-loss", chart,
        f"Mean over the last {len(recent)} recorded steps. The loss at position t is backpropagated through "
        f"t + 1 steps only, so only positions t ≥ L can teach a lag-L dependency (n = {cfg.truncation}; "
        f"{trained} positions are trained).")


def _sigma(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    sigma = record.scalars["sigma_max"]
    if not len(sigma):
        return Figure("sigma-max", None, "", "No steps recorded.")
    return Figure(
        "sigma-max", train_charts.sigma_chart(sigma, steps=record.scalars["step"]),
        f"σ_max(W_s) is {fmt(sigma[-1])} now ({fmt(sigma[0])} after the first step). Below 1 long-term gradients "
        "must vanish; above 1 is necessary, not sufficient, for them to explode (Pascanu et al. 2013).")


def _global_norm(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    clip, norms = record.config.clip, record.scalars["global_norm"]
    finite = norms[np.isfinite(norms)]
    if not len(finite):
        return Figure("global-norm", None, "", "No finite gradient norm recorded.")
    mean = float(np.mean(finite))
    text = (f"Mean ‖g‖ so far {fmt(mean)}. Pascanu et al.'s heuristic clips at half to ten times the average: "
            f"{fmt(mean / 2)} to {fmt(mean * 10)}.")
    if clip > 0:
        text += f" Clipping at {clip:g} rescaled {np.mean(finite > clip):.0%} of the steps."
    return Figure("global-norm", train_charts.global_norm_chart(norms, clip, steps=record.scalars["step"]), text)


NO_SNAPSHOT = "A run bundle stores no per-row snapshot: train this run to see it."


def _strip(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    if snapshot is None or not len(snapshot.x):
        return Figure("input-target-prediction", None, "", NO_SNAPSHOT)
    return Figure("input-target-prediction", train_charts.strip_chart(snapshot.x, snapshot.y, snapshot.prob),
                  "Row 0 of the last window trained; the orange row is the model's predicted P(Y_t = 1), not the "
                  f"task's true probability. {task_rule(record.config)}")


def _state(record: RunRecord, snapshot: Snapshot | None) -> Figure:
    if snapshot is None or not len(snapshot.x):
        return Figure("hidden-state", None, "", NO_SNAPSHOT)
    return Figure("hidden-state", train_charts.state_heatmap(snapshot.states),
                  f"S_t of row 0 in the last window, d = {record.config.state_size} units; tanh keeps each in (−1, 1).")


BUILDERS = {
    "loss": _loss, "gradient-profile": _gradient_profile, "gradient-heatmap": _gradient_heatmap,
    "position-loss": _position_loss, "sigma-max": _sigma, "global-norm": _global_norm,
    "input-target-prediction": _strip, "hidden-state": _state,
}


def figures(record: RunRecord, snapshot: Snapshot | None, names: tuple[str, ...] = NAMES) -> list[Figure]:
    """The named charts of the Train page (all by default) with captions built from the run's own numbers."""
    steps = int(record.summary.get("steps") or 0)  # built without Altair's debug-mode checks (ui/chart_spec.py)
    return [Figure(name, None, "", why) if (why := not_applicable(name, record.config))
            else explain.annotate(_titled(BUILDERS[name](record, snapshot), record.config, steps))
            for name in names]


def _titled(fig: Figure, cfg: RunConfig, steps: int = 0) -> Figure:
    """The figure with its run's settings under the chart's title, on screen, projected and exported, and the
    number of steps trained when it was drawn (live, the charts are redrawn in turns: each says its own)."""
    if fig.chart is not None:
        model, data = settings_lines(cfg)  # two lines: one is cut off at half the width of a 1280 px screen
        fig.chart = with_subtitle(fig.chart, [model, data + (f" · after {steps:,} steps" if steps else "")])
    return fig


def targets_figure(cfg: RunConfig) -> Figure | None:
    """Before any run: the loss chart with only the task's exact baselines, the levels training can reach."""
    base, labels = task_baselines(cfg)
    if not base:
        return None
    return _titled(Figure("loss", train_charts.loss_chart(np.zeros(0), base, labels, window=SMOOTH),
                  f"Before training: the exact expected loss of the best model that {_baseline_pairs(labels, base)} "
                  f"nats. {task_rule(cfg)} "
                  f"Where will n = {cfg.truncation} get to?"), cfg)


def divergence_advice(record: RunRecord) -> str:
    """Say plainly where a run diverged (or why it failed) and what to try: clipping or a smaller learning rate."""
    cfg, at = record.config, record.summary.get("diverged_at")
    where = f" at step {int(at):,}" if at is not None else ""
    norms = record.scalars["global_norm"]
    norms = norms[np.isfinite(norms)]
    typical = float(np.median(norms)) if len(norms) else float("nan")
    clip = (f"turn on gradient clipping (Optimisation → Clip gradient norm at; the median ‖g‖ was {fmt(typical)}, "
            f"so try {fmt(typical / 2)} to {fmt(typical * 10)})") if cfg.clip <= 0 and np.isfinite(typical) else (
            "clip harder (a lower threshold)" if cfg.clip > 0 else "turn on gradient clipping")
    failure = record.summary.get("failure")
    what = (f"**The run failed**: {failure}." if record.summary.get("status") == "failed" and failure else
            f"**The run diverged{where}**: the loss became NaN or infinite.")
    return (f"{what} Try again: {clip}, "
            f"or use a smaller learning rate (e.g. {cfg.learning_rate / 10:g} instead of {cfg.learning_rate:g}).")


@dataclass
class Drawn:
    """A chart as drawn: what it was drawn from, its figure, its Vega-Lite spec (None: not drawable), and the
    snapshot it shows, kept alive so that no later snapshot can take its id (a part of `key`)."""

    key: tuple
    figure: Figure | None
    spec: dict | None
    snapshot: object = None
    built: bool = True  # False: the spec is not made yet (a chart the page draws its own way, `Board.draw`'s `leave`)


PLACEHOLDER_PX = 400  # about a chart's height (viz/train_charts.HEIGHT) and its margins: a placeholder keeps its place
LIVE_SHARE = 0.25  # of one core: what all sessions' live redraws together may take while training


class _LiveBoards:
    """Which boards drew live lately, across every session of this server (a thread-safe count)."""

    def __init__(self, horizon: float = 3.0):
        self._lock = threading.Lock()
        self._seen: dict[int, float] = {}
        self._horizon = horizon

    def touch(self, board: Board) -> None:
        with self._lock:
            self._seen[id(board)] = time.perf_counter()

    def count(self) -> int:
        now = time.perf_counter()
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._horizon}
            return max(1, len(self._seen))


LIVE = _LiveBoards()


class Board:
    """One placeholder per chart (two per row, one in presentation mode), redrawn in place.

    A chart goes to the browser as a Vega-Lite dict built without Altair's schema check
    (ui/chart_spec.py). What a chart was drawn from, its figure and its spec are kept in `memory`
    (by default the board's own; the Train page passes one dict per session), so a chart whose data
    did not change is neither rebuilt nor converted again: on the same board it is not sent again, on
    a later script run's board (a rerun after the run ends, a click, a pick) its kept spec is sent.
    Live redraws share one budget across the server: all boards training at once may spend
    `LIVE_SHARE` of a core on them, so a busy server redraws each board less often instead of
    spending more on redraws.
    """

    typical_cost = 0.05  # CPU seconds of a full draw, last measured on any board (a first tick's estimate)

    def __init__(self, present: bool, min_interval: float = 0.3, memory: dict | None = None,
                 placeholders: tuple[str, ...] | None = None):
        """`placeholders`: the charts that get a placeholder to be redrawn in (all by default). A board drawn once
        (no run training) passes only the charts it replaces later: the others go straight into their column,
        which saves the server two messages to the browser per chart."""
        self.present = present
        self.min_interval = min_interval
        self.slots: dict[str, tuple] = {}
        self._direct: set[str] = set()  # drawn straight into their column: drawn once, never replaced
        per_row = 1 if present else 2
        for i in range(0, len(NAMES), per_row):
            for name, col in zip(NAMES[i : i + per_row], st.columns(per_row, gap="large")):
                if placeholders is None or name in placeholders:
                    with col:
                        self.slots[name] = (st.empty(), st.empty())
                else:
                    self.slots[name] = (col, col)
                    self._direct.add(name)
        # Live drawing starts min_interval from now: a short run is drawn once, at its end.
        self._last = time.perf_counter()
        self._drawn = False
        self._cost = 0.0  # CPU seconds of this board's last draw
        self._turn = 0
        self._memory = memory if memory is not None else {}  # name -> Drawn
        self._on_board: set[str] = set()  # the names this board has drawn (from their Drawn)

    def draw(self, record: RunRecord, snapshot: Snapshot | None, names: tuple[str, ...] = NAMES,
             leave: tuple[str, ...] = ()) -> list[Figure]:
        """Redraw the named charts (all by default) and their captions now; returns the figures drawn.

        A chart drawn from the same data before is not rebuilt: on this board it is left as it is, on a new
        board its kept spec is sent. The charts named in `leave` get their figure and caption only: the caller
        fills their chart slot (`emit_chart` draws one as it is), so no spec is made and sent only to be replaced.
        """
        t0 = time.thread_time()
        keys = {name: self._key(name, record, snapshot) for name in names}
        stale = tuple(name for name in names if self.drawn_key(name) != keys[name])
        for fig in figures(record, snapshot, stale):
            later = fig.name in leave and fig.chart is not None
            self._memory[fig.name] = Drawn(keys[fig.name], fig, None if later else self._spec(fig), snapshot,
                                           built=not later)
            self._on_board.discard(fig.name)
        for name in names:
            if name not in self._on_board:
                self._emit(self._memory[name], chart=name not in leave)
        self._last = time.perf_counter()
        self._cost = time.thread_time() - t0
        if len(stale) == len(NAMES):
            Board.typical_cost = self._cost
        self._drawn = True
        return [self._memory[name].figure for name in names]

    def _key(self, name: str, record: RunRecord, snapshot: Snapshot | None) -> tuple:
        return _stamp(name, record, snapshot), self.present, explain.line(name)

    def drawn_key(self, name: str) -> tuple | None:
        """What the kept chart `name` was drawn from (None if none is kept)."""
        kept = self._memory.get(name)
        return kept.key if kept is not None else None

    def remembered(self, name: str, key: tuple, build) -> dict | None:
        """A spec kept under `name` for `key`, or `build()`'s (a spec or None), kept for the next script run."""
        kept = self._memory.get(name)
        if kept is None or kept.key != key:
            kept = self._memory[name] = Drawn(key, None, build(), None)
        return kept.spec

    def _spec(self, fig: Figure) -> dict | None:
        if fig.chart is None:
            return None
        # Streamlit's theme would override presentation mode's larger fonts (drawn with theme=None)
        return chart_spec.spec(presentation(fig.chart) if self.present else fig.chart)

    def emit_chart(self, name: str) -> None:
        """Draw the kept chart `name` into its slot as it is (one `draw` left to the caller, who chose not to)."""
        self._emit_chart(self._memory[name])

    def _emit_chart(self, drawn: Drawn) -> None:
        if not drawn.built:
            drawn.spec, drawn.built = self._spec(drawn.figure), True
        if drawn.spec is not None:
            self.slots[drawn.figure.name][0].vega_lite_chart(drawn.spec, width="stretch",
                                                             theme=None if self.present else "streamlit")

    def _emit(self, drawn: Drawn, chart: bool = True) -> None:
        fig = drawn.figure
        chart_slot, caption_slot = self.slots[fig.name]
        if fig.chart is None:
            chart_slot.info(fig.missing)
            if fig.name not in self._direct:
                caption_slot.empty()
        else:
            if chart:
                self._emit_chart(drawn)
            caption_slot.caption(fig.caption)
        self._on_board.add(fig.name)

    def show(self, fig: Figure) -> None:
        """Draw one figure and its caption into its slot, or say why it cannot be drawn (not kept: not a run's chart,
        e.g. the targets figure before any run)."""
        self._emit(Drawn((), fig, self._spec(fig), None))
        self._on_board.discard(fig.name)

    def draw_live(self, record: RunRecord, snapshot: Snapshot | None, per_tick: int = 2) -> None:
        """One live tick: the loss chart and, in turn, `per_tick` of the others, so each tick stays cheap."""
        LIVE.touch(self)
        if not self._drawn:  # the charts not drawn this tick hold their place, so the layout does not jump later
            for name in NAMES:
                if name not in self._on_board:
                    chart_slot, caption_slot = self.slots[name]
                    with chart_slot.container(height=PLACEHOLDER_PX, border=True):
                        st.caption(f"{TITLES.get(name, name)}: drawn in turn while the run trains, in full at its end.")
                    caption_slot.empty()
            self._drawn = True
        rest = NAMES[1:]
        picked = tuple(rest[(self._turn + i) % len(rest)] for i in range(per_tick))
        self._turn = (self._turn + per_tick) % len(rest)
        self.draw(record, snapshot, ("loss",) + picked)

    def due(self) -> bool:
        """Whether a live redraw is due: not before `min_interval` s after the board was made (a run
        that ends sooner is drawn once, complete), then at most every `min_interval` s, never more than
        a third of this thread's time, and no more often than the server's live budget allows with the
        boards training now (`LIVE_SHARE`)."""
        cost = self._cost if self._drawn else Board.typical_cost
        interval = max(self.min_interval, 2 * cost, cost * LIVE.count() / LIVE_SHARE)
        return time.perf_counter() - self._last >= interval


def _stamp(name: str, record: RunRecord, snapshot: Snapshot | None) -> tuple:
    """What a chart is drawn from, cheaply: the run's settings, how many steps and profiles, which snapshot."""
    steps, profiles = len(record.scalars["step"]), len(record.profiles["step"])
    last_profile = int(record.profiles["step"][-1]) if profiles else -1
    shot = id(snapshot) if name in ("input-target-prediction", "hidden-state") else None
    seconds = record.summary.get("seconds")  # two runs of the same settings and label differ in their training time
    return record.config, record.label, seconds, steps, profiles, last_profile, shot
