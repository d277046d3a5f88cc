"""Altair charts of the Data page: plain data in, alt.Chart out (no streamlit).

sample_chart        strips of x_t and y_t over time, with the true P(Y_t = 1) beneath
baselines_chart     the exact expected loss of the best predictor knowing 0, 1, ... lags
lag_chart           empirical P(y_t=1 | x_{t-L}=1) - P(y_t=1 | x_{t-L}=0) per lag L, a dependency finder
"""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

BIT_COLORS = alt.Scale(domain=[0, 1], range=["#e8ecf2", "#1f5fa8"])


def sample_frame(x: Sequence[int], y: Sequence[int], prob: Sequence[float] | None = None) -> pd.DataFrame:
    """Long table (t, series, value) of a sample: series 'x_t', 'y_t' and, if given, 'P(Y_t=1)'."""
    t = np.arange(len(x))
    parts = [pd.DataFrame({"t": t, "series": "x_t", "value": np.asarray(x, float)}),
             pd.DataFrame({"t": t, "series": "y_t", "value": np.asarray(y, float)})]
    if prob is not None:
        parts.append(pd.DataFrame({"t": t, "series": "P(Y_t=1)", "value": np.asarray(prob, float)}))
    return pd.concat(parts, ignore_index=True)


def sample_chart(x: Sequence[int], y: Sequence[int], prob: Sequence[float] | None = None,
                 width: int = 760) -> alt.Chart:
    """Two strips (x_t, y_t; dark = 1) over t, and the line of P(Y_t = 1) if given, sharing the t axis."""
    frame = sample_frame(x, y, prob)
    bits = frame[frame.series.isin(["x_t", "y_t"])]
    x_enc = alt.X("t:O", title="time step t", axis=alt.Axis(labelAngle=0, values=list(range(0, len(x), 5))))
    strips = alt.Chart(bits).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("t:O", title=None, axis=alt.Axis(labels=False, ticks=False)) if prob is not None else x_enc,
        y=alt.Y("series:N", title=None, sort=["x_t", "y_t"]),
        color=alt.Color("value:O", scale=BIT_COLORS, title="value"),
        tooltip=["t:O", "series:N", alt.Tooltip("value:Q", format=".0f")],
    ).properties(width=width, height=alt.Step(22))
    if prob is None:
        return strips
    line = alt.Chart(frame[frame.series == "P(Y_t=1)"]).mark_line(point=True, interpolate="step-after").encode(
        x=x_enc,
        y=alt.Y("value:Q", title="P(Y_t = 1)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["t:O", alt.Tooltip("value:Q", title="P(Y_t = 1)", format=".2f")],
    ).properties(width=width, height=110)
    return alt.vconcat(strips, line, spacing=4).resolve_scale(x="shared")


def baselines_frame(values: Sequence[float], labels: Sequence[str]) -> pd.DataFrame:
    """Table (level, label, loss) of the baselines, level k = number of lags known."""
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} baselines but {len(labels)} labels")
    return pd.DataFrame({"level": range(len(values)), "label": list(labels), "loss": [float(v) for v in values]})


def baselines_chart(values: Sequence[float], labels: Sequence[str]) -> alt.Chart:
    """Horizontal bars of the best achievable loss (nats) for each level of knowledge, value printed."""
    frame = baselines_frame(values, labels)
    base = alt.Chart(frame).encode(
        y=alt.Y("label:N", sort=list(labels), title=None),
        x=alt.X("loss:Q", title="expected cross-entropy of the best predictor (nats)"),
        tooltip=["label:N", alt.Tooltip("loss:Q", format=".6f")],
    )
    bars = base.mark_bar(color="#1f5fa8")
    text = base.mark_text(align="left", dx=4).encode(text=alt.Text("loss:Q", format=".4f"))
    return (bars + text).properties(height=alt.Step(30))


def lag_frame(rows: Sequence[dict], true_lags: Sequence[int] = ()) -> pd.DataFrame:
    """Table of `sequence_stats.lag_dependency` rows plus a 2-standard-error band and the task's own lags."""
    columns = ["lag", "p_given_1", "p_given_0", "difference", "stderr", "pairs_1", "pairs_0"]
    frame = pd.DataFrame(list(rows), columns=columns)
    frame["low"] = frame["difference"] - 2 * frame["stderr"]
    frame["high"] = frame["difference"] + 2 * frame["stderr"]
    frame["kind"] = np.where(frame["lag"].isin(list(true_lags)), "a lag of the task above", "other lag")
    return frame


def lag_chart(rows: Sequence[dict], true_lags: Sequence[int] = ()) -> alt.Chart:
    """Bars of P(y_t=1 | x_{t-L}=1) - P(y_t=1 | x_{t-L}=0) per lag L with ±2 standard errors."""
    frame = lag_frame(rows, true_lags)
    kinds = alt.Scale(domain=["a lag of the task above", "other lag"], range=["#d9480f", "#1f5fa8"])
    color = alt.Color("kind:N", scale=kinds, title=None, legend=alt.Legend(orient="top") if len(true_lags) else None)
    x = alt.X("lag:O", title="lag L", axis=alt.Axis(labelAngle=0))
    bars = alt.Chart(frame).mark_bar().encode(
        x=x,
        y=alt.Y("difference:Q", title="P(y=1 | x=1) − P(y=1 | x=0)"),
        color=color,
        tooltip=["lag:O", alt.Tooltip("p_given_1:Q", format=".3f"), alt.Tooltip("p_given_0:Q", format=".3f"),
                 alt.Tooltip("difference:Q", format=".3f"), alt.Tooltip("stderr:Q", format=".3f")],
    )
    errs = alt.Chart(frame).mark_rule(color="black").encode(x=x, y="low:Q", y2="high:Q")
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(y="zero:Q")
    return (bars + errs + zero).properties(height=320)
