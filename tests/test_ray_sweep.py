"""`sweep --ray-address`: a Ray head on 127.0.0.1 started here, the grid run through it, a killed task retried.

The head runs in its own process group and is stopped by that group in a finally, whatever the
test did. Ray replaces a loopback node address with the machine's own unless it believes it runs
on one machine (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0); with that set, every socket the head
listens on is checked to be on the loopback address.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ctrl_c_reaches_python

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--n", "2,4", "--seeds", "0,1", "--d", "3", "--batch-size", "20", "--series-length", "4000", "--history"]
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def sweep(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnn_core", "sweep", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_a_plain_sweep_never_imports_ray():
    code = ("import sys\nfrom rnn_core.__main__ import main\n"
            "rc = main(['sweep', '--n', '2,3', '--d', '2', '--batch-size', '4', '--series-length', '200', '--quiet'])\n"
            "assert rc == 0, rc\nprint('ray' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) == pgid:
                    pids.append(int(name))
            except ProcessLookupError:
                pass
    return pids


def _listening_addresses(pids: list[int]) -> set[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc/net/tcp and tcp6)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            pass
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    out.add(cols[1].split(":")[0])
    return out


def _is_loopback(hex_addr: str) -> bool:
    if len(hex_addr) == 8:  # IPv4, little-endian bytes
        return hex_addr[-2:] == "7F"
    # IPv6: ::1, or IPv4-mapped ::ffff:127.x.x.x
    return hex_addr == "00000000000000000000000001000000" or (
        hex_addr.startswith("0000000000000000FFFF0000") and hex_addr[-2:] == "7F")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs, in its own process group; stopped by that group afterwards."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")
    port = _free_port()
    log = tmp_path_factory.mktemp("ray") / "head.log"
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
             "--disable-usage-stats", "--include-dashboard=false", "--block"],
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **LOOPBACK_ENV},
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
            time.sleep(0.5)
        yield {"address": f"127.0.0.1:{port}", "pgid": proc.pid, "log": log}
    finally:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + grace
            while _group_pids(proc.pid) and time.monotonic() < end:
                time.sleep(0.2)
        proc.wait(timeout=10)


def ray_sweep(head, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return sweep(*args, "--ray-address", head["address"], "--ray-node-ip", "127.0.0.1", env=env)


def test_the_head_listens_on_loopback_only(head):
    addresses = _listening_addresses(_group_pids(head["pgid"]))
    assert addresses, "found none of the head's listening sockets"
    assert all(_is_loopback(a) for a in addresses), addresses


def test_ray_grid_equals_the_local_sweep_run_for_run(head, tmp_path):
    from rnn_core.weights import load_weights

    (tmp_path / "wl").mkdir()
    (tmp_path / "wr").mkdir()
    local = sweep(*GRID, "--json", str(tmp_path / "local.json"), "--save-weights-dir", str(tmp_path / "wl"))
    assert local.returncode == 0, local.stderr[-2000:]
    remote = ray_sweep(head, *GRID, "--json", str(tmp_path / "ray.json"), "--save-weights-dir", str(tmp_path / "wr"))
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert "Traceback" not in remote.stderr
    lines = [line for line in remote.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and all(" on 127.0.0.1:" in line for line in lines), remote.stdout
    assert "4 of 4 runs in" in remote.stdout and "joined the Ray cluster at 127.0.0.1:" in remote.stdout

    def by_point(path: Path) -> dict:
        runs = json.loads(path.read_text())["runs"]
        return {(r["config"]["truncation"], r["config"]["seed"]): r for r in runs}

    ours, theirs = by_point(tmp_path / "local.json"), by_point(tmp_path / "ray.json")
    assert set(ours) == set(theirs) == {(n, s) for n in (2, 4) for s in (0, 1)}
    for point, run in ours.items():
        other = theirs[point]
        assert other["config"] == run["config"] and other["baselines"] == run["baselines"]
        assert other["history"] == run["history"], point  # both compiled from the first step: bit for bit
        assert other["summary"]["final_loss"] == run["summary"]["final_loss"]
    for index in range(4):
        for a, b in zip(load_weights(tmp_path / "wl" / f"run-{index}.npz"),
                        load_weights(tmp_path / "wr" / f"run-{index}.npz")):
            np.testing.assert_array_equal(a, b)


def test_a_killed_task_is_retried_and_the_grid_goes_on(head, tmp_path):
    marker = tmp_path / "crash"
    marker.write_text("1")  # the run at grid index 1 kills its worker process on its first attempt
    out = tmp_path / "ray.json"
    proc = ray_sweep(head, *GRID, "--json", str(out), env={"RNN_CORE_SWEEP_CRASH_ONCE": str(marker)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists(), "the marked run never ran"
    assert "run --n 2 --seed 1 failed (its worker process died); retrying once" in proc.stderr
    runs = json.loads(out.read_text())["runs"]
    assert sorted((r["config"]["truncation"], r["config"]["seed"]) for r in runs) == [(2, 0), (2, 1), (4, 0), (4, 1)]
    assert all(r["summary"]["status"] == "completed" for r in runs)


def test_an_unreachable_cluster_is_one_line_exit_2():
    pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")
    proc = sweep("--n", "2", "--ray-address", f"127.0.0.1:{_free_port()}", "--ray-node-ip", "127.0.0.1",
                 env=LOOPBACK_ENV, timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("python -m rnn_core sweep: error: --ray-address 127.0.0.1:")


def test_ctrl_c_cancels_outstanding_tasks_and_keeps_finished_runs(head, tmp_path):
    out = tmp_path / "ray.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnn_core", "sweep", "--n", "5", "--d", "4", "--seeds", ",".join(map(str, range(8))),
         "--epochs", "20", "--json", str(out), "--ray-address", head["address"], "--ray-node-ip", "127.0.0.1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_reaches_python,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and json.loads(out.read_text())["runs"]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run finished in 300 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    runs = json.loads(out.read_text())["runs"]
    assert 1 <= len(runs) < 8
    assert f"interrupted: {len(runs)} of 8 runs finished" in stderr
