"""Runtime levers for the engine, each in a fresh process: compile time and warm ms a step.

    python -m bench.levers [--reps 2] [--n 10] [--d 4] [--epochs 3]

Each variant is an environment (XLA_FLAGS, TF thread counts) set before TensorFlow loads. Per process:
the compile of the R2RT kernel (B=200, n, d; seconds of `build_compiled`), then `--epochs` warm epochs
of the Trainer (data generation included; ms a step, the median). Variants run interleaved, `--reps`
times each; the table gives each variant's medians and its ratio to the baseline in the same rep.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from bench.cli import OneLineParser, positive_int

VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "small while loop 64K": {"XLA_FLAGS":
        "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=65536"},
    "single-threaded Eigen": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
    "1 intra-op + 1 inter-op thread": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "LLVM opt level 1": {"XLA_FLAGS": "--xla_backend_optimization_level=1"},
}

_CHILD = """
import json, sys, time
import numpy as np
from bench.peers import engine_epoch, r2rt_config
from rnn_core import kernels
cfg = r2rt_config(n=int(sys.argv[1]), d=int(sys.argv[2]))
t = time.perf_counter(); kernels.POOL.give_back(kernels.build_compiled(kernels.key_for(cfg)))
compile_s = time.perf_counter() - t
ms = []
for _ in range(int(sys.argv[3])):
    res, _, _ = engine_epoch(cfg)
    ms.append(res.seconds * 1e3 / len(res.loss))
print(json.dumps({"compile": compile_s, "ms": float(np.median(ms)), "loss": res.final_loss()}))
"""


def one(env: dict[str, str], n: int, d: int, epochs: int) -> dict:
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(d), str(epochs)], env=full,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"status {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.levers", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=positive_int, default=2)
    parser.add_argument("--n", type=positive_int, default=10)
    parser.add_argument("--d", type=positive_int, default=4)
    parser.add_argument("--epochs", type=positive_int, default=3)
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.reps):
        for name, env in VARIANTS.items():
            rows[name].append(one(env, args.n, args.d, args.epochs))
            print(name, rows[name][-1], file=sys.stderr, flush=True)
    print(f"R2RT B=200 n={args.n} d={args.d}, {args.reps} interleaved reps, load average {load0:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after\n")
    print("| variant | compile s (median) | warm ms a step (median) | ms vs baseline (median ratio) | final loss |")
    print("|---|---|---|---|---|")
    base = rows["baseline"]
    for name, rs in rows.items():
        ok = [(r, b) for r, b in zip(rs, base) if "error" not in r and "error" not in b]
        if not ok:
            print(f"| {name} | failed: {rs[0].get('error')} | | | |")
            continue
        ratio = np.median([r["ms"] / b["ms"] for r, b in ok])
        print(f"| {name} | {np.median([r['compile'] for r, _ in ok]):.2f} | {np.median([r['ms'] for r, _ in ok]):.3f} "
              f"| {ratio:.2f} | {ok[-1][0]['loss']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
