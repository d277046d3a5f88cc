"""Charts and graph labels for one training step looked at closely (no streamlit).

pickable            the loss chart with a click-to-pick-a-step selection named PICK (and the picked step marked)
picked_step         the step a Streamlit selection event on that chart names, or None
window_notes        the values of a stepped window as second lines for `graph.unrolled_dot`'s nodes
"""
from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from viz.common import fmt, props

PICK = "pick"
PICK_VIEW = "pick_points"  # the view the selection listens on
PICKED = "#c92a2a"


def pick_selection() -> alt.Parameter:
    """The click-to-pick-a-step selection `pickable` adds (named PICK, on the view named PICK_VIEW)."""
    return alt.selection_point(name=PICK, fields=["step"], on="click", nearest=True, empty=False, clear="dblclick")


def pickable(chart: alt.LayerChart, picked: int | None = None, selection: bool = True) -> alt.LayerChart | None:
    """The loss chart (`train_charts.loss_chart`) with invisible points that pick the nearest step on a click
    (None if the chart has no steps to pick). Altair hoists the data of a one-layer chart to the top.

    With `selection=False` the points carry no selection: a caller that adds `pick_selection()` to the spec
    itself (lifted to the top, as Altair would) skips Altair's parameter lifting, which copies every layer.
    """
    data = chart.layer[0].data
    if not isinstance(data, pd.DataFrame):
        data = chart.data
    if not isinstance(data, pd.DataFrame) or not len(data) or not {"step", "loss", "series"} <= set(data.columns):
        return None
    # named, so Altair does not name the view by hashing its spec (a repr of the whole frame, on every draw)
    selectors = alt.Chart(data, name=PICK_VIEW).mark_point(size=60, opacity=0).encode(
        x="step:Q", y="loss:Q",
        tooltip=[alt.Tooltip("step:Q", title="step", format=","), alt.Tooltip("loss:Q", format=".4f"),
                 alt.Tooltip("series:N")],
    )
    if selection:
        selectors = selectors.add_params(pick_selection())
    layers = [*chart.layer, selectors]
    if picked is not None:
        mark = pd.DataFrame({"step": [int(picked)], "label": [f"picked step {int(picked):,}"]})
        layers.append(alt.Chart(mark).mark_rule(color=PICKED, strokeWidth=2).encode(
            x="step:Q", tooltip=[alt.Tooltip("label:N", title="")]))
    return props(alt.layer(*layers), title=chart.title, height=chart.height)


def picked_step(event: Any) -> int | None:
    """The step named by a Streamlit selection event (or its session-state value) on `pickable`'s chart."""
    if event is None:
        return None
    try:
        points = event["selection"][PICK]
    except (KeyError, TypeError):
        return None
    if not points:
        return None
    value = points[0].get("step") if isinstance(points[0], dict) else None
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return None


def window_notes(x: np.ndarray, y: np.ndarray, prob: np.ndarray, row_loss: np.ndarray, grad_norms: np.ndarray,
                 first_state: np.ndarray) -> dict[str, str]:
    """Second lines for the unrolled graph's nodes: x on X_t, ‖∂L/∂S_t‖ on S_t, P(Y=1) on P_t, y and L_t on L_t."""
    notes = {"init": "carried in: " + " ".join(f"{v:+.2f}" for v in np.asarray(first_state)[:4])
             + (" …" if len(first_state) > 4 else "")}
    for t in range(len(x)):
        notes[f"X{t}"] = f"x = {int(x[t])}"
        notes[f"S{t}"] = f"‖∂L/∂S‖ {fmt(float(grad_norms[t]))}"
        notes[f"P{t}"] = f"p = {float(prob[t]):.2f}"
        notes[f"L{t}"] = f"y = {int(y[t])}, {float(row_loss[t]):.2f}"
    return notes


def row_loss(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Cross-entropy of one row's P(Y=1) against its targets, in nats, per position."""
    p = np.clip(np.asarray(prob, np.float64), 1e-12, 1 - 1e-12)
    return np.where(np.asarray(y) == 1, -np.log(p), -np.log1p(-p))
