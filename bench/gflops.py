"""Achieved GFLOP/s of the engine at a large state against this machine's float32 matmul GFLOP/s.

    python -m bench.gflops [--d 256] [--n 10] [--series-length 200000] [--epochs 3]

R2RT set-up (B=200, TF style) at state size d. The model's matmul work per training step, counted
as 6 B d^2 n (forward S_{t-1} Ws^T, backward dZ Ws and dW, each 2 B d^2 a position; the input
columns, the output layer and sigma_max are left out, so this undercounts) divided by the
warm engine's seconds a step (data generation included). The machine's figure: NumPy (its BLAS)
and TensorFlow float32 matmuls of the step's own shape [B, d] x [d, d] and of 1024 x 1024, best of
several runs, on the threads they use by default.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from bench.cli import OneLineParser, positive_int


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> tuple[float, float]:
    """Best GFLOP/s of NumPy and of TensorFlow for [m, k] x [k, n] float32."""
    import tensorflow as tf

    a = np.random.default_rng(0).random((m, k), np.float32)
    b = np.random.default_rng(1).random((k, n), np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    mm = tf.function(lambda x, y: tf.linalg.matmul(x, y), jit_compile=True)
    mm(ta, tb).numpy()
    out = []
    for fn in (lambda: a @ b, lambda: mm(ta, tb).numpy()):
        best = float("inf")
        t_end = time.perf_counter() + seconds
        reps = max(1, int(2e8 / (2 * m * k * n)))
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            best = min(best, (time.perf_counter() - t) / reps)
        out.append(2 * m * k * n / best / 1e9)
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.gflops", description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=positive_int, default=256)
    parser.add_argument("--n", type=positive_int, default=10)
    parser.add_argument("--series-length", type=positive_int, default=200_000)
    parser.add_argument("--epochs", type=positive_int, default=3)
    args = parser.parse_args(argv)
    from bench.peers import engine_epoch, r2rt_config

    load0 = os.getloadavg()[0]
    cfg = r2rt_config(n=args.n, d=args.d, series_length=args.series_length)
    B, d, n = cfg.batch_size, cfg.state_size, cfg.truncation
    engine_epoch(cfg)  # compiles
    ms = []
    for _ in range(args.epochs):
        res, _, _ = engine_epoch(cfg)
        ms.append(res.seconds * 1e3 / len(res.loss))
    step_ms = float(np.median(ms))
    achieved = 6 * B * d * d * n / (step_ms * 1e-3) / 1e9
    np_step, tf_step = matmul_gflops(B, d, d)
    np_big, tf_big = matmul_gflops(1024, 1024, 1024)
    peak = max(np_step, tf_step, np_big, tf_big)
    print(f"- d={d}, n={n}, B={B} (load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after): engine "
          f"{step_ms:.2f} ms a step (median of {args.epochs} warm epochs), {6 * B * d * d * n / 1e6:.0f} MFLOP of "
          f"matmul a step: **{achieved:.1f} GFLOP/s**.")
    print(f"- float32 matmul here: [{B},{d}]x[{d},{d}] NumPy {np_step:.1f}, TF/XLA {tf_step:.1f} GFLOP/s; "
          f"1024^3 NumPy {np_big:.1f}, TF/XLA {tf_big:.1f} GFLOP/s. Engine at **{100 * achieved / peak:.0f}%** of the "
          f"best ({peak:.1f}); target >= 50%: {'met' if achieved >= 0.5 * peak else 'MISSED'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
