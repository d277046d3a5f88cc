"""The sweep's reading in words: where each loss sits between the exact baselines, and how far seeds spread.

`partway` places one loss on the ladder of baselines (b_0 > b_1 > ...): "40% of the way from 0.662
(learns nothing) to 0.519 (learns lag 3)", so a loss less than halfway is never read as "learns lag 3".
`reading` groups a sweep's table by (d, n) over seeds: the mean, the min–max range and that placement.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from viz.common import fmt

NEAR = 0.1  # a loss within this fraction of the gap between two baselines is read as the nearer one


def partway(loss: float, baselines: Sequence[float], labels: Sequence[str]) -> str:
    """Where `loss` sits on the ladder of baselines, in words ('' without baselines or a finite loss)."""
    if not len(baselines) or not np.isfinite(loss):
        return ""
    base = [float(b) for b in baselines]
    if loss >= base[0]:
        return f"no better than a model that {labels[0]} ({fmt(base[0])})"
    for k in range(len(base) - 1):
        hi, lo = base[k], base[k + 1]
        if lo <= loss < hi:
            frac = (hi - loss) / (hi - lo)
            if frac < NEAR or frac > 1 - NEAR:  # within a tenth of the gap of a rung: read as that rung
                j = k if frac < NEAR else k + 1
                return f"at {labels[j]} ({fmt(base[j])})"
            return f"{frac:.0%} of the way from {fmt(hi)} ({labels[k]}) to {fmt(lo)} ({labels[k + 1]})"
    return f"at {labels[-1]} ({fmt(base[-1])}) or below"


def spread(values: Sequence[float]) -> str:
    """'0.615' for one seed, '0.603 (0.590–0.615, 3 seeds)' for several."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return "—"
    if len(v) == 1:
        return fmt(v[0])
    return f"{fmt(v.mean())} ({fmt(v.min())}–{fmt(v.max())}, {len(v)} seeds)"


def reading(table: pd.DataFrame, baselines: Sequence[float], labels: Sequence[str]) -> str:
    """'**Reading** (mean over seeds, min–max):' then one line per d with each n's loss and placement.
    Failed runs are named and left out of the means."""
    lines = ["**Reading** (final loss, mean over seeds with min–max; where it sits between the baselines):"]
    ok = table[table["status"] != "failed"] if "status" in table else table
    for d, by_d in ok.groupby("d", sort=True):
        items = []
        for n, by_n in by_d.groupby("n", sort=True):
            losses = by_n["final_loss"].to_numpy(np.float64)
            items.append(f"n = {n}: {spread(losses)}, {partway(float(np.nanmean(losses)), baselines, labels)}")
        lines.append(f"- d = {d}: " + "; ".join(items) + ".")
    if "status" in table:
        failed = table[table["status"] == "failed"]
        if len(failed):
            lines.append("- failed (left out): " + ", ".join(
                f"n = {r['n']}, d = {r['d']}, seed {r['seed']}" for r in failed.to_dict("records")) + ".")
    return "\n".join(lines)
