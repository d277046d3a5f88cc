"""`python -m rnn_core sweep`: the grid, its validation, equality with `train`, the JSON file, Ctrl-C.

Each sweep run equals the same `train` run bit for bit: the same steps, losses, gradient norms and
weights. Eager and compiled programs round differently in the last bit, so both wait for the compiled
program instead of training their first steps eagerly.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ctrl_c_reaches_python
from rnn_core.__main__ import build_parser, config_from_args
from rnn_core.config import RunConfig
from rnn_core.sweep import REPLACED, SweepError, SweepFile, add_sweep_parser, expand

ROOT = Path(__file__).resolve().parents[1]
PROG = "python -m rnn_core sweep"


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnn_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def grid(*argv: str):
    return expand(build_parser().parse_args(["sweep", *argv]), config_from_args)


# ---------------------------------------------------------------- the grid


def test_grid_is_the_cartesian_product_of_the_lists():
    specs = grid("--n", "1,2,5", "--d", "4,16", "--seeds", "0,1", "--lr", "0.3")
    assert len(specs) == 12
    got = {(s.cfg.truncation, s.cfg.state_size, s.cfg.seed) for s in specs}
    assert got == {(n, d, seed) for n in (1, 2, 5) for d in (4, 16) for seed in (0, 1)}
    assert [s.index for s in specs] == list(range(12))
    for s in specs:  # everything else is train's default, or the single value given
        assert s.cfg == RunConfig(truncation=s.cfg.truncation, state_size=s.cfg.state_size, seed=s.cfg.seed,
                                  learning_rate=0.3)
    assert specs[0].label() == "--d 4 --n 1 --seed 0"  # the varying flags, in train's flag order


def test_list_flags_take_one_list_per_use_and_repeats_collapse():
    specs = grid("--data", "custom", "--lags", "3,8", "--lags", "2,5;3,8", "--effects", "0.5,-0.25", "--n", "4,4")
    assert [(s.cfg.lags, s.cfg.effects, s.cfg.truncation) for s in specs] == [
        ((3, 8), (0.5, -0.25), 4), ((2, 5), (0.5, -0.25), 4)]
    with pytest.raises(SweepError, match=r"run --data custom --lags 3 --effects 0.5,-0.25: effects has 2 entries"):
        grid("--data", "custom", "--lags", "3,8;3", "--effects", "0.5,-0.25")


def test_grid_without_lists_is_one_train_run():
    (spec,) = grid()
    assert spec.cfg == RunConfig() and spec.label() == "defaults"
    assert grid("--style", "williams-peng", "--k1", "2", "--n", "4")[0].cfg.effective_k1 == 2


def test_every_train_flag_is_a_sweep_flag():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train, sweep = sub.choices["train"], sub.choices["sweep"]
    sweep_flags = {opt for a in sweep._actions for opt in a.option_strings}
    for action in train._actions:
        if action.dest in REPLACED or action.dest == "help":
            continue
        assert set(action.option_strings) <= sweep_flags, action.option_strings


def test_a_flag_added_to_train_appears_in_sweep():
    """Sweep's flags are read from train's parser: a new train flag needs no change to sweep."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train")
    train.add_argument("--d", type=int, default=4)
    train.add_argument("--gradient", choices=("bptt", "rtrl", "uoro"), default="bptt")
    train.add_argument("--json", default=None)
    add_sweep_parser(sub, train)
    args = parser.parse_args(["sweep", "--gradient", "bptt,uoro", "--d", "3"])
    seen = []

    def to_config(ns: argparse.Namespace) -> RunConfig:
        seen.append((ns.gradient, ns.d, ns.json))
        return RunConfig(state_size=ns.d)

    assert len(expand(args, to_config)) == 2
    assert seen == [("bptt", 3, None), ("uoro", 3, None)]
    with pytest.raises(SweepError, match="argument --gradient: invalid choice: 'exact'"):
        expand(parser.parse_args(["sweep", "--gradient", "bptt,exact"]), to_config)


def test_kernel_key_matches_the_trainers():
    from rnn_core.sweep import kernel_key
    from rnn_core.train import Trainer

    for argv in (["--n", "1,10,20", "--d", "4,16"], ["--style", "williams-peng", "--k1", "1,3", "--n", "6",
                                                      "--optimizer", "sgd,adam", "--batch-size", "8",
                                                      "--series-length", "4000"]):
        for spec in grid(*argv):
            assert kernel_key(spec.cfg) == Trainer(spec.cfg).key


# ---------------------------------------------------------------- validation: exit 2, one line, nothing trained

BAD_GRIDS = {
    "bad int in a list": (["--n", "1,x,3"], "argument --n: invalid int value: 'x'"),
    "bad float": (["--lr", "0.1,fast"], "argument --lr: invalid float value: 'fast'"),
    "bad choice": (["--optimizer", "adam,rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    "out of range": (["--d", "4,300"], "run --d 300: state_size=300 is out of range [1, 256]"),
    "empty item": (["--n", "1,,3"], "argument --n: empty value in '1,,3'"),
    "bad combination": (["--style", "williams-peng", "--k1", "4", "--n", "2,8"],
                        "run --n 2 --style williams-peng --k1 4: k1=4 must be at most k2 = n = 2"),
    "series too short": (["--n", "5,50", "--series-length", "5000"],
                         "run --n 50 --series-length 5000: series_length=5000 is too short"),
    "json folder": (["--json", "/nonexistent-folder/s.json"], "--json /nonexistent-folder/s.json: folder"),
    "weights dir": (["--save-weights-dir", "/nonexistent-folder"], "--save-weights-dir /nonexistent-folder: folder"),
    "node ip without ray": (["--ray-node-ip", "127.0.0.1"], "--ray-node-ip applies only with --ray-address"),
}


@pytest.mark.parametrize("name", list(BAD_GRIDS))
def test_bad_grids_exit_2_naming_flag_and_value(name):
    args, message = BAD_GRIDS[name]
    proc = cli("sweep", *args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1000:])
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), lines
    assert message in lines[0], lines[0]


def test_bad_files_stop_the_sweep_before_it_trains(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("x,y\n" + "0,1\n" * 30)
    proc = cli("sweep", "--data-file", str(short), "--batch-size", "2,8", "--n", "4", "--d", "3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "run --batch-size 8: the sequence has 30 steps: too short for batch_size=8" in proc.stderr
    assert "final_loss" not in proc.stdout


# ---------------------------------------------------------------- equality with train, the JSON file

SMALL = ["--series-length", "20000", "--d", "4"]  # 100 steps at n = 1, 20 at n = 5
POINTS = [(n, seed) for n in (1, 5) for seed in (0, 1)]


@pytest.fixture(scope="module")
def sweep_and_train(tmp_path_factory):
    """One sweep of 4 runs (with history and weights) and the 4 `train` runs it stands for, run together."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "w").mkdir()
    sweep_argv = ["sweep", "--n", "1,5", "--seeds", "0,1", *SMALL, "--history", "--json", str(folder / "sweep.json"),
                  "--save-weights-dir", str(folder / "w")]
    argvs = [sweep_argv] + [["train", "--quiet", "--n", str(n), "--seed", str(seed), *SMALL,
                             "--json", str(folder / f"train-{n}-{seed}.json"),
                             "--save-weights", str(folder / f"train-{n}-{seed}.npz")] for n, seed in POINTS]
    procs = [subprocess.Popen([sys.executable, "-m", "rnn_core", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for argv in argvs]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    return folder, outs[0][0]


def test_sweep_runs_equal_train_runs(sweep_and_train):
    from rnn_core.weights import load_weights

    folder, _ = sweep_and_train
    runs = json.loads((folder / "sweep.json").read_text())["runs"]
    assert len(runs) == 4
    for index, (n, seed) in enumerate(POINTS):
        (run,) = [r for r in runs if (r["config"]["truncation"], r["config"]["seed"]) == (n, seed)]
        ref = json.loads((folder / f"train-{n}-{seed}.json").read_text())
        assert run["config"] == ref["config"] and run["baselines"] == ref["baselines"]
        assert run["summary"]["steps"] == ref["summary"]["steps"] == 20000 // 200 // n
        assert run["summary"]["final_loss"] == ref["summary"]["final_loss"]
        assert [h["loss"] for h in run["history"]] == [h["loss"] for h in ref["history"]]
        assert [h["grad_norms"] for h in run["history"]] == [h["grad_norms"] for h in ref["history"]]
        # the weights file names the run by its grid index (n outer, seed inner here)
        w_sweep = load_weights(folder / "w" / f"run-{index}.npz")
        w_train = load_weights(folder / f"train-{n}-{seed}.npz")
        for a, b in zip(w_sweep, w_train):
            assert np.array_equal(a, b)
        start = RunConfig(truncation=n, seed=seed)
        from rnn_core.model import init_params

        assert np.abs(w_sweep.W - init_params(4, 1.0, seed).W).max() > 1e-3, f"{start}: the run trained"


def test_sweep_run_is_bit_identical_to_a_compiled_trainer_run(sweep_and_train):
    """With the program compiled before the first step, the sweep's run is reproduced exactly in-process."""
    from rnn_core import kernels
    from rnn_core.train import Trainer

    folder, _ = sweep_and_train
    runs = json.loads((folder / "sweep.json").read_text())["runs"]
    (run,) = [r for r in runs if (r["config"]["truncation"], r["config"]["seed"]) == (5, 1)]
    cfg = RunConfig.from_dict(run["config"])
    trainer = Trainer(cfg, max_profiles=None)
    kernels.warm_up(trainer.key)
    trainer.run_to_end()
    assert all(c for c in [trainer.last_chunk.compiled])
    loss = trainer.history.scalars()["loss"]
    assert [h["loss"] for h in run["history"]] == [float(v) for v in loss]


def test_sweep_json_and_terminal_lines(sweep_and_train):
    folder, stdout = sweep_and_train
    data = json.loads((folder / "sweep.json").read_text())
    assert set(data) == {"format", "runs"} and data["format"] == "truncation-explorer-sweep/1"
    ref = json.loads((folder / "train-1-0.json").read_text())
    for run in data["runs"]:
        assert set(run) == set(ref)  # each run is the bundle `train --json` writes
        assert set(run["summary"]) == set(ref["summary"])
        assert len(run["history"]) == run["summary"]["steps"]
        assert set(run["history"][0]) == set(ref["history"][0])
    lines = stdout.splitlines()
    assert sum(line.startswith("[") for line in lines) == 4
    assert any("--n 5 --seed 1  final_loss" in line and "completed" in line for line in lines)
    assert lines[-1].startswith("4 of 4 runs in ") and "2 shapes compiled" in lines[-1]


def test_load_runs_reads_a_sweep_file(sweep_and_train):
    from rnn_core.sweep import load_runs

    folder, _ = sweep_and_train
    text = (folder / "sweep.json").read_text()
    records = load_runs(text)
    assert len(records) == 4
    for record, bundle in zip(records, json.loads(text)["runs"]):
        assert record.config == RunConfig.from_dict(bundle["config"])
        assert record.final_loss() == pytest.approx(bundle["summary"]["final_loss"], rel=1e-6)
    for bad, message in (("{", "not valid JSON"), ('{"runs": 3}', 'a list "runs"'),
                         ('{"format": "other/2", "runs": []}', "has format 'other/2'"),
                         ('{"runs": [{"config": {}}]}', r"runs\[0\]: run bundle lacks 'history'")):
        with pytest.raises(ValueError, match=message):
            load_runs(bad)


def test_history_only_on_request(tmp_path):
    out = tmp_path / "s.json"
    proc = cli("sweep", "--n", "2", "--seeds", "3,4", "--series-length", "4000", "--d", "2", "--quiet",
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert [r["config"]["seed"] for r in runs] == [3, 4]
    assert all(r["history"] == [] and r["summary"]["steps"] == 10 for r in runs)
    from rnn_core.sweep import load_runs

    records = load_runs(out.read_bytes())  # a run without history loads too; its final loss is in the summary
    assert [r.summary["final_loss"] for r in records] == [r["summary"]["final_loss"] for r in runs]
    assert all(len(r.scalars["loss"]) == 0 for r in records)
    assert [line for line in proc.stdout.splitlines() if line.strip()][0].startswith("2 of 2 runs")


def test_sweep_file_is_valid_json_after_every_run(tmp_path):
    path = tmp_path / "s.json"
    f = SweepFile(str(path))
    assert json.loads(path.read_text()) == {"format": "truncation-explorer-sweep/1", "runs": []}
    for i in range(3):
        f.add({"config": {"seed": i}, "summary": {"final_loss": 0.5 + i}})
        assert [r["config"]["seed"] for r in json.loads(path.read_text())["runs"]] == list(range(i + 1))
    f.close()


def test_ctrl_c_keeps_finished_runs_and_exits_130(tmp_path):
    out = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnn_core", "sweep", "--n", "5", "--d", "4", "--seeds", ",".join(map(str, range(12))),
         "--epochs", "4", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_reaches_python,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if out.exists() and len(json.loads(out.read_text())["runs"]) >= 1:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    runs = json.loads(out.read_text())["runs"]
    assert 1 <= len(runs) < 12
    assert all(r["summary"]["status"] == "completed" and r["summary"]["steps"] == 4000 for r in runs)
    assert f"interrupted: {len(runs)} of 12 runs finished" in stderr
    assert sum(line.startswith("[") for line in stdout.splitlines()) == len(runs)
