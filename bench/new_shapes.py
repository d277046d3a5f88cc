"""A run of shapes nothing has compiled yet, each in a fresh process: first metrics, whole run, how its steps ran.

    python -m bench.new_shapes [--shapes 256x20:40,128x50:25] [--rounds 3] [--other /path/to/checkout]

Each shape is `d x n : steps` (a one-epoch R2RT run of that many steps, B = 200). Per process: TensorFlow is
imported, then `Trainer(cfg).run()` is timed from building the trainer (which generates the data) to its first
chunk and to its last. With `--other`, the same runs of another checkout's code (a worktree of an earlier
commit) alternate with this one's, round by round, and the table gives both and the median ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.cli import OneLineParser, positive_int

_CHILD = """
import json, sys, time
from rnn_core import train
from rnn_core.config import RunConfig
d, n, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cfg = RunConfig(state_size=d, truncation=n, series_length=200 * n * steps)
t0 = time.perf_counter()
trainer = train.Trainer(cfg)
first = None
for chunk in trainer.run():
    first = time.perf_counter() - t0 if first is None else first
st = trainer.state
print(json.dumps({"first": first, "end": time.perf_counter() - t0, "steps": st.steps_done,
                  "uncompiled": st.uncompiled_steps, "eager": st.eager_steps, "final": float(chunk.loss[-1]),
                  "how": trainer.program().split("; ", 1)[1]}))
"""

HERE = Path(__file__).resolve().parent.parent


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """'256x20:40,128x50:25' -> [(256, 20, 40), (128, 50, 25)] (d, n, steps)."""
    shapes = []
    for part in text.split(","):
        try:
            dn, steps = part.split(":")
            d, n = dn.lower().split("x")
            shapes.append((positive_int(d), positive_int(n), positive_int(steps)))
        except (ValueError, argparse.ArgumentTypeError) as err:
            raise ValueError(f"--shapes: {part!r} is not d x n : steps, e.g. 256x20:40 ({err})") from None
    return shapes


def one_run(root: Path, d: int, n: int, steps: int) -> dict:
    """One fresh process of `root`'s code training the shape; its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(d), str(n), str(steps)], cwd=root, env=env,
                         capture_output=True, text=True, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"{root} d={d} n={n}: exit {out.returncode}: {out.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="256x20:40,128x50:25,256x50:15,256x200:8")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--other", type=Path, help="another checkout to alternate with (the 'before' code)")
    args = parser.parse_args(argv)
    try:
        shapes = parse_shapes(args.shapes)
    except ValueError as err:
        parser.error(str(err))
    if args.other is not None and not (args.other / "rnn_core").is_dir():
        parser.error(f"--other {args.other}: no rnn_core/ there")
    codes = {"this code": HERE} | ({"other": args.other.resolve()} if args.other else {})
    runs: dict[tuple, list[dict]] = {}
    for _ in range(args.rounds):
        for shape in shapes:
            for name, root in reversed(codes.items()):  # the other checkout first in each pair
                result = one_run(root, *shape)
                runs.setdefault((name, shape), []).append(result)
                print(f"{name:9} d={shape[0]} n={shape[1]}: first {result['first']:.2f} s, "
                      f"end {result['end']:.2f} s, {result['how']}", file=sys.stderr, flush=True)
    print("| d, n (steps) | code | first metrics s | whole run s | how its steps ran (last round) | final loss |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        for name in codes:
            rs = runs[(name, shape)]
            firsts = ", ".join(f"{r['first']:.2f}" for r in rs)
            ends = ", ".join(f"{r['end']:.2f}" for r in rs)
            finals = ", ".join(f"{r['final']:.3f}" for r in rs)
            print(f"| {shape[0]}, {shape[1]} ({shape[2]}) | {name} | {firsts} | {ends} | {rs[-1]['how']} | {finals} |")
        if "other" in codes:
            ratio = [a["first"] / b["first"] for a, b in zip(runs[("this code", shape)], runs[("other", shape)])]
            whole = [a["end"] / b["end"] for a, b in zip(runs[("this code", shape)], runs[("other", shape)])]
            print(f"| | this / other, median | {np.median(ratio):.2f} | {np.median(whole):.2f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
