"""The benchmark: the engine against Keras and NumPy on the same data, in one process.

    python -m bench.run                     # full run, ~8-12 min on 2 cores, writes bench/results.md
    python -m bench.run --quick             # a small subset in a couple of minutes
    python -m bench.run --out /tmp/r.md --rounds 9 --no-memory --no-ablation

Sections (each printed as it finishes; the results file is rewritten after every section):
  throughput  R2RT set-up (B=200, n=10, d=4, series 1,000,000, Adagrad 0.1, TF style), warm; the
              peers interleaved round by round, ratios of medians measured in this run
  headline    the R2RT headline run (n=5, d=4, 1 epoch) from start to final chunk: new shapes in
              a warm process, pre-warmed kernel, and a fresh process; Keras and NumPy for scale;
              and in the app, click Train to final chart in chromium (bench/app_latency.py)
  scaling     steps/s and time-to-first-metrics over n x d for both truncation styles
  ablation    what each design choice buys (bench/ablation.py)
  memory      Streamlit server RSS per session (bench/memory.py), run in its own processes
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench.cli import OneLineParser, positive_int  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_KERAS = 15.0
TARGET_NUMPY = 4.0
TARGET_LATENCY = 1.0
LATENCY_MAX_N, LATENCY_MAX_D = 100, 64
FULL_NS = (1, 5, 10, 20, 50, 100, 200)
FULL_DS = (4, 16, 64, 256)
QUICK_NS = (1, 10, 50)
QUICK_DS = (4, 64)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m bench.run", description="Benchmark the engine against Keras and NumPy.")
    p.add_argument("--quick", action="store_true", help="small subset (a couple of minutes)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.md"), help="markdown file to write")
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="interleaved rounds per timing (default 9, quick 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the Streamlit memory section")
    p.add_argument("--no-ablation", action="store_true", help="skip the design-choice ablation")
    p.add_argument("--no-cold-process", action="store_true", help="skip the fresh-process headline run")
    p.add_argument("--no-app", action="store_true", help="skip the headline run in the app (Streamlit + chromium)")
    return p


# ---------------------------------------------------------------- formatting


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if x != x:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


class Report:
    """Markdown sections, printed as they come and rewritten to `path` after each."""

    def __init__(self, path: Path):
        self.path = path
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        print(text, flush=True)
        print(flush=True)
        self.parts.append(text)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n\n".join(self.parts) + "\n")


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import keras
    import tensorflow as tf

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
            return out.stdout.strip()
        except Exception:
            return ""

    dirty = git("status", "--porcelain", "--", "rnn_core")
    return {
        "commit": (git("rev-parse", "--short", "HEAD") or "unknown") + (" (rnn_core modified)" if dirty else ""),
        "cpu": model,
        "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


# ---------------------------------------------------------------- throughput


def throughput(report: Report, rounds: int) -> dict:
    from bench.peers import KerasPeer, NumpyPeer, engine_epoch, r2rt_config, windows
    from rnn_core.kernels import POOL, warm_up
    from rnn_core.model import init_params
    from rnn_core.train import Trainer

    cfg = r2rt_config(n=10, d=4, series_length=1_000_000)
    p = init_params(cfg.state_size, cfg.init_scale, cfg.seed)
    key = Trainer(cfg).key
    compile_s = warm_up(key)

    peers = {
        "keras": KerasPeer(cfg, p),
        "keras_jit": KerasPeer(cfg, p, jit_compile=True),
        "numpy64": NumpyPeer(cfg, p, np.float64),
        "numpy32": NumpyPeer(cfg, p, np.float32),
    }
    # epoch 0 from the same weights on the same data: the learning check (and Keras's trace).
    first = {name: peer.train_epoch(0) for name, peer in peers.items()}
    eng0, _, _ = engine_epoch(cfg, p, with_data=False)
    final = {name: r.final_loss() for name, r in first.items()}
    final["engine"] = eng0.final_loss()
    final["kernel"] = final["engine"]

    xb, yb, steps = windows(cfg, 0)
    kernel_count = min(steps, key.capacity)

    def kernel_once(count: int | None = None) -> float:
        from rnn_core.kernels import slab_width

        k = POOL.lease_compiled(key)
        if k is None:  # another user of the pool holds it: compile one (not timed)
            warm_up(key)
            k = POOL.lease_compiled(key)
        try:
            width = slab_width(key)
            count = kernel_count if count is None else count
            xs = np.zeros((cfg.batch_size, width), np.int32)
            ys = np.zeros_like(xs)
            xs[:, : kernel_count * cfg.truncation] = xb[:, : kernel_count * cfg.truncation]
            ys[:, : kernel_count * cfg.truncation] = yb[:, : kernel_count * cfg.truncation]
            S = np.zeros((cfg.batch_size, cfg.state_size), np.float32)
            from rnn_core import kernels as K

            packed = K.pack(xs, ys)  # the Trainer's one int8 slab
            t0 = time.perf_counter()
            k.run_packed(packed, S, count, True, 0.0)
            return count / (time.perf_counter() - t0)
        finally:
            POOL.give_back(k)

    rates: dict[str, list[float]] = {k: [] for k in ("engine", "kernel", *peers)}
    for r in range(1, rounds + 1):
        res, _, _ = engine_epoch(cfg, p, with_data=False)  # its peers are handed their rows
        rates["engine"].append(len(res.loss) / res.seconds)
        rates["kernel"].append(kernel_once())
        for name, peer in peers.items():
            rates[name].append(peer.train_epoch(r).steps_per_second())
    med = {k: float(np.median(v)) for k, v in rates.items()}
    call_ms = 1000 / float(np.median([kernel_once(1) for _ in range(2 * rounds)]))

    def ratio(a: str, b: str) -> float:
        return float(np.median(np.array(rates[a]) / np.array(rates[b])))

    labels = {
        "engine": "engine: Trainer.run(), whole epoch, warm kernel (run() to final chunk)",
        "kernel": f"engine: one compiled call of {kernel_count} steps (Kernel.run_packed)",
        "keras": "Keras SimpleRNN(stateful) + Dense, train_on_batch, compile() default (jit auto -> off)",
        "keras_jit": "Keras, same, compile(jit_compile=True)",
        "numpy64": "NumPy hand-written BPTT, float64",
        "numpy32": "NumPy hand-written BPTT, float32",
    }
    best_numpy = "numpy32" if med["numpy32"] > med["numpy64"] else "numpy64"
    rows = []
    for k in ("engine", "kernel", "keras", "keras_jit", "numpy64", "numpy32"):
        rows.append([
            labels[k], med[k], 1000 / med[k], final[k], ratio("engine", k) if k not in ("engine",) else 1.0,
            min(rates[k]), max(rates[k]),
        ])
    vs_keras = ratio("engine", "keras")
    vs_numpy = ratio("engine", best_numpy)
    text = [
        "## Throughput: R2RT set-up, warm",
        f"B=200, n=10, d=4, series 1,000,000 (500 windows per epoch), Adagrad 0.1, TF style BPTT(n; n), "
        f"state carried between windows and zeroed at epoch start; every peer starts from the same "
        f"weights on the same rows. Median of {rounds} interleaved rounds (one epoch each); "
        f"'engine / this' is the median of the per-round ratios. Final loss = mean of the last 100 steps "
        f"of the first epoch (exact optimum knowing lag 3 only: 0.519167). The engine kernel was compiled "
        f"beforehand ({compile_s:.1f} s).",
        "",
        table(["peer", "steps/s (median)", "ms/step", "final loss", "engine / this", "min steps/s", "max steps/s"],
              rows),
        "",
        f"- Target engine >= {TARGET_KERAS:g}x Keras: **{vs_keras:.1f}x** "
        f"({'met' if vs_keras >= TARGET_KERAS else 'MISSED'}); vs Keras with jit_compile=True "
        f"{ratio('engine', 'keras_jit'):.1f}x.",
        f"- Target engine >= {TARGET_NUMPY:g}x NumPy (the faster dtype, {best_numpy[-2:]}-bit): **{vs_numpy:.1f}x** "
        f"({'met' if vs_numpy >= TARGET_NUMPY else 'MISSED'}).",
        f"- Compiled kernel alone vs Keras {ratio('kernel', 'keras'):.1f}x, "
        f"vs NumPy {ratio('kernel', best_numpy):.1f}x "
        "(the Trainer adds, per run, the optimizer-state set-up and the first chunk's sizing, and per call the "
        "slab copy in and the metric copies out).",
        f"- Fixed cost of one compiled call (count=1: the input slab of {cfg.batch_size} x "
        f"{(key.capacity - 1) * cfg.truncation + cfg.truncation:,} steps copied in, outputs copied out): "
        f"{call_ms:.1f} ms, the time of {call_ms / (1000 / med['kernel']):.0f} steps.",
    ]
    report.add("\n".join(text))
    return {"vs_keras": vs_keras, "vs_numpy": vs_numpy, "med": med, "final": final}


# ---------------------------------------------------------------- headline


COLD_SCRIPT = r"""
import json, os, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import tensorflow
t_import = time.perf_counter() - t0
from rnn_core.config import RunConfig
from rnn_core.train import Trainer
tr = Trainer(RunConfig(truncation=5, state_size=4, series_length=1_000_000, epochs=1))
first = None
eager = 0
for c in tr.run():
    first = first if first is not None else time.perf_counter() - t0
    eager += 0 if c.compiled else len(c.loss)
print(json.dumps({"import": t_import, "first": first, "total": time.perf_counter() - t0,
                  "compile": tr.summary()["compile_seconds"], "eager_steps": eager,
                  "steps": tr.summary()["steps"], "final_loss": tr.summary()["final_loss"]}))
"""


def _timed_run(trainer) -> dict:
    t0 = time.perf_counter()
    first, eager = None, 0
    for c in trainer.run():
        first = first if first is not None else time.perf_counter() - t0
        eager += 0 if c.compiled else len(c.loss)
    s = trainer.summary()
    return {"first": first, "total": time.perf_counter() - t0, "compile": s["compile_seconds"],
            "eager_steps": eager, "steps": s["steps"], "final_loss": s["final_loss"]}


def headline(report: Report, rounds: int, cold_process: bool, app: bool = True) -> dict:
    from bench.peers import KerasPeer, NumpyPeer, r2rt_config
    from rnn_core.kernels import warm_up
    from rnn_core.train import Trainer

    cfg = r2rt_config(n=5, d=4, series_length=1_000_000)
    t0 = time.perf_counter()
    cold = _timed_run(Trainer(cfg))
    cold["total"] = time.perf_counter() - t0  # includes building the Trainer (data generation)
    warm_up(Trainer(cfg).key)  # as the app does at startup (a no-op here if the pool has it)
    warm = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        w = _timed_run(Trainer(cfg))
        w["total"] = time.perf_counter() - t0
        warm.append(w)
    rows = [
        ["engine, new shapes in a warm process (compiles in background, eager meanwhile)", cold["first"],
         cold["total"], cold["compile"], f"{cold['eager_steps']} / {cold['steps']}", cold["final_loss"]],
        [f"engine, pre-warmed kernel (median of {rounds})", np.median([w["first"] for w in warm]),
         np.median([w["total"] for w in warm]), 0.0, f"0 / {warm[0]['steps']}", warm[0]["final_loss"]],
    ]
    proc = None
    if cold_process:
        try:
            out = subprocess.run(
                [sys.executable, "-c", COLD_SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=600,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            proc = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([
                f"engine, fresh process (import tensorflow {proc['import']:.1f} s included)", proc["first"],
                proc["total"], proc["compile"], f"{proc['eager_steps']} / {proc['steps']}", proc["final_loss"],
            ])
        except Exception as exc:  # report, do not abort the benchmark
            rows.append([f"engine, fresh process: failed ({type(exc).__name__})", None, None, None, "-", None])
    t0 = time.perf_counter()
    kp = KerasPeer(cfg)
    built = time.perf_counter() - t0
    kr = kp.train_epoch(0)
    rows.append(["Keras stateful SimpleRNN, build + trace + 1 epoch", built + kr.ends[0], time.perf_counter() - t0,
                 None, "-", kr.final_loss()])
    t0 = time.perf_counter()
    nr = NumpyPeer(cfg).train_epoch(0)
    rows.append(["NumPy hand-written BPTT float64, 1 epoch", nr.ends[0], time.perf_counter() - t0, None, "-",
                 nr.final_loss()])
    text = [
        "## Headline run: R2RT n=5, d=4, series 1,000,000, 1 epoch (1,000 steps)",
        "From building the Trainer (which generates the epoch's data) to the final chunk. 'first metrics' is "
        "the first chunk (for Keras/NumPy: the first step). The app pre-warms this kernel at startup.",
        "",
        table(["run", "first metrics s", "start to final chunk s", "compile s (background)", "eager / all steps",
               "final loss"], rows),
    ]
    in_app = None
    if app:
        from bench import app_latency

        in_app = app_latency.measure(rounds=max(5, rounds // 2 + 1))
        text += ["", app_latency.markdown(in_app, len(in_app.get("final", [])))]
    report.add("\n".join(text))
    return {"cold": cold, "warm": warm, "proc": proc, "app": in_app}


# ---------------------------------------------------------------- scaling


def _wait_compiler() -> None:
    """Block until the engine's (single) background compile thread is idle."""
    from rnn_core import kernels

    kernels._COMPILER.submit(lambda: None).result()


def scaling_cell(n: int, d: int, style: str, quick: bool):
    """Phases 1 and 2 of one cell (new shapes: first metrics, eager rate, compile; then a second run)."""
    from rnn_core.config import RunConfig
    from rnn_core.train import Trainer
    from rnn_core.truncation import windows_per_epoch

    B = 200
    base = dict(state_size=d, truncation=n, style=style, k1=1, batch_size=B, epochs=100, learning_rate=0.1)
    cfg = RunConfig(series_length=1_000_000, **base)  # the app's default series: representative latency
    steady_cfg = RunConfig(series_length=min(5_000_000, max(1_000_000, B * n * 200)), **base)
    row_len = 1_000_000 // B
    spe = windows_per_epoch(row_len, n, cfg.effective_k1)
    phase1_cap = 40.0 if quick else 90.0
    out = {"n": n, "d": d, "style": style, "steps_per_epoch": spe}

    # Phase 1: shapes never used before: time to first metrics, eager rate, compile time.
    _wait_compiler()
    from rnn_core.kernels import POOL

    key = Trainer(cfg).key
    if POOL.drop(key):  # shapes an earlier section compiled: drop them from the pool
        out["dropped_pooled"] = True
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    gen = trainer.run()
    eager_steps, eager_s, last_seconds = 0, 0.0, 0.0
    compiled_seen = False
    for chunk in gen:
        now = time.perf_counter() - t0
        dt = chunk.seconds - last_seconds
        last_seconds = chunk.seconds
        if "first" not in out:
            out["first"], out["first_compiled"] = now, chunk.compiled
            out["first_step_s"] = dt / len(chunk.loss)
        if chunk.compiled:
            out["compile"] = chunk.compile_seconds
            compiled_seen = True
            break
        if out["first"] != now:  # the first chunk is counted in first metrics, not in the eager rate
            eager_steps += len(chunk.loss)
            eager_s += dt
        if now > phase1_cap:
            break
    gen.close()
    out["eager_rate"] = eager_steps / eager_s if eager_s > 0 else (1 / out["first_step_s"])
    if not compiled_seen:
        _wait_compiler()
        out["compile"] = time.perf_counter() - t0
        out["compile_note"] = "finished after eager phase cap"

    # Phase 2: a second run of the same shapes starts from the pool.
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    gen = trainer.run()
    chunk = next(gen)
    out["second_first"] = time.perf_counter() - t0
    out["second_compiled"] = chunk.compiled
    gen.close()

    return out, steady_cfg


def steady_pair(cells: list[dict], cfgs: list, quick: bool) -> None:
    """Phase 3, compiled steady state of the cells of one (n, d), their chunks interleaved.

    Each cell's rate is the median over its compiled chunks (after the first) of steps / training
    time; alternating the two styles chunk by chunk puts a burst of load from other jobs on both.
    """
    from rnn_core.train import Trainer

    steady_min, steady_cap, steady_chunks = (0.3, 6.0, 3) if quick else (0.5, 15.0, 5)
    trainers = [Trainer(cfg) for cfg in cfgs]
    gens = [t.run() for t in trainers]
    rates: list[list[float]] = [[] for _ in cfgs]
    secs = [0.0 for _ in cfgs]
    last = [0.0 for _ in cfgs]
    seen = [0 for _ in cfgs]
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < steady_cap:
            active = [i for i in range(len(cfgs)) if secs[i] < steady_min or len(rates[i]) < steady_chunks]
            if not active:
                break
            for i in active:
                chunk = next(gens[i])
                dt = chunk.seconds - last[i]
                last[i] = chunk.seconds
                seen[i] += 1
                if seen[i] > 1 and chunk.compiled and dt > 0:
                    rates[i].append(len(chunk.loss) / dt)
                    secs[i] += dt
    finally:
        for g in gens:
            g.close()
    for cell, r, sec in zip(cells, rates, secs):
        cell["steady_chunks"] = len(r)
        cell["steady_seconds"] = sec
        cell["steady_rate"] = float(np.median(r)) if r else float("nan")
        cell["epoch_s"] = cell["steps_per_epoch"] / cell["steady_rate"] if r else float("nan")


def scaling(report: Report, quick: bool) -> dict:
    ns, ds = (QUICK_NS, QUICK_DS) if quick else (FULL_NS, FULL_DS)
    cells = []
    t_start = time.perf_counter()
    for d in ds:
        for n in ns:
            pair, cfgs = [], []
            for style in ("tensorflow", "williams-peng"):
                if style == "williams-peng" and n == 1:
                    continue  # BPTT(1; 1) is the TF-style n=1 kernel (same shapes)
                try:
                    c, steady_cfg = scaling_cell(n, d, style, quick)
                    pair.append(c)
                    cfgs.append(steady_cfg)
                except Exception as exc:  # keep going; report the failure in the table
                    c = {"n": n, "d": d, "style": style, "error": f"{type(exc).__name__}: {exc}"[:120]}
                cells.append(c)
            try:
                steady_pair(pair, cfgs, quick)
            except Exception as exc:
                for c in pair:
                    c["error"] = f"steady state: {type(exc).__name__}: {exc}"[:120]
            for c in cells[-2:] if n > 1 else cells[-1:]:
                print(f"  scaling {c['style']:13s} n={n:3d} d={d:3d}: " + ", ".join(
                    f"{k}={fmt(v) if not isinstance(v, bool) else v}" for k, v in c.items()
                    if k not in ("n", "d", "style")), flush=True)
    cells.sort(key=lambda c: (c["style"] != "tensorflow", c["d"], c["n"]))
    elapsed = time.perf_counter() - t_start
    rows = []
    for c in cells:
        if "error" in c:
            rows.append([c["style"], c["n"], c["d"], "-", c["error"], "", "", "", "", "", "", ""])
            continue
        k1 = "n" if c["style"] == "tensorflow" else "1"
        rows.append([
            f"BPTT(n; {k1})", c["n"], c["d"], c["steps_per_epoch"], c["first"],
            "compiled" if c["first_compiled"] else "eager", c["eager_rate"],
            fmt(c["compile"]) + (" *" if "compile_note" in c else ""), c["steady_rate"],
            1000 / c["steady_rate"] if c["steady_rate"] == c["steady_rate"] else float("nan"),
            c["epoch_s"], c["second_first"],
        ])
    # BPTT(n; 1) vs BPTT(n; n) per-epoch cost
    by = {(c["style"], c["n"], c["d"]): c for c in cells if "error" not in c}
    cmp_rows = []
    for d in ds:
        for n in ns:
            tf_c, wp_c = by.get(("tensorflow", n, d)), by.get(("williams-peng", n, d))
            if n == 1:
                wp_c = tf_c
            if tf_c and wp_c:
                cmp_rows.append([
                    n, d, tf_c["steps_per_epoch"], wp_c["steps_per_epoch"],
                    1000 / tf_c["steady_rate"], 1000 / wp_c["steady_rate"], tf_c["epoch_s"], wp_c["epoch_s"],
                    wp_c["epoch_s"] / tf_c["epoch_s"],
                ])
    lat = [c for c in cells if "error" not in c and c["n"] <= LATENCY_MAX_N and c["d"] <= LATENCY_MAX_D]
    worst = max(lat, key=lambda c: c["first"]) if lat else None
    worst2 = max(lat, key=lambda c: c["second_first"]) if lat else None
    misses = [c for c in lat if c["first"] > TARGET_LATENCY]
    text = [
        "## Scaling: both truncation styles over n and d",
        "B=200, Adagrad 0.1, R2RT data. Each cell is a shape this process never compiled before "
        "(TensorFlow imported, other kernels already compiled). Columns:",
        "- **first metrics s**: `Trainer(cfg)` (series 1,000,000: includes generating the epoch) to the first "
        "chunk; **first chunk** says whether it ran eagerly (the compile is still going in the background);",
        "- **eager steps/s**: eager chunks while compiling; **compile s**: run start to the switch to the "
        "compiled program (`*`: the eager phase was capped, compile time measured to its end);",
        "- **steps/s**, **ms/step**: compiled steady state, the median over compiled chunks (after the first "
        "one) of steps / training time, over >= 0.5 s and >= 5 chunks (at most 15 s: the heaviest cells "
        "report a few steps; series up to 5,000,000 so epochs are long enough); the two styles of one (n, d) "
        "run chunk by chunk in turn, so their ratio is measured under the same load; "
        "**s/epoch**: steps per epoch at series 1,000,000 divided by steps/s;",
        "- **2nd run first s**: a second run of the same shapes, from the kernel pool.",
        "",
        table(["style", "n", "d", "steps/epoch", "first metrics s", "first chunk", "eager steps/s", "compile s",
               "steps/s", "ms/step", "s/epoch", "2nd run first s"], rows),
        "",
        "### Cost of BPTT(n; 1) against BPTT(n; n)",
        "Williams-Peng BPTT(n; 1) trains on a window ending at every time step: L - n + 1 training steps per "
        "epoch instead of L / n (L = 5,000 steps per row at series 1,000,000), about n times as many, and each "
        "backpropagates the full n steps, as a TF-style step does (TF style trains all n losses of its window, "
        "Williams-Peng only the newest). So an epoch costs about n times as much; the measured ratio is below n "
        "where a step's cost does not grow with n (fixed per-call overhead at small n and d) and at n=200, "
        "where L - n + 1 = 4,801 < L.",
        "",
        table(["n", "d", "steps/epoch BPTT(n;n)", "steps/epoch BPTT(n;1)", "ms/step (n;n)", "ms/step (n;1)",
               "s/epoch (n;n)", "s/epoch (n;1)", "epoch cost ratio"], cmp_rows),
        "",
    ]
    missed = ", ".join(f"{c['style']} n={c['n']} d={c['d']} {c['first']:.2f} s" for c in misses)
    if worst is not None:
        text.append(
            f"- Target first metrics <= {TARGET_LATENCY:g} s for every n <= {LATENCY_MAX_N}, d <= {LATENCY_MAX_D} "
            f"(both styles, {len(lat)} cells): worst **{worst['first']:.2f} s** at {worst['style']} n={worst['n']} "
            f"d={worst['d']} ({'met' if not misses else 'MISSED in ' + str(len(misses)) + ' cells: ' + missed})."
        )
        text.append(
            f"- Second run of the same shapes: worst first metrics {worst2['second_first']:.3f} s "
            f"({worst2['style']} n={worst2['n']} d={worst2['d']}); all compiled from the pool: "
            f"{all(c['second_compiled'] for c in lat)}."
        )
    text.append(f"- Grid took {elapsed / 60:.1f} min.")
    report.add("\n".join(text))
    return {"cells": cells, "worst": worst, "misses": misses}


# ---------------------------------------------------------------- ablation


def ablation(report: Report, rounds: int) -> None:
    from bench import ablation as A

    g = A.graph_choice(rounds=rounds)
    m = A.metric_cost(rounds=rounds)
    sc = A.sigma_cost(rounds=rounds)
    f = A.formulation(rounds=rounds)
    text = [
        "## Ablation: what each design choice buys",
        "R2RT data shapes (B=200, d=4), steps per call up to 500; variants timed interleaved in this process, "
        f"median of {rounds}. See bench/ablation.py.",
        "",
        "### Unrolled list graph vs rolled tf.scan, XLA vs not, eager",
        table(["n", "variant", "build/compile s", "ms/step"],
              [[r["n"], r["variant"], r["build_s"], r["ms_per_step"]] for r in g]),
        "",
        "### The window function and its per-step metrics in the engine's kernel (n=10)",
        table(["variant", "compile s", "ms/step"], [[r["variant"], r["build_s"], r["ms_per_step"]] for r in m]),
        "",
        "### sigma_max of every step: on the host vs inside the XLA loop, n=1, over d",
        "The run records the largest singular value of W_s after every step. The engine's compiled chunk "
        "records W_s and the host takes all the chunk's norms in one batched LAPACK eigvalsh (float64); the "
        "earlier design ran XLA's eigh inside the step loop. Both columns are whole steps, host work included:",
        table(["d", "ms/step, host (engine)", "ms/step, eigh in the XLA loop", "speed-up"],
              [[r["d"], r["host"], r["xla"], f"{r['xla'] / r['host']:.1f}x"] for r in sc]),
        "",
        "### Formulation of the step (minimal XLA loop: loss, gradients, Adagrad; no metrics; n=10)",
        table(["variant", "compile s", "ms/step", "final loss"],
              [[r["variant"], r["build_s"], r["ms_per_step"], r["final_loss"]] for r in f]),
    ]
    report.add("\n".join(text))


# ---------------------------------------------------------------- memory


def memory(report: Report, quick: bool) -> None:
    cmd = [sys.executable, "-m", "bench.memory", "--markdown"] + (["--quick"] if quick else [])
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        body = out.stdout.strip() or f"memory benchmark failed (exit {out.returncode}): {out.stderr.strip()[-400:]}"
    except Exception as exc:
        body = f"## Memory\n\nmemory benchmark failed: {type(exc).__name__}: {exc}"
    report.add(body)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists() and out.is_dir():
        build_parser().error(f"--out {args.out!r} is a directory; give a file path")
    if not out.parent.exists():
        build_parser().error(f"--out {args.out!r}: directory {str(out.parent)!r} does not exist")
    rounds = args.rounds or (3 if args.quick else 9)
    sys.path.insert(0, str(ROOT))
    t_start = time.perf_counter()
    import tensorflow  # noqa: F401  (so the machine section can report versions)

    report = Report(out)
    info = machine()
    report.add("# Benchmark results" + (" (--quick)" if args.quick else "") + "\n\n"
               + "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items())
               + ". The machine is shared with other jobs: every number is a median of repeated runs and "
               "every ratio is measured in this same process.")
    throughput(report, rounds)
    headline(report, rounds, cold_process=not args.no_cold_process, app=not args.no_app)
    scaling(report, args.quick)
    if not args.quick and not args.no_ablation:
        ablation(report, rounds=min(rounds, 7))
    if not args.no_memory:
        memory(report, args.quick)
    report.add(f"Total benchmark time {(time.perf_counter() - t_start) / 60:.1f} min; load average at the end "
               + " ".join(f"{v:.2f}" for v in os.getloadavg()) + ".")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
