"""Shared fixtures: kernel-pool helpers for engine tests, and for browser tests a live
`streamlit run app.py` plus Chromium.

Browser tests are skipped when Debian's chromium is missing, unless REQUIRE_BROWSER=1 (as CI sets),
in which case they fail: CI must never pass by skipping them.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _need_browser() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but Debian's chromium is not installed")
        pytest.skip("chromium not installed")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` (or `command`) on 127.0.0.1:`port` with `env` added; start() waits for health,
    stop() ends it."""

    def __init__(self, env: dict[str, str], log_name: str = "streamlit-server.log", port: int | None = None,
                 command: tuple[str, ...] = ("-m", "streamlit", "run", "app.py")) -> None:
        self.env, self.port, self.command = env, port or _free_port(), command
        self.log_path = ARTIFACTS / log_name
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        ARTIFACTS.mkdir(exist_ok=True)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.command, "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"streamlit exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.fail("streamlit did not become healthy within 120 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """Start `streamlit run app.py` on a free localhost port (its run store in a temp dir); yield its base URL."""
    _need_browser()
    (ARTIFACTS / "streamlit-server.log").unlink(missing_ok=True)
    server = AppServer({"TRUNCATION_EXPLORER_DATA_DIR": str(tmp_path_factory.mktemp("runstore"))}).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright."""
    path = _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser page (1400x1000) that accepts downloads."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_idle(pg, timeout: float = 120_000) -> None:
    """Wait until the Streamlit script has finished running."""
    pg.wait_for_selector("[data-test-script-state='notRunning']", state="attached", timeout=timeout)


def open_page(page, url: str) -> None:
    """Open a page of the app and wait until its script has run (the sidebar is there)."""
    page.goto(url)
    # the sidebar's first element, not only its frame: the idle marker is there before the first run starts
    page.wait_for_selector("[data-testid='stSidebarUserContent'] [data-testid='stElementContainer']",
                           state="attached", timeout=120_000)
    wait_idle(page)


def shot(page, name: str) -> None:
    """A full-page screenshot into artifacts/ (ignored by git), to look at as a user would."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def main_button(page, name: str):
    """A button of the page itself (the header also has a 'Stop')."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)



@pytest.fixture
def fresh_pool(monkeypatch):
    """An empty kernel pool for the trainer, so a use_compiled=False run cannot lease a compiled kernel."""
    from rnn_core import kernels, train

    pool = kernels.KernelPool()
    monkeypatch.setattr(train, "POOL", pool)
    monkeypatch.setattr(kernels, "POOL", pool)  # background compiles deposit their kernels here
    return pool


def warm(key) -> None:
    """Put a compiled kernel for `key` in the pool the trainer leases from (built once per session)."""
    from rnn_core import kernels, train

    kernel = train.POOL.lease(key)
    if not kernel.compiled:
        kernel = kernels.build_compiled(key)
    train.POOL.give_back(kernel)


def run_page(name: str, timeout: float, **state):
    """Run pages/<name>.py under AppTest with the given session_state entries (None ones left out)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout)
    for key, value in state.items():
        if value is not None:
            at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def ctrl_c_reaches_python() -> None:
    """A Popen preexec_fn: SIGINT back to its default in the child, so Python installs its KeyboardInterrupt
    handler. A test suite started in the background (`cmd &` in a non-interactive shell) inherits SIGINT
    ignored, and Python then leaves it ignored: a test of what Ctrl-C does would see nothing happen."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def navigation_pages(monkeypatch) -> None:
    """AppTest re-detects the pages/ folder before every run and then runs a page without app.py;
    a real server stops doing that once app.py has called st.navigation. Make AppTest do the same."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPages(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPages)


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave with pytest's own status, skipping the C++ teardown at interpreter exit: after every test had
    passed and every Python thread had ended, TensorFlow's static destructors aborted the process now and then
    ("terminate called after throwing an instance of ''", exit 134; on the main thread, no Python frame), seen
    with six engine test files in one order on this code and the code before it. Every server a test started
    is stopped by then (the fixtures' teardown runs first). KEEP_TEARDOWN=1 keeps the normal exit."""
    if _EXIT_STATUS and os.environ.get("KEEP_TEARDOWN") != "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
