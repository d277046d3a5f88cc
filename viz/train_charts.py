"""Altair charts of one run (the Train page): plain NumPy data in, `alt.Chart` out (no streamlit).

Long series are thinned to at most `MAX_POINTS` points (heatmaps to at most `MAX_CELLS` cells)
before they reach the chart, so a redraw several times a second stays cheap.
"""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from viz.common import finite_rows, props, reference_lines, smooth, thin_indices

MAX_POINTS = 1000
MAX_CELLS = 2400  # a browser redraws a few thousand rectangles several times a second without stalling
# The whole chart's height in the app: Streamlit fits a stretched chart's title, two-line subtitle, legend and axes
# into it, so at 260 px the gradient profile (a two-row legend) kept a plot about 10 px tall, its log axis labels
# drawn over each other; at 330 px that plot is about 80 px, the loss chart's about 145 px.
HEIGHT = 330
SHORT = 20  # a series this short also gets point marks: a single step draws no line
STEP_AXIS = alt.Axis(format="d", tickMinStep=1)  # steps are whole numbers, also on a run of two steps
RAW, SMOOTH, GRAD, TEMPORAL = "#9ecae1", "#08519c", "#08519c", "#e6550d"


def _steps(values: np.ndarray, steps: np.ndarray | None) -> np.ndarray:
    return np.arange(len(values)) if steps is None else np.asarray(steps)


def _legend() -> alt.Legend:
    return alt.Legend(orient="top", labelLimit=0)


def loss_chart(
    loss: np.ndarray,
    baselines: Sequence[float] = (),
    labels: Sequence[str] = (),
    steps: np.ndarray | None = None,
    window: int = 100,
) -> alt.LayerChart:
    """Trained loss per step (raw and its trailing mean over `window` steps) with the exact baselines.

    `baselines[k]` is the expected loss of the best predictor that knows the k shortest lags,
    drawn as a dashed rule labelled `labels[k]`.
    """
    loss = np.asarray(loss, np.float64)
    steps = _steps(loss, steps)
    idx = thin_indices(len(loss), MAX_POINTS)
    smoothed = smooth(loss, window)
    raw_label, smooth_label = "loss per step", f"mean of last {window} steps"
    df = finite_rows(pd.DataFrame({
        "step": np.concatenate([steps[idx], steps[idx]]),
        "loss": np.concatenate([loss[idx], smoothed[idx]]),
        "series": np.repeat(np.array([raw_label, smooth_label], dtype=object), len(idx)),
    }), "loss")
    lines = alt.Chart(df).mark_line(clip=True).encode(
        x=alt.X("step:Q", title="training step", axis=STEP_AXIS),
        y=alt.Y("loss:Q", title="cross-entropy (nats)", scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=[raw_label, smooth_label], range=[RAW, SMOOTH]),
                        legend=_legend()),
        tooltip=["step:Q", alt.Tooltip("loss:Q", format=".4f"), "series:N"],
    )
    return props(alt.layer(lines, *reference_lines(baselines, labels)),
        title="Loss", height=HEIGHT
    )


def grad_profile_chart(grad_norms: np.ndarray, temporal: np.ndarray) -> alt.Chart:
    """The latest gradient norm at each window position, log scale: ||dL/dS_t|| and ||dL_last/dS_t||."""
    grad_norms, temporal = np.asarray(grad_norms, np.float64), np.asarray(temporal, np.float64)
    full, last = "‖∂L/∂S_t‖ (all losses)", "‖∂L_last/∂S_t‖ (last loss)"
    positions = np.arange(len(grad_norms))
    df = pd.concat([
        pd.DataFrame({"position": positions, "norm": grad_norms, "gradient": full}),
        pd.DataFrame({"position": positions, "norm": temporal, "gradient": last}),
    ])
    df = finite_rows(df, "norm", positive=True)
    return props(alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("position:Q", title="position in window (0 = oldest)", axis=alt.Axis(tickMinStep=1),
                scale=alt.Scale(domain=[0, max(1, len(positions) - 1)])),
        y=alt.Y("norm:Q", title="gradient norm (log)", scale=alt.Scale(type="log")),
        color=alt.Color("gradient:N", title=None, scale=alt.Scale(domain=[full, last], range=[GRAD, TEMPORAL]),
                        legend=alt.Legend(orient="top", labelLimit=0, columns=1)),  # one line would clip at 1280 px
        tooltip=["position:Q", alt.Tooltip("norm:Q", format=".3e"), "gradient:N"],
    ), title="Gradient norm per time step (latest step)", height=HEIGHT)


def grad_heatmap_chart(steps: np.ndarray, norms: np.ndarray, title: str = "‖∂L/∂S_t‖ over training") -> alt.Chart:
    """Heatmap of training step (x) by window position (y) coloured by gradient norm on a log scale."""
    steps = np.asarray(steps, np.int64)
    norms = np.asarray(norms, np.float64)
    rows, n = norms.shape if norms.ndim == 2 else (0, 0)
    idx = thin_indices(rows, max(2, MAX_CELLS // max(1, n)))
    kept = steps[idx]
    ends = np.append(kept[1:], kept[-1] + 1 if len(kept) else 1)
    df = pd.DataFrame({
        "step": np.repeat(kept, n),
        "step_end": np.repeat(ends, n),
        "position": np.tile(np.arange(n), len(kept)),
        "norm": norms[idx].reshape(-1) if rows else np.zeros(0),
    })
    df = finite_rows(df, "norm", positive=True)
    return props(alt.Chart(df).mark_rect().encode(
        x=alt.X("step:Q", title="training step", axis=STEP_AXIS),
        x2="step_end:Q",
        y=alt.Y("position:O", title="position (0 = oldest)", sort="descending"),
        color=alt.Color("norm:Q", title="norm", scale=alt.Scale(type="log", scheme="viridis"),
                        legend=alt.Legend(format=".1e")),
        tooltip=["step:Q", "position:O", alt.Tooltip("norm:Q", format=".3e")],
    ), title=title, height=HEIGHT)


def position_loss_domain(values: np.ndarray, baselines: Sequence[float] = ()) -> list[float]:
    """The y range of the loss-per-position chart: the bars and the baselines with a margin, not from 0 (from 0
    every bar of a trained run looks equally tall: the differences that teach are hundredths of a nat)."""
    seen = np.concatenate([values[np.isfinite(values)], np.asarray(baselines, np.float64)])
    if not len(seen):
        return [0.0, 1.0]
    lo, hi = float(seen.min()), float(seen.max())
    pad = max(0.1 * (hi - lo), 0.01)
    return [max(0.0, lo - pad), hi + pad]


def position_loss_chart(position_loss: np.ndarray, baselines: Sequence[float] = (),
                        labels: Sequence[str] = (), k1: int | None = None) -> alt.LayerChart:
    """Loss at each window position (points on stems) with the exact baselines as labelled rules; with `k1` < n
    (Williams–Peng) only the last k1 positions are trained, drawn solid, the others hollow."""
    values = np.asarray(position_loss, np.float64)
    n = len(values)
    trained = np.arange(n) >= n - (k1 if k1 is not None else n)
    df = finite_rows(pd.DataFrame({"position": np.arange(n), "loss": values,
                                   "trained": np.where(trained, "trained", "not trained")}), "loss")
    domain = position_loss_domain(values, baselines)
    x = alt.X("position:O", title="position in window (0 = oldest)",
              axis=alt.Axis(labelAngle=0, values=_position_ticks(n)))
    y = alt.Y("loss:Q", title="cross-entropy (nats)", scale=alt.Scale(domain=domain, zero=False))
    kinds = alt.Scale(domain=["trained", "not trained"], range=[SMOOTH, "#adb5bd"])
    tooltip = ["position:Q", alt.Tooltip("loss:Q", format=".4f"), "trained:N"]
    stems = alt.Chart(df).mark_bar(width=3).encode(
        x=x, y=y, y2=alt.datum(domain[0]), color=alt.Color("trained:N", scale=kinds, legend=None), tooltip=tooltip)
    points = alt.Chart(df).mark_point(filled=True, size=70).encode(
        x=x, y=y, color=alt.Color("trained:N", scale=kinds, title=None,
                                  legend=_legend() if not trained.all() else None),
        tooltip=tooltip,
    )
    return props(alt.layer(stems, points, *reference_lines(baselines, labels)),
        title="Loss per window position", height=HEIGHT
    )


def _position_ticks(n: int, most: int = 20) -> list[int]:
    """Window positions to label: all up to `most`, else about 10 at a round step, and the last one
    (n = 200: 0, 20, ..., 180, 199), so wide windows do not smear their labels together."""
    if n <= most:
        return list(range(n))
    step = next(s for s in (2, 5, 10, 20, 25, 50, 100) if n / s <= 12)
    ticks = list(range(0, n, step))
    return ticks + [n - 1] if n - 1 - ticks[-1] >= step / 2 else ticks[:-1] + [n - 1]


def sigma_chart(sigma: np.ndarray, steps: np.ndarray | None = None) -> alt.LayerChart:
    """Largest singular value of W_s per step with the rule at 1 (Pascanu et al. 2013)."""
    sigma = np.asarray(sigma, np.float64)
    steps = _steps(sigma, steps)
    idx = thin_indices(len(sigma), MAX_POINTS)
    df = finite_rows(pd.DataFrame({"step": steps[idx], "sigma": sigma[idx]}), "sigma")
    line = alt.Chart(df).mark_line(color=SMOOTH, point=len(df) < SHORT).encode(
        x=alt.X("step:Q", title="training step", axis=STEP_AXIS),
        y=alt.Y("sigma:Q", title="σ_max(W_s)", scale=alt.Scale(zero=False)),
        tooltip=["step:Q", alt.Tooltip("sigma:Q", format=".4f")],
    )
    return props(alt.layer(line, *reference_lines([1.0], ["σ = 1"], color="#c00")),
        title="Largest singular value of W_s", height=HEIGHT)


def global_norm_chart(norms: np.ndarray, clip: float = 0.0, steps: np.ndarray | None = None) -> alt.LayerChart:
    """Global gradient norm per step (log scale), with the clipping threshold as a rule when clip > 0."""
    norms = np.asarray(norms, np.float64)
    steps = _steps(norms, steps)
    idx = thin_indices(len(norms), MAX_POINTS)
    df = finite_rows(pd.DataFrame({"step": steps[idx], "norm": norms[idx]}), "norm", positive=True)
    line = alt.Chart(df).mark_line(color=SMOOTH, point=len(df) < SHORT).encode(
        x=alt.X("step:Q", title="training step", axis=STEP_AXIS),
        y=alt.Y("norm:Q", title="‖g‖ before clipping (log)", scale=alt.Scale(type="log")),
        tooltip=["step:Q", alt.Tooltip("norm:Q", format=".4g")],
    )
    rules = reference_lines([clip], [f"clip threshold {clip:g}"], color="#c00") if clip > 0 else []
    return props(alt.layer(line, *rules), title="Global gradient norm", height=HEIGHT)


STRIP_ROWS = ("predicted P(Y_t = 1)", "target Y_t", "input X_t")  # the model's prediction, not the true probability


def strip_chart(x: np.ndarray, y: np.ndarray, prob: np.ndarray) -> alt.LayerChart:
    """Hallström's picture for one row: input, target and predicted P(Y=1) as bars per time step."""
    x, y, prob = (np.asarray(a, np.float64) for a in (x, y, prob))
    positions = np.arange(len(x))
    frames = []
    for base, (name, values) in enumerate(zip(STRIP_ROWS, (prob, y, x))):
        frames.append(pd.DataFrame({
            "position": positions, "row": name, "value": values,
            "low": float(base), "high": base + 0.8 * np.clip(values, 0.0, 1.0),
        }))
    df = pd.concat(frames)
    colors = alt.Scale(domain=list(STRIP_ROWS), range=[TEMPORAL, "#31a354", SMOOTH])
    label = f"datum.value < 1 ? '{STRIP_ROWS[0]}' : datum.value < 2 ? '{STRIP_ROWS[1]}' : '{STRIP_ROWS[2]}'"
    bars = alt.Chart(df).mark_bar(width={"band": 0.85}).encode(
        x=alt.X("position:O", title="position in window (0 = oldest)",
                axis=alt.Axis(labelAngle=0, values=_position_ticks(len(x)))),
        y=alt.Y("low:Q", title=None, scale=alt.Scale(domain=[0, 3]),
                axis=alt.Axis(values=[0.4, 1.4, 2.4], labelExpr=label, grid=False, ticks=False)),
        y2="high:Q",
        color=alt.Color("row:N", scale=colors, legend=None),
        tooltip=["position:O", "row:N", alt.Tooltip("value:Q", format=".3f")],
    )
    layers = [bars]
    if len(x) <= 20:  # a number over every bar; wider windows would smear them into each other
        layers.append(alt.Chart(df[df["row"] == STRIP_ROWS[0]]).mark_text(baseline="bottom", dy=-2).encode(
            x="position:O", y="high:Q", text=alt.Text("value:Q", format=".2f")))
    return props(alt.layer(*layers), title="Input, target and the model's prediction (row 0)", height=HEIGHT)


def state_heatmap(states: np.ndarray) -> alt.Chart:
    """The hidden state S_t of one row: time step (x) by state unit (y), coloured in [-1, 1]."""
    states = np.asarray(states, np.float64)
    n, d = states.shape if states.ndim == 2 else (0, 0)
    df = pd.DataFrame({
        "position": np.repeat(np.arange(n), d),
        "unit": np.tile(np.arange(d), n),
        "value": states.reshape(-1) if n else np.zeros(0),
    })
    return props(alt.Chart(df).mark_rect().encode(
        x=alt.X("position:O", title="position in window (0 = oldest)",
                axis=alt.Axis(labelAngle=0, values=_position_ticks(n))),
        y=alt.Y("unit:O", title="state unit", axis=alt.Axis(values=_position_ticks(d, 16))),
        color=alt.Color("value:Q", title="S_t", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)),
        tooltip=["position:O", "unit:O", alt.Tooltip("value:Q", format=".3f")],
    ), title="Hidden state S_t (row 0)", height=HEIGHT)
