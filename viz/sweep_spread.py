"""A sweep over n with several seeds: the mean final loss per state size d, the seeds' range as a band.

Plain data in (the points of a sweep: n, d, seed, final_loss), an Altair chart out; the page uses it in
place of one line per (d, seed) when some (n, d) has more than one seed, which with ten seeds would be
twenty lines.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from viz.common import fmt, reference_lines
from viz.compare_charts import PALETTE

Y_TITLE = "final loss (nats, mean of last 100 steps)"


def has_spread(points: Sequence[Mapping[str, float]]) -> bool:
    """Whether some (n, d) of the sweep was run with more than one seed."""
    seen: dict[tuple, set] = {}
    for p in points:
        seen.setdefault((p["n"], p["d"]), set()).add(p["seed"])
    return any(len(s) > 1 for s in seen.values())


def spread_frame(points: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """Per (d, n): mean, min and max final loss over the seeds and how many seeds (NaN losses left out)."""
    frame = pd.DataFrame(list(points), columns=["n", "d", "seed", "final_loss"]).dropna(subset=["final_loss"])
    out = frame.groupby(["d", "n"], as_index=False)["final_loss"].agg(["mean", "min", "max", "count"])
    out["series"] = [f"d={int(d)}" for d in out["d"]]
    return out.rename(columns={"count": "seeds"})


def spread_chart(points: Sequence[Mapping[str, float]], baselines: Sequence[float] = (),
                 baseline_labels: Sequence[str] = (), height: int = 400) -> alt.LayerChart:
    """Mean final loss against n, one line per d, over a band from the lowest to the highest seed's loss."""
    frame = spread_frame(points)
    base = alt.Chart(frame).encode(
        x=alt.X("n:Q", title="truncation n (window width)", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("series:N", title=None, scale=PALETTE, legend=alt.Legend(orient="bottom")),
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("min:Q", title=Y_TITLE, scale=alt.Scale(zero=False)),
                                              y2="max:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        y=alt.Y("mean:Q", title=Y_TITLE, scale=alt.Scale(zero=False)),
        tooltip=["n:Q", "d:Q", "seeds:Q", alt.Tooltip("mean:Q", format=".4f", title="mean over seeds"),
                 alt.Tooltip("min:Q", format=".4f"), alt.Tooltip("max:Q", format=".4f")],
    )
    rules = reference_lines(baselines, [f"{name}: {fmt(value)}" for name, value in zip(baseline_labels, baselines)])
    return alt.layer(band, line, *rules).properties(height=height)
