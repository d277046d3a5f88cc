"""What one run costs the server, estimated before it starts: the number a teacher's per-run cap is held to.

A run's seconds are its steps times a warm compiled step (`compare.compiled_step_seconds`: a fixed overhead plus,
per window position, terms in d, d² and n d, scaled with B; fitted to 36 measured shapes, d = 4..256, n = 1..200,
within 0.63-1.24x of each; RTRL and UORO: their own fits, `compare.ONLINE_SECONDS_PER_STEP`), the compile not
counted. Until session 23 the step was the old 1e-4 s scale plus 6e-10 s per unit of B n d (d + 4), 3-6x high
at d >= 64: a cap refused runs that would have fitted, and its message overstated their time. Enough to tell a
lesson's run (well under a minute) from one that would hold a core for many minutes.
"""
from __future__ import annotations

import math

from .compare import estimate_seconds
from .config import RunConfig


def run_seconds(cfg: RunConfig, sequence_length: int | None = None) -> float:
    """Estimated seconds of one core to train `cfg` to the end (compiled, the compile not counted)."""
    return estimate_seconds([cfg], sequence_length)[0]


def over_cap(cfg: RunConfig, cap_seconds: float, sequence_length: int | None = None) -> str | None:
    """None if `cfg` fits under the cap (estimated seconds), else a sentence saying the cap and how to get under."""
    if cap_seconds <= 0 or not math.isfinite(cap_seconds):
        return None
    cost = run_seconds(cfg, sequence_length)
    if cost <= cap_seconds:
        return None
    share = cap_seconds / cost
    ways = []
    if cfg.task != "file":
        series = int(cfg.series_length * share)
        if series >= cfg.batch_size * cfg.truncation:
            ways.append(f"a shorter series (at most {series:,} time steps instead of {cfg.series_length:,})")
    if cfg.epochs > 1 and int(cfg.epochs * share) >= 1:
        ways.append(f"fewer epochs (at most {int(cfg.epochs * share)} instead of {cfg.epochs})")
    d_fit = _largest(lambda d: run_seconds(cfg.replace(state_size=d), sequence_length), cfg.state_size, cap_seconds)
    if d_fit:
        ways.append(f"a smaller state (d at most {d_fit} instead of {cfg.state_size})")
    # A TF-style run's arithmetic does not shrink with n (fewer, wider windows cover the same data);
    # Williams-Peng's window of n starting every k1 steps does.
    n_fit = _largest(lambda n: run_seconds(cfg.replace(truncation=n, k1=min(cfg.k1, n)), sequence_length),
                     cfg.truncation, cap_seconds) if cfg.style == "williams-peng" else None
    if n_fit:
        ways.append(f"a narrower window (n at most {n_fit} instead of {cfg.truncation})")
    how = "; or ".join(ways) if ways else "smaller settings"
    return (f"This run would take about {_seconds(cost)} of the server's time, over the cap of {_seconds(cap_seconds)} "
            f"per run that this server sets so a whole class can train at once. To get under it, use {how}.")


def _largest(cost_of, current: int, cap: float) -> int | None:
    """The largest value below `current` whose run fits the cap (costs grow with it), or None."""
    lo, hi = 1, current - 1
    if hi < 1 or cost_of(lo) > cap:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if cost_of(mid) <= cap else (lo, mid - 1)
    return lo


def _seconds(s: float) -> str:
    if s < 1:  # two significant digits: a cap of 0.05 s and a run of 0.073 s must not both read "0.1 s"
        return f"{s:.2g} s"
    if s < 10:
        return f"{s:.1f} s"
    return f"{s:,.0f} s" if s < 120 else f"{s / 60:,.0f} min"
