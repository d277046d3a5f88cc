"""The Compare page's default sweep over n in a browser, as issue 14 times it: click Run sweep to its last run.

    python -m bench.compare_sweep [--servers 3] [--idle 40] [--other /path/to/checkout] [--port 8599]

Per server (a fresh `streamlit run app.py`): open the Train page in Debian's chromium (Playwright), wait until
the start-up warm-up has gone quiet and `--idle` seconds more (a server a teacher started before the class),
open Compare's "Sweep over n" tab and click Run sweep with the page's defaults (rnn_core.compare: 24 runs, 8
shapes, 2 epochs each) twice: the **first** sweep of that server and the **next** one. Each is timed from the
click to the "Done: 24 runs." line with the script finished. The server's RSS is read before the first sweep and
after each. Each server has its own empty run store (a full one costs each save more: bench/store_writes.py).
With `--other`, servers of another checkout (a worktree of an earlier commit) alternate with this
one's and the table gives both.
"""
from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.cli import OneLineParser, positive_int
from bench.memory import settle
from bench.streamlit_server import CHROMIUM, CHROMIUM_ARGS, ROOT, start_app, stop_app

TARGET_S = 8.0


def rss_mb(pid: int) -> float:
    """The process's resident memory in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return kb / 1024


def one_server(root: Path, port: int, idle: float) -> dict:
    """Time the first and the next default sweep on a fresh server of `root`'s app."""
    from playwright.sync_api import sync_playwright

    store = tempfile.TemporaryDirectory(prefix="compare-sweep-store-")
    server, url = start_app(port, root=root, env={"TRUNCATION_EXPLORER_DATA_DIR": store.name})
    out: dict = {"sweeps": [], "rss": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(url)
            page.get_by_role("button", name=re.compile(r"(^|\s)Train$")).wait_for()
            settle(server.pid)
            time.sleep(idle)
            settle(server.pid)
            out["rss"].append(rss_mb(server.pid))
            page.goto(url + "/compare")
            page.get_by_role("tab", name="Sweep over n").click()
            start = page.get_by_role("button", name="Run sweep")
            start.wait_for()
            for _ in range(2):
                page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
                t0 = time.perf_counter()
                start.click()
                page.get_by_text(re.compile(r"^Run 1 of \d+")).wait_for()  # this sweep's, not the last one's Done
                done = page.get_by_text(re.compile(r"^Done: \d+ runs"))
                done.wait_for()
                page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
                out["sweeps"].append(time.perf_counter() - t0)
                out["rss"].append(rss_mb(server.pid))
                out["runs"] = int(re.search(r"\d+", done.inner_text()).group())
            browser.close()
    finally:
        stop_app(server)
        store.cleanup()
    return out


def markdown(results: dict[str, list[dict]], idle: float) -> str:
    """A results.md block: each server's first and next sweep, medians, RSS, the verdict on the first sweep."""
    lines = [f"Launch a server (its own empty run store), let its warm-up go quiet plus {idle:g} s, then click "
             "Compare's Run sweep twice with the page's defaults (seconds, click to the last run done):", "",
             "| checkout | runs | first sweep, each | median | next sweep, each | median | RSS MB before / after |",
             "|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        first = [r["sweeps"][0] for r in rows]
        later = [r["sweeps"][1] for r in rows]
        rss = f"{np.median([r['rss'][0] for r in rows]):,.0f} / {np.median([r['rss'][-1] for r in rows]):,.0f}"
        lines.append(f"| {name} | {rows[0]['runs']} | {', '.join(f'{x:.1f}' for x in first)} | "
                     f"**{np.median(first):.1f}** | {', '.join(f'{x:.1f}' for x in later)} | "
                     f"{np.median(later):.1f} | {rss} |")
    this = next(iter(results.values()))
    best = float(np.median([r["sweeps"][0] for r in this]))
    lines += ["", f"Target: the default sweep <= {TARGET_S:g} s: {'met' if best <= TARGET_S else 'MISSED'} "
              f"(first sweep of this code, median {best:.1f} s)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.compare_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=positive_int, default=3, help="fresh servers per checkout (default 3)")
    parser.add_argument("--idle", type=float, default=40.0, help="seconds the server idles before the first "
                        "sweep, after its warm-up went quiet (default 40)")
    parser.add_argument("--other", type=Path, help="another checkout (a worktree) to alternate with this one")
    parser.add_argument("--port", type=positive_int, default=8599, help="port for the servers (default 8599)")
    args = parser.parse_args(argv)
    if args.idle < 0:
        parser.error(f"--idle {args.idle:g}: seconds cannot be negative")
    roots = {"this checkout": ROOT}
    if args.other is not None:
        if not (args.other / "app.py").is_file():
            parser.error(f"--other {str(args.other)!r}: no app.py there (give a checkout of this project)")
        roots[f"other ({args.other})"] = args.other.resolve()
    results: dict[str, list[dict]] = {name: [] for name in roots}
    for _ in range(args.servers):
        for name, root in roots.items():
            results[name].append(one_server(root, args.port, args.idle))
            print(name, results[name][-1], file=sys.stderr, flush=True)
    print(markdown(results, args.idle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
