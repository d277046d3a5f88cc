"""Weight files: W, b_s, U, b_p in an .npz without pickles, checked on the way in."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .model import Params


def save_weights(path: str | Path, params: Params) -> None:
    """Write W, b_s, U, b_p to an .npz file (no pickle)."""
    with open(path, "wb") as fh:  # a handle, so numpy does not append ".npz" to the name
        np.savez(fh, W=params.W, b_s=params.b_s, U=params.U, b_p=params.b_p)


def load_weights(path: str | Path, state_size: int | None = None) -> Params:
    """Read an .npz of W (d, 2+d), b_s (d,), U (2, d), b_p (2,), float32 or float64; ValueError if bad."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise ValueError(f"weights file {str(path)!r} does not exist") from None
    except Exception as exc:  # zip, header or pickle errors all mean a bad file
        raise ValueError(f"weights file {str(path)!r} is not a readable .npz without pickles ({exc})") from None
    missing = [k for k in ("W", "b_s", "U", "b_p") if k not in arrays]
    if missing:
        raise ValueError(f"weights file lacks {', '.join(missing)}; it needs W, b_s, U and b_p")
    for name, a in arrays.items():
        if name in ("W", "b_s", "U", "b_p") and a.dtype not in (np.float32, np.float64):
            raise ValueError(f"weights file: {name} has dtype {a.dtype}; expected float32 or float64")
    d = arrays["b_s"].shape[0] if arrays["b_s"].ndim == 1 else -1
    expect = {"W": (d, 2 + d), "b_s": (d,), "U": (2, d), "b_p": (2,)}
    for name, shape in expect.items():
        if arrays[name].shape != shape or d < 1:
            raise ValueError(f"weights file: {name} has shape {arrays[name].shape}; expected {shape}")
    if state_size is not None and d != state_size:
        raise ValueError(f"weights file has state size d={d} but the run has d={state_size}")
    if not all(np.isfinite(arrays[k]).all() for k in expect):
        raise ValueError("weights file holds NaN or infinite values")
    return Params(*(arrays[k].astype(np.float32) for k in ("W", "b_s", "U", "b_p")))
