"""Charts of what truncation does to the gradient: cosine with the exact gradient over training, and the flow matrix.

cosine_chart     sampled steps' cosine (all weights, W_s alone) of the truncated gradient with the exact one
cosine_overlay   the all-weights cosine of several runs on one chart (Compare)
flow_heatmap     ||dL_t/dS_s|| for a window's trained losses t and the states s they reach, past the window
                 start, on a log colour scale, with the window boundary drawn
"""
from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

from .common import RULE_COLOR, finite_rows, props

HEIGHT = 260
COSINE_SCALE = alt.Scale(domain=[-1, 1])


def cosine_chart(steps: np.ndarray, cosine_all: np.ndarray, cosine_W_s: np.ndarray,
                 title: str = "Truncated vs exact gradient: cosine") -> alt.LayerChart:
    """Cosine at each sampled step, one line for all weights and one for W_s alone, with a rule at 1 (no bias)."""
    steps = np.asarray(steps, np.int64)
    df = pd.concat([
        pd.DataFrame({"step": steps, "cosine": np.asarray(cosine_all, np.float64), "weights": "all weights"}),
        pd.DataFrame({"step": steps, "cosine": np.asarray(cosine_W_s, np.float64), "weights": "W_s alone"}),
    ])
    df = finite_rows(df, "cosine")
    lines = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("cosine:Q", title="cosine with the exact gradient", scale=COSINE_SCALE),
        color=alt.Color("weights:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["step:Q", "weights:N", alt.Tooltip("cosine:Q", format=".3f")],
    )
    one = alt.Chart(pd.DataFrame({"cosine": [1.0]})).mark_rule(strokeDash=[5, 4], color=RULE_COLOR).encode(y="cosine:Q")
    return props(alt.layer(lines, one), title=title, height=HEIGHT)


def cosine_overlay(curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   title: str = "Cosine with the exact gradient over training") -> alt.LayerChart:
    """One line per run label: (steps, all-weights cosine)."""
    frames = [pd.DataFrame({"step": np.asarray(s, np.int64), "cosine": np.asarray(c, np.float64), "run": label})
              for label, (s, c) in curves.items()]
    df = finite_rows(pd.concat(frames) if frames else pd.DataFrame({"step": [], "cosine": [], "run": []}), "cosine")
    lines = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("cosine:Q", title="cosine (all weights)", scale=COSINE_SCALE),
        color=alt.Color("run:N", title="run", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)),
        tooltip=["run:N", "step:Q", alt.Tooltip("cosine:Q", format=".3f")],
    )
    one = alt.Chart(pd.DataFrame({"cosine": [1.0]})).mark_rule(strokeDash=[5, 4], color=RULE_COLOR).encode(y="cosine:Q")
    return props(alt.layer(lines, one), title=title, height=HEIGHT)


def flow_frame(flow: Mapping) -> pd.DataFrame:
    """The flow matrix as rows (loss t, state s, norm, kept), positions relative to the window start, zeros dropped."""
    matrix = np.asarray(flow["matrix"], np.float64)
    start = int(flow["window_start"])
    t = np.asarray(flow["loss_positions"], np.int64) - start
    s = np.asarray(flow["state_positions"], np.int64) - start
    kept = np.asarray(flow["truncation_mask"], bool)
    df = pd.DataFrame({
        "loss": np.repeat(t, len(s)), "state": np.tile(s, len(t)), "norm": matrix.reshape(-1),
        "part": np.where(kept.reshape(-1), "kept by truncation", "cut by truncation"),
    })
    return finite_rows(df, "norm", positive=True)


def flow_heatmap(flow: Mapping, title: str = "Gradient flow: ‖∂L_t/∂S_s‖, loss by state") -> alt.LayerChart:
    """Loss position t (rows) by state position s (columns), both relative to the window start (0), log colour.

    Cells left of the dashed boundary are what full backpropagation would have sent into earlier
    windows and truncation cut; TF style keeps a triangle, Williams-Peng with k1 < n a band.
    """
    df = flow_frame(flow)
    rect = alt.Chart(df).mark_rect().encode(
        x=alt.X("state:O", title="state s (0 = window start; left of the line: earlier windows)"),
        y=alt.Y("loss:O", title="trained loss t", sort="descending"),
        color=alt.Color("norm:Q", title="‖∂L_t/∂S_s‖", scale=alt.Scale(type="log", scheme="viridis"),
                        legend=alt.Legend(format=".0e")),
        tooltip=[alt.Tooltip("loss:O", title="loss t"), alt.Tooltip("state:O", title="state s"),
                 alt.Tooltip("norm:Q", format=".3e"), "part:N"],
    )
    boundary = alt.Chart(pd.DataFrame({"state": [0]})).mark_rule(color="#e8590c", strokeDash=[6, 3], strokeWidth=2,
                                                                  xOffset={"expr": "-bandwidth('x') / 2"}).encode(
        x="state:O")
    label = alt.Chart(pd.DataFrame({"state": [0], "text": ["window start"]})).mark_text(
        align="left", baseline="top", dx=2, dy=2, color="#e8590c").encode(x="state:O", y=alt.value(0), text="text:N")
    return props(alt.layer(rect, boundary, label), title=title, height=HEIGHT)
