"""Helpers every chart builder shares: smoothing, thinning, finite rows, baseline rules, number text.

smooth            trailing mean over a window (NaN-aware)
thin_indices      evenly spaced indices so a long series reaches the browser as at most N points
finite_rows       the rows of a frame a chart can draw (finite, and positive for a log scale)
reference_lines   dashed horizontal rules (the exact baselines, σ = 1, a clip threshold), labelled at the right
presentation      the same chart taller, with fonts for a projector
with_subtitle     the chart's title with a subtitle (a run's settings: a projected or saved chart names them)
props             `chart.properties(...)` without Altair's per-property schema check (a hot path of the live board)
fmt               a number for a caption or a label: 3 decimals (3 significant digits when tiny or huge)
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import altair as alt
import numpy as np
import pandas as pd

RULE_COLOR = "#495057"


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to `window` steps (shorter at the start; NaN-aware, so a diverged tail does not
    blank it); window 1 returns the values."""
    series = pd.Series(np.asarray(values, dtype=np.float64))
    return series.rolling(max(1, int(window)), min_periods=1).mean().to_numpy()


def thin_indices(length: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into a series of `length`, at most `max_points`, always the first and the last."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, max_points).round().astype(np.int64))


def finite_rows(df: pd.DataFrame, column: str, positive: bool = False) -> pd.DataFrame:
    """The rows whose `column` is finite (and > 0 with `positive`, for a log scale)."""
    values = df[column].to_numpy(np.float64)
    keep = np.isfinite(values) & ((values > 0) if positive else True)
    return df[keep]


def reference_lines(values: Sequence[float], labels: Sequence[str], color: str = RULE_COLOR) -> list[alt.Chart]:
    """Dashed horizontal rules at `values` (columns `value`, `label`), each labelled at the right edge of the plot.

    The layers are built once per set of values, labels and colour (a board redraws the same baselines on every
    tick); Altair copies a layer into each chart it joins, so sharing them is safe."""
    return list(_reference_layers(tuple(float(v) for v in values), tuple(str(lab) for lab in labels), color))


@lru_cache(maxsize=256)
def _reference_layers(values: tuple[float, ...], labels: tuple[str, ...], color: str) -> tuple[alt.Chart, ...]:
    if not len(values):
        return ()
    ref = pd.DataFrame({"value": list(values), "label": list(labels)})
    rules = alt.Chart(ref).mark_rule(strokeDash=[5, 4], color=color).encode(
        y="value:Q", tooltip=[alt.Tooltip("label:N"), alt.Tooltip("value:Q", format=".6f")]
    )
    # The lowest label sits under its line, the others above theirs; neighbours alternate between the right and
    # the left edge, so lines that the y range squeezes together (a loss that started at 5 nats) stay legible.
    ref = ref.sort_values("value", ascending=False).reset_index(drop=True)
    ref["side"] = ["right" if i % 2 == 0 else "left" for i in range(len(ref))]
    lowest = float(ref["value"].min())
    layers = [rules]
    for side in ("right", "left"):
        for below in (False, True):
            part = ref[(ref["side"] == side) & ((ref["value"] <= lowest) == below)]
            if not len(part):
                continue
            layers.append(alt.Chart(part).mark_text(
                align=side, baseline="top" if below else "bottom", dx=-4 if side == "right" else 4,
                dy=2 if below else -2, color=color,
            ).encode(x=alt.value({"expr": "width"}) if side == "right" else alt.value(0), y="value:Q",
                     text=alt.Text("label:N")))
    return tuple(layers)


def with_subtitle(chart: alt.TopLevelMixin, subtitle: str | list[str]) -> alt.TopLevelMixin:
    """The chart with `subtitle` (one line, or a list of lines) under its title (kept, or empty), left-aligned."""
    title = chart.title if isinstance(getattr(chart, "title", None), str) else ""
    return props(chart, title=alt.TitleParams(text=title, subtitle=subtitle, anchor="start", subtitleColor="#495057"))


def props(chart: alt.TopLevelMixin, **properties) -> alt.TopLevelMixin:
    """`chart.properties(**properties)` without Altair's JSON-schema check of each value.

    That check was a tenth of building a Train page's charts; the builders pass fixed, tested values, and the
    whole spec is checked where it matters (tests compare it with Streamlit's own validated conversion). The
    copy shares the chart's parts, as Altair's shallow copy does.
    """
    out = top_level_copy(chart)
    out._kwds.update(properties)
    return out


def top_level_copy(chart: alt.TopLevelMixin, cls: type | None = None) -> alt.TopLevelMixin:
    """A copy of the chart's top level only (as `cls`, by default its own class), sharing its parts.

    `chart.copy(deep=False)` would rerun a LayerChart's `__init__`, which deep-copies every layer (a third of
    building a layered chart)."""
    out = object.__new__(cls or type(chart))
    object.__setattr__(out, "_args", chart._args)
    object.__setattr__(out, "_kwds", dict(chart._kwds))
    return out


def presentation(chart: alt.TopLevelMixin, font_size: int = 18, height: int = 380) -> alt.TopLevelMixin:
    """The same chart taller and with fonts large enough for a projector."""
    return chart.properties(height=height).configure_axis(
        labelFontSize=font_size - 2, titleFontSize=font_size
    ).configure_legend(labelFontSize=font_size - 2, titleFontSize=font_size).configure_title(
        fontSize=font_size + 4, subtitleFontSize=font_size
    ).configure_text(fontSize=font_size - 2)


def fmt(x: float | None) -> str:
    """'0.519', '1.2e-05', '3.4e+04', or '—' for None, NaN and infinities."""
    if x is None or not np.isfinite(x):
        return "—"
    return f"{x:.3g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3f}"
