"""The Data page's helpers: task inputs pre-filled from the sidebar, the conditional table, the inspected file."""
from __future__ import annotations

from typing import Any

import numpy as np

from rnn_core.config import RunConfig
from rnn_core.data import R2RT, EchoTask, load_sequence_csv, task_for
from ui import state

PREFILLED_FROM, PARSED = "data_prefill_source", "data_upload_parsed"


def prefill_task_inputs(cfg: RunConfig) -> EchoTask:
    """Set the task inputs from the sidebar's task whenever that changes (R2RT's for a file); returns that task."""
    prefill = task_for(cfg) or R2RT
    source = (cfg.task, prefill)
    if state.memo(PREFILLED_FROM) != source:
        state.set_memo(PREFILLED_FROM, source)
        state.set_widgets({
            "data_lags": ", ".join(str(v) for v in prefill.lags),
            "data_effects": ", ".join(f"{v:g}" for v in prefill.effects),
            "data_base": float(prefill.base_prob),
            "data_q": float(prefill.input_prob),
        })
    return prefill


def conditional_rows(task: EchoTask) -> list[dict[str, Any]]:
    """One row per combination of the lagged inputs: the bits, P(Y_t = 1) and how often the combination occurs."""
    q = task.input_prob
    rows = []
    for bits, p in task.conditional_table():
        row: dict[str, Any] = {f"X(t-{lag})": b for lag, b in zip(task.lags, bits)}
        row["P(Y_t = 1)"] = p
        row["how often"] = float(np.prod([q if b else 1 - q for b in bits]))
        rows.append(row)
    return rows


def inspected_sequence(upload: Any) -> tuple[tuple[np.ndarray, np.ndarray] | None, str, str]:
    """(sequence, name, problem) of the file uploaded on this page, parsed once per file; without one, the
    sidebar's sequence if it has one."""
    if upload is None:
        seq = state.sequence()
        return seq, (state.sequence_name() if seq is not None else ""), ""
    cached = state.memo(PARSED)
    if cached is None or cached[0] != upload.file_id:
        try:
            cached = (upload.file_id, load_sequence_csv(upload.getvalue()), "")
        except ValueError as exc:
            cached = (upload.file_id, None, str(exc))
        state.set_memo(PARSED, cached)
    _, seq, problem = cached
    return seq, upload.name, problem


def measurable(dependency: list[dict]) -> list[dict]:
    """The lags whose difference could be measured (a 2-step file has none: its chart would be empty)."""
    return [r for r in dependency if np.isfinite(r["difference"])]


def share_upload(key: str = "data_upload") -> None:
    """on_change of the Data page's uploader: a readable file becomes the session's sequence, the one the
    sidebar's file task trains on (a refused one is reported by the page and changes nothing)."""
    upload = state.widget(key)
    if upload is None:
        return
    try:
        state.set_sequence(load_sequence_csv(upload.getvalue()), upload.name)
    except ValueError:
        pass
