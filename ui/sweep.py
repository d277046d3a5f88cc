"""Train a list of runs, live: one progress bar across them, a callback after each.

The runs train on worker threads (rnn_core/lanes.py), two at once with `lanes=2` while no other script run
holds or waits for a turn of the server's line; this script run draws the progress and keeps each finished
run, in plan order, meanwhile. Each finished run goes into the session's run list (ui/state.py). A click
anywhere on the page stops the loop at its next progress update (Streamlit's StopException), and the lanes
after their current chunk, so callers keep whatever they need from `on_done` in the session (ui/state.py):
the runs completed before the click survive.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from streamlit.delta_generator import DeltaGenerator

from rnn_core.config import RunConfig
from rnn_core.kernels import compile_in_background, key_for
from rnn_core.lanes import Finished, Lane, Progress, train_lanes
from rnn_core.online_train import make_trainer, warm_up
from rnn_core.report import RunRecord, describe
from rnn_core.train import Trainer
from rnn_core.turns import shared
from ui.state import add_run, share_turn


def train_in_turn(
    plans: Sequence[tuple[str, RunConfig]],
    progress: DeltaGenerator,
    on_done: Callable[[int, RunRecord, Trainer], None],
    sequence: tuple[np.ndarray, np.ndarray] | None = None,
    source: str = "",
    use_compiled: bool = True,
    compile_first: bool = False,
    lanes: int = 1,
) -> None:
    """Train each (name, config), updating `progress` as they go and calling `on_done` for each in plan order.

    `name` is shown in the progress text; the stored record gets the run's usual settings label
    and `extra["source"] = source`. With `compile_first`, every run waits for its compiled program
    before its clock starts, so steps/s and seconds compare compiled speed and nothing else. With
    `lanes=2` a second run trains beside the first while the server has nothing else to do (each run's
    seconds then count the time it shared the machine: for a comparison of speeds keep `lanes=1`).
    """
    count = len(plans)
    if use_compiled:  # queue every shape's compile now: later shapes compile while earlier runs train
        for key in dict.fromkeys(key_for(cfg) for _, cfg in plans if not cfg.online):
            compile_in_background(key)

    def make(i: int) -> Trainer:
        cfg = plans[i][1]
        return make_trainer(cfg, sequence=sequence if cfg.task == "file" else None, use_compiled=use_compiled)

    def finish(i: int, trainer: Trainer) -> RunRecord:
        record = RunRecord.from_trainer(trainer, label=describe(plans[i][1]))  # its samples computed here
        record.extra["source"] = source
        return record

    line = shared()[0]
    alone = (lambda: line.held() <= 1 and not line.waiting()) if lanes > 1 else (lambda: False)
    go = threading.Event()
    go.set()
    progress.progress(0.0, text=f"Run 1 of {count}: {plans[0][0]}, starting…" if count else "Nothing to run.")
    events = train_lanes(count, make, finish, extra=alone, go=go,
                         warm=(lambda t: warm_up(t.key)) if compile_first and use_compiled else None)
    try:
        for event in events:
            if isinstance(event, Finished):
                on_done(event.index, add_run(event.record), event.trainer)
                continue
            progress.progress(_fraction(event, count), text=_text(event, plans))
            go.clear()  # the lanes wait between chunks while this script run is out of the line
            try:
                share_turn(lambda ahead, event=event: progress.progress(_fraction(event, count), text=(
                    f"{_text(event, plans)}; paused for {ahead} run{'s' if ahead != 1 else ''} started after this "
                    "sweep (a long sweep takes the server in turns)")))
            finally:
                go.set()
    finally:
        events.close()
    progress.progress(1.0, text=f"Done: {count} run{'s' if count != 1 else ''}.")


def _fraction(event: Progress, count: int) -> float:
    """How much of the plan is trained: finished runs and the busy runs' part of theirs."""
    part = sum(lane.chunk.steps_done / max(1, lane.chunk.total_steps) for lane in event.lanes if lane.chunk)
    return min(1.0, (event.finished + part) / max(1, count))


def _text(event: Progress, plans: Sequence[tuple[str, RunConfig]]) -> str:
    """The progress line: each busy run, its step and whether it trains compiled yet."""
    count = len(plans)
    if not event.lanes:
        return f"Run {min(event.finished + 1, count)} of {count}: starting…"
    return " · ".join(_lane_text(lane, plans[lane.index][0], count) for lane in event.lanes)


def _lane_text(lane: Lane, name: str, count: int) -> str:
    head = f"Run {lane.index + 1} of {count}: {name}"
    if lane.compiling:
        return f"{head}, compiling (once per shape and server)…"
    if lane.chunk is None:
        return f"{head}, starting…"
    note = "" if lane.chunk.compiled else " (running uncompiled while the XLA program builds)"
    return f"{head}, step {lane.chunk.steps_done:,} of {lane.chunk.total_steps:,}{note}"
