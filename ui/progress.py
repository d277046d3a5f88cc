"""The Train page's progress line: steps done, speed, time left and what compiling cost, all from the trainer."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rnn_core.config import BOUNDS
from ui import state

if TYPE_CHECKING:  # the trainer imports TensorFlow; the landing page draws without it
    from rnn_core.train import Trainer


def duration(seconds: float) -> str:
    """'42 s', '3 min 5 s' or '2 h 10 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def compile_note(t: Trainer) -> str:
    """What compiling cost this run."""
    if t.last_chunk is not None and not t.last_chunk.compiled:
        if t.state.status == "running":
            return "compiling the XLA program in the background (running uncompiled meanwhile)"
        return "ran uncompiled while the XLA program was being built"
    if t.state.compile_seconds > 0:
        return f"compiling took {t.state.compile_seconds:.1f} s"
    return "compiled program reused: no compile time"


def bundle_compile_note(compile_seconds: float) -> str:
    """What a loaded bundle says about compiling ('0.0 s' would claim a compile that took no time)."""
    if compile_seconds >= 0.05:
        return f"compiling took {compile_seconds:.1f} s"
    return "no compile time recorded"


def progress_text(t: Trainer, wall_rate: float) -> str:
    """'Step 1,000 of 5,000 · 9,000 steps/s · about 2 s left · compiling took 3.1 s' (no time left when
    `wall_rate`, steps per wall-clock second, is 0)."""
    s = t.state
    done, total = s.steps_done, t.total_steps
    parts = [f"Step {done:,} of {total:,}"]
    if s.seconds > 0:
        parts.append(f"{done / s.seconds:,.0f} steps/s")
    eager = t.last_chunk is not None and not t.last_chunk.compiled
    if wall_rate > 0 and done < total and not eager:
        parts.append(f"about {duration((total - done) / wall_rate)} left")
    elif eager and done < total:  # the uncompiled rate says nothing about the compiled program's
        parts.append("time left known once the compiled program runs")
    parts.append(compile_note(t))
    return " · ".join(parts)


EPOCH_ADDED = "epoch_added"


def more_epochs_possible(t: Trainer | None) -> bool:
    """Whether a run can be given one more epoch: it completed (not diverged) below the epochs limit."""
    return t is not None and t.state.status == "completed" and t.cfg.epochs < BOUNDS["epochs"].high


def add_epoch(t: Trainer | None) -> None:
    """on_click of "One more epoch": extend the run and move the sidebar's Epochs with it, so the page sees the
    same settings as the run's and keeps it."""
    if not more_epochs_possible(t):
        return
    assert t is not None
    t.extend(1)
    state.set_widgets({"w_epochs": t.cfg.epochs})
    state.set_memo(EPOCH_ADDED, True)


def epoch_added() -> bool:
    """Whether "One more epoch" was clicked for this script run (the button itself is disabled by then: the run
    it extended is no longer finished, and a disabled button reports no click)."""
    return bool(state.forget(EPOCH_ADDED))
