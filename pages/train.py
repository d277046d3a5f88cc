"""Train (the landing page): train the seed's RNN with truncated BPTT and watch it learn, live.

Flat script: inputs (the validated config from the sidebar, the row of buttons), work (the training
loop, redrawing the charts in place), output (status, downloads). A run that trains to its end redraws the
buttons for its new state and draws its final charts in the same script run (ui/train_buttons.py). The Trainer lives in
the session (ui/state.py), so Continue resumes it on a later rerun. Any click during training stops this
script at its next st.* call; the loop's `finally` closes the trainer's generator, which copies
the weights out, and the rerun that the click started puts the stopped run into the run list.
With fast reruns that rerun starts on a new thread while this one still trains, so the loop holds
state.training_lock() and ui.state waits for it before touching the trainer. This page is the
one place that resets a run whose settings changed. `state.step_budget()`, if set, caps the steps
one click trains (tests use it).
"""
import contextlib
import time

import streamlit as st

from rnn_core.report import RunRecord
from ui import explain, lesson_link, page_first, run_cap, state, train_buttons
from ui.entry import require_app
from ui.progress import bundle_compile_note, compile_note, epoch_added, progress_text

require_app()

cfg = state.config()
problem = state.config_error()
present = state.present()
sequence = state.sequence(cfg)
budget = state.step_budget()

st.title("Truncated backpropagation through time")
lesson_link.show_note()
if not present:
    if cfg.online:
        st.caption(
            f"An RNN with a state of d = {cfg.state_size} units reads an echo sequence, learning online with "
            f"{cfg.style.upper()}: one update per time step, its gradient through the whole history, no window and "
            "no truncation. Press **Train** and compare the loss with a truncated run's against the exact baselines."
        )
    else:
        st.caption(
            f"An RNN with a state of d = {cfg.state_size} units reads an echo sequence in windows of "
            f"n = {cfg.truncation} steps. Gradients never cross from one window into the one before, so can it still "
            "learn a dependency longer than n? Press **Train** and watch the loss against the exact baselines."
        )

state.drop_if_changed(cfg, sequence)  # the settings changed since this run was made
state.save()  # a run stopped by the click that started this rerun goes into the run list now
trainer = state.trainer()
redo = state.cut_click()  # the browser id's rerun cut a click's run before it acted: act on it now
carry_on = state.resume_cut_run(trainer)  # the browser id's rerun interrupted this run: train on

more = epoch_added()  # "One more epoch" extended the run before this script run (its on_click)
buttons = st.empty()  # drawn again once this run has trained, for the run's new state (ui/train_buttons.py)
clicks = train_buttons.draw(buttons, trainer, problem, redo=redo or state.own_click(), carry_on=carry_on, more=more)
train, step_click, resume, stop, reset = clicks.train, clicks.step, clicks.resume, clicks.stop, clicks.reset
if problem:
    st.error(f"Fix the settings first: {problem}")
    page_first.release()  # a session's first run: the sidebar, held till now (ui/page_first.py)
    st.stop()  # the last run's charts and "Done" belong to other settings than the sidebar shows

acting = train or step_click or resume or more
# While this run acts on a click (the imports below take a second on first use), a rerun the user did not ask for
# (the browser id's answer) waits for it in state.trainer(), then finds the run started (resume_cut_run) or the
# click not acted on (state.cut_click).
with state.training_lock() if acting else contextlib.nullcontext():
    from ui import (  # noqa: E402 - the charts' libraries (about 1 s to import) load once the buttons show
        downloads,
        exact_view,
        live,
        stepper,
    )

    if stop or reset or train or step_click:
        state.mark_training(False)  # the user's own click ended any earlier loop
    if reset:
        state.reset()
        trainer = None
    refused = run_cap.refusal(cfg, sequence) if train else None  # the teacher's per-run cap (ui/run_cap.py)
    if refused:
        st.error(refused)
        train = False
    if train:
        try:
            trainer = state.start(cfg, sequence)
        except ValueError as exc:
            st.error(f"Cannot start this run: {exc}")
            trainer = None
    if step_click:
        trainer = stepper.step(trainer, cfg, sequence)
    running = trainer is not None and (train or resume or more) and not trainer.finished
    if running:
        state.mark_training(True)  # from here a rerun the user did not ask for resumes this run (resume_cut_run)
    state.acted()  # the click's run is started or stepped: a cut from here on must not do it again

progress = st.empty()
outcome = st.empty()  # claims its place now, so the last run's message does not linger while training


def show_waiting(ahead: int) -> None:
    progress.progress(0.0, text=f"Paused for the runs started after yours: {ahead} ahead of it now. "
                                "The server takes a long run in turns, so a class is not kept waiting.")


closeup = st.container()  # a stepped window is shown here, above the charts
# Charts redrawn in place need a placeholder each; drawn once (no run training), only the loss chart is replaced
board = live.Board(present, memory=state.board_memory(), placeholders=None if running else ("loss",))

if running:
    with state.training_lock():
        steps_before, wall_start = trainer.state.steps_done, time.perf_counter()
        trainer.pause = state.step_aside(show_waiting)  # a heavy run goes to the back of the line, not to sleep
        chunks = trainer.run(max_steps=budget)
        try:
            for chunk in chunks:
                rate = (chunk.steps_done - steps_before) / max(time.perf_counter() - wall_start, 1e-6)
                progress.progress(min(1.0, chunk.steps_done / max(1, chunk.total_steps)),
                                  text=progress_text(trainer, rate))
                if board.due() and chunk.status == "running":  # the last chunk is drawn once, below
                    board.draw_live(RunRecord.from_trainer(trainer), chunk.snapshot)
                state.share_turn(show_waiting)  # a long run lets the runs started after it go first, now and then
        finally:
            chunks.close()  # the trainer copies its weights out here; no st.* call may run in a finally
            trainer.pause = time.sleep  # this script run's placeholders are not the next one's
    state.mark_training(False)  # not reached when a rerun cut the loop short
    train_buttons.draw(buttons, trainer, problem, after=True)  # Stop off, Continue or One more epoch on

record = state.save() if trainer is not None else state.loaded()
snapshot = trainer.last_chunk.snapshot if trainer is not None and trainer.last_chunk is not None else None
if record is None:
    outcome.info("No run yet. Choose settings in the sidebar (the defaults reproduce R2RT) and press **Train**.")
    targets = live.targets_figure(cfg)
    if targets is not None:
        board.show(explain.annotate(targets))
    page_first.release()  # a session's first run: the sidebar, held till the page is drawn (ui/page_first.py)
    st.stop()

figs = board.draw(record, snapshot, leave=("loss",))  # the loss chart is drawn pickable, just below
stepper.pick_on_loss_chart(board, figs, present, stepper.picked())
summary = record.summary
steps, seconds = int(summary.get("steps") or 0), float(summary.get("seconds") or 0.0)
compile_seconds = float(summary.get("compile_seconds") or 0.0)
compiling = compile_note(trainer) if trainer is not None else bundle_compile_note(compile_seconds)
total = trainer.total_steps if trainer is not None else steps
if trainer is not None:
    progress.progress(min(1.0, steps / max(1, total)), text=progress_text(trainer, 0.0))
speed = f"{steps / seconds:,.0f} steps/s" if seconds > 0 else "speed not recorded"
program = f" Gradients: {summary['program']}." if summary.get("program") else ""
status = summary.get("status")
if status in ("diverged", "failed"):
    outcome.error(live.divergence_advice(record))
elif trainer is None:
    outcome.info(f"Loaded run **{record.label}**: {steps:,} steps, {speed}, {compiling}.{program} "
                 "Press **Train** to run these settings again.")
elif status == "completed":
    outcome.success(f"Done: {steps:,} steps in {seconds:.1f} s of training ({speed}); {compiling}. "
                    f"Final loss {record.final_loss():.3f} nats.{program}")
else:
    outcome.info(f"Stopped at step {steps:,} of {total:,} ({speed}).{program} **Continue** resumes from the current "
                 "weights, optimizer state and RNN state.")

exact_view.train_section(record)
stepped = stepper.latest_window(trainer)
if stepped is not None:
    with closeup:
        stepper.show_window(stepped, cfg, present)
if stepper.picked() is not None:
    stepper.show_picked(record, stepper.picked(), trainer.steps_per_epoch if trainer is not None else 0, sequence,
                        present)

st.subheader("Downloads")
downloads.run_buttons(record)
downloads.chart_buttons(figs, downloads.file_stem(record))
