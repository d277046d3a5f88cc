"""The Train page's row of action buttons (Train, Step, Continue, One more epoch, Stop, Reset), in a placeholder.

The row is drawn at the top of every script run, for the run as it stands. A script run that trains draws it
again once training ends, in the same placeholder, for the run's new state (Stop off, Continue or One more epoch
on), and goes on to the final charts: no second script run redraws the whole page (the sidebar, the settings'
widgets, the title) just to change the buttons. Streamlit allows one widget per id in a script run, so that
second row's buttons carry their own keys (`AFTER`). The next script run draws the row with the usual ids, so a
click on that second row reaches the page through the buttons' `on_click` (ui/state.note_click), which Streamlit
runs from the clicked widget's own record before the next script run starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from ui import state
from ui.progress import add_epoch, more_epochs_possible

if TYPE_CHECKING:  # the trainer imports TensorFlow; the buttons draw without it
    from rnn_core.train import Trainer

AFTER = "-after-training"  # the key suffix of the row redrawn after training, in the script run that trained


@dataclass(frozen=True)
class Clicks:
    """What the user asked this script run to do (a button's click, or a click noted for this run)."""

    train: bool = False
    step: bool = False
    resume: bool = False
    stop: bool = False
    reset: bool = False


def draw(slot, trainer: Trainer | None, problem: str, redo: str | None = None, carry_on: bool = False,
         more: bool = False, after: bool = False) -> Clicks:
    """Draw the row into `slot` (an `st.empty()`) for `trainer` and return this run's clicks.

    `redo` is a click noted for this script run (its own, or one the browser id's rerun cut short: state.cut_click
    and state.own_click), `carry_on` a run the id's rerun cut short (state.resume_cut_run), `more` whether "One
    more epoch" extended the run (progress.epoch_added): each counts as its button's click. `after=True` draws the
    row for the run that just trained in this script run; no click can have reached it yet, so it reports none.
    """
    def key(name: str) -> str | None:
        return f"{name}{AFTER}" if after else None  # the usual row keeps Streamlit's own ids, as the browser knows

    finished = trainer is None or trainer.finished
    with slot.container(horizontal=True):
        train = st.button("Train", type="primary", icon=":material/play_arrow:", disabled=bool(problem),
                          on_click=state.note_click, args=("train",), key=key("train"),
                          help="Start a fresh run with the settings in the sidebar.")
        step = st.button("Step", icon=":material/skip_next:", disabled=bool(problem),
                         on_click=state.note_click, args=("step",), key=key("step"),
                         help="Train exactly one step (one window) and show it; Continue goes on at full speed.")
        resume = st.button("Continue", icon=":material/resume:", disabled=finished,
                           on_click=state.note_click, args=("continue",), key=key("continue"),
                           help="Resume from the current weights, optimizer state and RNN state.")
        st.button("One more epoch", icon=":material/add:", disabled=not more_epochs_possible(trainer),
                  on_click=add_epoch, args=(trainer,), key=key("more"),
                  help="Train this finished run for another epoch of fresh data, from where it stopped.")
        if after:
            train = step = resume = False
        else:
            train, step = train or redo == "train", step or redo == "step"
            resume = resume or carry_on or (redo == "continue" and not finished)
        # Stop only means something while this script trains: a click on it reruns and ends the training loop.
        training = train or resume or more
        stop = st.button("Stop", icon=":material/stop:", disabled=after or not training or bool(problem),
                         key=key("stop"), help="Stop training at once and keep what was trained.")
        reset = st.button("Reset", icon=":material/restart_alt:", disabled=trainer is None and state.loaded() is None,
                          on_click=state.note_click, args=("reset",), key=key("reset"),
                          help="Forget the current run here (it stays in the session's run list for Compare).")
    if after:
        return Clicks()
    return Clicks(train=train, step=step, resume=resume, stop=stop, reset=reset or redo == "reset")
