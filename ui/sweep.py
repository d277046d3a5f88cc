"""Train a list of runs one after another, live: one progress bar across them, a callback after each.

Each finished run goes into the session's run list (ui/state.py). A click anywhere on the page stops
the loop at its next progress update (Streamlit's StopException), so callers keep whatever they
need from `on_done` in the session (ui/state.py): the runs completed before the click survive.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from streamlit.delta_generator import DeltaGenerator

from rnn_core.config import RunConfig
from rnn_core.kernels import compile_in_background, key_for
from rnn_core.online_train import make_trainer, warm_up
from rnn_core.report import RunRecord, describe
from rnn_core.train import Trainer
from ui.state import add_run, share_turn


def train_in_turn(
    plans: Sequence[tuple[str, RunConfig]],
    progress: DeltaGenerator,
    on_done: Callable[[int, RunRecord, Trainer], None],
    sequence: tuple[np.ndarray, np.ndarray] | None = None,
    source: str = "",
    use_compiled: bool = True,
    compile_first: bool = False,
) -> None:
    """Train each (name, config) in order, updating `progress` after every chunk and calling `on_done`.

    `name` is shown in the progress text; the stored record gets the run's usual settings label
    and `extra["source"] = source`. With `compile_first`, every run waits for its compiled program
    before its clock starts, so steps/s and seconds compare compiled speed and nothing else.
    """
    count = len(plans)
    if use_compiled:  # queue every shape's compile now: later shapes compile while earlier runs train
        for key in dict.fromkeys(key_for(cfg) for _, cfg in plans if not cfg.online):
            compile_in_background(key)
    for i, (name, cfg) in enumerate(plans):
        trainer = make_trainer(cfg, sequence=sequence if cfg.task == "file" else None, use_compiled=use_compiled)
        if compile_first and use_compiled:
            progress.progress(i / count, text=f"Run {i + 1} of {count}: {name}, compiling (once per shape and server)…")
            warm_up(trainer.key)
        progress.progress(i / count, text=f"Run {i + 1} of {count}: {name}, starting…")
        for chunk in trainer.run():
            if trainer.sampler is not None and not trainer.finished:  # the samples so far, on the other core
                trainer.sampler.flush_behind()
            note = "" if chunk.compiled else " (running uncompiled while the XLA program builds)"
            progress.progress(
                min(1.0, (i + chunk.steps_done / max(1, chunk.total_steps)) / count),
                text=f"Run {i + 1} of {count}: {name}, step {chunk.steps_done:,} of {chunk.total_steps:,}{note}",
            )
            share_turn(lambda ahead, i=i, name=name: progress.progress(
                i / count, text=f"Run {i + 1} of {count}: {name}, paused for {ahead} run{'s' if ahead != 1 else ''} "
                                "started after this sweep (a long sweep takes the server in turns)"))
        record = RunRecord.from_trainer(trainer, label=describe(cfg))
        record.extra["source"] = source
        on_done(i, add_run(record), trainer)
    progress.progress(1.0, text=f"Done: {count} run{'s' if count != 1 else ''}.")
