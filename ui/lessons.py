"""The Lessons page's logic: where the student is (kept in the URL as ?lesson=r2rt&step=3), training a
step's settings with the session's Trainer (ui/state.py), and reading the run against the prediction.

A step's button applies its settings to the sidebar (so the Train page shows the same run) and trains
them to the end, or until `state.step_budget()` if one is set (tests set it; the reading then says the run
was cut short). The reading uses only the run's own numbers: its final loss against the exact
baselines, its gradient profile, or the times it measured.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from rnn_core import model
from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.model import init_params
from rnn_core.report import RunRecord
from ui import settings, state
from ui.lessons_content import LESSONS, Lesson, LessonStep
from viz.common import fmt

LESSON, STEP = "lesson", "step"
DEFAULT_LESSON = "r2rt"
POSITION, POSITION_WARNINGS, RESULTS, PENDING = "lesson_position", "lesson_position_warnings", "lesson_results", \
    "lesson_pending"
TRAINING = "lesson_training"  # the (lesson, step) whose run is training, until its loop ends
COST_WARMUP, COST_STEPS = 2, 5  # eager training steps run before timing, and timed, per n


# ---- where the student is


def read_position(params: dict[str, str]) -> tuple[str, int, list[str]]:
    """(lesson key, 0-based step, warnings) from ?lesson=&step= (step counted from 1 in the URL)."""
    warnings: list[str] = []
    key = str(params.get(LESSON, DEFAULT_LESSON)).strip().lower()
    if key not in LESSONS:
        warnings.append(f"The link's `lesson={params[LESSON]}` is not a lesson here (there is: "
                        f"{', '.join(LESSONS)}); opening `{DEFAULT_LESSON}`.")
        key = DEFAULT_LESSON
    count = len(LESSONS[key].steps)
    index = 0
    if STEP in params:
        raw = str(params[STEP]).strip()
        try:
            number = int(raw)
        except ValueError:
            number = None
        if number is None or not 1 <= number <= count:
            warnings.append(f"The link's `step={params[STEP]}` was ignored (expected a whole number from 1 to "
                            f"{count}); opening step 1.")
        else:
            index = number - 1
    return key, index, warnings


def position() -> tuple[Lesson, int]:
    """The lesson and step shown: from the URL when it names one, else where this session was; written back."""
    found = {k: st.query_params[k] for k in (LESSON, STEP) if k in st.query_params}
    if found or state.memo(POSITION) is None:
        key, index, warnings = read_position(found)
        if found != state.memo("_lesson_url_written"):
            state.set_memo(POSITION_WARNINGS, warnings)
        state.set_memo(POSITION, (key, index))
    key, index = state.memo(POSITION)
    _write(key, index)
    return LESSONS[key], index


def _write(key: str, index: int) -> None:
    wanted = {LESSON: key, STEP: str(index + 1)}
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    state.set_memo("_lesson_url_written", wanted)


def go(key: str, index: int) -> None:
    """A Back/Next callback: move to another step (the URL follows on this rerun)."""
    state.set_memo(POSITION, (key, index))
    state.set_memo(POSITION_WARNINGS, [])
    state.set_memo("_lesson_url_written", None)
    st.query_params[LESSON], st.query_params[STEP] = key, str(index + 1)


def position_warnings() -> list[str]:
    return list(state.memo(POSITION_WARNINGS, []))


# ---- a step's run


def step_config(step: LessonStep) -> RunConfig:
    """The step's settings on top of the defaults (R2RT's set-up)."""
    return RunConfig(**step.settings).validate()


@dataclass
class Result:
    """What a step's button measured."""

    kind: str
    record: RunRecord | None = None
    budget_cut: bool = False  # stopped by the step budget before the run's end
    seconds: float = 0.0
    times: dict[int, float] = field(default_factory=dict)  # cost kind: n -> seconds per training step


def results() -> dict[tuple[str, str], Result]:
    return state.memo(RESULTS) or {}


def result(lesson: Lesson, step: LessonStep) -> Result | None:
    return results().get((lesson.key, step.key))


def _keep(lesson: Lesson, step: LessonStep, res: Result) -> None:
    kept = dict(results())
    kept[(lesson.key, step.key)] = res
    state.set_memo(RESULTS, kept)


def apply(lesson: Lesson, step: LessonStep) -> None:
    """The step button's callback: the step's settings into the sidebar (before it is drawn), then train."""
    if step.kind != "cost":
        settings.apply_config(step_config(step))
    state.set_memo(PENDING, (lesson.key, step.key))


def pending(lesson: Lesson, step: LessonStep) -> bool:
    """Whether this step's button was just pressed (consumed by the call), or its training was cut short by the
    rerun the browser id's arrival causes (a student who pressed it as the page loaded): it trains again."""
    if state.memo(PENDING) == (lesson.key, step.key):
        state.forget(PENDING)
        return True
    return state.memo(TRAINING) == (lesson.key, step.key) and state.id_rerun_cut_training()


def train(lesson: Lesson, step: LessonStep, progress) -> Result:
    """Train the step's settings as the session's live run (the sidebar already holds them), to the end."""
    cfg = state.config()
    wanted = step_config(step)
    if cfg != wanted:  # the sidebar refused them (e.g. an uploaded-file task): train the step's own settings
        cfg = wanted
    trainer = state.start(cfg, None)
    budget = state.step_budget()
    t0 = time.perf_counter()
    state.set_memo(TRAINING, (lesson.key, step.key))
    state.mark_training(True)  # cleared below; still set if a rerun cuts the loop short
    with state.training_lock():
        chunks = trainer.run(max_steps=budget)
        try:
            for chunk in chunks:
                progress.progress(min(1.0, chunk.steps_done / max(1, chunk.total_steps)),
                                  text=f"Training n = {cfg.truncation}, d = {cfg.state_size}: step "
                                       f"{chunk.steps_done:,} of {chunk.total_steps:,}")
        finally:
            chunks.close()
    state.mark_training(False)
    state.forget(TRAINING)
    record = state.save()
    res = Result(step.kind, record=record, budget_cut=not trainer.finished, seconds=time.perf_counter() - t0)
    _keep(lesson, step, res)
    return res


def time_steps(lesson: Lesson, step: LessonStep, progress) -> Result:
    """Seconds per training step for each n of the step: `model.step`, the taught graph (Python lists of n
    tensors, tf.GradientTape), run eagerly on one batch, so the time is the graph's size, not a compile."""
    times: dict[int, float] = {}
    base = step_config(step)
    params = init_params(base.state_size, base.init_scale, base.seed)
    for i, n in enumerate(step.ns):
        progress.progress(i / len(step.ns), text=f"Timing n = {n}…")
        xb, yb = epoch_data(base.replace(series_length=base.batch_size * n), 0)
        first = np.zeros((base.batch_size, base.state_size), np.float32)
        for _ in range(COST_WARMUP):
            model.step(params, xb[:, :n], yb[:, :n], first)
        calls = []
        for _ in range(COST_STEPS):
            t0 = time.perf_counter()
            model.step(params, xb[:, :n], yb[:, :n], first)
            calls.append(time.perf_counter() - t0)
        times[n] = min(calls)  # the fastest call: other work on a shared server only ever adds time
    progress.progress(1.0, text="Timed.")
    res = Result("cost", times=times)
    _keep(lesson, step, res)
    return res


def runs_table(lesson: Lesson) -> list[dict]:
    """One row per trained step of the lesson: its settings, final loss and nearest baseline (R2RT's regimes)."""
    rows = []
    for step in lesson.steps:
        res = result(lesson, step)
        if res is None or res.record is None or step.kind != "baseline":
            continue
        rec = res.record
        cfg, final = rec.config, rec.final_loss()
        labels = ("learns nothing", "learns lag 3", "learns both")
        near = labels[nearest(final, rec.baselines)] if rec.baselines and np.isfinite(final) else "—"
        rows.append({"step": step.title, "n": cfg.truncation, "d": cfg.state_size, "epochs": cfg.epochs,
                     "steps trained": int(rec.summary.get("steps") or 0), "final loss": round(final, 4),
                     "nearest baseline": near})
    return rows


# ---- reading a result against the prediction


def nearest(loss: float, base: list[float]) -> int:
    """Index of the baseline nearest to a final loss."""
    return int(np.argmin([abs(loss - b) for b in base]))


def outcome(step: LessonStep, res: Result) -> int | None:
    """The choice the run supports, or None if it cannot tell (no baselines, a diverged run)."""
    if step.kind == "baseline":
        rec = res.record
        if rec is None or not rec.baselines or not np.isfinite(rec.final_loss()):
            return None
        k = nearest(rec.final_loss(), rec.baselines)
        return step.outcome.index(k) if k in step.outcome else min(range(len(step.outcome)),
                                                                    key=lambda i: abs(step.outcome[i] - k))
    if step.kind == "reach":
        rec = res.record
        if rec is None or not len(rec.profiles["step"]):
            return None
        tmp = rec.profiles["temporal"][-1]
        n = rec.config.truncation
        if len(tmp) != n or not np.all(np.isfinite(tmp)):
            return None
        return 1 if tmp[0] > 0 and n > 1 else 2
    if step.kind == "cost":
        slope = cost_exponent(res.times)
        if slope is None:
            return None
        return 0 if slope < 0.4 else 1 if slope < 1.5 else 2
    return None


def cost_exponent(times: dict[int, float]) -> float | None:
    """The exponent e of time per step ∝ n^e, fitted on a log-log scale."""
    ns = [n for n in times if times[n] > 0]
    if len(ns) < 2:
        return None
    slope, _ = np.polyfit(np.log(ns), np.log([times[n] for n in ns]), 1)
    return float(slope)


def reading(step: LessonStep, res: Result, choice: int | None) -> tuple[bool | None, str]:
    """(whether the prediction matched the run, the reading in Markdown built from the run's numbers)."""
    supported = outcome(step, res)
    if step.kind in ("baseline", "reach"):
        text = _read_run(step, res)
    else:
        text = _read_cost(res)
    if supported is None:
        return None, text + " The run cannot settle the question."
    text += f" The run supports: **{step.choices[supported]}**."
    if choice is None:
        return None, text
    matched = choice == supported
    said = f"You predicted: *{step.choices[choice]}*. "
    return matched, said + ("Your prediction matches. " if matched else "The run says otherwise. ") + text


def _read_run(step: LessonStep, res: Result) -> str:
    rec = res.record
    assert rec is not None
    cfg, final, base = rec.config, rec.final_loss(), rec.baselines
    steps = int(rec.summary.get("steps") or 0)
    text = (f"The run (n = {cfg.truncation}, d = {cfg.state_size}, {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''})"
            f" trained {steps:,} steps")
    if res.budget_cut:
        text += " (cut short by the step budget, so it had not finished learning)"
    text += f"; its final loss, the mean of its last {min(100, steps)} steps, is **{fmt(final)} nats**."
    if step.kind == "baseline" and base:
        k = nearest(final, base)
        text += (f" Baselines: learns nothing {fmt(base[0])}, learns lag 3 {fmt(base[1])}, learns both "
                 f"{fmt(base[2])}; the nearest is {fmt(base[k])}.")
        if k == 0 and final < base[0] - 0.01 and not res.budget_cut:
            share = (base[0] - final) / (base[0] - base[1])
            text += (f" It is {share:.0%} of the way from 0.662 towards 0.519: with no gradient through time the "
                     "carried state can still keep some of the past by chance, but nothing teaches it to.")
    if step.kind == "reach" and len(rec.profiles["step"]):
        tmp, n = rec.profiles["temporal"][-1], cfg.truncation
        text += (f" In its last recorded step the last loss's error reached all {n} positions of the window: "
                 f"‖∂L_last/∂S_0‖ = {fmt(float(tmp[0]))} at the oldest, {fmt(float(tmp[-1]))} at the newest "
                 f"(ratio {fmt(float(tmp[0] / tmp[-1])) if tmp[-1] > 0 else '—'}). The state carried in, S₋₁, gets "
                 "no gradient at all: the graph ends there.")
    return text


def _read_cost(res: Result) -> str:
    rows = ", ".join(f"n = {n}: {t * 1000:.1f} ms" for n, t in res.times.items())
    text = f"Time of one training step of the taught graph (eager, B = 200, d = 16, fastest of {COST_STEPS}): {rows}."
    ns = list(res.times)
    if len(ns) >= 2:
        lo, hi = ns[0], ns[-1]
        text += (f" From n = {lo} to n = {hi} (×{hi / lo:g}) the time grew ×{res.times[hi] / res.times[lo]:.1f}; "
                 f"fitted, time ∝ n^{cost_exponent(res.times):.2f}.")
        if (cost_exponent(res.times) or 0) < 0.8:
            text += " Each call also has a fixed cost, the same for every n, which flattens the curve at small n."
    text += (" Compiled, the trainer is far faster, but each training step still walks all n positions "
             "forward and back and holds all n states for the backward pass.")
    return text
