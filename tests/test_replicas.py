"""Two app replicas behind nginx sharing one PostgreSQL run store (deploy/nginx.conf.in): a browser
sticks to one replica across reloads, fresh browsers spread over both, and after the replica that
served a student is stopped, the next load reaches the other replica with the same browser id and
the same stored runs. Needs Debian's chromium, nginx and postgresql; CI requires all three.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from pg_server import PgServer, pg_bin_dir

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.browser

# A tiny page standing in for the app: which replica answered, this browser's id, and its stored runs.
APP = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
from runstore import RunStore
from ui.browser_id import browser_id

owner = browser_id()
st.markdown(f"replica: `{{os.environ['REPLICA']}}`")
if owner:
    store = st.cache_resource(RunStore)()
    if st.button("save a run"):
        store.put(owner, {{"label": "saved", "config": {{}}, "history": [], "summary": {{}}}})
    st.markdown(f"owner: `{{owner}}` stored runs: {{len(store.list(owner).runs)}}")
"""


def _need(binary: str, package: str, flag: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        if os.environ.get(flag) == "1":
            pytest.fail(f"{flag}=1 but {binary} is not installed (apt-get install {package})")
        pytest.skip(f"{binary} not installed (apt-get install {package})")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 40) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """nginx on a free port in front of replicas A and B; yields (url, {name: Popen}, chromium)."""
    chromium = _need("chromium", "chromium", "REQUIRE_BROWSER")
    nginx = _need("nginx", "nginx-light", "REQUIRE_BROWSER")
    if pg_bin_dir() is None:
        _need("initdb", "postgresql", "REQUIRE_POSTGRES")
    tmp = tmp_path_factory.mktemp("replicas")
    (tmp / "app.py").write_text(APP)
    pg, procs = PgServer(pg_bin_dir()), {}
    try:
        pg.start()
        env = {**os.environ, "TRUNCATION_EXPLORER_DB": pg.create_database("r_" + uuid.uuid4().hex[:8]),
               "STREAMLIT_SERVER_COOKIE_SECRET": uuid.uuid4().hex}
        ports = {"A": _free_port(), "B": _free_port()}
        for name, port in ports.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(tmp / "app.py"), "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                env={**env, "REPLICA": name}, cwd=ROOT, stdout=open(tmp / f"{name}.log", "w"), stderr=subprocess.STDOUT)
        port = _free_port()
        conf = (ROOT / "deploy" / "nginx.conf.in").read_text()
        for key, value in {"@DIR@": str(tmp), "@PORT_A@": str(ports["A"]), "@PORT_B@": str(ports["B"]),
                           "@PORT@": str(port)}.items():
            conf = conf.replace(key, value)
        (tmp / "nginx.conf").write_text(conf)
        procs["nginx"] = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                          stdout=open(tmp / "nginx.out", "w"), stderr=subprocess.STDOUT)
        for p in ports.values():
            _wait(f"http://127.0.0.1:{p}/_stcore/health")
        _wait(f"http://127.0.0.1:{port}/_stcore/health")
        yield f"http://127.0.0.1:{port}", procs, chromium
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        from runstore import dispose_all

        dispose_all()
        pg.stop()


def _state(page, runs: int | None = None) -> tuple[str, str, int]:
    pattern = r"stored runs: \d+" if runs is None else f"stored runs: {runs}\\b"
    page.wait_for_function(f"() => /{pattern}/.test(document.body.innerText)", timeout=30000)
    text = page.inner_text("body")
    return (re.search(r"replica: (\w)", text).group(1), re.search(r"owner: (\S+)", text).group(1),
            int(re.search(r"stored runs: (\d+)", text).group(1)))


def test_a_student_keeps_their_runs_when_their_replica_stops(cluster):
    from playwright.sync_api import sync_playwright

    url, procs, chromium = cluster
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            seen = set()
            for _ in range(12):  # fresh browsers get random route keys: P(all 12 on one replica) = 2^-11
                ctx = browser.new_context()
                fresh = ctx.new_page()
                fresh.goto(url)
                seen.add(_state(fresh)[0])
                ctx.close()
            assert seen == {"A", "B"}
            page = browser.new_context().new_page()
            page.goto(url)
            replica, owner, n = _state(page)
            assert n == 0
            page.get_by_role("button", name="save a run").click()
            _state(page, runs=1)
            for _ in range(3):
                page.reload()
                assert _state(page) == (replica, owner, 1)  # sticky: same replica, same id, same runs
            procs[replica].terminate()
            procs[replica].wait(15)
            page.reload()
            other, same_owner, runs = _state(page)
            assert (other != replica, same_owner, runs) == (True, owner, 1)
        finally:
            browser.close()
