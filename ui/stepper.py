"""The Train page's Step button and its close-ups: one training step (one window) at a time, and any
step picked on the loss chart.

`step` trains exactly one step of the live run (`Trainer.run(max_steps=1)`, so the state, weights and
optimizer state carry on as in a full run and Continue goes on from there) and keeps a `StepWindow`:
row 0's inputs, states and predictions, the batch's loss and ‖∂L/∂S_t‖ per position, the first state
and the carried one. `show_window` draws it on the Learn page's unrolled graph with the values on the
nodes; `show_picked` shows a step picked on the loss chart: its window's data and the nearest kept
gradient profile (the History thins profiles as a run grows).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.report import RunRecord
from rnn_core.truncation import carried_position, window_start
from ui import chart_spec, explain, state
from viz import train_charts
from viz.common import fmt, presentation
from viz.graph import unrolled_dot
from viz.step_charts import PICK_VIEW, pick_selection, pickable, picked_step, row_loss, window_notes

if TYPE_CHECKING:  # the Train page imports this module: TensorFlow must not load with it (ui/warmup.py)
    from rnn_core.train import Trainer

STEP_VIEW, PICK_KEY = "step_window", "loss_pick"


@dataclass
class StepWindow:
    """One stepped window: row 0's values, the batch's per-position metrics, and where in the run it was."""

    trainer_id: int
    step: int  # global index of the step
    epoch: int
    window: int  # index of the window in its epoch
    x: np.ndarray  # [n] row 0's inputs
    y: np.ndarray  # [n] row 0's targets
    first_state: np.ndarray  # [d] row 0's S_{-1}, carried in
    states: np.ndarray  # [n, d] row 0's S_t
    prob: np.ndarray  # [n] row 0's P(Y_t = 1)
    position_loss: np.ndarray  # [n] the batch's mean loss per position
    grad_norms: np.ndarray  # [n] ‖∂L/∂S_t‖ over the batch
    temporal: np.ndarray  # [n] ‖∂L_last/∂S_t‖
    loss: float  # the trained loss of the step
    carried: np.ndarray  # [d] row 0's state handed to the next window


def step_once(trainer: Trainer) -> StepWindow | None:
    """Train exactly one step of `trainer` and return its window (None if the run has nothing left)."""
    run = trainer.state
    epoch, window, d = run.epoch, run.window, trainer.cfg.state_size
    first = run.state[0].copy() if run.state is not None and window != 0 else np.zeros(d, np.float32)
    chunks = list(trainer.run(max_steps=1))  # the generator closes: the weights are copied out
    if not chunks:
        return None
    chunk = chunks[-1]
    snap = chunk.snapshot
    return StepWindow(
        trainer_id=id(trainer), step=chunk.first_step, epoch=epoch, window=window,
        x=np.asarray(snap.x), y=np.asarray(snap.y), first_state=first, states=np.asarray(snap.states),
        prob=np.asarray(snap.prob), position_loss=chunk.position_loss[0], grad_norms=chunk.grad_norms[0],
        temporal=chunk.temporal[0], loss=float(chunk.loss[0]), carried=np.asarray(run.state)[0].copy(),
    )


def step(trainer: Trainer | None, cfg: RunConfig, sequence) -> Trainer | None:
    """The Step button: one step of the live run (a fresh run first if there is none or it has ended)."""
    if trainer is None or trainer.finished:
        try:
            trainer = state.start(cfg, sequence)
        except ValueError as exc:
            st.error(f"Cannot start this run: {exc}")
            return None
    with state.training_lock():
        view = step_once(trainer)
    if view is not None:
        state.set_memo(STEP_VIEW, view)
    return trainer


def latest_window(trainer: Trainer | None) -> StepWindow | None:
    """The stepped window to show: only while it is still the live run's latest step."""
    view = state.memo(STEP_VIEW)
    if view is None or trainer is None or view.trainer_id != id(trainer) or view.step != trainer.state.steps_done - 1:
        return None
    return view


def _vector(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:+.3f}" for v in values) + "]"


def _chart(chart, present: bool) -> None:
    if present:
        st.altair_chart(presentation(chart), width="stretch", theme=None)
    else:
        st.altair_chart(chart, width="stretch")


def _explained(name: str) -> None:
    text = explain.line(name)
    if text:
        st.caption(f"*{text}*")


def show_window(view: StepWindow, cfg: RunConfig, present: bool) -> None:
    """The stepped window on the unrolled graph with its numbers, then as a table and as charts."""
    n, k1 = cfg.truncation, cfg.effective_k1
    losses = row_loss(view.y, view.prob)
    st.subheader(f"Step {view.step:,}: one window, slowed down")
    st.caption(
        f"Training step {view.step:,} (window {view.window:,} of epoch {view.epoch}; the loss chart counts steps "
        f"from 0) trained the graph n = {n} wide once, over all {cfg.batch_size} rows; row 0 is shown. Trained loss "
        f"{fmt(view.loss)} nats. Press **Step** again for the next window (it starts from the state carried "
        "below), or **Continue** to train on at full speed.")
    st.graphviz_chart(unrolled_dot(n, k1, notes=window_notes(view.x, view.y, view.prob, losses, view.grad_norms,
                                                              view.first_state)))
    _explained("step-graph")
    carried = carried_position(k1)
    st.markdown(
        f"First state S₋₁ (carried in, row 0): `{_vector(view.first_state)}`  \n"
        f"State carried to the next window, S_{carried} (row 0): `{_vector(view.carried)}`")
    table = pd.DataFrame({
        "position t": np.arange(n), "X_t": view.x.astype(int), "Y_t": view.y.astype(int),
        "P(Y_t = 1)": view.prob, "L_t row 0": losses, "L_t batch mean": view.position_loss,
        "‖∂L/∂S_t‖": view.grad_norms, "‖∂L_last/∂S_t‖": view.temporal,
        "S_t row 0": [_vector(s) for s in view.states],
    })
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table.columns[3:8]})
    _explained("step-table")
    left, right = st.columns(2)
    with left:
        _chart(train_charts.strip_chart(view.x, view.y, view.prob), present)
        _explained("input-target-prediction")
    with right:
        _chart(train_charts.grad_profile_chart(view.grad_norms, view.temporal).properties(
            title=f"Gradient norm per time step (step {view.step:,})"), present)
        _explained("gradient-profile")


def pickable_spec(chart, picked: int | None, present: bool) -> dict | None:
    """`pickable`'s spec, its selection lifted to the top by hand: what Altair makes of `pickable(chart, picked)`
    (tests/test_live_board.py), without the copies of every layer its lifting costs. None if nothing to pick."""
    plain = pickable(chart, picked, selection=False)
    if plain is None:
        return None
    spec = chart_spec.spec(presentation(plain) if present else plain)
    spec["params"] = [{**pick_selection().param.to_dict(), "views": [PICK_VIEW]}]
    return spec


def pick_on_loss_chart(board, figs: list, present: bool, picked: int | None) -> None:
    """Redraw the board's loss chart so a click picks a step (a selection read on the next rerun)."""
    fig = next((f for f in figs if f.name == "loss" and f.chart is not None), None)
    if fig is None:  # the board said why there is no chart
        return

    def build() -> dict | None:
        return pickable_spec(fig.chart, picked, present)

    spec = board.remembered("loss-pickable", (board.drawn_key("loss"), picked, present), build)
    if spec is None:  # nothing to pick: the chart as it is
        board.emit_chart("loss")
        return
    slot = board.slots["loss"][0]
    if present:
        slot.vega_lite_chart(spec, width="stretch", theme=None, on_select="rerun", key=PICK_KEY)
    else:
        slot.vega_lite_chart(spec, width="stretch", on_select="rerun", key=PICK_KEY)


def picked() -> int | None:
    """The step picked on the loss chart (from its selection state), if any."""
    return picked_step(state.widget(PICK_KEY))


def nearest_kept(steps: np.ndarray, step: int) -> int | None:
    """Index of the kept profile nearest to `step` (the earlier one on a tie), or None if none is kept."""
    if not len(steps):
        return None
    return int(np.argmin(np.abs(np.asarray(steps, np.int64) - step)))


def window_data(cfg: RunConfig, sequence, step: int, steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row 0's inputs and targets of the window that training step `step` trained (None if out of range)."""
    if steps_per_epoch <= 0 or not 0 <= step < steps_per_epoch * cfg.epochs:
        return None
    if cfg.task == "file" and sequence is None:
        return None
    epoch, window = divmod(step, steps_per_epoch)
    xb, yb = epoch_data(cfg, epoch, sequence)
    start = window_start(window, cfg.effective_k1)
    return xb[0, start : start + cfg.truncation], yb[0, start : start + cfg.truncation]


def show_picked(record: RunRecord, step: int, steps_per_epoch: int, sequence, present: bool) -> None:
    """A step picked on the loss chart: its window's data and the gradient profile kept nearest to it."""
    cfg, pr = record.config, record.profiles
    loss = record.scalars["loss"]
    st.subheader(f"Picked on the loss chart: step {step:,}")
    if not 0 <= step < len(loss):
        st.warning(f"Step {step:,} is not in this run ({len(loss):,} steps); pick a point on the chart.")
        return
    i = nearest_kept(pr["step"], step)
    if i is None:
        st.info("This run kept no gradient profiles.")
        return
    kept = int(pr["step"][i])
    where = ("its own gradient profile (kept)" if kept == step else
             f"the gradient profile of step {kept:,}, the nearest one kept (a long run keeps a thinned "
             f"selection of {len(pr['step']):,} profiles)")
    st.caption(f"Trained loss at step {step:,}: {fmt(float(loss[step]))} nats. Showing {where}.")
    data = window_data(cfg, sequence, kept, steps_per_epoch)
    left, right = st.columns(2)
    with left:
        _chart(train_charts.grad_profile_chart(pr["grad_norms"][i], pr["temporal"][i]).properties(
            title=f"Gradient norm per time step (step {kept:,})"), present)
        _explained("gradient-profile")
    with right:
        table = pd.DataFrame({"t": np.arange(cfg.truncation), "L_t (batch)": pr["position_loss"][i],
                              "‖∂L/∂S_t‖": pr["grad_norms"][i], "‖∂L_last/∂S_t‖": pr["temporal"][i]})
        if data is not None:
            table.insert(1, "X_t", np.asarray(data[0]).astype(int))
            table.insert(2, "Y_t", np.asarray(data[1]).astype(int))
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table.columns[-3:]})
        st.caption(f"Window of step {kept:,}" + (": row 0's inputs and targets, the batch's losses and gradients"
                                                 if data is not None else " (its data is not available here)")
                   + ". Double-click the loss chart to clear the pick.")
