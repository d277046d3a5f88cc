"""One line per chart saying what it shows and how to read it, shown under the chart while
"Explain the charts" is on (ui/lesson_link.py keeps that switch in the URL as explain=1)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ui import lesson_link

LINES = {
    "loss": "What am I looking at: the training loss after each step (light: each step, dark: its running mean); "
            "the dashed lines are the best loss possible if the model learned nothing, only lag 3, or both lags. "
            "Click a point to look at that step below.",
    "gradient-profile": "What am I looking at: for each position of the window, how much error reaches the state "
                        "there (log scale); the orange line is the last loss's share. Left is the oldest position, "
                        "and nothing goes further left: that is the truncation.",
    "gradient-heatmap": "What am I looking at: the same gradient profile for every recorded step, side by side; "
                        "each column is one step, each row one window position, brighter means more error.",
    "position-loss": "What am I looking at: the loss at each position of the window; a position can only learn a "
                     "lag that fits inside the window before it.",
    "sigma-max": "What am I looking at: the largest stretch the recurrent matrix W_s applies to a state; below 1 "
                 "the error going back in time must shrink at every step.",
    "global-norm": "What am I looking at: the size of the whole gradient at each step, before clipping; spikes are "
                   "where an update could blow the weights up.",
    "input-target-prediction": "What am I looking at: one row of the last window: the inputs X_t (blue), the "
                               "targets Y_t (green) and the model's P(Y_t = 1) (orange), position by position.",
    "hidden-state": "What am I looking at: the state S_t, one row per unit, one column per position; red and blue "
                    "are the two signs, white is near 0.",
    "step-graph": "What am I looking at: the graph this window was trained on, with row 0's numbers on it: inputs "
                  "x, states (‖∂L/∂S‖: the error reaching each), P(Y=1) and the loss at each position.",
    "step-table": "What am I looking at: the same window as numbers, one row per position; the gradient columns are "
                  "over the whole batch.",
    "lesson-cost": "What am I looking at: milliseconds one training step took for each window width n, measured "
                   "just now on this server.",
    "lesson-result": "What am I looking at: this step's run: its loss per step with the three exact baselines.",
}


def line(name: str) -> str:
    """The "what am I looking at" line for a chart, or '' when the explanations are off or it has none."""
    return LINES.get(name, "") if lesson_link.explaining() else ""


def annotate(fig: Any) -> Any:
    """A board Figure with its explanation put before its caption (the same Figure when explanations are off)."""
    text = line(fig.name)
    if not text or fig.chart is None:
        return fig
    return replace(fig, caption=f"*{text}*\n\n{fig.caption}")
