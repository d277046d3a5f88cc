"""Grids of runs: `python -m rnn_core sweep --n 1,2,5 --d 4,16 --seeds 0,1,2 ...` in one process.

Every flag of `train` is also a flag of `sweep`, taking one value or a comma-separated list (a
list-valued flag such as `--lags 3,8` takes one list per use: repeat it, or separate lists with
`;`). The grid is the cartesian product of the given values; each point goes through the same path
as `train` (its flags parsed by train's own argument definitions, then `config_from_args`), so the
whole grid is validated before anything trains.

Runs are ordered by kernel shape and the compile of every shape is queued on the kernels' compile
thread at once, so one shape compiles while the runs of the previous one train, and each shape
compiles once per process. A run waits for its shape's compiled program instead of starting
eagerly: an eager step costs hundreds of compiled ones, and a run that never leaves the compiled
program gives the same floats however the compile and the training interleave (the eager and the
compiled programs round differently in the last bit).

The `--json` file is `{"format": ..., "runs": [bundle, ...]}`, each bundle what `train --json`
writes (`history` empty unless `--history`), in the order the runs finished; it is valid JSON
after every finished run, so an interrupted sweep keeps its finished runs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import RunConfig

FORMAT = "truncation-explorer-sweep/1"
LIST_FLAGS = ("--lags", "--effects")  # their values are lists themselves: alternatives are repeated flags or `;`
REPLACED = ("json", "quiet", "save_weights")  # train's outputs; sweep has its own
ALIASES = {"--seed": ("--seeds",)}
EXIT_INTERRUPTED = 130
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SweepError(ValueError):
    """A grid that cannot run; the message names the flag and value."""


@dataclass
class RunSpec:
    """One point of the grid: its settings, what it reads, and the flags that make it."""

    index: int  # position in the grid (cartesian order)
    cfg: RunConfig
    flags: dict[str, str]  # flag -> value as given, for every flag of the sweep that was set
    varying: tuple[str, ...]  # the flags with more than one value in this grid
    data_file: str | None = None
    init: str | None = None

    def label(self) -> str:
        """The flags that tell this run from the others, e.g. '--n 5 --d 4 --seed 0'."""
        names = self.varying or tuple(self.flags)
        return " ".join(f"{name} {self.flags[name]}" for name in names) or "defaults"


# ---------------------------------------------------------------- the command line


OWN_FLAGS = ("--json", "--history", "--save-weights-dir", "--quiet", "--ray-address", "--ray-node-ip")


def _mirrored(train: argparse.ArgumentParser) -> list[argparse.Action]:
    """Train's flags that sweep takes as lists (not its outputs, nor a name sweep uses for its own flags)."""
    return [a for a in train._actions if a.option_strings and a.dest not in REPLACED and a.dest != "help"
            and not set(a.option_strings) & set(OWN_FLAGS)]


def add_sweep_parser(sub: Any, train: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `sweep` to the subcommands, with every train flag (read from train's parser) taking lists."""
    s = sub.add_parser(
        "sweep", help="train a grid of runs in one process",
        description="Train every combination of the given values in one process; each run equals the same `train` run.",
    )
    for action in _mirrored(train):
        names = list(action.option_strings) + list(ALIASES.get(action.option_strings[0], ()))
        if action.nargs == 0:  # an on/off switch: the same in every run
            s.add_argument(*names, dest=action.dest, action="store_true", help=action.help)
            continue
        what = "one list per use (repeat the flag or separate lists with ;)" if names[0] in LIST_FLAGS \
            else "a value or a comma-separated list"
        choices = f" {{{','.join(map(str, action.choices))}}}" if action.choices else ""
        s.add_argument(*names, dest=action.dest, action="append", default=None, metavar="V",
                       help=f"{action.help or ''}{choices}: {what}".lstrip(": "))
    s.add_argument("--json", default=None, help='write {"runs": [bundle, ...]} here, updated as each run finishes')
    s.add_argument("--history", action="store_true", help="keep each run's per-step history in the JSON")
    s.add_argument("--save-weights-dir", default=None, help="write each run's trained weights to DIR/run-<index>.npz")
    s.add_argument("--quiet", action="store_true", help="no line per finished run, only the total")
    s.add_argument("--ray-address", default=None,
                   help="run the grid as Ray tasks on this cluster ('auto': the one this machine is part of)")
    s.add_argument("--ray-node-ip", default=None,
                   help="this machine's address in the Ray cluster (default: Ray's guess)")
    s.set_defaults(train_parser=train)
    return s


def _values(action: argparse.Action, raw: list[str]) -> list[tuple[str, Any]]:
    """The distinct values of one flag, each as (text given, value parsed like train parses it)."""
    flag = action.option_strings[0]
    parts: list[str] = []
    for text in raw:
        parts += [p.strip() for p in text.split(";" if flag in LIST_FLAGS else ",")]
    if not parts or any(p == "" for p in parts):
        raise SweepError(f"argument {flag}: empty value in {','.join(raw)!r}")
    out: list[tuple[str, Any]] = []
    for text in dict.fromkeys(parts):
        value: Any = text
        if action.type is not None:
            try:
                value = action.type(text)
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                kind = getattr(action.type, "__name__", "")
                raise SweepError(f"argument {flag}: invalid {kind} value: {text!r}") from None
        if action.choices is not None and value not in action.choices:
            allowed = ", ".join(map(repr, action.choices))
            raise SweepError(f"argument {flag}: invalid choice: {text!r} (choose from {allowed})")
        out.append((text, value))
    return out


def expand(args: argparse.Namespace, config_from_args: Callable[[argparse.Namespace], RunConfig]) -> list[RunSpec]:
    """Every point of the grid the flags describe, validated like `train` validates its flags.

    Raises SweepError naming the flag and value (or the run's flags) of the first bad point.
    """
    train: argparse.ArgumentParser = args.train_parser
    defaults = train.parse_args([])
    axes: list[tuple[argparse.Action, list[tuple[str, Any]]]] = []
    switches = {}
    for action in _mirrored(train):
        given = getattr(args, action.dest, None)
        if action.nargs == 0:
            if given:
                switches[action.dest] = True
        elif given is not None:
            axes.append((action, _values(action, given)))
    varying = tuple(a.option_strings[0] for a, vals in axes if len(vals) > 1)
    specs = []
    for index, point in enumerate(itertools.product(*(vals for _, vals in axes))):
        ns = argparse.Namespace(**vars(defaults), **{})
        for dest, on in switches.items():
            setattr(ns, dest, on)
        flags = {}
        for (action, _), (text, value) in zip(axes, point):
            setattr(ns, action.dest, value)
            flags[action.option_strings[0]] = text
        spec = RunSpec(index, RunConfig(), flags, varying, getattr(ns, "data_file", None), getattr(ns, "init", None))
        try:
            spec.cfg = config_from_args(ns)
        except ValueError as exc:
            given = " ".join(f"{k} {v}" for k, v in flags.items()) or "with the defaults"
            raise SweepError(f"run {given}: {exc}") from None
        specs.append(spec)
    return specs


def check_inputs(specs: Sequence[RunSpec]) -> None:
    """Read every data file and weights file the grid names, so a bad one stops the sweep before it trains."""
    from .data import epoch_data, load_sequence_csv
    from .weights import load_weights  # imports TensorFlow

    sequences: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    weights: set[tuple[str, int]] = set()
    for spec in specs:
        try:
            if spec.data_file is not None:
                if spec.data_file not in sequences:
                    sequences[spec.data_file] = load_sequence_csv(spec.data_file)
                epoch_data(spec.cfg, 0, sequences[spec.data_file])  # long enough for this run's B x n
            if spec.init is not None and (spec.init, spec.cfg.state_size) not in weights:
                load_weights(spec.init, spec.cfg.state_size)
                weights.add((spec.init, spec.cfg.state_size))
        except ValueError as exc:
            raise SweepError(f"run {spec.label()}: {exc}") from None


# ---------------------------------------------------------------- one run


def kernel_key(cfg: RunConfig):
    """The compiled program's key a run of `cfg` uses (the trainer's own `kernels.key_for`)."""
    from .kernels import key_for

    return key_for(cfg)


def run_one(cfg: RunConfig, history: bool = False, data_file: str | None = None, init: str | None = None,
            initial: Sequence[np.ndarray] | None = None, sequence: tuple[np.ndarray, np.ndarray] | None = None
            ) -> dict[str, Any]:
    """Train one run as `train` does, on the compiled program only; its bundle, weights and timings.

    Returns {"bundle": what `train --json` writes (history [] unless `history`), "params": [W, b_s, U, b_p],
    "compile_wait": seconds waited for the compiled program, "seconds": wall seconds of the run}.
    """
    from .data import load_sequence_csv
    from .model import Params
    from .online_train import make_trainer, warm_up
    from .report import RunRecord
    from .weights import load_weights

    t0 = time.perf_counter()
    if sequence is None and data_file is not None:
        sequence = load_sequence_csv(data_file)
    if initial is None and init is not None:
        initial = load_weights(init, cfg.state_size)
    trainer = make_trainer(cfg, sequence=sequence, initial_params=None if initial is None else Params(*initial),
                      max_profiles=None if history else 1)
    t1 = time.perf_counter()
    try:
        warm_up(trainer.key)  # at once if it waits in the pool or its queued compile is done
    except Exception:  # noqa: BLE001 - a shape that does not compile trains eagerly, as in `train`
        pass
    waited = time.perf_counter() - t1
    trainer.run_to_end()
    bundle = RunRecord.from_trainer(trainer).to_json()
    if not history:
        bundle["history"] = []
    return {"bundle": bundle, "params": [np.asarray(p) for p in trainer.params], "compile_wait": waited,
            "seconds": time.perf_counter() - t0}


def test_crash_hook(index: int) -> None:
    """Testing only: if $RNN_CORE_SWEEP_CRASH_ONCE names a file holding this run's index, remove it and die.

    Simulates a worker killed mid-grid: the first attempt of that run exits the process; its retry
    finds the file gone and runs.
    """
    path = os.environ.get("RNN_CORE_SWEEP_CRASH_ONCE")
    if not path:
        return
    try:
        with open(path) as fh:
            marked = int(fh.read().strip())
    except (OSError, ValueError):
        return
    if marked == index:
        try:
            os.remove(path)  # only the process that removes it dies
        except OSError:
            return
        os._exit(77)


# ---------------------------------------------------------------- output


class SweepFile:
    """The --json file, kept valid JSON after each appended run: {"format", "runs": [...]}."""

    def __init__(self, path: str):
        self.path = path
        self.count = 0
        self._fh = open(path, "wb")
        self._fh.write(json.dumps({"format": FORMAT, "runs": []}).encode())
        self._fh.flush()

    def add(self, bundle: dict[str, Any]) -> None:
        """Append one run's bundle (written through, so it survives an interruption)."""
        self._fh.seek(-2, os.SEEK_END)  # before the closing "]}"
        self._fh.write((b", " if self.count else b"") + json.dumps(bundle).encode() + b"]}")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class Report:
    """Prints a line per finished run and the total; keeps the JSON file and weights files."""

    def __init__(self, total: int, json_path: str | None, weights_dir: str | None, quiet: bool):
        self.total = total
        self.file = SweepFile(json_path) if json_path else None
        self.weights_dir = weights_dir
        self.quiet = quiet
        self.done = 0
        self.failed: list[str] = []
        self.t0 = time.perf_counter()

    def finished(self, spec: RunSpec, result: dict[str, Any], where: str = "") -> None:
        """Record a finished run."""
        self.done += 1
        if self.file is not None:
            self.file.add(result["bundle"])
        if self.weights_dir is not None:
            from .model import Params
            from .weights import save_weights

            save_weights(os.path.join(self.weights_dir, f"run-{spec.index}.npz"), Params(*result["params"]))
        if not self.quiet:
            s = result["bundle"]["summary"]
            loss = "nan" if s["final_loss"] is None else f"{s['final_loss']:.4f}"
            wait = f" (waited {result['compile_wait']:.1f} s for the compile)" if result["compile_wait"] > 0.05 else ""
            print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {spec.label()}  final_loss {loss}  "
                  f"{s['status']}  {result['seconds']:.2f} s{wait}{where}", flush=True)

    def failure(self, spec: RunSpec, message: str) -> None:
        """Record a run that failed for good."""
        self.failed.append(spec.label())
        print(f"run {spec.label()} failed: {message}", file=sys.stderr, flush=True)

    def close(self, interrupted: bool, extra: str = "") -> int:
        """Print the total; the exit status."""
        if self.file is not None:
            self.file.close()
        wall = time.perf_counter() - self.t0
        where = f"; {self.done} written to {self.file.path}" if self.file is not None else ""
        if interrupted:
            print(f"interrupted: {self.done} of {self.total} runs finished in {wall:.1f} s{where}",
                  file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        failed = f", {len(self.failed)} failed" if self.failed else ""
        print(f"{self.done} of {self.total} runs in {wall:.1f} s{failed}{extra}{where}", flush=True)
        return 1 if self.failed else 0


def load_runs(data: Any) -> list:
    """The runs of a sweep file (its text, bytes or parsed dict) as RunRecords; ValueError naming what is wrong.

    A run without history (the default) has an empty `scalars`: its final loss is `summary["final_loss"]`.
    """
    from .report import RunRecord

    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"sweep file is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError('sweep file must be a JSON object with a list "runs" (what `sweep --json` writes)')
    if data.get("format", FORMAT) != FORMAT:
        raise ValueError(f"sweep file has format {data.get('format')!r}; this version reads {FORMAT!r}")
    records = []
    for i, bundle in enumerate(data["runs"]):
        try:
            records.append(RunRecord.from_json(bundle))
        except ValueError as exc:
            raise ValueError(f"sweep file: runs[{i}]: {exc}") from None
    return records


# ---------------------------------------------------------------- the local backend


def run_order(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """The runs grouped by kernel shape (first appearance order), grid order inside a shape."""
    first: dict[Any, int] = {}
    keyed = []
    for spec in specs:
        key = kernel_key(spec.cfg)
        first.setdefault(key, len(first))
        keyed.append((first[key], spec.index, spec))
    return [spec for _, _, spec in sorted(keyed, key=lambda t: t[:2])]


def run_local(specs: Sequence[RunSpec], report: Report, history: bool) -> str:
    """Run the grid in this process; returns a note on where the time went. KeyboardInterrupt passes through."""
    from .kernels import compile_in_background

    order = run_order(specs)
    keys = list(dict.fromkeys(kernel_key(s.cfg) for s in order))
    compile_done: dict[Any, float] = {}
    futures = []
    for key in keys:  # queued in run order on the one compile thread: each compiles while earlier shapes train
        future = compile_in_background(key)
        future.add_done_callback(lambda _f, key=key: compile_done.setdefault(key, time.perf_counter()))
        futures.append(future)
    started = time.perf_counter()
    waited = 0.0
    try:
        for spec in order:
            try:
                result = run_one(spec.cfg, history, spec.data_file, spec.init)
            except Exception as exc:  # a run that raises is reported; the grid goes on
                report.failure(spec, f"{type(exc).__name__}: {exc}")
                continue
            waited += result["compile_wait"]
            report.finished(spec, result)
    finally:
        for future in futures:
            future.cancel()  # compiles not yet started; a running one finishes (at most a few seconds)
    ends = sorted(compile_done.values())
    span = (ends[-1] - started) if ends else 0.0
    return (f" ({len(keys)} shapes compiled in {span:.1f} s on the compile thread; "
            f"runs waited {waited:.1f} s for compiles)")


# ---------------------------------------------------------------- entry point


def command(args: argparse.Namespace, config_from_args: Callable[[argparse.Namespace], RunConfig]) -> int:
    """`python -m rnn_core sweep`: validate the grid, run it locally or on Ray, report; the exit status."""
    def fail(message: str) -> int:
        sys.stderr.write(f"python -m rnn_core sweep: error: {message}\n")
        return 2

    try:
        specs = expand(args, config_from_args)
    except SweepError as exc:
        return fail(str(exc))
    for flag, path, want_dir in (("--json", args.json, False), ("--save-weights-dir", args.save_weights_dir, True)):
        if path is None:
            continue
        folder = os.path.abspath(path) if want_dir else os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return fail(f"{flag} {path}: folder {folder} does not exist")
    if args.ray_node_ip is not None and args.ray_address is None:
        return fail("--ray-node-ip applies only with --ray-address")
    try:
        check_inputs(specs)
    except SweepError as exc:
        return fail(str(exc))
    report = Report(len(specs), args.json, args.save_weights_dir, args.quiet)
    interrupted = False
    extra = ""
    try:
        if args.ray_address is not None:
            if args.ray_node_ip in LOOPBACK:
                # Ray swaps a loopback node address for the machine's own unless it believes it runs one
                # machine; set before Ray is imported, so a cluster on 127.0.0.1 stays on 127.0.0.1.
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            from .ray_sweep import run_ray

            extra = run_ray(specs, report, args.history, args.ray_address, args.ray_node_ip)
        else:
            extra = run_local(specs, report, args.history)
    except KeyboardInterrupt:
        interrupted = True
    except RuntimeError as exc:  # Ray could not connect
        report.close(interrupted=False)
        return fail(str(exc))
    return report.close(interrupted, extra)
