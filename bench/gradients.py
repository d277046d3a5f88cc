"""gradient = autodiff vs derived: compile seconds and compiled steps/s of the engine's own kernel.

R2RT set-up (B = 200, Adagrad, TF style BPTT(n; n)) over (n, d); each shape's two kernels are
built in this process (`kernels.build_compiled`, timed) and then timed interleaved on the same
random slab, median of rounds. Prints a Markdown table.

    python -m bench.gradients [--rounds 5] [--steps 400]
"""
from __future__ import annotations

import time

from bench.ablation import _call, _interleaved, _ready, _slabs
from bench.cli import OneLineParser, positive_int

SHAPES = ((5, 4), (10, 4), (20, 4), (50, 4), (10, 16), (10, 64), (50, 16))


def measure(shapes=SHAPES, steps: int = 400, rounds: int = 5) -> list[dict]:
    """One row per (n, d, gradient): compile_s, steps_per_s."""
    import rnn_core.kernels as K

    rows = []
    for n, d in shapes:
        built, compile_s = {}, {}
        for gradient in ("autodiff", "derived"):
            key = K.KernelKey(200, n, n, d, "adagrad", K.capacity_for(200, n, n, d), gradient)
            t0 = time.perf_counter()
            built[gradient] = _ready(K.build_compiled(key), d)
            compile_s[gradient] = time.perf_counter() - t0
        x, y, S = _slabs(key)
        count = min(steps, key.capacity)
        med = _interleaved({g: _call(k, x, y, S, count) for g, k in built.items()}, rounds)
        for gradient in built:
            rows.append({"n": n, "d": d, "gradient": gradient, "program": K.program_name(gradient, n),
                         "compile_s": compile_s[gradient], "steps_per_s": count / med[gradient]})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per shape, autodiff and derived side by side."""
    out = ["| n | d | compile s autodiff | compile s derived | steps/s autodiff | steps/s derived "
           "| derived / autodiff |",
           "|---|---|---|---|---|---|---|"]
    by = {(r["n"], r["d"], r["gradient"]): r for r in rows}
    for n, d in dict.fromkeys((r["n"], r["d"]) for r in rows):
        a, h = by[n, d, "autodiff"], by[n, d, "derived"]
        out.append(f"| {n} | {d} | {a['compile_s']:.1f} | {h['compile_s']:.1f} | {a['steps_per_s']:,.0f} | "
                   f"{h['steps_per_s']:,.0f} | {h['steps_per_s'] / a['steps_per_s']:.2f} |")
    return "\n".join(out)


def main() -> None:
    parser = OneLineParser(prog="python -m bench.gradients", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--steps", type=positive_int, default=400)
    args = parser.parse_args()
    print(table(measure(steps=args.steps, rounds=args.rounds)))


if __name__ == "__main__":
    main()
