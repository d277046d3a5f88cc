"""A finished (or stopped) run as plain data: the JSON bundle the CLI writes and the app loads back.

Bundle layout: {"format": "truncation-explorer-run/1", "config": {...}, "baselines": [...],
"history": [{"step", "loss", "grad_norms", "temporal", "position_loss", "global_norm",
"sigma_max"}, ...], "summary": {"final_loss", "steps", "seconds", "steps_per_second", "status", ...}}.
`grad_norms`, `temporal` and `position_loss` are lists of n numbers, position 0 the oldest state of
the window; they appear on the steps whose profiles were kept (every step from the CLI).
Every history record has `full_gradient_cosine`: the cosine of the truncated gradient that trained
the step with the exact one (all weights; `sampling.py`), null at steps not sampled. The bundle's
"gradient_samples" keeps, per sampled step, that cosine, the cosine over W_s alone, the relative
error and how many steps the exact gradient went back; "gradient_flow" the latest sampled
window's ||dL_t/dS_s|| matrix (`exact.GradientFlow`). Online styles (rtrl, uoro) have neither.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import RunConfig

if TYPE_CHECKING:  # the trainer imports TensorFlow; a bundle is read and drawn without it
    from .train import Trainer

FORMAT = "truncation-explorer-run/1"


@dataclass
class RunRecord:
    """One run's settings, baselines, per-step metrics and summary, detached from the trainer."""

    config: RunConfig
    baselines: list[float]
    scalars: dict[str, np.ndarray]  # step, loss, global_norm, sigma_max  [steps]
    profiles: dict[str, np.ndarray]  # step [r]; position_loss, grad_norms, temporal [r, n]
    summary: dict[str, Any]
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_trainer(cls, trainer: Trainer, label: str = "", wait_samples: bool | None = None,
                     sample_grace: float = 0.0) -> RunRecord:
        """Copy what a trainer has recorded so far.

        Pending full-gradient samples are computed first: waiting for them when `wait_samples` (by
        default when the run is not running), else on a background thread, given up to `sample_grace`
        seconds to finish; the record then reads them from the trainer's sampler when asked
        (`gradient_samples`).
        """
        sampler = getattr(trainer, "sampler", None)
        if sampler is not None:
            sampler.flush(wait=trainer.state.status != "running" if wait_samples is None else wait_samples,
                          grace=sample_grace)
        return cls(
            config=trainer.cfg,
            baselines=list(trainer.baselines),
            scalars=trainer.history.scalars(),
            profiles=trainer.history.profiles(),
            summary=trainer.summary(),
            label=label or describe(trainer.cfg),
            extra={} if sampler is None else {"sampler": sampler},
        )

    def gradient_samples(self) -> dict[str, np.ndarray]:
        """Computed full-gradient samples: step, cosine_all, cosine_W_s, rel_error, history_steps [samples]."""
        sampler = self.extra.get("sampler")
        if sampler is not None:
            done = sampler.done()
            return {name: np.asarray([getattr(s, name) for s in done], np.int64 if name in INT_SAMPLE else np.float64)
                    for name in SAMPLE_FIELDS}
        kept = self.extra.get("gradient_samples") or {}
        return {name: np.asarray(kept.get(name, []), np.int64 if name in INT_SAMPLE else np.float64)
                for name in SAMPLE_FIELDS}

    def gradient_flow(self) -> dict[str, Any] | None:
        """The latest sampled window's flow matrix as plain arrays (matrix, loss_positions, state_positions,
        window_start, truncation_mask, kept_share, step), or None."""
        sampler = self.extra.get("sampler")
        if sampler is not None:
            flow = sampler.flow
            if flow is None:
                return None
            return {"matrix": flow.matrix, "loss_positions": flow.loss_positions,
                    "state_positions": flow.state_positions, "window_start": flow.window_start,
                    "truncation_mask": flow.truncation_mask, "kept_share": flow.kept_share,
                    "step": sampler.flow_step}
        return self.extra.get("gradient_flow")

    def to_json(self) -> dict[str, Any]:
        """The JSON bundle (plain Python types; NaN and infinities become null)."""
        steps = self.scalars["step"].tolist()
        columns = {name: _nums(self.scalars[name]) for name in ("loss", "global_norm", "sigma_max")}
        samples = self.gradient_samples()
        cosine_at = {int(s): _num(c) for s, c in zip(samples["step"], samples["cosine_all"])}
        history = [{"step": int(step), "loss": columns["loss"][i], "global_norm": columns["global_norm"][i],
                    "sigma_max": columns["sigma_max"][i], "full_gradient_cosine": cosine_at.get(int(step))}
                   for i, step in enumerate(steps)]
        row_of = {int(step): i for i, step in enumerate(steps)}
        profiles = {name: _nums(self.profiles[name]) for name in ("grad_norms", "temporal", "position_loss")}
        for j, step in enumerate(self.profiles["step"].tolist()):
            i = row_of.get(int(step))
            if i is not None:
                for name, rows in profiles.items():
                    history[i][name] = rows[j]
        return {
            "format": FORMAT,
            "label": self.label,
            "config": self.config.to_dict(),
            "baselines": [_num(b) for b in self.baselines],
            "history": history,
            "summary": {k: (_num(v) if isinstance(v, float) else v) for k, v in self.summary.items()},
            "gradient_samples": {name: [_num(v) if name not in INT_SAMPLE else int(v) for v in samples[name]]
                                 for name in SAMPLE_FIELDS},
            "gradient_flow": _flow_json(self.gradient_flow()),
        }

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Rebuild from a bundle; ValueError naming what is missing or malformed."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"run bundle is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("run bundle must be a JSON object with config, baselines, history and summary")
        for key in ("config", "history", "summary"):
            if key not in data:
                raise ValueError(f"run bundle lacks '{key}'")
        if not isinstance(data["history"], list):
            raise ValueError("run bundle: 'history' must be a list of per-step records")
        cfg_raw = dict(data["config"]) if isinstance(data["config"], dict) else None
        if cfg_raw is None:
            raise ValueError("run bundle: 'config' must be an object")
        cfg = RunConfig.from_dict(cfg_raw)
        n = cfg.truncation
        steps, loss, gnorm, sigma = [], [], [], []
        p_steps: list[int] = []
        prof: dict[str, list[list[float]]] = {"grad_norms": [], "temporal": [], "position_loss": []}
        for i, rec in enumerate(data["history"]):
            if not isinstance(rec, dict) or "step" not in rec or "loss" not in rec:
                raise ValueError(f"run bundle: history[{i}] needs at least 'step' and 'loss'")
            try:
                steps.append(int(rec["step"]))
                loss.append(_float(rec["loss"]))
                gnorm.append(_float(rec.get("global_norm")))
                sigma.append(_float(rec.get("sigma_max")))
            except (TypeError, ValueError):
                raise ValueError(f"run bundle: history[{i}] has a non-numeric value") from None
            if "grad_norms" in rec:
                rows = {}
                for name in prof:
                    values = rec.get(name, [math.nan] * n)
                    try:
                        if not isinstance(values, list) or len(values) != n:
                            raise ValueError
                        rows[name] = [_float(v) for v in values]
                    except (TypeError, ValueError):
                        raise ValueError(f"run bundle: history[{i}].{name} must be a list of n = {n} numbers") from None
                p_steps.append(int(rec["step"]))
                for name in prof:
                    prof[name].append(rows[name])
        if not isinstance(data["summary"], dict):
            raise ValueError("run bundle: 'summary' must be an object")
        summary = data["summary"]
        scalars = {
            "step": np.asarray(steps, np.int64),
            "loss": np.asarray(loss, np.float32),
            "global_norm": np.asarray(gnorm, np.float32),
            "sigma_max": np.asarray(sigma, np.float32),
        }
        profiles = {"step": np.asarray(p_steps, np.int64)}
        for name, rows in prof.items():
            profiles[name] = np.asarray(rows, np.float32).reshape(len(rows), n)
        try:
            raw_baselines = data.get("baselines", [])
            if not isinstance(raw_baselines, list):
                raise ValueError
            baselines = [_float(b) for b in raw_baselines]
        except (TypeError, ValueError):
            raise ValueError("run bundle: 'baselines' must be a list of numbers") from None
        extra = {"gradient_samples": _samples_from_json(data.get("gradient_samples"), data["history"])}
        flow = _flow_from_json(data.get("gradient_flow"))
        if flow is not None:
            extra["gradient_flow"] = flow
        return cls(cfg, baselines, scalars, profiles, summary, label=str(data.get("label") or describe(cfg)),
                   extra=extra)

    def final_loss(self) -> float:
        """Mean loss over the last 100 steps."""
        from .train import final_loss  # the trainer imports TensorFlow: only when asked

        return final_loss(self.scalars["loss"])


SAMPLE_FIELDS = ("step", "cosine_all", "cosine_W_s", "rel_error", "history_steps")
INT_SAMPLE = ("step", "history_steps")
FLOW_ARRAYS = ("matrix", "loss_positions", "state_positions", "truncation_mask")


def _flow_json(flow: dict[str, Any] | None) -> dict[str, Any] | None:
    if flow is None:
        return None
    out: dict[str, Any] = {name: np.asarray(flow[name]).tolist() for name in FLOW_ARRAYS}
    out["window_start"] = int(flow["window_start"])
    out["kept_share"] = _num(flow["kept_share"])
    out["step"] = None if flow.get("step") is None else int(flow["step"])
    return out


def _flow_from_json(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        flow = {"matrix": np.asarray(raw["matrix"], np.float64),
                "loss_positions": np.asarray(raw["loss_positions"], np.int64),
                "state_positions": np.asarray(raw["state_positions"], np.int64),
                "truncation_mask": np.asarray(raw["truncation_mask"], bool),
                "window_start": int(raw["window_start"]), "kept_share": _float(raw.get("kept_share")),
                "step": None if raw.get("step") is None else int(raw["step"])}
    except (TypeError, ValueError, KeyError):
        raise ValueError("run bundle: 'gradient_flow' must hold matrix, loss_positions, state_positions, "
                         "truncation_mask and window_start") from None
    rows, cols = len(flow["loss_positions"]), len(flow["state_positions"])
    if flow["matrix"].shape != (rows, cols) or flow["truncation_mask"].shape != (rows, cols):
        raise ValueError(f"run bundle: 'gradient_flow' matrix and mask must be {rows} x {cols}")
    return flow


def _samples_from_json(raw: Any, history: list) -> dict[str, list]:
    """The bundle's gradient_samples, or (older or hand-made bundles) the history's cosines alone."""
    if isinstance(raw, dict):
        try:
            out = {name: [int(v) if name in INT_SAMPLE else _float(v) for v in raw.get(name, [])]
                   for name in SAMPLE_FIELDS}
        except (TypeError, ValueError):
            raise ValueError("run bundle: 'gradient_samples' must hold lists of numbers") from None
        if len({len(v) for v in out.values()}) != 1:
            raise ValueError("run bundle: the lists of 'gradient_samples' must have one entry per sampled step")
        return out
    steps = [int(r["step"]) for r in history if isinstance(r, dict) and r.get("full_gradient_cosine") is not None]
    cos = [_float(r["full_gradient_cosine"]) for r in history
           if isinstance(r, dict) and r.get("full_gradient_cosine") is not None]
    nan = [math.nan] * len(steps)
    return {"step": steps, "cosine_all": cos, "cosine_W_s": nan, "rel_error": nan, "history_steps": [0] * len(steps)}


def describe(cfg: RunConfig) -> str:
    """A short label naming a run's settings, e.g. 'TF n=5 d=4 adagrad 0.1 r2rt seed 0'."""
    if cfg.online:
        task = cfg.task if cfg.task != "echo" else f"echo {cfg.echo_step}"
        clip = f" clip {cfg.clip:g}" if cfg.clip > 0 else ""
        return (f"{cfg.style.upper()} d={cfg.state_size} {cfg.optimizer} {cfg.learning_rate:g}{clip} {task} "
                f"seed {cfg.seed}")
    style = "TF" if cfg.style == "tensorflow" else f"WP k1={cfg.k1}"
    task = cfg.task if cfg.task != "echo" else f"echo {cfg.echo_step}"
    clip = f" clip {cfg.clip:g}" if cfg.clip > 0 else ""
    return (f"{style} n={cfg.truncation} d={cfg.state_size} {cfg.optimizer} {cfg.learning_rate:g}{clip} {task} "
            f"seed {cfg.seed}")


def settings_line(cfg: RunConfig) -> str:
    """The settings a chart of this run must name: 'd = 4, n = 5, TensorFlow style BPTT(5; 5), task r2rt, seed 0'."""
    return ", ".join(settings_lines(cfg))


def settings_lines(cfg: RunConfig) -> list[str]:
    """`settings_line` in two parts, the model then the data, for a subtitle that fits half a screen.
    An online run (RTRL, UORO) has no window: its line names no n."""
    named = {"echo": f"echo {cfg.echo_step}", "custom": "custom lags " + ",".join(map(str, cfg.lags))}
    task = named.get(cfg.task, cfg.task)
    if cfg.online:
        model = f"d = {cfg.state_size}, {cfg.style.upper()}, online (no truncation)"
    else:
        style = (f"TensorFlow style BPTT({cfg.truncation}; {cfg.truncation})" if cfg.style == "tensorflow"
                 else f"Williams–Peng BPTT({cfg.truncation}; {cfg.k1})")
        model = f"d = {cfg.state_size}, n = {cfg.truncation}, {style}"
    return [model, f"task {task}, seed {cfg.seed}"]


def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _nums(a: np.ndarray) -> list[float | None]:
    """An array (any rank) as nested lists of plain floats (the values `_num` gives), NaN and infinities as None."""
    values = np.asarray(a, np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()
    out = values.astype(object)
    out[~finite] = None
    return out.tolist()


def _float(v: Any) -> float:
    return math.nan if v is None else float(v)
