"""The R2RT headline run in the app, as a user sees it: click Train to the final chart in a browser.

    python -m bench.app_latency [--rounds 5] [--port 8598] [--cold [--launcher streamlit,serve]]

Starts `streamlit run app.py` (headless), opens the Train page in Debian's chromium with Playwright,
waits until the server's start-up warm-up is done (its CPU goes quiet), then per round: Reset (the
charts go, but for the loss chart's exact baselines), click Train (the default settings: R2RT,
series 1,000,000, n=5, d=4, 1 epoch), and time
- **Done**: until the "Done:" message shows;
- **final chart**: until all eight charts of the finished run are drawn (an SVG or a canvas in each) and the
  script has finished, plus two animation frames so the browser has painted them.

`--cold` times a cold start instead, `rounds` times: with chromium already open on a blank page, it
launches `streamlit run app.py` (the README's command, headless), loads the page as soon as the
server answers, and times from the launch to the Train button enabled, then clicks Train at once and
times to the Done message and to the final chart, as above; then it stops the server. `--launcher`
picks the command: `streamlit run app.py`, or `python serve.py` (the same server with its warm-up
started at launch), or `bare` (`streamlit run bench/bare_app.py`, a page with only a Train button,
launch to the button enabled: the floor Streamlit itself sets on this machine), several in alternating
rounds.
"""
from __future__ import annotations

import re
import sys
import time

import numpy as np

from bench.cli import OneLineParser, positive_int
from bench.memory import settle
from bench.streamlit_server import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app

CHARTS = 8  # the Train page's board
TARGET_S = 2.0
COLD_TRAIN_S, COLD_FINAL_S = 3.0, 5.0  # launch to Train enabled, launch to the first run's final chart
_DRAWN = f"() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= {CHARTS}"
_CLEARED = "() => document.querySelectorAll('.vega-embed').length <= 1"  # Reset leaves the baselines chart
_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def measure(rounds: int = 5, port: int = 8598) -> dict:
    """Seconds from click to Done and to the final chart, per round; {'error': ...} if it cannot run."""
    try:
        server, url = start_app(port)
    except RuntimeError as exc:
        return {"error": str(exc)}
    out: dict = {"done": [], "final": [], "notes": []}
    try:
        _rounds(server, url, rounds, out)
    except Exception as exc:  # a timeout or a browser that would not start: say so in the report
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    finally:
        stop_app(server)
    return out


def _rounds(server, url: str, rounds: int, out: dict) -> None:
    """Time `rounds` Train clicks into `out` (raises on a browser timeout)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        train = page.get_by_role("button", name=re.compile(r"(^|\s)Train$"))
        train.wait_for()
        settle(server.pid)  # the warm-up thread has compiled the default kernel
        for _ in range(rounds):
            page.get_by_role("button", name=re.compile(r"(^|\s)Reset$")).click()
            page.get_by_text(re.compile(r"^No run yet")).wait_for()
            page.wait_for_function(_CLEARED)
            page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
            t0 = time.perf_counter()
            train.click()
            page.wait_for_selector("[data-test-script-state='running']", state="attached")
            done = page.get_by_text(re.compile(r"^Done:"))
            done.wait_for()
            out["done"].append(time.perf_counter() - t0)
            page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
            page.wait_for_function(_DRAWN)
            page.evaluate(_TWO_FRAMES)
            out["final"].append(time.perf_counter() - t0)
            out["notes"].append(done.inner_text().split(";")[-1].split(". Final")[0].strip())
        browser.close()


def measure_cold(rounds: int = 5, port: int = 8598, launchers: tuple[str, ...] = ("streamlit",)) -> dict:
    """Seconds from launching the server to Train enabled, to Done and to the final chart, per cold start and
    launcher (several launchers: one round each in turn, so they share the machine's state)."""
    from playwright.sync_api import sync_playwright

    out: dict = {name: {"train": [], "done": [], "final": [], "notes": []} for name in launchers}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for _ in range(rounds):
                for name in launchers:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(120_000)
                    page.goto("about:blank")
                    t0 = time.perf_counter()
                    server, url = start_app(port, wait=False, launcher=name)
                    try:
                        _cold_round(page, server, url, t0, out[name], bare=name == "bare")
                    finally:
                        stop_app(server)
                        page.close()
            browser.close()
    except Exception as exc:  # a timeout or a browser that would not start: say so in the report
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    return out


def _cold_round(page, server, url: str, t0: float, out: dict, bare: bool = False) -> None:
    """Load the page as soon as the server listens, then time Train enabled, Done and the final chart
    (`bare`: Train enabled only)."""
    deadline = t0 + 120
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {server.returncode} (port busy?)")
        try:
            page.goto(url, timeout=5_000)
            break
        except Exception:  # not listening yet
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.05)
    train = page.get_by_role("button", name=re.compile(r"(^|\s)Train$"))
    train.wait_for()
    page.wait_for_function("b => !b.disabled", arg=train.element_handle())
    out["train"].append(time.perf_counter() - t0)
    if bare:
        return  # the floor page trains nothing
    train.click()
    done = page.get_by_text(re.compile(r"^Done:"))
    done.wait_for()
    out["done"].append(time.perf_counter() - t0)
    page.wait_for_selector("[data-test-script-state='notRunning']", state="attached")
    page.wait_for_function(_DRAWN)
    page.evaluate(_TWO_FRAMES)
    out["final"].append(time.perf_counter() - t0)
    out["notes"].append(done.inner_text().split(";")[-1].split(". Final")[0].strip())
    out.setdefault("default_steps", []).append(done.inner_text().startswith(f"Done: {default_steps():,} steps"))


def default_steps() -> int:
    """The default run's training steps: a click made before the sidebar reached the browser must train these."""
    from rnn_core.compare import row_length, total_steps
    from rnn_core.config import RunConfig

    cfg = RunConfig()
    return total_steps(cfg, row_length(cfg))


COMMANDS = {"streamlit": "streamlit run app.py", "serve": "python serve.py", "bare": "streamlit run bench/bare_app.py"}


def markdown_cold(result: dict, rounds: int, launcher: str = "streamlit") -> str:
    """A results.md line for the cold start of one launcher."""
    if "error" in result:
        return f"- **Cold start** (browser): not measured ({result['error']})."
    if launcher == "bare":
        floor = np.median(result["train"])
        verdict = "more than" if floor < COLD_TRAIN_S else "less than"
        return (f"- **Floor**: launching `{COMMANDS[launcher]}` (a page with only a Train button, same serving "
                f"settings) to the button enabled: median **{floor:.2f} s** over {rounds} (each: "
                f"{', '.join(f'{x:.2f}' for x in result['train'])}); the {COLD_TRAIN_S:g} s target is {verdict} "
                f"what Streamlit alone takes here.")
    train, done, final = (np.median(result[k]) for k in ("train", "done", "final"))
    ok = "met" if train <= COLD_TRAIN_S and final <= COLD_FINAL_S else "MISSED"
    checked = result.get("default_steps", [])
    settings = (f" The Train click trained the default run's {default_steps():,} steps in {sum(checked)} of "
                f"{len(checked)} rounds." if checked else "")
    return (f"- **Cold start**, launching `{COMMANDS[launcher]}` to the Train button enabled in chromium "
            f"(Playwright, the browser already open): median **{train:.2f} s** over {rounds} (each: "
            f"{', '.join(f'{x:.2f}' for x in result['train'])}); clicking Train at once, to the first default "
            f"run's Done {done:.2f} s and its final chart **{final:.2f} s** (each: "
            f"{', '.join(f'{x:.2f}' for x in result['final'])}). Targets <= {COLD_TRAIN_S:g} s and "
            f"<= {COLD_FINAL_S:g} s: {ok}.{settings} App's note: {result['notes'][-1] if result['notes'] else '-'}.")


def markdown(result: dict, rounds: int) -> str:
    """A results.md row block for the headline table's app measurement."""
    if "error" in result:
        return f"- In the app (browser): not measured ({result['error']})."
    done, final = np.array(result["done"]), np.array(result["final"])
    verdict = "met" if np.median(final) <= TARGET_S else "MISSED"
    return (f"- **In the app**, click Train to the final chart in chromium (Playwright; Reset before each, default "
            f"R2RT settings, kernel pre-warmed by the app): median **{np.median(final):.2f} s** over {rounds} "
            f"(each: {', '.join(f'{x:.2f}' for x in final)}); the Done message after {np.median(done):.2f} s "
            f"median. Target <= {TARGET_S:g} s: {verdict}. "
            f"App's note: {result['notes'][-1] if result['notes'] else '-'}.")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.app_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=5, help="Train clicks to time (default 5)")
    parser.add_argument("--port", type=positive_int, default=8598, help="port for the Streamlit server (default 8598)")
    parser.add_argument("--cold", action="store_true", help="time cold starts: launch to Train enabled and to the "
                        "first run's final chart")
    parser.add_argument("--launcher", default="streamlit", help="with --cold: streamlit, serve, bare (a one-button "
                        "page: the floor), or several (bare,streamlit: alternating rounds)")
    args = parser.parse_args(argv)
    if args.cold:
        names = tuple(x.strip() for x in args.launcher.split(",") if x.strip())
        if not names or any(x not in COMMANDS for x in names):
            parser.error(f"--launcher {args.launcher!r}: use streamlit, serve, bare or a comma-separated list of them")
        result = measure_cold(args.rounds, args.port, names)
        for name in names:
            print(markdown_cold(result if "error" in result else result[name], args.rounds, name))
    else:
        result = measure(args.rounds, args.port)
        print(markdown(result, args.rounds))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
