"""The engine against the JAX and Keras peers, interleaved in one process, as issue 14 measures them.

    python -m bench.race [--rounds 5] [--n 10] [--d 4] [--keras-steps 200]

R2RT set-up (B=200, series 1,000,000, Adagrad 0.1, TF style), the same data and starting weights for
all (bench/peers.py). Each round trains, in turn: one engine epoch (`Trainer`, its compiled kernel
warm in the pool, the epoch's data generation inside the time), one JAX epoch (jitted, warm, data
generation inside the time) and `--keras-steps` Keras train_on_batch steps (per-step time over the
steady steps plus the epoch's data generation spread over the epoch's steps). Reports ms a step,
medians over rounds, the ratios engine/peer per round (median), each one's final loss after its
first epoch, and the load average before and after, since other work on the machine moves all three.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from bench.cli import OneLineParser, positive_int
from bench.peers import JaxPeer, KerasPeer, engine_epoch, r2rt_config, windows
from rnn_core.model import init_params

TARGET_JAX, TARGET_KERAS = 2.5, 25.0


def measure(rounds: int = 5, n: int = 10, d: int = 4, keras_steps: int = 200) -> dict:
    """ms a step per round for engine, jax, keras; first-epoch final losses; load averages."""
    cfg = r2rt_config(n=n, d=d)
    p = init_params(d, cfg.init_scale, cfg.seed)
    load0 = os.getloadavg()
    eng, _, _ = engine_epoch(cfg, p)  # compiles and warms the engine's kernel
    jax_peer = JaxPeer(cfg, p)
    jax0 = jax_peer.train_epoch(0)  # compiles
    keras_peer = KerasPeer(cfg, p)
    keras0 = keras_peer.train_epoch(0, max_steps=keras_steps)
    t = time.perf_counter()
    _, _, steps = windows(cfg, 0)
    data_ms = (time.perf_counter() - t) * 1e3 / steps
    out: dict = {"engine": [], "jax": [], "keras": [], "steps": steps, "keras_steps": keras_steps,
                 "loss": {"engine": eng.final_loss(), "jax": jax0.final_loss(), "keras": keras0.final_loss()}}
    for _ in range(rounds):
        res, _, _ = engine_epoch(cfg, p)
        out["engine"].append(res.seconds * 1e3 / len(res.loss))
        res = jax_peer.train_epoch(0)
        out["jax"].append(res.seconds * 1e3 / len(res.loss))
        res = keras_peer.train_epoch(0, max_steps=keras_steps)
        out["keras"].append(1e3 / res.steps_per_second(skip=10) + data_ms)
    out["load"] = (load0, os.getloadavg())
    return out


def markdown(r: dict, n: int, d: int) -> str:
    """A results.md block: medians, ratios and verdicts."""
    med = {k: float(np.median(r[k])) for k in ("engine", "jax", "keras")}
    vs_jax = float(np.median(np.array(r["jax"]) / np.array(r["engine"])))
    vs_keras = float(np.median(np.array(r["keras"]) / np.array(r["engine"])))
    loss = r["loss"]
    (a0, _, _), (a1, _, _) = r["load"]
    return "\n".join([
        f"- R2RT set-up (B=200, n={n}, d={d}), warm, data generation included, {len(r['engine'])} interleaved "
        f"rounds, load average {a0:.1f} before and {a1:.1f} after: engine **{med['engine']:.3f} ms** a step, "
        f"JAX {med['jax']:.3f} ms, Keras stateful SimpleRNN {med['keras']:.3f} ms.",
        f"- Engine vs JAX **{vs_jax:.2f}x** (target >= {TARGET_JAX:g}x: "
        f"{'met' if vs_jax >= TARGET_JAX else 'MISSED'}), "
        f"vs Keras **{vs_keras:.1f}x** (target >= {TARGET_KERAS:g}x: "
        f"{'met' if vs_keras >= TARGET_KERAS else 'MISSED'}); medians of the per-round ratios.",
        f"- Same learning: final loss (mean of the last 100 steps) after the first epoch: engine {loss['engine']:.4f}, "
        f"JAX {loss['jax']:.4f} ({r['steps']} steps each); Keras {loss['keras']:.4f} after its first "
        f"{r['keras_steps']} steps.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.race", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--n", type=positive_int, default=10, help="truncation n (default 10)")
    parser.add_argument("--d", type=positive_int, default=4, help="state size d (default 4)")
    parser.add_argument("--keras-steps", type=positive_int, default=200, help="Keras steps a round (default 200)")
    args = parser.parse_args(argv)
    print(markdown(measure(args.rounds, args.n, args.d, args.keras_steps), args.n, args.d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
