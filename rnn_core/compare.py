"""Plans for comparing runs: n-sweeps, truncation-style trios, data consumed per step, rough costs.

No UI and no training here: these build the RunConfigs the Compare page trains, and the numbers it
needs to put different runs on a common axis.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .config import RunConfig
from .truncation import window_start, windows_per_epoch

# The Compare page's sweep over n as it opens (two state sizes, three seeds: what the page's text teaches); a
# server compiles its shapes when idle (ui/warmup.py).
DEFAULT_SWEEP_NS = (1, 2, 5, 10)
DEFAULT_SWEEP_DS = (4, 16)
DEFAULT_SWEEP_SEEDS = (0, 1, 2)
DEFAULT_SWEEP_EPOCHS = 2
# A warm compiled step of the truncated styles, B = 200, in seconds:
#     STEP_FIXED + n (STEP_PER_N + STEP_PER_ND d + STEP_PER_ND2 d² + STEP_PER_N2D n d),
# the d terms (arithmetic and the window's states) scaled with B. Least squares in relative error over 36 measured
# shapes, n = 1..200, d = 4..256, on a 2-core machine (session 23): within 0.63-1.24x of each (the 1e-4 s scale
# before it was 2-14x high; a fit without the n d term was 2x low at n = 200).
STEP_FIXED, STEP_PER_N, STEP_PER_ND, STEP_PER_ND2, STEP_PER_N2D = 2.71e-5, 1.41e-6, 1.65e-6, 1.46e-8, 1.96e-8


def sweep_configs(base: RunConfig, ns: Sequence[int], ds: Sequence[int], seeds: Sequence[int],
                  epochs: int) -> list[RunConfig]:
    """One config per (d, seed, n), n innermost; everything else from `base`.

    Williams-Peng's k1 is capped at n so small n stay legal. Raises ValueError naming the first
    combination that is not a legal run (e.g. a series too short for B x n).
    """
    if not ns:
        raise ValueError("Pick at least one value of n.")
    out = []
    for d in ds:
        for seed in seeds:
            for n in sorted(set(int(v) for v in ns)):
                cfg = base.replace(truncation=n, state_size=int(d), seed=int(seed), epochs=int(epochs),
                                   k1=min(base.k1, n))
                try:
                    cfg.validate()
                except ValueError as exc:
                    raise ValueError(f"n={n}, d={d}, seed={seed}: {exc}") from None
                out.append(cfg)
    return out


def default_sweep(base: RunConfig) -> list[RunConfig]:
    """The Compare page's default sweep over `base` (`sweep_configs` of the DEFAULT_SWEEP_* values)."""
    return sweep_configs(base, DEFAULT_SWEEP_NS, DEFAULT_SWEEP_DS, DEFAULT_SWEEP_SEEDS, DEFAULT_SWEEP_EPOCHS)


def style_configs(base: RunConfig, n: int, k1: int, online: Sequence[str] = (),
                  seeds: Sequence[int] | None = None) -> list[tuple[str, RunConfig]]:
    """TensorFlow style BPTT(n; n), Williams-Peng BPTT(n; 1) and BPTT(n; k1), then the `online` learners
    ("rtrl", "uoro"), each for every seed in `seeds` (default: the base's); a style's runs share their seed's data.

    The k1 run is left out when k1 is 1 or n, which would repeat one of the other two. Names carry
    the seed when there are several. ValueError (e.g. RTRL above d = 32) names the learner.
    """
    seeds = [base.seed] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("pick at least one seed")
    styles = [(f"BPTT({n}; {n}) TensorFlow style", dict(truncation=n, style="tensorflow", k1=1)),
              (f"BPTT({n}; 1) Williams-Peng", dict(truncation=n, style="williams-peng", k1=1))]
    if 1 < k1 < n:
        styles.append((f"BPTT({n}; {k1}) Williams-Peng", dict(truncation=n, style="williams-peng", k1=k1)))
    for method in online:
        styles.append((ONLINE_NAMES[method], dict(style=method, k1=1)))
    plans = []
    for name, changes in styles:
        for seed in seeds:
            plans.append((name if len(seeds) == 1 else f"{name}, seed {seed}", base.replace(seed=seed, **changes)))
    for _, cfg in plans:
        cfg.validate()
    return plans


ONLINE_NAMES = {"rtrl": "RTRL (no truncation)", "uoro": "UORO (no truncation)"}
ONLINE_SECONDS_PER_STEP = {"rtrl": (2.9e-4, 3.0), "uoro": (3.4e-4, 1.0)}  # (at d = 4, growth power in d / 4), B=200


def row_length(cfg: RunConfig, sequence_length: int | None = None) -> int:
    """Time steps in each of the B rows an epoch is cut into."""
    total = sequence_length if cfg.task == "file" and sequence_length is not None else cfg.series_length
    return total // cfg.batch_size


def data_seen(cfg: RunConfig, steps: np.ndarray, rows: int) -> np.ndarray:
    """Time steps of data consumed (over all B rows) by the end of each 0-based training step.

    A window of n starts every k1 steps, so step w of an epoch has read B (w k1 + n) steps of it.
    """
    steps = np.asarray(steps, dtype=np.int64)
    k1, n, B = cfg.effective_k1, cfg.window_width, cfg.batch_size
    per_epoch = max(1, windows_per_epoch(rows, n, k1))
    epoch, window = steps // per_epoch, steps % per_epoch
    return B * (epoch * rows + window_start(window, k1) + n)


def total_steps(cfg: RunConfig, rows: int) -> int:
    """Training steps of the whole run."""
    return windows_per_epoch(rows, cfg.window_width, cfg.effective_k1) * cfg.epochs


def compiled_step_seconds(cfg: RunConfig) -> float:
    """Estimated seconds of one warm compiled training step of a truncated-style `cfg` (the STEP_* fit)."""
    n, d, rows = cfg.truncation, cfg.state_size, cfg.batch_size / 200
    return STEP_FIXED + n * (STEP_PER_N + rows * (STEP_PER_ND * d + STEP_PER_ND2 * d * d + STEP_PER_N2D * n * d))


def estimate_seconds(cfgs: Sequence[RunConfig], sequence_length: int | None = None,
                     compiled: Callable[[RunConfig], bool] = lambda cfg: False) -> tuple[float, float]:
    """Rough (training, compiling) seconds for the runs one after another; compiling counts each shape once,
    and none for a truncated-style shape `compiled` says is compiled already.

    Training is the steps times `compiled_step_seconds` (RTRL and UORO: their own fits); compiling the unrolled
    graph grows with n. Both are fits to timings on a 2-core machine, good enough to warn about a long wait.
    """
    train, compile_ = 0.0, 0.0
    shapes = set()
    for cfg in cfgs:
        steps = total_steps(cfg, row_length(cfg, sequence_length))
        if cfg.online:
            per_step, power = ONLINE_SECONDS_PER_STEP[cfg.style]
            train += steps * per_step * (cfg.state_size / 4) ** power * cfg.batch_size / 200
            if (cfg.style, cfg.state_size) not in shapes:
                shapes.add((cfg.style, cfg.state_size))
                compile_ += 10.0
            continue
        train += steps * compiled_step_seconds(cfg)
        shape = (cfg.batch_size, cfg.truncation, cfg.effective_k1, cfg.state_size, cfg.optimizer, cfg.gradient)
        if shape not in shapes and not compiled(cfg):
            shapes.add(shape)
            compile_ += min(15.0, 3.0 + 0.3 * min(cfg.truncation, 16))
    return train, compile_


def nearest_baseline(loss: float, baselines: Sequence[float], labels: Sequence[str]) -> str:
    """The label of the baseline closest to a final loss ('' when there are none or the loss is NaN)."""
    if not baselines or loss != loss:
        return ""
    i = int(np.argmin([abs(loss - b) for b in baselines]))
    return labels[i]
