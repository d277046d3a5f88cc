"""The command line: `python -m rnn_core train ...` trains one run and reports it; `sweep ...` a grid of them.

Bad flags or files exit with status 2 and one line on stderr naming the problem.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

# Before TensorFlow loads (it loads lazily, below): its C++ start-up log is no business of a CLI user.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

from .config import BOUNDS, GRADIENTS, ONLINE_STYLES, OPTIMIZERS, STYLES, RunConfig, parse_list

HISTORY_CHOICES = ("thin", "full", "none")
PROFILE_ROWS = {"thin": 2000, "full": None, "none": 1}  # per-position profile rows the trainer keeps

DATA_CHOICES = ("r2rt", "echo", "custom")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser; flags mirror `RunConfig`."""
    parser = _Parser(prog="python -m rnn_core", description="Truncated-BPTT RNN on echo sequences (TensorFlow style).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = RunConfig()
    t = sub.add_parser("train", help="train one run", description="Train the seed's RNN and report loss and gradients.")
    t.add_argument("--d", type=int, default=d.state_size,
                   help=f"state size d ({BOUNDS['state_size'].low:g}-{BOUNDS['state_size'].high:g})")
    t.add_argument("--n", type=int, default=None, help="truncation: window width n (default 5)")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="parallel rows B")
    t.add_argument("--series-length", type=int, default=d.series_length, help="time steps per epoch")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--lr", type=float, default=d.learning_rate, help="learning rate")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    t.add_argument("--style", choices=STYLES, default=d.style,
                   help="tensorflow = BPTT(n; n); williams-peng = BPTT(k2; k1); rtrl, uoro = online, no truncation")
    t.add_argument("--k1", type=int, default=None, help="williams-peng: backpropagate every k1 steps (default 1)")
    t.add_argument("--k2", type=int, default=None, help="williams-peng: backpropagate k2 steps (same as --n)")
    t.add_argument("--clip", type=float, default=d.clip, help="global-norm clipping threshold (0 = off)")
    t.add_argument("--gradient", choices=GRADIENTS, default=d.gradient,
                   help="autodiff: tf.GradientTape on the taught graph; derived: the hand-derived backward pass")
    t.add_argument("--init-scale", type=float, default=d.init_scale)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--data", choices=DATA_CHOICES, default=None, help="echo task (default r2rt)")
    t.add_argument("--lags", default=None, help="custom task lags, e.g. 3,8")
    t.add_argument("--effects", default=None, help="custom task effects, e.g. 0.5,-0.25")
    t.add_argument("--base-prob", type=float, default=d.base_prob)
    t.add_argument("--input-prob", type=float, default=d.input_prob)
    t.add_argument("--echo-step", type=int, default=d.echo_step)
    t.add_argument("--data-file", default=None, help="CSV with header x,y and one 0/1 pair per line")
    t.add_argument("--init", default=None, help="start from these weights (.npz with W, b_s, U, b_p)")
    t.add_argument("--save-weights", default=None, help="write the trained weights to this .npz")
    t.add_argument("--json", default=None, help="write config, baselines, history and summary here")
    t.add_argument("--history", choices=HISTORY_CHOICES, default="thin",
                   help="what --json keeps of the per-step history: thin (default; every step's loss, norm and "
                   "sigma_max, the per-position profiles of at most 2,000 steps evenly spread, as the app keeps "
                   "them), full (profiles of every step too) or none")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    from .sweep import add_sweep_parser  # sweep's flags are train's, read from `t` once all are added

    add_sweep_parser(sub, t)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Turn parsed flags into a validated RunConfig (ValueError names the bad flag's field)."""
    n = args.n
    if args.k2 is not None:
        if n is not None and n != args.k2:
            raise ValueError(f"--n {n} and --k2 {args.k2} disagree; k2 is the window width n")
        n = args.k2
    if args.k1 is not None and args.style != "williams-peng":
        raise ValueError("--k1 applies only with --style williams-peng")
    if n is not None and args.style in ONLINE_STYLES:
        raise ValueError(f"--n/--k2 do not apply to --style {args.style}: it learns online through the whole history")
    if args.data_file is not None and args.data is not None:
        raise ValueError("give either --data or --data-file, not both")
    task = "file" if args.data_file is not None else (args.data or "r2rt")
    if (args.lags is not None or args.effects is not None) and task != "custom":
        raise ValueError("--lags and --effects apply only with --data custom")
    fields = dict(
        state_size=args.d, truncation=5 if n is None else n, style=args.style,
        k1=1 if args.k1 is None else args.k1, batch_size=args.batch_size, series_length=args.series_length,
        epochs=args.epochs, learning_rate=args.lr, optimizer=args.optimizer, clip=args.clip,
        init_scale=args.init_scale, seed=args.seed, task=task, base_prob=args.base_prob,
        input_prob=args.input_prob, echo_step=args.echo_step, gradient=args.gradient,
    )
    if task == "custom":
        if args.lags is None or args.effects is None:
            raise ValueError("--data custom needs --lags and --effects, e.g. --lags 3,8 --effects 0.5,-0.25")
        fields["lags"] = parse_list("lags", args.lags, int)
        fields["effects"] = parse_list("effects", args.effects, float)
    return RunConfig(**fields).validate()


class _Progress:
    """A one-line progress bar with steps/s on stderr."""

    def __init__(self, total: int):
        self.total = max(total, 1)

    def __call__(self, chunk) -> None:
        done = chunk.steps_done
        width = 30
        filled = int(width * done / self.total)
        rate = done / chunk.seconds if chunk.seconds > 0 else 0.0
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} steps  "
            f"loss {float(chunk.loss[-1]):.4f}  {rate:,.0f} steps/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"python -m rnn_core: error: {message}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "sweep":
        from .sweep import command

        return command(args, config_from_args)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    for flag, path in (("--save-weights", args.save_weights), ("--json", args.json)):
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                return _fail(f"{flag} {path}: folder {folder} does not exist")
    from .data import load_sequence_csv  # numpy only: a bad data file is reported before TensorFlow loads

    sequence = None
    try:
        if args.data_file is not None:
            sequence = load_sequence_csv(args.data_file)
    except ValueError as exc:
        return _fail(str(exc))
    from .weights import load_weights, save_weights  # imports TensorFlow (seconds)

    try:
        initial = load_weights(args.init, cfg.state_size) if args.init is not None else None
        from .online_train import make_trainer
        from .report import RunRecord

        trainer = make_trainer(cfg, sequence=sequence, initial_params=initial, max_profiles=PROFILE_ROWS[args.history])
    except ValueError as exc:
        return _fail(str(exc))
    # Wait for the compiled program instead of training the first steps eagerly, as `sweep` does: eager steps
    # round differently in the last bit, so a run's numbers would hang on how the compile and the training
    # interleaved. Fully compiled, the same command gives the same floats every time, and the same as a sweep's
    # run and a warm server's.
    if not args.quiet:
        print("compiling the program for these shapes (once per process)...", file=sys.stderr, flush=True)
    from .online_train import warm_up

    try:
        trainer.state.compile_seconds += warm_up(trainer.key)
    except Exception:  # noqa: BLE001 - a shape that does not compile trains eagerly, and the summary says so
        pass
    progress = None if args.quiet else _Progress(trainer.total_steps)
    trainer.run_to_end(progress)
    if progress is not None:
        progress.close()
    summary = trainer.summary()
    try:
        if args.save_weights is not None:
            save_weights(args.save_weights, trainer.params)
        if args.json is not None:
            bundle = RunRecord.from_trainer(trainer).to_json()
            if args.history == "none":
                bundle["history"] = []
            with open(args.json, "w") as fh:
                json.dump(bundle, fh, separators=(",", ":"))
    except OSError as exc:
        return _fail(f"could not write output: {exc}")
    if summary["status"] == "diverged":
        print(f"diverged at step {summary['diverged_at']}: the loss became NaN or infinite; "
              "try --clip 1 or a smaller --lr", file=sys.stderr)
    elif summary["status"] == "failed":
        print(f"failed: {summary['failure']}; try --clip 1 or a smaller --lr", file=sys.stderr)
    baselines = ", ".join(f"{b:.4f}" for b in trainer.baselines)
    print(
        f"status {summary['status']}  final_loss {summary['final_loss']:.4f}  steps {summary['steps']}  "
        f"{summary['steps_per_second']:,.0f} steps/s" + (f"  baselines {baselines}" if baselines else "")
    )
    print(f"program {summary['program']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
