"""Altair charts of the Compare page: plain data in, alt.Chart out (no streamlit).

loss_overlay        smoothed loss curves of several runs on one axis (steps, or data seen)
profile_overlay     per-position gradient norms of several runs, aligned at the window's last position
sweep_chart         final loss against n, one line per (d, seed), with the exact baselines as rules
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

PALETTE = alt.Scale(scheme="tableau10")  # distinct hues per run (the default theme gives shades of one blue)


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over `window` steps (shorter at the start); window 1 returns the values."""
    series = pd.Series(np.asarray(values, dtype=np.float64))
    return series.rolling(max(1, int(window)), min_periods=1).mean().to_numpy()


def thin_index(length: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices keeping at most max_points of `length`, always the first and the last."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, max_points).round().astype(np.int64))


def curves_frame(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], window: int = 1,
                 max_points: int = 600) -> pd.DataFrame:
    """Long table (run, x, loss) of smoothed, thinned curves; curves maps a run label to (x, loss)."""
    parts = []
    for label, (x, loss) in curves.items():
        x = np.asarray(x, dtype=np.float64)
        y = smooth(loss, window)
        keep = thin_index(len(y), max_points)
        parts.append(pd.DataFrame({"run": label, "x": x[keep], "loss": y[keep]}))
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "x": pd.Series(dtype=float), "loss": pd.Series(dtype=float)})
    frame = pd.concat(parts, ignore_index=True)
    return frame[np.isfinite(frame["loss"])]


def baseline_layer(baselines: Sequence[float], labels: Sequence[str]) -> alt.LayerChart:
    """Dashed horizontal rules at the baselines, each labelled with its name and value."""
    frame = pd.DataFrame({"loss": [float(b) for b in baselines],
                          "label": [f"{name}: {value:.3f}" for name, value in zip(labels, baselines)]})
    rules = alt.Chart(frame).mark_rule(strokeDash=[5, 4], color="#495057").encode(y="loss:Q")
    text = alt.Chart(frame).mark_text(align="left", baseline="bottom", dx=3, dy=-1, color="#495057", fontSize=11).encode(
        x=alt.value(0), y="loss:Q", text="label:N")
    return rules + text


def loss_overlay(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], window: int = 50,
                 baselines: Sequence[float] = (), baseline_labels: Sequence[str] = (),
                 x_title: str = "training step", max_points: int = 600, height: int = 400) -> alt.Chart:
    """Loss curves of several runs (smoothed over `window` steps), colour = run, optional baseline rules."""
    frame = curves_frame(curves, window, max_points)
    lines = alt.Chart(frame).mark_line(strokeWidth=1.8).encode(
        x=alt.X("x:Q", title=x_title),
        y=alt.Y("loss:Q", title="loss (nats, smoothed)", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title=None, scale=PALETTE, legend=alt.Legend(orient="bottom", columns=1, labelLimit=600)),
        tooltip=["run:N", alt.Tooltip("x:Q", title=x_title, format=",.0f"), alt.Tooltip("loss:Q", format=".4f")],
    )
    chart = lines + baseline_layer(baselines, baseline_labels) if len(baselines) else lines
    return chart.properties(height=height)


def profiles_frame(profiles: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Long table (run, offset, position, norm): offset = t - (n - 1), so 0 is every window's last position."""
    parts = []
    for label, values in profiles.items():
        values = np.asarray(values, dtype=np.float64)
        n = len(values)
        parts.append(pd.DataFrame({"run": label, "offset": np.arange(n) - (n - 1), "position": np.arange(n), "norm": values}))
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "offset": pd.Series(dtype=int),
                             "position": pd.Series(dtype=int), "norm": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def profile_overlay(profiles: Mapping[str, Sequence[float]], y_title: str = "‖dL/dS_t‖", height: int = 380) -> alt.Chart:
    """Gradient norm per window position of several runs, log scale (non-positive norms are left out)."""
    frame = profiles_frame(profiles)
    frame = frame[np.isfinite(frame["norm"]) & (frame["norm"] > 0)]
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("offset:Q", title="window position t − (n − 1)   (0 = last position)", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("norm:Q", title=y_title, scale=alt.Scale(type="log")),
        color=alt.Color("run:N", title=None, scale=PALETTE, legend=alt.Legend(orient="bottom", columns=1, labelLimit=600)),
        tooltip=["run:N", "position:Q", alt.Tooltip("norm:Q", format=".3e")],
    ).properties(height=height)


def sweep_frame(points: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """Table (n, d, seed, final_loss, series) of sweep results; series names the line, e.g. 'd=16, seed 0'."""
    frame = pd.DataFrame(list(points), columns=["n", "d", "seed", "final_loss"])
    frame["series"] = [f"d={int(d)}, seed {int(s)}" for d, s in zip(frame["d"], frame["seed"])]
    return frame


def sweep_chart(points: Sequence[Mapping[str, float]], baselines: Sequence[float] = (),
                baseline_labels: Sequence[str] = (), height: int = 400) -> alt.Chart:
    """Final loss against n, one line per (d, seed), with the exact baselines as labelled dashed rules."""
    frame = sweep_frame(points)
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        x=alt.X("n:Q", title="truncation n (window width)", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("final_loss:Q", title="final loss (nats, mean of last 100 steps)", scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=PALETTE, legend=alt.Legend(orient="bottom")),
        tooltip=["n:Q", "d:Q", "seed:Q", alt.Tooltip("final_loss:Q", format=".4f")],
    )
    chart = lines + baseline_layer(baselines, baseline_labels) if len(baselines) else lines
    return chart.properties(height=height)
