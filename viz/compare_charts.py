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

from viz.common import finite_rows, fmt, reference_lines, smooth, thin_indices

PALETTE = alt.Scale(scheme="tableau10")  # distinct hues per run (the default theme gives shades of one blue)
RUN_LEGEND = alt.Legend(orient="bottom", columns=1, labelLimit=600)  # one run a line: labels are long


def curves_frame(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], window: int | Mapping[str, int] = 1,
                 max_points: int = 600) -> pd.DataFrame:
    """Long table (run, x, loss) of smoothed, thinned curves; curves maps a run label to (x, loss), `window`
    is one smoothing window for all, or one per label (so curves on a data axis average equal data)."""
    parts = []
    for label, (x, loss) in curves.items():
        x = np.asarray(x, dtype=np.float64)
        y = smooth(loss, window.get(label, 1) if isinstance(window, Mapping) else window)
        keep = thin_indices(len(y), max_points)
        parts.append(pd.DataFrame({"run": label, "x": x[keep], "loss": y[keep]}))
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "x": pd.Series(dtype=float), "loss": pd.Series(dtype=float)})
    frame = pd.concat(parts, ignore_index=True)
    return finite_rows(frame, "loss")


def _baseline_rules(baselines: Sequence[float], labels: Sequence[str]) -> list[alt.Chart]:
    # Several runs share the chart, and no caption gives the levels, so each label carries its value.
    return reference_lines(baselines, [f"{name}: {fmt(value)}" for name, value in zip(labels, baselines)])


def loss_overlay(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], window: int | Mapping[str, int] = 50,
                 baselines: Sequence[float] = (), baseline_labels: Sequence[str] = (),
                 x_title: str = "training step", max_points: int = 600, height: int = 400) -> alt.Chart:
    """Loss curves of several runs (smoothed over `window` steps), colour = run, optional baseline rules."""
    frame = curves_frame(curves, window, max_points)
    lines = alt.Chart(frame).mark_line(strokeWidth=1.8).encode(
        x=alt.X("x:Q", title=x_title),
        y=alt.Y("loss:Q", title="loss (nats, smoothed)", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title=None, scale=PALETTE, legend=RUN_LEGEND),
        tooltip=["run:N", alt.Tooltip("x:Q", title=x_title, format=",.0f"), alt.Tooltip("loss:Q", format=".4f")],
    )
    return alt.layer(lines, *_baseline_rules(baselines, baseline_labels)).properties(height=height)


def profiles_frame(profiles: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Long table (run, offset, position, norm): offset = t - (n - 1), so 0 is every window's last position."""
    parts = []
    for label, values in profiles.items():
        values = np.asarray(values, dtype=np.float64)
        n = len(values)
        positions = np.arange(n)
        parts.append(pd.DataFrame({"run": label, "offset": positions - (n - 1), "position": positions, "norm": values}))
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), "offset": pd.Series(dtype=int),
                             "position": pd.Series(dtype=int), "norm": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def profile_overlay(profiles: Mapping[str, Sequence[float]], y_title: str = "‖dL/dS_t‖",
                    height: int = 380) -> alt.Chart:
    """Gradient norm per window position of several runs, log scale (non-positive norms are left out)."""
    frame = profiles_frame(profiles)
    frame = finite_rows(frame, "norm", positive=True)
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("offset:Q", title="window position t − (n − 1)   (0 = last position)", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("norm:Q", title=y_title, scale=alt.Scale(type="log")),
        color=alt.Color("run:N", title=None, scale=PALETTE, legend=RUN_LEGEND),
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
    return alt.layer(lines, *_baseline_rules(baselines, baseline_labels)).properties(height=height)
