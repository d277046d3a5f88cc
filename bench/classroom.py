"""A class on one server: N simulated students press Train at once, speaking Streamlit's own protocol.

    python -m bench.classroom --students 1,10,30,60 [--out bench/results.md] [--timeout 300] [--heavy]
    python -m bench.classroom --url http://127.0.0.1:8080 --pids 1234,1235 --students 30   # a running server or nginx

Per class size, a fresh `streamlit run app.py` (127.0.0.1, a free port, the project's .streamlit/config.toml,
its own process group, stopped even on failure). Each student is one websocket session to /_stcore/stream
(subprotocol "streamlit") sending BackMsg protobufs and reading ForwardMsg protobufs, as a browser tab does,
so no browser competes for the server's two cores:
1. open the session: rerun_script with the page's query string `seed=K` (student i has seed i + 1), read the
   deltas until script_finished; the Train button's widget id comes from those deltas;
2. once every student's page is up and the server is quiet: each presses Train (rerun_script whose
   widget_states carry the button's trigger value) at a random moment within the same second, and is timed
   from its click to the "Done:" alert and to script_finished (the final charts are drawn before the alert);
3. each asks for its "Run bundle (JSON)" download (the deferred file, as the browser's click does) and reads
   every step's loss from it.
Server: CPU seconds (/proc/<pid>/stat) per new session and per Train, VmRSS with the N sessions open.
Isolation: every student's per-step losses must equal, bit for bit, `python -m rnn_core train --seed K --json`
(the CLI's main, run for all seeds in one separate process after the server has stopped).
With --heavy, one more student opens its tab with d = 256, n = 200 and the longest series (up to 5,000,000)
the run cap admits and presses Train half a second before the class; it is stopped once the class is done.
With --url the class goes to a server already running there instead (one class after another, on the same
server), e.g. nginx in front of replicas (deploy/nginx.conf.in): each student sends its own `te_route` cookie,
so its websocket and its download reach the same replica, as a browser's do after nginx's first answer; six
teacher tabs warm the replicas first. CPU and RSS are then summed over the processes named by --pids (the
replicas), or not measured without it.
Writes the section `## <--title>` (default "Classroom load") of --out, keeping the rest of the file.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.cli import OneLineParser

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Classroom load"
MAX_STUDENTS = 200
_FINAL_LOSS = re.compile(r"Final loss ([0-9.]+) nats")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB (2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"VmRSS not found for pid {pid}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_total(pids: list[int]) -> float:
    """CPU seconds summed over the server processes (NaN when none are known)."""
    return sum(cpu_seconds(p) for p in pids) if pids else float("nan")


def rss_total(pids: list[int]) -> float:
    return sum(rss_mb(p) for p in pids) if pids else float("nan")


async def settle(pids: list[int], quiet: float = 1.5, idle_cpu: float = 0.05, timeout: float = 180.0) -> None:
    """Wait until the servers used < idle_cpu s of CPU over `quiet` s (warm-up compiles and clean-ups done);
    without pids, wait a few seconds."""
    if not pids:
        await asyncio.sleep(3 * quiet)
        return
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c0 = cpu_total(pids)
        await asyncio.sleep(quiet)
        if cpu_total(pids) - c0 < idle_cpu * len(pids):
            return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` in its own process group; a context manager that always stops the group."""

    def __init__(self, timeout: float = 120.0) -> None:
        self.port = _free_port()
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w")  # noqa: SIM115 - the server keeps it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with status {self.proc.returncode}")
                try:
                    with urllib.request.urlopen(f"{self.http}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not become healthy within {self.timeout:g} s")
                time.sleep(0.3)
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass


@dataclass
class Student:
    """One simulated browser tab."""

    seed: int
    query: str = ""  # settings beyond the seed, as a URL's query string (the heavy student's)
    route: str = field(default_factory=lambda: uuid.uuid4().hex)  # nginx's sticky key (te_route cookie)
    ws: object = None
    session_id: str = ""
    train_id: str = ""
    stop_id: str = ""
    stopped_early: bool = False  # the heavy student's run was still training when the class finished
    bundle_file_id: str = ""
    to_done: float = float("nan")  # click to the "Done:" alert, s
    to_finished: float = float("nan")  # click to script_finished (final charts, Done and downloads sent), s
    shown_loss: str = ""  # the "Final loss" the page shows
    losses: list = field(default_factory=list)  # every step's loss from the run bundle
    errors: list = field(default_factory=list)


def _rerun_msg(query: str, widgets: list | None = None):
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.rerun_script.query_string = query
    msg.rerun_script.widget_states.SetInParent()
    for w in widgets or []:
        msg.rerun_script.widget_states.widgets.append(w)
    return msg.SerializeToString()


async def _read_run(s: Student, t_click: float | None = None) -> None:
    """Read ForwardMsgs until a script run finishes successfully; note buttons, the outcome and exceptions."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await s.ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "new_session" and msg.new_session.initialize.session_id:
            s.session_id = msg.new_session.initialize.session_id
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            what = el.WhichOneof("type")
            if what == "button" and el.button.label == "Train":
                s.train_id = el.button.id
            elif what == "button" and el.button.label == "Stop":
                s.stop_id = el.button.id
            elif what == "download_button" and el.download_button.label == "Run bundle (JSON)":
                s.bundle_file_id = el.download_button.deferred_file_id
            elif what == "exception":
                s.errors.append(f"{el.exception.type}: {el.exception.message}")
            elif what == "alert" and el.alert.body.startswith("Done:") and t_click is not None:
                s.to_done = time.perf_counter() - t_click
                m = _FINAL_LOSS.search(el.alert.body)
                s.shown_loss = m.group(1) if m else "?"
            elif what == "alert" and el.alert.format == el.alert.ERROR:
                s.errors.append(el.alert.body)
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                return
            if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                s.errors.append("script failed to compile")
                return


def _query(s: Student) -> str:
    return f"seed={s.seed}" + (f"&{s.query}" if s.query else "")


def heavy_query(cap_seconds: float | None = None) -> str:
    """The heavy student's settings: d = 256, n = 200 and the longest series (up to 5,000,000) the server's cap
    (`ui/run_cap.py`) admits."""
    from rnn_core.config import RunConfig
    from rnn_core.cost import run_seconds

    if cap_seconds is None:
        from ui.run_cap import cap_seconds as server_cap

        cap_seconds = server_cap()
    cfg = RunConfig(state_size=256, truncation=200, series_length=5_000_000)
    if cap_seconds > 0 and run_seconds(cfg) > cap_seconds:
        cfg = cfg.replace(series_length=int(cfg.series_length * cap_seconds / run_seconds(cfg) * 0.99))
    return f"state_size=256&truncation=200&series_length={cfg.series_length}"


async def _heavy(s: Student, stop: asyncio.Event) -> None:
    """Press Train on the heavy settings, read the run until the class is done, then press Stop."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    await s.ws.send(_rerun_msg(_query(s), [WidgetState(id=s.train_id, trigger_value=True)]))
    reading = asyncio.ensure_future(_read_run(s, time.perf_counter()))
    await stop.wait()
    if not reading.done():
        reading.cancel()
        try:
            await reading  # a cancelled recv must end before the next one starts
        except asyncio.CancelledError:
            pass
        s.stopped_early = True
        stop_id = s.stop_id
        await s.ws.send(_rerun_msg(_query(s), [WidgetState(id=stop_id, trigger_value=True)]))
        await _read_run(s)


async def _open(s: Student, url: str, runs: int = 1) -> None:
    """Open the tab: its first script run, and `runs` - 1 more (as a browser's id answer causes)."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    s.ws = await connect(url, subprotocols=[Subprotocol("streamlit")], max_size=None, ping_interval=None,
                         open_timeout=60, additional_headers={"Cookie": f"te_route={s.route}"})
    for _ in range(runs):
        await s.ws.send(_rerun_msg(_query(s)))
        await _read_run(s)
    if not s.train_id:
        s.errors.append("no Train button in the page")


async def _train(s: Student, delay: float) -> None:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    await asyncio.sleep(delay)
    t0 = time.perf_counter()
    await s.ws.send(_rerun_msg(_query(s), [WidgetState(id=s.train_id, trigger_value=True)]))
    await _read_run(s, t0)
    s.to_finished = time.perf_counter() - t0
    if not s.shown_loss:
        s.errors.append("no Done message")


async def _bundle(s: Student, http: str) -> None:
    """The run bundle, fetched as the browser's click on the deferred download does."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not s.bundle_file_id:
        s.errors.append("no run bundle download")
        return
    msg = BackMsg()
    msg.backend_operation_request.request_id = f"bundle-{s.seed}"
    msg.backend_operation_request.session_id = s.session_id
    msg.backend_operation_request.deferred_file.file_id = s.bundle_file_id
    await s.ws.send(msg.SerializeToString())
    while True:
        fwd = ForwardMsg()
        fwd.ParseFromString(await s.ws.recv())
        if fwd.WhichOneof("type") == "backend_operation_response":
            break
    if fwd.backend_operation_response.error_msg:
        s.errors.append(f"bundle: {fwd.backend_operation_response.error_msg}")
        return
    path = fwd.backend_operation_response.deferred_file.url
    request = urllib.request.Request(http + path, headers={"Cookie": f"te_route={s.route}"})
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=60).read())
    s.losses = [h["loss"] for h in json.loads(body)["history"]]


async def _with_timeout(coros, timeout: float, what: str, students: list[Student]) -> None:
    results = await asyncio.wait_for(asyncio.gather(*coros, return_exceptions=True), timeout)
    for s, r in zip(students, results):
        if isinstance(r, BaseException):
            s.errors.append(f"{what}: {type(r).__name__}: {r}")


HEAVY_LEAD = 0.5  # s the heavy student presses Train before the class (--heavy-lead)


async def _class(n: int, timeout: float, spread: float, profile: Path | None = None, heavy: bool = False,
                 url: str = "", pids: list[int] | None = None, heavy_lead: float = HEAVY_LEAD) -> dict:
    """One class of n students on a fresh server (or at `url`): timings, CPU, memory and the students' runs.

    With `profile`, py-spy samples the server (all threads, idle ones left out) from the clicks until
    the server is quiet again, into that file as collapsed stacks.
    """
    if url:
        return await _class_at(n, timeout, spread, profile, url.rstrip("/"), list(pids or []), heavy=heavy,
                               heavy_lead=heavy_lead)
    with Server() as server:
        return await _class_at(n, timeout, spread, profile, server.http, [server.pid], teachers=1, heavy=heavy,
                               heavy_lead=heavy_lead)


async def _class_at(n: int, timeout: float, spread: float, profile: Path | None, http: str, pids: list[int],
                    teachers: int = 6, heavy: bool = False, heavy_lead: float = HEAVY_LEAD) -> dict:
    students = [Student(seed=i + 1) for i in range(n)]
    staff = [Student(seed=0) for _ in range(teachers)]
    hog = Student(seed=10_000, query=heavy_query()) if heavy else None
    out: dict = {"n": n, "load_start": load_average(), "heavy": hog, "heavy_lead": heavy_lead}
    url = "ws" + http.removeprefix("http") + "/_stcore/stream"
    # the teachers' tabs: TensorFlow loads, the warm-up runs (on each replica, behind nginx); a browser's tab
    # reruns the script once its browser id answers, and that second run starts the warm-up (app.py)
    await asyncio.wait_for(asyncio.gather(*[_open(t, url, runs=2) for t in staff]), timeout)
    await settle(pids)
    out["rss_idle"] = rss_total(pids)
    c0, t0 = cpu_total(pids), time.perf_counter()
    try:
        await _with_timeout([_open(s, url) for s in students], timeout, "open", students)
        out["open_wall"] = time.perf_counter() - t0
        await settle(pids)
        c1 = cpu_total(pids)
        out["cpu_session"] = (c1 - c0) / n
        out["rss_open"] = rss_total(pids)
        ready = [s for s in students if s.train_id and not s.errors]
        delays = [random.uniform(0.0, spread) for _ in ready]
        spy = _py_spy(pids[0], profile) if profile and pids else None
        class_done = asyncio.Event()
        hogging = None
        if hog is not None:  # its tab opened before the class; it presses Train `heavy_lead` s before them
            await asyncio.wait_for(_open(hog, url), timeout)
            c1 = cpu_total(pids)
            hogging = asyncio.ensure_future(_heavy(hog, class_done))
            await asyncio.sleep(heavy_lead)
        try:
            await _with_timeout([_train(s, d) for s, d in zip(ready, delays)], timeout, "train", ready)
            class_done.set()
            if hogging is not None:
                await asyncio.wait_for(hogging, timeout)
            await settle(pids)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(60)
        out["cpu_train"] = (cpu_total(pids) - c1) / max(1, len(ready))
        out["rss_trained"] = rss_total(pids)
        await _with_timeout([_bundle(s, http) for s in ready], timeout, "bundle", ready)
    finally:
        for s in [*staff, *students, *([hog] if hog is not None else [])]:
            if s.ws is not None:
                await s.ws.close()
    out["students"] = students
    out["load_end"] = load_average()
    if hog is not None:
        hog.errors = [e for e in hog.errors if e != "no Done message"]
    return out


def _py_spy_exe() -> str:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when its bin/ is not on PATH
    return str(beside) if beside.exists() else "py-spy"


PROFILE_GIL = os.environ.get("BENCH_PROFILE_GIL") == "1"  # py-spy --gil: only the thread holding the GIL


def _py_spy(pid: int, path: Path) -> subprocess.Popen:
    """py-spy on the server. With BENCH_PROFILE_GIL=1 it samples only the thread holding the GIL: in a GIL-bound
    server that is where the CPU goes, while the default also counts threads waiting for the GIL (they show at
    the call that gave it up, e.g. a lock's acquire in Streamlit's `get_option`)."""
    spy = subprocess.Popen([_py_spy_exe(), "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
                            "--nonblocking", *(["--gil"] if PROFILE_GIL else []), "-o", str(path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first click
    if spy.poll() is not None:
        raise RuntimeError("py-spy could not attach to the server (it needs ptrace rights, e.g. root)")
    return spy


_IDLE_LEAVES = ("select (selectors.py", "_write_to_self (asyncio", "polling_path_watcher.py:90", "wait (threading.py")
PROFILE_PARTS = (  # (part, substrings of a frame "function (file:line)"): a sample goes to the first part that matches
    ("XLA compiles (kernels.build_compiled, warm-up)", ("build_compiled", "warm_up (rnn_core", "warm_eager")),
    ("live chart redraws while training (Board.draw_live)", ("draw_live",)),
    ("final charts (Board.draw, targets)", ("Board.draw", "Board.show", "targets_figure", "viz/")),
    ("training uncompiled (no idle compiled kernel of the shapes: Python runs the chunk body, eager or tracing)",
     ("Kernel._chunk.<locals>", "Program._chunk.<locals>")),
    ("building a Kernel or Program", ("Kernel.__init__", "Program.__init__")),
    ("generating the epoch's data", ("epoch_data",)),
    ("training, rest (compiled calls, loading weights, metrics)", ("rnn_core/train.py", "rnn_core/kernels.py",
                                                                  "rnn_core/model.py")),
    ("downloads (deferred bundle, run store)", ("ui/downloads.py", "ui/state.py", "rnn_core/report.py")),
    ("Streamlit messages (protobuf, hashing, websocket, event loop)",
     ("protobuf", "forward_msg", "calc_hash", "starlette", "uvicorn", "websockets/", "asyncio/")),
    ("rest of the page scripts (app.py, settings, widgets)", ("app.py", "pages/", "ui/")),
)
CHART_PARTS = (("Altair (schema validation, to_dict)", "altair/"), ("jsonschema", "jsonschema/"),
               ("Streamlit's Vega-Lite conversion", "vega_charts.py"), ("pandas / pyarrow", ("pandas/", "pyarrow/")),
               ("json encoding", "json/"))


def _has(frames: list[str], keys) -> bool:
    keys = (keys,) if isinstance(keys, str) else keys
    return any(k in f for f in frames for k in keys)


def profile_summary(path: Path, top: int = 12) -> str:
    """Markdown: each busy sample in one part (first match of PROFILE_PARTS), chart costs, top self functions."""
    parts = {name: 0 for name, _ in PROFILE_PARTS} | {"other": 0}
    charts = {name: 0 for name, _ in CHART_PARTS}
    total = idle = chart_total = 0
    own: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        if any(k in frames[-1] for k in _IDLE_LEAVES):  # py-spy --nonblocking counts some waits as busy
            idle += n
            continue
        total += n
        name = next((nm for nm, keys in PROFILE_PARTS if _has(frames, keys)), "other")
        parts[name] += n
        if _has(frames, ("draw_live", "Board.draw", "Board.show", "viz/")):
            chart_total += n
            for cname, keys in CHART_PARTS:
                charts[cname] += n * _has(frames, keys)
        own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return "py-spy recorded no busy samples."
    lines = [f"{total:,} busy samples at 100 Hz of the server's threads (py-spy {_py_spy_version()}, Python frames "
             f"only: time in C/C++ counts for the Python call that made it; {idle:,} samples waiting in select, "
             "sleep or a lock left out).", "",
             "| part (each sample counted once, first match down the list) | share of server CPU |", "|---|---|"]
    lines += [f"| {nm} | {100 * c / total:.0f} % |" for nm, c in parts.items()]
    lines += ["", f"Inside the chart drawing ({100 * chart_total / total:.0f} % in all; "
                  "a sample can count for several):",
              "", "| in chart drawing | share of server CPU |", "|---|---|"]
    lines += [f"| {nm} | {100 * c / total:.0f} % |" for nm, c in charts.items()]
    lines += ["", "| function (self samples) | share |", "|---|---|"]
    for fn, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| `{fn.replace('|', '/')}` | {100 * c / total:.1f} % |")
    return "\n".join(lines)


def _py_spy_version() -> str:
    try:
        return subprocess.run([_py_spy_exe(), "--version"], capture_output=True, text=True,
                              timeout=10).stdout.split()[-1]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def cli_losses(seeds: list[int], timeout: float) -> dict[int, list]:
    """Every step's loss of `python -m rnn_core train --seed K --json` for each seed (one process, the CLI's main).

    A throw-away run goes first, which compiles the shape in this process. Eager steps round differently (by a
    float32 ulp) from compiled ones; `train` now waits for its program instead of training eagerly, and the app
    pre-warms its kernel, so both sides are fully compiled runs.
    """
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import sys\nfrom rnn_core.__main__ import main\n"
                "for k in sys.argv[2:]:\n"
                "    if main(['train', '--seed', k, '--json', f'{sys.argv[1]}/{k}.json']) != 0:\n"
                "        sys.exit(f'CLI run for seed {k} failed')\n")
        subprocess.run([sys.executable, "-c", code, tmp, "0", *map(str, seeds)], cwd=ROOT, check=True,
                       timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {k: [h["loss"] for h in json.loads(Path(tmp, f"{k}.json").read_text())["history"]] for k in seeds}


def isolation(students: list[Student], ref: dict[int, list]) -> str:
    """'all equal', or how many were bit-equal and the largest per-step difference of the others."""
    diffs = []
    for s in students:
        a, b = np.array(s.losses, dtype=float), np.array(ref[s.seed], dtype=float)
        diffs.append(float(np.abs(a - b).max()) if a.shape == b.shape else float("inf"))
    equal = sum(d == 0 for d in diffs)
    if equal == len(diffs):
        return "all equal"
    return f"{equal}/{len(diffs)} equal, others differ by up to {max(diffs):.2g}"


def _pct(xs: list[float], q: float) -> float:
    xs = [x for x in xs if np.isfinite(x)]
    return float(np.percentile(xs, q)) if xs else float("nan")


def row(c: dict) -> str:
    st = c["students"]
    fin, done = [s.to_finished for s in st], [s.to_done for s in st]
    ok = sum(1 for s in st if not s.errors and np.isfinite(s.to_finished))
    iso = c.get("isolation", "not checked")
    hog = c.get("heavy")
    extra = ""
    if hog is not None:
        state = "refused: " + "; ".join(hog.errors) if hog.errors else (
            "still training at the end, stopped" if hog.stopped_early else "finished first")
        lead = c.get("heavy_lead", HEAVY_LEAD)
        extra = f" + heavy run ({hog.query}, Train pressed {lead:g} s before the class: {state})"
    return (f"| {c['n']}{extra} | {ok}/{c['n']} | {_pct(fin, 50):.2f} / {_pct(fin, 95):.2f} | {_pct(done, 50):.2f} / "
            f"{_pct(done, 95):.2f} | {c.get('cpu_train', float('nan')):.2f} | {c.get('cpu_session', float('nan')):.2f} "
            f"| {c.get('rss_idle', float('nan')):,.0f} / {c.get('rss_open', float('nan')):,.0f} / "
            f"{c.get('rss_trained', float('nan')):,.0f} | {iso} | {c['load_start']} → {c['load_end']} |")


def section(classes: list[dict], label: str, title: str) -> str:
    """The markdown section: the table, the largest class per student, the errors seen."""
    head = (f"## {title}\n\n{label} Machine: {os.cpu_count()} cores; "
            f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
            " Each student is a websocket session speaking Streamlit's protocol (no browser), with its own seed, "
            "the default R2RT settings otherwise; Train pressed within 1 s of each other. `click → finished` is to "
            "script_finished (final charts, Done and downloads sent), `click → Done` to the Done alert; p50 / p95 "
            "in s. CPU is the server's, per Train and per new session (page opened to its first run finished, "
            "clean-ups included). A teacher's tab is opened first and the server left to go quiet (TensorFlow "
            "imported, the default kernel warmed up). RSS in MB: teacher only / N sessions open / after their runs. "
            "Isolation: every "
            "student's per-step losses equal to `python -m rnn_core train --seed K --json`, bit for bit.\n\n"
            "| students | finished ok | click → finished p50 / p95 s | click → Done p50 / p95 s | server CPU s per "
            "Train | server CPU s per new session | RSS MB teacher / open / trained | isolation | "
            "load avg start → end |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    rows = "\n".join(row(c) for c in classes)
    big = classes[-1]  # the per-student detail of the largest class
    per = ", ".join(f"{s.seed}: {s.to_done:.1f} s, {s.shown_loss or '-'}" for s in big["students"])
    rows += (f"\n\n<details><summary>{big['n']} students, seed: click → Done, final loss shown</summary>"
             f"\n\n{per}\n\n</details>")
    errs = sorted({e for c in classes for s in c["students"] for e in s.errors})
    tail = "\n\nErrors seen: " + "; ".join(errs[:10]) if errs else ""
    return head + rows + tail + "\n"


def write_section(path: Path, text: str, title: str) -> None:
    """Replace (or append) the section `## title` of a markdown file, keeping everything else."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    heading = f"## {title}\n"
    start = old.find(heading)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(heading))
        new = old[:start] + text + (old[nxt:] if nxt >= 0 else "")
    path.write_text(new)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(
            f"python -m bench.classroom: error: --students {text!r} is not a list of whole numbers") from None
    if not sizes or any(not 1 <= k <= MAX_STUDENTS for k in sizes):
        raise SystemExit(f"python -m bench.classroom: error: --students needs sizes from 1 to {MAX_STUDENTS}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m bench.classroom", description=__doc__.split("\n")[0])
    p.add_argument("--students", default="1,10,30,60", help="class sizes, comma-separated (default 1,10,30,60)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.md"), help="markdown file whose section to write")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per phase of one class (default 300)")
    p.add_argument("--spread", type=float, default=1.0, help="clicks fall within this many seconds (default 1)")
    p.add_argument("--title", default=TITLE, help=f"the section's heading, replaced if present (default {TITLE!r})")
    p.add_argument("--label", default="", help="a sentence put before the table (e.g. the commit and config)")
    p.add_argument("--no-isolation", action="store_true", help="skip the CLI comparison")
    p.add_argument("--heavy", action="store_true", help="one extra student presses Train on heavy settings (d = 256, "
                   "n = 200, the longest series up to 5,000,000 the run cap admits) just before the class")
    p.add_argument("--heavy-lead", type=float, default=HEAVY_LEAD, help="with --heavy: seconds it presses Train before "
                   f"the class (default {HEAVY_LEAD:g}: still compiling when they press; 8: already training)")
    p.add_argument("--url", default="", help="send the classes to the server (or nginx) already running at this "
                   "http:// address instead of starting one per class")
    p.add_argument("--pids", default="", help="with --url: the server processes whose CPU and memory to measure "
                   "(comma-separated)")
    p.add_argument("--profile", default=None, help="py-spy the largest class's Train phase into this file (collapsed "
                   "stacks) and add a breakdown to the section")
    args = p.parse_args(argv)
    sizes = _sizes(args.students)
    if not 0 <= args.heavy_lead <= 600:
        p.error(f"--heavy-lead must be 0 to 600 seconds, got {args.heavy_lead:g}")
    if args.url and not args.url.startswith(("http://", "https://")):
        p.error(f"--url must start with http:// or https://, got {args.url!r}")
    try:
        pids = [int(x) for x in args.pids.split(",") if x.strip()]
    except ValueError:
        p.error(f"--pids must be process ids separated by commas, got {args.pids!r}")
    if args.url:
        summed = f"; CPU and RSS summed over {len(pids)} server processes" if pids else "; CPU and RSS not measured"
        where = f"Through {args.url} (a running server{summed})."
        args.label = f"{args.label} {where}".strip()
    classes = []
    for n in sizes:
        random.seed(n)
        try:
            spy = Path(args.profile) if args.profile and n == max(sizes) else None
            c = asyncio.run(_class(n, args.timeout, args.spread, spy, heavy=args.heavy, url=args.url, pids=pids,
                                   heavy_lead=args.heavy_lead))
        except Exception as exc:  # the server would not start, or a phase ran out of time: say so, go on
            print(f"{n} students: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        classes.append(c)
        print(row(c), flush=True)
    if not classes:
        return 1
    if not args.no_isolation:
        seeds = sorted({s.seed for c in classes for s in c["students"]})
        ref = cli_losses(seeds, timeout=60 + 10 * len(seeds))
        for c in classes:
            c["isolation"] = isolation(c["students"], ref)
    text = section(classes, args.label, args.title)
    if args.profile and Path(args.profile).exists():
        text += f"\n### Where the server's CPU goes, {max(sizes)} students pressing Train\n\n" + profile_summary(
            Path(args.profile)) + "\n"
    write_section(Path(args.out), text, args.title)
    print(text)
    failed = any(s.errors for c in classes for s in c["students"]) or len(classes) < len(sizes)
    return 1 if failed or any(c.get("isolation", "all equal") != "all equal" for c in classes) else 0


if __name__ == "__main__":
    sys.exit(main())
