"""The Ray backend of `python -m rnn_core sweep --ray-address ADDRESS`: each grid run is one Ray task.

Only imported when --ray-address is given, so a plain sweep never loads Ray. A task runs
`sweep.run_one` (the same code the local sweep runs) and returns the run's bundle and weights.
Tasks run in Ray's long-lived worker processes (`max_calls=0`: a worker is never recycled), one
per CPU the task asks for, so the compiled programs in a worker's kernel pool are reused by every
later run of the same shape that lands there; runs are submitted grouped by shape for that reason.

The driver reports each finished run as it arrives (`ray.wait`), and retries a run whose task
raised or whose worker died once, saying so; a run that fails twice is reported and the rest of the
grid goes on. Ctrl-C cancels the outstanding tasks and keeps what finished.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any

import ray

from .sweep import Report, RunSpec, run_order

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
FORWARDED_ENV = ("RNN_CORE_SWEEP_CRASH_ONCE",)  # the test hook, when the driver has it set


@ray.remote(num_cpus=1, max_calls=0, max_retries=0)
def _train(index: int, cfg: dict[str, Any], history: bool, sequence: Any, initial: Any) -> dict[str, Any]:
    from rnn_core.config import RunConfig
    from rnn_core.sweep import run_one, test_crash_hook

    test_crash_hook(index)
    result = run_one(RunConfig.from_dict(cfg), history, initial=initial, sequence=sequence)
    result["worker"] = f"{ray.util.get_node_ip_address()}:{os.getpid()}"
    return result


def connect(address: str, node_ip: str | None) -> float:
    """Join the cluster at `address` (rnn_core shipped to its nodes); seconds taken. RuntimeError if it fails."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    t0 = time.perf_counter()
    _check_reachable(address)
    try:
        ray.init(address=address, _node_ip_address=node_ip, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"py_modules": [PACKAGE_DIR], "env_vars": env}, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RuntimeError(f"--ray-address {address}: could not join the Ray cluster ({exc})") from None
    return time.perf_counter() - t0


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once on a host:port nobody listens on (ray.init would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or address.startswith("ray://") or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RuntimeError(f"--ray-address {address}: no Ray head answers there ({exc})") from None


def _inputs(spec: RunSpec) -> tuple[Any, Any]:
    """The data file and initial weights a run reads, loaded here (the workers may be other machines)."""
    sequence = initial = None
    if spec.data_file is not None:
        from .data import load_sequence_csv

        sequence = load_sequence_csv(spec.data_file)
    if spec.init is not None:
        from .weights import load_weights

        initial = [p for p in load_weights(spec.init, spec.cfg.state_size)]
    return sequence, initial


def run_ray(specs: list[RunSpec], report: Report, history: bool, address: str, node_ip: str | None) -> str:
    """Run the grid as Ray tasks; returns a note on connection time and workers. KeyboardInterrupt passes through."""
    joined = connect(address, node_ip)
    pending: dict[Any, tuple[RunSpec, int]] = {}  # task ref -> (run, attempt)
    workers: set[str] = set()

    def submit(spec: RunSpec, attempt: int) -> None:
        sequence, initial = _inputs(spec)
        ref = _train.remote(spec.index, spec.cfg.to_dict(), history, sequence, initial)
        pending[ref] = (spec, attempt)

    # Ctrl-C only sets a flag, read between waits: a KeyboardInterrupt raised inside Ray's own blocking
    # calls was seen swallowed or crashing the driver instead of reaching this loop.
    stop: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        for spec in run_order(specs):
            submit(spec, 1)
        while pending:
            if stop:
                raise KeyboardInterrupt
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
            if not done:
                continue
            spec, attempt = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except (ray.exceptions.RayError, Exception) as exc:  # noqa: BLE001 - any failure of the run
                reason = _reason(exc)
                if attempt == 1:
                    print(f"run {spec.label()} failed ({reason}); retrying once", file=sys.stderr, flush=True)
                    submit(spec, 2)
                else:
                    report.failure(spec, f"{reason} (after a retry)")
                continue
            workers.add(result["worker"])
            report.finished(spec, result, where=f"  on {result['worker']}")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.shutdown()
        signal.signal(signal.SIGINT, previous)
    return f" (joined the Ray cluster at {address} in {joined:.1f} s; {cpus} CPUs, {len(workers)} worker processes)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ray.exceptions.WorkerCrashedError):
        return "its worker process died"
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{type(cause).__name__}: {str(cause).splitlines()[-1] if str(cause) else ''}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
