"""Issue 12 phase 2 numbers: full-gradient sampling overhead, mean cosines by n, and the four learners' epoch.

    python -m bench.exact_sampling overhead [--rounds 7]     # default run with and without sampling, interleaved
    python -m bench.exact_sampling cosine --d 4              # TF style n = 1, 5, 10, 20: mean sampled cosine
    python -m bench.exact_sampling learners --d 4            # TF n=5, WP n=5 k1=1, RTRL, UORO: final loss, steps/s

One JSON line per measurement on stdout. Every run is one R2RT epoch (1,000,000 steps, B = 200), seed 0,
compiled programs warmed first so steps/s is compiled speed.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from rnn_core.config import RunConfig
from rnn_core.online_train import make_trainer, warm_up
from rnn_core.report import RunRecord


def _emit(**row) -> None:
    print(json.dumps(row), flush=True)


def overhead(rounds: int) -> None:
    """Default run: training seconds without a sampler and with it (the calls keep the 20 sampled steps'
    weights and state; the samples observed so far are computed behind the next chunk, the rest when the
    record is built), interleaved round by round. Both include building the run's RunRecord, which every
    run pays (`flush_s` is that build with the last samples computed in it). `in_calls_s` is what keeping
    the inputs and the samples computed behind the chunks added to training (sampled - flush - plain).
    `overhead` is the median over rounds of sampled / plain - 1 in wall time (each pair back to back, so
    the machine's drift cancels); `overhead_of_medians` compares the two medians instead; `cpu_overhead`
    is the paired median in the process's CPU time (all threads: what the samples cost a busy server).
    Twice: samples in NumPy (a CLI process), then on compiled programs (a server, after
    `sampling.use_compiled`; their compile is reported, not counted)."""
    from rnn_core.sampling import use_compiled

    cfg = RunConfig()
    warm = make_trainer(cfg)
    warm_up(warm.key)
    warm.run_to_end()
    RunRecord.from_trainer(warm)
    for path in ("numpy", "compiled"):
        compile_s = use_compiled(cfg) if path == "compiled" else 0.0
        plain, sampled, flush, chunks, cpu_plain, cpu_sampled = [], [], [], [], [], []
        for _ in range(rounds):
            t = make_trainer(cfg)
            t.sampler = None
            c0, t0 = time.process_time(), time.perf_counter()
            t.run_to_end()
            RunRecord.from_trainer(t)  # every run's record is built, sampled or not
            plain.append(time.perf_counter() - t0)
            cpu_plain.append(time.process_time() - c0)
            t = make_trainer(cfg)
            c0, t0 = time.process_time(), time.perf_counter()
            t.run_to_end()
            t1 = time.perf_counter()
            RunRecord.from_trainer(t)
            t2 = time.perf_counter()
            cpu_sampled.append(time.process_time() - c0)
            sampled.append(t2 - t0)
            flush.append(t2 - t1)
            chunks.append(len(t.history.loss))
        p, s, f = (float(np.median(v)) for v in (plain, sampled, flush))
        paired = float(np.median(np.array(sampled) / np.array(plain))) - 1  # each round's pair ran back to back
        cpu = float(np.median(np.array(cpu_sampled) / np.array(cpu_plain))) - 1
        _emit(kind="overhead", path=path, plain_s=p, sampled_s=s, flush_s=f, in_calls_s=s - f - p,
              overhead=paired, overhead_of_medians=(s - p) / p, cpu_overhead=cpu, compile_s=compile_s,
              cpu_plain_s=float(np.median(cpu_plain)), cpu_sampled_s=float(np.median(cpu_sampled)),
              chunks=int(np.median(chunks)), rounds=rounds, plain_all=plain, sampled_all=sampled)


def cosine(d: int) -> None:
    for n in (1, 5, 10, 20):
        cfg = RunConfig(state_size=d, truncation=n)
        t = make_trainer(cfg)
        warm_up(t.key)
        t.run_to_end()
        r = RunRecord.from_trainer(t)
        s = r.gradient_samples()
        _emit(kind="cosine", d=d, n=n, samples=len(s["step"]), mean_cosine=float(np.nanmean(s["cosine_all"])),
              mean_cosine_W_s=float(np.nanmean(s["cosine_W_s"])), min_cosine=float(np.nanmin(s["cosine_all"])),
              mean_rel_error=float(np.nanmean(s["rel_error"])), median_depth=float(np.median(s["history_steps"])),
              max_depth=int(np.max(s["history_steps"])), final_loss=r.final_loss(),
              kept_share=r.gradient_flow()["kept_share"])


def learners(d: int) -> None:
    plans = [("TF n=5", RunConfig(state_size=d, truncation=5)),
             ("WP n=5 k1=1", RunConfig(state_size=d, truncation=5, style="williams-peng", k1=1)),
             ("RTRL", RunConfig(state_size=d, style="rtrl")), ("UORO", RunConfig(state_size=d, style="uoro"))]
    for name, cfg in plans:
        t = make_trainer(cfg)
        warm_up(t.key)
        t.sampler = None  # training speed alone
        t.run_to_end()
        s = t.summary()
        _emit(kind="learner", d=d, learner=name, final_loss=s["final_loss"], steps=s["steps"],
              seconds=s["seconds"], steps_per_second=s["steps_per_second"],
              time_steps_per_second=s["steps"] * cfg.effective_k1 / s["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("overhead", "cosine", "learners"))
    ap.add_argument("--d", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    {"overhead": lambda: overhead(a.rounds), "cosine": lambda: cosine(a.d), "learners": lambda: learners(a.d)}[a.what]()


if __name__ == "__main__":
    main()
