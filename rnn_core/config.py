"""Run settings: one typed dataclass, its bounds, and validation.

Every front end (Streamlit widgets, URL query parameters, the command line, the tests) builds a
`RunConfig` and calls `validate()`; nothing else decides what a legal setting is.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .online_cost import check_affordable

STYLES = ("tensorflow", "williams-peng", "rtrl", "uoro")
ONLINE_STYLES = ("rtrl", "uoro")  # learn online through the whole history: truncation and k1 do not apply
OPTIMIZERS = ("sgd", "adagrad", "adam")
TASKS = ("r2rt", "echo", "custom", "file")
GRADIENTS = ("autodiff", "derived")

MAX_LAGS = 8
MAX_LAG = 200


@dataclass(frozen=True)
class Bound:
    """Allowed range and help text of one numeric setting."""

    low: float
    high: float
    help: str


BOUNDS: dict[str, Bound] = {
    "state_size": Bound(1, 256, "d, the size of the state vector S_t"),
    "truncation": Bound(1, 200, "n, how many time steps the graph is unrolled (k2 for Williams-Peng)"),
    "k1": Bound(1, 200, "Williams-Peng: backpropagate every k1 steps (k1 = 1 is 'true' truncation)"),
    "batch_size": Bound(1, 1024, "parallel rows the series is cut into"),
    "series_length": Bound(2, 5_000_000, "time steps of data generated per epoch"),
    "epochs": Bound(1, 100, "passes over (fresh) data"),
    "learning_rate": Bound(1e-6, 10.0, "optimizer learning rate"),
    "clip": Bound(0.0, 1e6, "global-norm clipping threshold (0 = no clipping)"),
    "init_scale": Bound(0.0, 10.0, "multiplier on the Glorot-uniform initial weights"),
    "seed": Bound(0, 2**31 - 1, "random seed for weights and data"),
    "base_prob": Bound(0.0, 1.0, "P(Y_t = 1) when no lag fires"),
    "input_prob": Bound(0.0, 1.0, "P(X_t = 1)"),
    "echo_step": Bound(1, MAX_LAG, "echo task: y_t = x_{t - echo_step}"),
}


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one training run (defaults reproduce R2RT part I, num_steps = 5)."""

    state_size: int = 4  # d: S_t has d components; W is d x (2 + d)
    truncation: int = 5  # n: window width; TF style BPTT(n; n), Williams-Peng BPTT(n; k1)
    style: str = "tensorflow"  # "tensorflow", "williams-peng", or the untruncated "rtrl" / "uoro"
    k1: int = 1  # Williams-Peng only: steps between backprops (TF style uses k1 = n)
    batch_size: int = 200  # B parallel rows
    series_length: int = 1_000_000  # T time steps per epoch
    epochs: int = 1  # passes; generated tasks draw fresh data each epoch
    learning_rate: float = 0.1  # R2RT: Adagrad 0.1
    optimizer: str = "adagrad"  # "sgd", "adagrad" or "adam" (keras optimizers)
    clip: float = 0.0  # global-norm clipping threshold; 0 turns clipping off
    init_scale: float = 1.0  # Glorot-uniform weights times this
    seed: int = 0  # makes weights and data repeatable
    task: str = "r2rt"  # "r2rt", "echo", "custom" or "file"
    lags: tuple[int, ...] = (3, 8)  # custom task: lags L_i
    effects: tuple[float, ...] = (0.5, -0.25)  # custom task: effect e_i of X_{t-L_i} = 1
    base_prob: float = 0.5  # custom task: P(Y=1) when no lag fires
    input_prob: float = 0.5  # custom task: P(X=1)
    echo_step: int = 3  # echo task: y_t = x_{t - echo_step}
    gradient: str = "derived"  # "autodiff": tf.GradientTape on model.step's graph; "derived": the same by hand

    def __post_init__(self) -> None:
        # A whole number given for a float setting (learning_rate=1) is stored as a float: keras
        # optimizers reject an int learning rate, and JSON/URL round trips should not change type.
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))

    @property
    def k2(self) -> int:
        """Backpropagation depth: the window width n."""
        return self.truncation

    @property
    def effective_k1(self) -> int:
        """Steps between training steps: n for TF style, k1 for Williams-Peng, 1 for RTRL and UORO."""
        if self.online:
            return 1
        return self.truncation if self.style == "tensorflow" else self.k1

    @property
    def window_width(self) -> int:
        """Time steps one training step reads: n, or 1 for an online update."""
        return 1 if self.online else self.truncation

    @property
    def online(self) -> bool:
        """Whether the style learns online without truncation (RTRL, UORO): n and k1 then do not apply."""
        return self.style in ONLINE_STYLES

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (not validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the settings."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["lags"] = list(self.lags)
        out["effects"] = list(self.effects)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build from a dict (unknown keys are an error); coerces types, then validates."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in values:
                kwargs[f.name] = coerce(f.name, values[f.name])
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def validate(self) -> RunConfig:
        """Raise ValueError naming the field, the bad value and the allowed range; else return self."""
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if value != value or not bound.low <= value <= bound.high:  # NaN fails too
                raise ValueError(f"{name}={value!r} is out of range [{_fmt(bound.low)}, {_fmt(bound.high)}]")
        for name in INT_FIELDS:
            if int(getattr(self, name)) != getattr(self, name):
                raise ValueError(f"{name} must be a whole number, got {getattr(self, name)!r}")
        _choice("style", self.style, STYLES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("task", self.task, TASKS)
        _choice("gradient", self.gradient, GRADIENTS)
        if self.style == "williams-peng" and self.k1 > self.truncation:
            raise ValueError(f"k1={self.k1} must be at most k2 = n = {self.truncation} (BPTT(k2; k1))")
        if self.online:
            check_affordable(self.style, self.state_size, self.batch_size)
        if self.task == "custom":
            validate_lags(self.lags, self.effects)
        if self.online and self.series_length < self.batch_size and self.task != "file":
            raise ValueError(f"series_length={self.series_length} is too short: it must be at least "
                             f"batch_size = {self.batch_size} to give each row one time step")
        if not self.online and self.series_length < self.batch_size * self.truncation and self.task != "file":
            raise ValueError(
                f"series_length={self.series_length} is too short: it must be at least "
                f"batch_size x n = {self.batch_size * self.truncation} to fill one window"
            )
        return self


INT_FIELDS = ("state_size", "truncation", "k1", "batch_size", "series_length", "epochs", "seed", "echo_step")
FLOAT_FIELDS = ("learning_rate", "clip", "init_scale", "base_prob", "input_prob")


def validate_lags(lags: tuple[int, ...], effects: tuple[float, ...]) -> None:
    """Check a custom task's lags and effects."""
    if not lags:
        raise ValueError("lags must list at least one lag")
    if len(lags) > MAX_LAGS:
        raise ValueError(f"lags has {len(lags)} entries; at most {MAX_LAGS} are allowed")
    if len(effects) != len(lags):
        raise ValueError(f"effects has {len(effects)} entries but lags has {len(lags)}; give one effect per lag")
    for lag in lags:
        if isinstance(lag, bool) or not isinstance(lag, int) or not 1 <= lag <= MAX_LAG:
            raise ValueError(f"lags: {lag!r} is out of range [1, {MAX_LAG}]")
    if len(set(lags)) != len(lags):
        raise ValueError(f"lags must be distinct, got {list(lags)}")
    for e in effects:
        if not isinstance(e, (int, float)) or e != e or not -1.0 <= e <= 1.0:
            raise ValueError(f"effects: {e!r} is out of range [-1, 1]")


def parse_list(name: str, text: str, kind: type) -> tuple:
    """Parse '3,8' or '0.5,-0.25' into a tuple, naming the field on error."""
    try:
        items = [kind(part.strip()) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a comma-separated list of {kind.__name__} values") from None
    return tuple(items)


def coerce(name: str, value: Any) -> Any:
    """Convert a raw value (from a URL, CLI or JSON) to the field's type, naming the field on error."""
    if isinstance(value, bool) and name in INT_FIELDS + FLOAT_FIELDS:  # JSON true/false is not a number here
        raise ValueError(f"{name}={value!r} is a true/false value, not a number")
    if name in INT_FIELDS:
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a whole number") from None
        if as_float != as_float or as_float in (float("inf"), float("-inf")) or int(as_float) != as_float:
            raise ValueError(f"{name}={value!r} is not a whole number")
        return int(as_float)
    if name in FLOAT_FIELDS:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a number") from None
    if name in ("lags", "effects"):
        kind = int if name == "lags" else float
        if isinstance(value, str):
            return parse_list(name, value, kind)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}={value!r} is not a list")
        return tuple(coerce_int_item(name, v) if kind is int else coerce_float_item(name, v) for v in value)
    return str(value)


def coerce_int_item(name: str, v: Any) -> int:
    """One whole number of a list field."""
    try:
        as_float = float(v)
        whole = not isinstance(v, bool) and as_float == int(as_float)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise ValueError(f"{name}: {v!r} is not a whole number")
    return int(as_float)


def coerce_float_item(name: str, v: Any) -> float:
    """One number of a list field."""
    if isinstance(v, bool):
        raise ValueError(f"{name}: {v!r} is a true/false value, not a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {v!r} is not a number") from None


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")


def _fmt(x: float) -> str:
    if not float(x).is_integer():
        return repr(x)
    return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))  # '5,000,000', not 5000000; '1024' stays
