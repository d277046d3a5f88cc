"""What the online learners cost, and where RTRL is offered: numbers only, no TensorFlow (config imports it)."""
from __future__ import annotations

METHODS = ("rtrl", "uoro")
RTRL_MAX_D = 32


def recurrent_size(d: int) -> int:
    """p: the number of recurrent parameters (W and b_s)."""
    return d * (3 + d)


def check_affordable(method: str, d: int, batch_size: int) -> None:
    """ValueError with the cost when `method` is not offered at state size d."""
    if method not in METHODS:
        raise ValueError(f"online method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "rtrl" and d > RTRL_MAX_D:
        p = recurrent_size(d)
        raise ValueError(
            f"RTRL is offered for state size d <= {RTRL_MAX_D}: at d={d} the influence matrix has d x p = "
            f"{d} x {p} = {d * p:,} entries per batch row ({batch_size * d * p * 4 / 1e6:,.0f} MB for B={batch_size}) "
            f"and each time step costs about {2 * batch_size * d * d * p / 1e9:,.1f} GFLOP (O(d^4)); "
            "use UORO or a truncated style"
        )
