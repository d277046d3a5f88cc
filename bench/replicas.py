"""The classroom load test through nginx in front of two app replicas sharing one PostgreSQL run store.

    python -m bench.replicas --students 30 [--out bench/results.md] [--title ...]

Starts, on 127.0.0.1 only, a throwaway PostgreSQL (tests/pg_server.py: Debian's binaries, a temp data dir),
two `streamlit run app.py` replicas in their own process groups with the same TRUNCATION_EXPLORER_DB and
cookie secret, and nginx from deploy/nginx.conf.in; runs `bench.classroom --url <nginx> --pids <replicas>`
with the remaining arguments; stops everything it started, also on failure. Needs nginx and postgresql.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pg_server import PgServer, pg_bin_dir  # noqa: E402

from bench import classroom  # noqa: E402


def _wait(url: str, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


def main(argv: list[str] | None = None) -> int:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if pg_bin_dir() is None or not os.path.exists(nginx):
        print("python -m bench.replicas: needs Debian's postgresql and nginx-light", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="replicas-"))
    pg, procs = PgServer(pg_bin_dir()), {}
    try:
        pg.start()
        env = {**os.environ, "TRUNCATION_EXPLORER_DB": pg.create_database("bench_" + uuid.uuid4().hex[:8]),
               "STREAMLIT_SERVER_COOKIE_SECRET": uuid.uuid4().hex}
        ports = {"A": classroom._free_port(), "B": classroom._free_port(), "nginx": classroom._free_port()}
        for name in ("A", "B"):
            with open(tmp / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                     "--server.address", "127.0.0.1", "--server.port", str(ports[name]),
                     "--browser.gatherUsageStats", "false"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        conf = (ROOT / "deploy" / "nginx.conf.in").read_text()
        for key, value in {"@DIR@": str(tmp), "@PORT_A@": str(ports["A"]), "@PORT_B@": str(ports["B"]),
                           "@PORT@": str(ports["nginx"])}.items():
            conf = conf.replace(key, value)
        (tmp / "nginx.conf").write_text(conf)
        procs["nginx"] = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        for name in ("A", "B", "nginx"):
            _wait(f"http://127.0.0.1:{ports[name]}/_stcore/health")
        pids = f"{procs['A'].pid},{procs['B'].pid}"
        rest = sys.argv[1:] if argv is None else argv
        return classroom.main(["--url", f"http://127.0.0.1:{ports['nginx']}", "--pids", pids, *rest])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        from runstore import dispose_all

        dispose_all()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
