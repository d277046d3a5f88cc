"""Cost of the untruncated learners and of exact-gradient sampling, and what they show, on R2RT.

    python -m bench.exact_online speed            # RTRL d=4,16,32 and UORO d=4,16 time steps/s (B=200)
    python -m bench.exact_online sample           # one full-gradient sample at n=5 d=4 B=200
    python -m bench.exact_online epoch [--d 4]    # final loss after one R2RT epoch: RTRL, UORO
    python -m bench.exact_online cosine [--d 4] [--history K]  # mean cosine along TF-style runs, n = 1, 5, 10, 20

Each prints JSON lines. Timings are medians of repeated compiled calls after one warm-up call.
"""
from __future__ import annotations

import json
import statistics
import time

import numpy as np

from bench.cli import OneLineParser, positive_int
from rnn_core import exact, online
from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.kernels import pack
from rnn_core.model import init_params
from rnn_core.train import Trainer, final_loss

B = 200


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _kernel(method: str, d: int, capacity: int, learning_rate: float = 0.1, seed: int = 0):
    key = online.OnlineKey(method, B, d, "adagrad", 1, capacity)
    kernel = online.OnlineKernel(key)
    kernel.load(init_params(d, 1.0, seed), kernel.fresh_optimizer_state(learning_rate))
    return key, kernel


def speed(rounds: int = 5) -> None:
    """Time steps per second of RTRL and UORO, one Adagrad update per time step."""
    xb, yb = epoch_data(RunConfig(), 0)
    rows = pack(xb, yb)
    for method, d, steps in (("rtrl", 4, 1000), ("rtrl", 16, 200), ("rtrl", 32, 20),
                             ("uoro", 4, 1000), ("uoro", 16, 1000)):
        key, kernel = _kernel(method, d, steps)
        slab = rows[:, :steps]
        t0 = time.perf_counter()
        kernel.run_packed(slab, online.zero_carry(key), steps, 0.0)
        first = time.perf_counter() - t0
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            kernel.run_packed(slab, online.zero_carry(key), steps, 0.0)
            times.append(time.perf_counter() - t0)
        per = statistics.median(times) / steps
        _emit({"method": method, "d": d, "steps_per_second": round(1 / per, 1), "ms_per_step": round(per * 1e3, 4),
               "compile_and_first_call_s": round(first, 2), "epoch_s_5000_steps": round(per * 5000, 1)})


def sample(rounds: int = 7) -> None:
    """One exact-vs-truncated comparison (with the flow matrix's program separate) at R2RT defaults."""
    cfg = RunConfig()
    xb, yb = epoch_data(cfg, 0)
    params = init_params(cfg.state_size, 1.0, 0)
    for start, history in ((995, None), (2495, None), (4995, None), (4995, 1000)):
        exact.full_gradient_comparison(params, xb, yb, start, 5, 5, False, history=history)  # compile
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            comp = exact.full_gradient_comparison(params, xb, yb, start, 5, 5, False, history=history)
            times.append(time.perf_counter() - t0)
        _emit({"what": "full_gradient_comparison", "window_start": start, "history": history,
               "history_steps": comp.history_steps, "ms": round(statistics.median(times) * 1e3, 2),
               "cosine_all": round(comp.cosine_all, 6)})
    exact.gradient_flow(params, xb, yb, 4995, 5, 5, False)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        exact.gradient_flow(params, xb, yb, 4995, 5, 5, False)
        times.append(time.perf_counter() - t0)
    _emit({"what": "gradient_flow", "window_start": 4995, "ms": round(statistics.median(times) * 1e3, 2)})


def epoch(d: int, chunk: int = 1000) -> None:
    """Train one R2RT epoch (5,000 time steps a row) with RTRL and with UORO; final loss = last 100 updates."""
    xb, yb = epoch_data(RunConfig(state_size=d), 0)
    rows = pack(xb, yb)
    for method in ("rtrl", "uoro"):
        key, kernel = _kernel(method, d, chunk)
        carry, losses, seconds = online.zero_carry(key), [], 0.0
        for first in range(0, rows.shape[1], chunk):
            t0 = time.perf_counter()
            out = kernel.run_packed(rows[:, first:first + chunk], carry, chunk, 0.0, seed=1, time_offset=first)
            seconds += time.perf_counter() - t0
            carry = out["carry"]
            losses.append(out["loss"])
        loss = np.concatenate(losses)
        _emit({"method": method, "d": d, "updates": len(loss), "final_loss": round(final_loss(loss), 4),
               "final_loss_last_1000": round(final_loss(loss, 1000), 4), "seconds": round(seconds, 2)})


def cosine(d: int, history: int | None, samples: int = 20) -> None:
    """Mean cosine (exact vs the truncated gradient that trained the step) along TF-style runs."""
    for n in (1, 5, 10, 20):
        cfg = RunConfig(state_size=d, truncation=n)
        trainer = Trainer(cfg)
        every = max(1, trainer.total_steps // samples)
        cos_all, cos_ws, rel, depth, sample_s = [], [], [], [], 0.0
        while not trainer.finished:
            st = trainer.state
            if st.steps_done > 0 and st.window > 0:  # the next window at the weights about to train it
                rows = trainer._epoch_rows(st.epoch)
                start = st.window * cfg.effective_k1
                t0 = time.perf_counter()
                comp = exact.full_gradient_comparison(trainer.params, rows & 1, rows >> 1, start, n,
                                                      cfg.effective_k1, False, first_state=st.state,
                                                      history=history)
                sample_s += time.perf_counter() - t0
                cos_all.append(comp.cosine_all)
                cos_ws.append(comp.cosine_W_s)
                rel.append(comp.rel_error)
                depth.append(comp.history_steps)
            for _ in trainer.run(max_steps=every):
                pass
        summary = trainer.summary()
        _emit({"style": "tensorflow", "n": n, "d": d, "samples": len(cos_all),
               "mean_cosine_all": round(float(np.mean(cos_all)), 4),
               "mean_cosine_W_s": round(float(np.mean(cos_ws)), 4),
               "min_cosine_all": round(float(np.min(cos_all)), 4), "mean_rel_error": round(float(np.mean(rel)), 4),
               "final_loss": round(summary["final_loss"], 4), "train_s": round(summary["seconds"], 2),
               "sampling_s": round(sample_s, 2), "history": history,
               "mean_history_steps_backpropagated": round(float(np.mean(depth)), 1)})


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.exact_online")
    parser.add_argument("what", choices=("speed", "sample", "epoch", "cosine"))
    parser.add_argument("--d", type=positive_int, default=4)
    parser.add_argument("--history", type=positive_int, default=None, help="cosine: K steps back (default: since zero)")
    args = parser.parse_args(argv)
    if args.what == "speed":
        speed()
    elif args.what == "sample":
        sample()
    elif args.what == "epoch":
        epoch(args.d)
    else:
        cosine(args.d, args.history)


if __name__ == "__main__":
    main()
