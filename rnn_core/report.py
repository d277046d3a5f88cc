"""A finished (or stopped) run as plain data: the JSON bundle the CLI writes and the app loads back.

Bundle layout: {"format": "truncation-explorer-run/1", "config": {...}, "baselines": [...],
"history": [{"step", "loss", "grad_norms", "temporal", "position_loss", "global_norm",
"sigma_max"}, ...], "summary": {"final_loss", "steps", "seconds", "steps_per_second", "status", ...}}.
`grad_norms`, `temporal` and `position_loss` are lists of n numbers, position 0 the oldest state of
the window; they appear on the steps whose profiles were kept (every step from the CLI).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import RunConfig
from .train import Trainer, final_loss

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
    def from_trainer(cls, trainer: Trainer, label: str = "") -> RunRecord:
        """Copy what a trainer has recorded so far."""
        return cls(
            config=trainer.cfg,
            baselines=list(trainer.baselines),
            scalars=trainer.history.scalars(),
            profiles=trainer.history.profiles(),
            summary=trainer.summary(),
            label=label or describe(trainer.cfg),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON bundle (plain Python types; NaN and infinities become null)."""
        prof_index = {int(s): i for i, s in enumerate(self.profiles["step"])}
        history = []
        for i, step in enumerate(self.scalars["step"].tolist()):
            rec: dict[str, Any] = {
                "step": int(step),
                "loss": _num(self.scalars["loss"][i]),
                "global_norm": _num(self.scalars["global_norm"][i]),
                "sigma_max": _num(self.scalars["sigma_max"][i]),
            }
            j = prof_index.get(int(step))
            if j is not None:
                for name in ("grad_norms", "temporal", "position_loss"):
                    rec[name] = [_num(v) for v in self.profiles[name][j]]
            history.append(rec)
        return {
            "format": FORMAT,
            "label": self.label,
            "config": self.config.to_dict(),
            "baselines": [_num(b) for b in self.baselines],
            "history": history,
            "summary": {k: (_num(v) if isinstance(v, float) else v) for k, v in self.summary.items()},
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
        return cls(cfg, baselines, scalars, profiles, summary, label=str(data.get("label") or describe(cfg)))

    def final_loss(self) -> float:
        """Mean loss over the last 100 steps."""
        return final_loss(self.scalars["loss"])


def describe(cfg: RunConfig) -> str:
    """A short label naming a run's settings, e.g. 'TF n=5 d=4 adagrad 0.1 r2rt seed 0'."""
    style = "TF" if cfg.style == "tensorflow" else f"WP k1={cfg.k1}"
    task = cfg.task if cfg.task != "echo" else f"echo {cfg.echo_step}"
    clip = f" clip {cfg.clip:g}" if cfg.clip > 0 else ""
    return (f"{style} n={cfg.truncation} d={cfg.state_size} {cfg.optimizer} {cfg.learning_rate:g}{clip} {task} "
            f"seed {cfg.seed}")


def settings_line(cfg: RunConfig) -> str:
    """The settings a chart of this run must name: 'd = 4, n = 5, TensorFlow style BPTT(5; 5), task r2rt, seed 0'."""
    return ", ".join(settings_lines(cfg))


def settings_lines(cfg: RunConfig) -> list[str]:
    """`settings_line` in two parts, the model then the data, for a subtitle that fits half a screen."""
    style = (f"TensorFlow style BPTT({cfg.truncation}; {cfg.truncation})" if cfg.style == "tensorflow"
             else f"Williams–Peng BPTT({cfg.truncation}; {cfg.k1})")
    named = {"echo": f"echo {cfg.echo_step}", "custom": "custom lags " + ",".join(map(str, cfg.lags))}
    task = named.get(cfg.task, cfg.task)
    return [f"d = {cfg.state_size}, n = {cfg.truncation}, {style}", f"task {task}, seed {cfg.seed}"]


def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _float(v: Any) -> float:
    return math.nan if v is None else float(v)
