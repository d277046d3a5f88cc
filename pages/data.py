"""Data page: the echo task explorer (a sample, P(Y=1 | lags), the exact baselines) and a CSV sequence inspector."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from rnn_core.config import BOUNDS, parse_list, validate_lags
from rnn_core.data import MAX_FILE_STEPS, EchoTask, baseline_labels, baselines, to_csv
from rnn_core.sequence_stats import lag_dependency, rates, sample
from ui import state
from ui.data_view import conditional_rows, inspected_sequence, measurable, prefill_task_inputs, share_upload
from ui.entry import require_app
from viz import data_charts

require_app()

cfg = state.config()

st.title("Data")
st.markdown(
    "Every generated task draws $X_t \\sim \\mathrm{Bernoulli}(q)$ and then "
    "$P(Y_t = 1) = \\mathrm{clip}\\big(b + \\sum_i e_i\\,X_{t-L_i},\\ 0,\\ 1\\big)$: "
    "$Y_t$ echoes inputs $L_i$ steps back. "
    "A network can only beat a coin weighted by $P(Y=1)$ if it remembers those inputs, and the truncation n "
    "decides how far back its error can travel to learn that."
)

# ---- inputs: the task, pre-filled from the sidebar's task whenever that changes
prefill_task_inputs(cfg)

st.subheader("The task")
if cfg.task == "file":
    st.caption("The sidebar trains on a CSV file; exploring R2RT's task here instead.")
else:
    st.caption(f"Pre-filled from the sidebar's task ({cfg.task}); change the numbers to explore other tasks.")
c1, c2, c3, c4 = st.columns(4)
lags_text = c1.text_input("Lags L_i", key="data_lags", help="Comma-separated lags, e.g. 3, 8")
effects_text = c2.text_input("Effects e_i", key="data_effects", help="One effect in [-1, 1] per lag, e.g. 0.5, -0.25")
base_prob = c3.number_input("Base probability b", 0.0, 1.0, step=0.05, key="data_base", format="%g",
                            help=BOUNDS["base_prob"].help)
input_prob = c4.number_input("Input probability q = P(X=1)", 0.0, 1.0, step=0.05, key="data_q", format="%g",
                             help=BOUNDS["input_prob"].help)
c5, c6 = st.columns(2)
sample_length = c5.slider("Steps shown", 20, 120, 60, step=10)
sample_seed = c6.number_input("Sample seed", 0, int(BOUNDS["seed"].high), 0, step=1)

task: EchoTask | None = None
try:
    lags = parse_list("lags", lags_text, int)
    effects = parse_list("effects", effects_text, float)
    validate_lags(lags, effects)
    task = EchoTask(lags, effects, float(base_prob), float(input_prob))
except ValueError as exc:
    st.error(f"Task not valid: {exc}")

# ---- work and output for a valid task
if task is not None:
    terms = " ".join(f"{'+' if e >= 0 else '-'} {abs(e):g}\\,X_{{t-{lag}}}" for lag, e in zip(task.lags, task.effects))
    st.latex(f"P(Y_t = 1) = \\mathrm{{clip}}\\left({task.base_prob:g} {terms},\\ 0,\\ 1\\right), "
             f"\\qquad X_t \\sim \\mathrm{{Bernoulli}}({task.input_prob:g})")

    x, y, prob = sample(task, sample_length, int(sample_seed))
    st.subheader("A sample")
    st.altair_chart(data_charts.sample_chart(x, y, prob), width="stretch")
    st.caption(
        "Dark cells are 1. The line is the true P(Y_t = 1): it moves only when an input "
        f"{', '.join(map(str, task.lags))} "
        "steps back was 1 (inputs before t = 0 count as 0). y_t itself is a coin flip with that probability."
    )

    st.subheader("P(Y = 1) for every combination of the lagged inputs")
    st.dataframe(pd.DataFrame(conditional_rows(task)), hide_index=True, column_config={
        "P(Y_t = 1)": st.column_config.NumberColumn(format="%.3f"),
        "how often": st.column_config.NumberColumn(format="%.4f")})

    st.subheader("The exact baselines")
    values, labels = baselines(task), baseline_labels(task)
    st.altair_chart(data_charts.baselines_chart(values, labels), width="stretch")
    st.markdown(
        f"The best possible expected cross-entropy of a predictor that knows only the k shortest lags "
        f"(computed exactly by enumerating all {2 ** len(task.lags)} combinations): "
        + "; ".join(f"**{label}** {value:.6f} nats" for label, value in zip(labels, values))
        + ". A run's loss settling near one of these tells which dependencies it has learned."
    )

    st.subheader("Download a sample")
    d1, d2 = st.columns(2)
    csv_length = d1.number_input("Length (steps)", 10, 200_000, 10_000, step=1000)
    csv_seed = d2.number_input("Seed", 0, int(BOUNDS["seed"].high), 0, step=1, key="data_csv_seed")
    cx, cy, _ = sample(task, int(csv_length), int(csv_seed))
    st.download_button("Download CSV (x,y)", to_csv(cx, cy), file_name=f"echo-sample-{int(csv_length)}.csv",
                       mime="text/csv", on_click="ignore")

# ---- a user's sequence
st.subheader("Inspect a sequence file")
st.caption("A CSV with the header x,y and then one 0/1 pair per line, e.g. the download above. "
           "A file read here is also the one the task 'My CSV file' in the sidebar trains on.")
upload = st.file_uploader(f"Sequence CSV (at most {MAX_FILE_STEPS:,} rows)", type=["csv", "txt"], key="data_upload",
                          on_change=share_upload, help="The same file the sidebar's task 'My CSV file' trains on: "
                          "uploaded here or there, both use it.")
sequence, seq_name, problem = inspected_sequence(upload)
if problem:
    st.error(f"{seq_name} was not read: {problem}")

if sequence is not None:
    sx, sy = sequence
    stats = rates(sx, sy)
    st.markdown(f"**{seq_name}**")
    m1, m2, m3 = st.columns(3)
    m1.metric("Length", f"{stats['length']:,} steps")
    m2.metric("P(x = 1)", f"{stats['p_x']:.3f}")
    m3.metric("P(y = 1)", f"{stats['p_y']:.3f}")
    max_lag = st.slider("Largest lag L to check", 1, 60, 20)
    dependency = measurable(lag_dependency(sx, sy, max_lag))
    if dependency:
        known = task.lags if task is not None else ()
        st.altair_chart(data_charts.lag_chart(dependency, known), width="stretch")
        strong = [r["lag"] for r in dependency if abs(r["difference"]) > 3 * r["stderr"]]
        st.caption(
            "Each bar is P(y(t) = 1 | x(t−L) = 1) − P(y(t) = 1 | x(t−L) = 0), with ±2 standard errors. "
            + (f"Lags clearly away from zero (more than 3 standard errors): {', '.join(map(str, strong))}. "
               if strong else "No lag stands more than 3 standard errors away from zero. ")
            + "Only one lag at a time is looked at, so a dependency that shows only in combination can hide here."
        )
    else:
        st.info(f"The sequence ({len(sx):,} steps) is too short to compare y_t with earlier inputs: a lag L needs "
                "steps whose input L steps back was 1 and steps where it was 0.")
