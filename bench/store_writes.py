"""Saving a run into a full run store, with and without the size index (issue 14: a Compare sweep saves 24 runs).

    python -m bench.store_writes [--mb 200] [--saves 15]

Two SQLite stores in a temporary directory are filled the same way: bundles of a default sweep run's size
(a 2-epoch run at n = 1: 10,000 steps of history) from 30 owners, until the total-size bound (`--mb`, the
default store's) prunes on every save, as on a class's server after some weeks. One store keeps the
schema's `explorer_runs_updated_size` index, the other has it dropped (the schema before session 23).
Then `--saves` more saves alternate between the two, each timed (`RunStore.put`: JSON, insert, prune).
"""
from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.cli import OneLineParser, positive_int

MB = 1_000_000


def sweep_run_bundle(steps: int = 10_000, n: int = 1, seed: int = 0) -> dict:
    """A bundle the size of a default Compare sweep's longest run (built without training)."""
    from rnn_core.config import RunConfig
    from rnn_core.report import RunRecord

    rng = np.random.default_rng(seed)
    cfg = RunConfig(truncation=n)
    scalars = {"step": np.arange(steps), **{k: rng.uniform(0.3, 0.7, steps).astype(np.float32)
                                            for k in ("loss", "global_norm", "sigma_max")}}
    profiles = {"step": np.arange(0, steps, 10)}
    for name in ("position_loss", "grad_norms", "temporal"):
        profiles[name] = rng.uniform(0, 1, (len(profiles["step"]), n)).astype(np.float32)
    summary = {"final_loss": 0.52, "steps": steps, "status": "completed"}
    return RunRecord(cfg, [0.66, 0.52, 0.45], scalars, profiles, summary, label=f"n={n} seed {seed}").to_json()


def fill(store, bundle: dict, owners: list[str], total_bytes: int) -> int:
    """Save bundles round-robin over `owners` until the store prunes for its total size; how many saves."""
    saves = 0
    while True:
        saved = store.put(owners[saves % len(owners)], bundle)
        saves += 1
        if saved.pruned or saves * len(str(bundle)) > 3 * total_bytes:
            return saves


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.store_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=positive_int, default=200, help="the store's total-size bound in MB (200)")
    parser.add_argument("--saves", type=positive_int, default=15, help="timed saves into each store (15)")
    args = parser.parse_args(argv)

    import runstore
    from runstore import RunStore, StoreSettings

    bundle = sweep_run_bundle()
    size = len(runstore.bundle.prepare(bundle)[0].encode())
    owners = [runstore.new_owner_id() for _ in range(30)]
    settings = StoreSettings(max_total_bytes=args.mb * MB, max_run_bytes=20 * MB, busy_timeout_s=5.0)
    times: dict[str, list[float]] = {"with the size index": [], "without it": []}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for name in times:
            path = Path(tmp) / f"{len(stores)}.sqlite3"
            store = RunStore(f"sqlite:///{path}", settings)
            if name == "without it":  # this process's engine is made: nothing puts the index back
                with sqlite3.connect(path) as conn:
                    conn.execute("DROP INDEX explorer_runs_updated_size")
            filled = fill(store, bundle, owners, args.mb * MB)
            stores[name] = store
            print(f"{name}: {filled} saves of {size / MB:.2f} MB to reach the bound", file=sys.stderr)
        for i in range(args.saves):
            for name, store in (stores.items() if i % 2 == 0 else reversed(stores.items())):
                t0 = time.perf_counter()
                saved = store.put(owners[i % len(owners)], bundle)
                times[name].append(time.perf_counter() - t0)
                assert saved.pruned, "the store is full: every save prunes"
        rows, usage = [], {name: store.usage() for name, store in stores.items()}
        runstore.dispose_all()
    base = float(np.median(times["without it"]))
    print(f"A save into a full SQLite run store ({args.mb} MB bound, bundles of {size / MB:.2f} MB, 30 owners), "
          f"{args.saves} saves each, alternating:\n")
    print("| store | runs held | median ms a save | p90 ms | ratio to without |\n|---|---|---|---|---|")
    for name, ts in times.items():
        ms = np.array(ts) * 1e3
        rows.append(f"| {name} | {usage[name][0]} | {np.median(ms):.1f} | {np.percentile(ms, 90):.1f} | "
                    f"{np.median(ts) / base:.2f} |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
