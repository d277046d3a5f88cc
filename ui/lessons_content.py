"""The built-in lessons as data: each step's argument, the question to predict first, the settings it
trains, and how its run is read (ui/lessons.py turns a run into the reading).

The "r2rt" lesson follows the source document's argument (reference.md §1–§2): a graph one step wide
learns no dependency; a graph n wide learns what fits in n; the error stops at the window's edge; R2RT's
three regimes; the carried state lets a larger state learn lag 8 at n = 5; and n costs time per step.

Kinds of reading:
  baseline  the run's final loss against the task's exact baselines; choice i predicts baseline outcome[i]
  reach     how far back the last loss's error goes in the run's gradient profile
  cost      time per training step of the taught graph (model.step, eager) measured for several n
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LessonStep:
    """One step of a lesson."""

    key: str
    title: str
    text: str  # the argument, Markdown written here (never user text)
    question: str
    choices: tuple[str, ...]
    kind: str  # "baseline", "reach" or "cost"
    settings: dict = field(default_factory=dict)  # RunConfig fields that differ from the defaults (R2RT)
    outcome: tuple[int, ...] = ()  # baseline kind: the baseline index each choice predicts
    ns: tuple[int, ...] = ()  # cost kind: the widths timed
    button: str = "Apply these settings and train"


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    intro: str
    steps: tuple[LessonStep, ...]


NOTHING, LAG3, BOTH = 0, 1, 2  # indices of the R2RT baselines 0.662, 0.519, 0.454
BASELINE_CHOICES = ("It learns no dependency: the loss stays near 0.662",
                    "It learns the lag-3 dependency only: the loss reaches about 0.519",
                    "It learns both lags: the loss reaches about 0.454")

R2RT = Lesson(
    key="r2rt",
    title="Why the graph is n steps wide",
    intro=(
        "R2RT's echo task: $X_t$ is a coin flip and $P(Y_t = 1) = 0.5 + 0.5\\,X_{t-3} - 0.25\\,X_{t-8}$. The best "
        "possible loss is known exactly: **0.662** nats for a model that learns nothing, **0.519** if it learns the "
        "lag-3 dependency, **0.454** if it learns both. Each step asks you to predict, then trains and reads the "
        "result against your prediction with the run's own numbers. Your place in the lesson is in the address bar, "
        "so a link opens the same step."),
    steps=(
        LessonStep(
            key="one-step", title="A graph one step wide",
            text=(
                "The simplest graph is one time step: $G(X_t, S_{t-1}) \\to (P_t, S_t)$, run once per step with the "
                "state it returned fed back in. The state flows forward, but backpropagation treats the incoming "
                "$S_{t-1}$ as a constant: the error of $L_t$ never reaches step $t-1$."),
            question="With a graph one step wide (n = 1, d = 4), what will the RNN learn?",
            choices=BASELINE_CHOICES, kind="baseline", settings={"truncation": 1, "state_size": 4},
            outcome=(NOTHING, LAG3, BOTH)),
        LessonStep(
            key="n-wide", title="The graph n steps wide",
            text=(
                "Make the graph n = 5 time steps wide: each tensor kind (inputs, states, predictions, losses) is a "
                "list of 5 tensors sharing the same weights, and the final state of one run is the first state of "
                "the next. Now the loss at position t is backpropagated through t + 1 steps."),
            question="With the graph n = 5 wide (d = 4), will it learn the lag-3 dependency?",
            choices=("No: the loss stays near 0.662", "Yes, lag 3 but not lag 8: about 0.519",
                     "Yes, and lag 8 too: about 0.454"),
            kind="baseline", settings={"truncation": 5, "state_size": 4}, outcome=(NOTHING, LAG3, BOTH)),
        LessonStep(
            key="truncation", title="Truncation at n",
            text=(
                "Backpropagating through the whole sequence would make the error vanish or explode, so the graph is "
                "cut: no gradient crosses from one window into the one before. The gradient profile of a run shows "
                "where the error of the window's last loss arrives."),
            question="In a window of n = 5, how far back does the error of the last loss reach?",
            choices=("All the way back to the start of the sequence",
                     "Back to the window's first state, n = 5 steps, and no further",
                     "One step only, like the one-step graph"),
            kind="reach", settings={"truncation": 5, "state_size": 4}),
        LessonStep(
            key="regimes", title="R2RT's three regimes",
            text=(
                "R2RT trained n = 1, n = 5 and n = 10 (the last with a larger state, d = 16, for 3 epochs). "
                "The lag-8 dependency fits inside a window of 10."),
            question="Will n = 10 with a state of d = 16 learn both lags?",
            choices=BASELINE_CHOICES, kind="baseline",
            settings={"truncation": 10, "state_size": 16, "epochs": 3}, outcome=(NOTHING, LAG3, BOTH)),
        LessonStep(
            key="carried-state", title="The carried state",
            text=(
                "The window limits how far the *error* flows, not how far the *state* remembers: the state is "
                "carried from window to window. Keep n = 5, where lag 8 does not fit, but give the state room: "
                "d = 16, 3 epochs."),
            question="Will n = 5 learn the lag-8 dependency with a state of d = 16?",
            choices=("No: lag 8 does not fit in the window, the loss stays near 0.519",
                     "Yes: the loss gets close to 0.454"),
            kind="baseline", settings={"truncation": 5, "state_size": 16, "epochs": 3}, outcome=(LAG3, BOTH)),
        LessonStep(
            key="cost", title="The cost of n",
            text=(
                "A wider graph is more expensive: every training step runs and differentiates all n positions, "
                "and keeps all n states in memory for the backward pass. This step times training steps for "
                "several n (d = 16): the document's graph, run eagerly, so the time shows how big the graph is."),
            question="How does the time of one training step grow from n = 5 to n = 40?",
            choices=("It stays about the same", "About in proportion to n", "About like n², much faster than n"),
            kind="cost", settings={"state_size": 16}, ns=(5, 10, 20, 40),
            button="Time training steps for n = 5, 10, 20, 40"),
    ),
)

LESSONS = {R2RT.key: R2RT}
