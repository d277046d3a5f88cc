"""Start `streamlit run app.py` headless for a benchmark, wait until it answers its health check, stop it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


LAUNCHERS = {  # how the server is started: Streamlit's own command, serve.py (the warm-up starts at launch),
    # or a bare one-button page as the floor
    "streamlit": ["-m", "streamlit", "run", "app.py"],
    "serve": ["serve.py"],
    "bare": ["-m", "streamlit", "run", "bench/bare_app.py"],  # the floor: Streamlit with one button (bench/bare_app.py)
}


def start_app(port: int, wait: bool = True, launcher: str = "streamlit",
              root: Path = ROOT, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The server process and its URL; its output goes to $BENCH_SERVER_LOG (default: discarded).

    `wait=False` returns at once after the launch (a cold-start benchmark polls the page itself).
    `launcher` names a command of LAUNCHERS; `root` is the checkout whose app it serves (another commit's
    worktree, to compare two in the same minutes); `env` adds to the server's environment (e.g. its own run store).

    Raises RuntimeError naming the problem if app.py or the browser (chromium) is missing, the server
    exits (port busy?) or it is not healthy within 120 s; the process is stopped in those cases.
    """
    if not (root / "app.py").exists():
        raise RuntimeError(f"{root / 'app.py'} does not exist")
    if not Path(CHROMIUM).exists():  # every user of the server here drives it with this browser
        raise RuntimeError(f"{CHROMIUM} not found")
    with open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w") as log:  # the server keeps its own handle
        server = subprocess.Popen(
            [sys.executable, *LAUNCHERS[launcher], "--server.headless", "true", "--server.port",
             str(port), "--browser.gatherUsageStats", "false"],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
    url = f"http://localhost:{port}"
    if not wait:
        return server, url
    deadline = time.time() + 120
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {server.returncode} (port {port} busy?)")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return server, url
        except OSError:
            pass
        if time.time() > deadline:
            stop_app(server)
            raise RuntimeError("streamlit did not become healthy within 120 s")
        time.sleep(0.5)


def stop_app(server: subprocess.Popen) -> None:
    """Stop the server: terminate, and kill it if it has not exited within 15 s."""
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
