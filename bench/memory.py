"""Resident memory per session: the Streamlit server (app.py), and the engine alone.

    python -m bench.memory                  # both parts, prints a report
    python -m bench.memory --markdown       # the same as a results.md section
    python -m bench.memory --quick --sessions 3 --port 8597 --part app

App part: starts `streamlit run app.py --server.headless true --server.port PORT`, opens sessions
with Playwright's sync API (Debian's chromium) and reads the server's VmRSS from /proc/<pid>/status
after each step, once the server has gone quiet (its CPU time stops growing, so the start-up
kernel warm-up and any background compile are done): no session, then 1..K idle sessions (the
Train page loaded), then Train pressed in sessions 1..K one after the other (the default R2RT run,
each to its "Done" message). Per additional session = the median difference between consecutive
readings (robust to the allocator returning memory between two readings).

Engine part (a fresh process, no Streamlit, malloc_trim before each reading): imports TensorFlow,
pre-warms the default kernel, then reads RSS after K default runs kept one after the other (the
pooled kernel reused), after batches of k = 2..K runs at once in threads (a run that finds no idle
kernel of its shapes runs eagerly and queues a compile, so the pool grows), after extra compiled
kernels of the default shapes, and after kernels of new shapes (n = 10, 20, 50).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.cli import OneLineParser, positive_int
from bench.streamlit_server import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app, stop_app

TARGET_MB = 50.0


def status_mb(pid: int, field: str = "VmRSS") -> float:
    """A /proc/<pid>/status memory field in MB (1 MB = 2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not found for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 1.5, idle_cpu: float = 0.05, timeout: float = 180.0) -> float:
    """Wait until the process used < idle_cpu s of CPU over `quiet` s; returns the seconds waited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        c0 = cpu_seconds(pid)
        time.sleep(quiet)
        if cpu_seconds(pid) - c0 < idle_cpu:
            break
    return time.time() - t0


def step_median(values: list[float]) -> float:
    """Median of the differences between consecutive readings: the cost of one more session.

    Robust to the allocator handing tens of MB back to the system between two readings (one
    outlying difference), which moves a fit over the readings a lot.
    """
    diffs = sorted(b - a for a, b in zip(values, values[1:]))
    if not diffs:
        return float("nan")
    mid = len(diffs) // 2
    return diffs[mid] if len(diffs) % 2 else (diffs[mid - 1] + diffs[mid]) / 2


def slope(values: list[float]) -> float:
    """Least-squares slope of values against 0, 1, 2, ...: the cost of each addition beyond the first.

    A fit over every reading rather than (last - first): the allocator hands memory back to the
    system now and then, so single readings jump by tens of MB either way.
    """
    if len(values) < 2:
        return float("nan")
    x = list(range(len(values)))
    mx, my = sum(x) / len(x), sum(values) / len(values)
    return sum((a - mx) * (b - my) for a, b in zip(x, values)) / sum((a - mx) ** 2 for a in x)


# ---------------------------------------------------------------- app part


def measure_app(sessions: int, port: int) -> dict:
    from playwright.sync_api import sync_playwright

    try:
        server, url = start_app(port)
    except RuntimeError as exc:
        return {"error": str(exc)}
    out: dict = {"sessions": sessions, "idle": [], "trained": [], "steps": []}
    try:
        settle(server.pid)
        out["server_only"] = status_mb(server.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            pages = []
            for i in range(sessions):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                page.set_default_timeout(180_000)
                t0 = time.time()
                page.goto(url)
                page.get_by_role("button", name=re.compile(r"(^|\s)Train$")).wait_for()
                page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
                load_s = time.time() - t0
                settle(server.pid)
                out["idle"].append(status_mb(server.pid))
                out["steps"].append(f"session {i + 1} open (page ready in {load_s:.1f} s)")
                pages.append(page)
            for i, page in enumerate(pages):
                t0 = time.time()
                page.get_by_role("button", name=re.compile(r"(^|\s)Train$")).click()
                done = page.get_by_text(re.compile(r"^Done:"))
                done.wait_for()
                run_s = time.time() - t0
                note = done.inner_text().split(";")[-1].split(". Final")[0].strip()
                settle(server.pid)
                out["trained"].append(status_mb(server.pid))
                out["steps"].append(f"session {i + 1} trained (click to Done {run_s:.1f} s; app: {note})")
            out["peak"] = status_mb(server.pid, "VmHWM")
            browser.close()
    finally:
        stop_app(server)
    out["per_idle"] = step_median(out["idle"])
    out["per_trained"] = step_median(out["trained"])
    out["per_trained_fit"] = slope(out["trained"])
    return out


# ---------------------------------------------------------------- engine part


def measure_engine(sessions: int) -> dict:
    """Run in a fresh process: RSS per kept Trainer, per concurrent run, per compiled kernel."""
    import gc

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    pid = os.getpid()
    base = status_mb(pid)
    import ctypes

    import tensorflow  # noqa: F401

    from rnn_core import kernels
    from rnn_core.config import RunConfig
    from rnn_core.kernels import build_compiled, warm_up
    from rnn_core.train import Trainer

    libc = ctypes.CDLL("libc.so.6")

    def rss() -> float:
        kernels._COMPILER.submit(lambda: None).result()  # any background compile has finished
        gc.collect()
        libc.malloc_trim(0)  # hand freed heap back, so RSS tracks live memory rather than allocator slack
        time.sleep(0.3)
        return status_mb(pid)

    after_import = rss()
    cfg = RunConfig()  # the app's default run: R2RT n=5, d=4, series 1,000,000
    warm_up(Trainer(cfg).key)
    after_warm = rss()
    kept = []
    sequential = []
    for _ in range(sessions):  # one after the other: each reuses the pooled kernel
        kept.append(Trainer(cfg).run_to_end())
        sequential.append(rss())
    concurrent = [sequential[-1]]
    long_cfg = cfg.replace(series_length=3_000_000)  # long enough that the runs overlap
    for k in range(2, sessions + 1):  # k at once: runs finding no idle kernel run eagerly and queue a compile
        trainers = [Trainer(long_cfg) for _ in range(k)]
        threads = [threading.Thread(target=t.run_to_end) for t in trainers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kept.extend(trainers)
        concurrent.append(rss())
    extra = [rss()]
    spare = []
    for _ in range(3):
        spare.append(build_compiled(Trainer(cfg).key))
        extra.append(rss())
    shapes = {}
    before = rss()
    for n in (10, 20, 50):
        warm_up(Trainer(cfg.replace(truncation=n)).key)
        now = rss()
        shapes[n] = now - before
        before = now
    return {"python": base, "after_import": after_import, "after_warm": after_warm, "sequential": sequential,
            "concurrent": concurrent, "extra_kernels": extra, "shapes": shapes, "peak": status_mb(pid, "VmHWM"),
            "per_trainer": slope(sequential), "per_kernel": slope(extra),
            "pool_idle": kernels.POOL.idle_count(), "pool_limit": kernels.POOL_LIMIT}


# ---------------------------------------------------------------- report


def markdown(app: dict | None, engine: dict | None) -> str:
    lines = ["## Memory", ""]
    if app is not None:
        lines.append("### Streamlit server (app.py)")
        if "error" in app:
            lines.append(f"Not measured: {app['error']}.")
        else:
            lines += [
                f"`streamlit run app.py`, {app['sessions']} browser sessions (Playwright + Debian chromium), "
                "VmRSS of the server after it went quiet at each step. Server alone (no session, TensorFlow not "
                f"yet imported): {app['server_only']:.0f} MB; peak (VmHWM) {app['peak']:.0f} MB.",
                "",
                "| step | server RSS MB |",
                "|---|---|",
            ]
            values = app["idle"] + app["trained"]
            lines += [f"| {s} | {v:.0f} |" for s, v in zip(app["steps"], values)]
            ok = app["per_trained"] <= TARGET_MB
            lines += [
                "",
                f"- Per additional idle session: **{app['per_idle']:.1f} MB** "
                "(median difference; the first session also imports "
                f"TensorFlow and warms the default kernel: {app['idle'][0] - app['server_only']:.0f} MB).",
                f"- Per additional training session (default R2RT run, kept in the session): "
                f"**{app['per_trained']:.1f} MB** (median of the differences between consecutive readings; target "
                f"<= {TARGET_MB:g} MB: {'met' if ok else 'MISSED'}). Least-squares slope over the readings "
                f"{app['per_trained_fit']:.1f} MB; largest reading after training minus the idle level "
                f"{max(app['trained']) - app['idle'][-1]:.0f} MB for all {len(app['trained'])} trained sessions "
                "together. "
                "Single readings move by tens of MB either way when the allocator returns memory to the system.",
            ]
        lines.append("")
    if engine is not None:
        lines.append("### Engine alone (no Streamlit)")
        if "error" in engine:
            lines.append(f"Not measured: {engine['error']}.")
        else:
            seq = ", ".join(f"{v:.0f}" for v in engine["sequential"])
            con = ", ".join(f"{v:.0f}" for v in engine["concurrent"])
            ext = ", ".join(f"{v:.0f}" for v in engine["extra_kernels"])
            shp = ", ".join(f"n={n}: {v:.0f} MB" for n, v in engine["shapes"].items())
            lines += [
                f"A fresh process: Python {engine['python']:.0f} MB, after `import tensorflow` "
                f"{engine['after_import']:.0f} MB, after pre-warming the default kernel (R2RT n=5, d=4) "
                f"{engine['after_warm']:.0f} MB; peak {engine['peak']:.0f} MB.",
                "",
                "| what is added | RSS MB after each | MB per addition |",
                "|---|---|---|",
                f"| default run trained to the end and kept, one after the other (pooled kernel reused) | {seq} | "
                f"{engine['per_trainer']:.1f} |",
                f"| k = 2, 3, ... default runs at once in threads, series 3,000,000 (a run that finds no idle kernel "
                f"of its shapes runs eagerly and queues a compile, so the pool grows to k kernels) | {con} | "
                f"{slope(engine['concurrent']):.1f} per batch |",
                f"| another compiled kernel of the default shapes (build_compiled) | {ext} "
                f"| {engine['per_kernel']:.1f} |",
                f"| a kernel of new shapes (d=4, TF style) | {shp} | |",
                "",
                f"- A session's run costs a few MB when it reuses the pooled kernel; every kernel compiled costs "
                f"tens of MB, and the pool keeps up to {engine['pool_limit']} compiled kernels (bounded by count, "
                f"not bytes; {engine['pool_idle']} idle at the end here).",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.memory", description="Resident memory per session (app and engine).")
    parser.add_argument("--quick", action="store_true", help="fewer sessions")
    parser.add_argument("--sessions", type=positive_int, default=None, help="sessions to open (default 5, quick 3)")
    parser.add_argument("--port", type=positive_int, default=8597)
    parser.add_argument("--part", choices=("both", "app", "engine"), default="both")
    parser.add_argument("--markdown", action="store_true", help="print a results.md section")
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sessions = args.sessions or (3 if args.quick else 5)
    if sessions < 2:
        parser.error("--sessions must be at least 2 (the cost per session is a difference)")
    if args.engine_child:
        print(json.dumps(measure_engine(sessions)))
        return 0
    app = engine = None
    if args.part in ("both", "app"):
        try:
            app = measure_app(sessions, args.port)
        except Exception as exc:
            app = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    if args.part in ("both", "engine"):
        proc = subprocess.run([sys.executable, "-m", "bench.memory", "--engine-child", "--sessions", str(sessions)],
                              cwd=ROOT, capture_output=True, text=True, timeout=1200)
        try:
            engine = json.loads(proc.stdout.strip().splitlines()[-1])
        except Exception:
            engine = {"error": f"engine child failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    text = markdown(app, engine)
    print(text if args.markdown else text.replace("**", ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
