"""Compare page: overlay the session's runs, sweep the truncation n, and race the truncation styles on equal data."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from rnn_core.compare import (
    DEFAULT_SWEEP_DS,
    DEFAULT_SWEEP_EPOCHS,
    DEFAULT_SWEEP_NS,
    DEFAULT_SWEEP_SEEDS,
    estimate_seconds,
    row_length,
    style_configs,
    sweep_configs,
    total_steps,
)
from rnn_core.config import BOUNDS, RunConfig
from rnn_core.data import task_baselines
from rnn_core.kernels import POOL, key_for
from ui import compare_view, exact_view, state, sweep_file
from ui.entry import require_app
from ui.state import MAX_RUNS, StylesResult, SweepResult
from ui.sweep import train_in_turn
from viz import compare_charts

require_app()

N_OPTIONS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50]
D_OPTIONS = [1, 2, 4, 8, 16, 32, 64]
SEED_OPTIONS = list(range(10))
LONG_WAIT = 60.0  # seconds; warn before a sweep expected to take longer


def _seconds(seconds: float) -> str:
    """A rough duration in words: "under 1 s", "12 s", "3 min"."""
    return "under 1 s" if seconds < 1 else f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _compiled(cfg: RunConfig) -> bool:
    return POOL.has_compiled(key_for(cfg))

cfg = state.config()
sequence = state.sequence(cfg)
base_values, base_labels = task_baselines(cfg)
seq_len = len(sequence[0]) if sequence is not None else None

st.title("Compare")
# The Runs tab is filled last so it already lists the runs trained by the other two tabs in this same run.
tab_runs, tab_sweep, tab_styles = st.tabs(["Runs", "Sweep over n", "Truncation styles"], key="compare_tab")


# ---- sweep over n
with tab_sweep:
    st.markdown(
        "Train the same settings for several window widths n and plot where each run's loss ends. "
        "The dashed lines are the exact losses of the best predictor that knows no lag, the shortest lag, or all "
        "of them. R2RT found with d = 4 that n = 1 learns nothing and n = 5 learns lag 3, and with d = 16, n = 10 "
        "both lags. Two findings of this engine are worth teaching too: with n = 1 or 2 the carried state keeps "
        "some of lag 3 by chance, so the loss ends partway between the first two lines and varies with the seed; "
        "and d = 16 learns lag 8 already at n = 5, because the window limits how far back error flows, not how "
        "far back the state remembers. The defaults (two state sizes, three seeds) show all of it."
    )
    c1, c2, c3, c4 = st.columns([3, 2, 2, 1])
    ns = c1.multiselect("Values of n", N_OPTIONS, default=list(DEFAULT_SWEEP_NS), key="sweep_ns")
    ds = c2.multiselect("State sizes d", D_OPTIONS, default=list(DEFAULT_SWEEP_DS), key="sweep_ds")
    seeds = c3.multiselect("Seeds", SEED_OPTIONS, default=list(DEFAULT_SWEEP_SEEDS), key="sweep_seeds",
                           help="Several seeds show how far a result depends on luck: the reading gives their range.")
    epochs = c4.number_input("Epochs", 1, int(BOUNDS["epochs"].high), DEFAULT_SWEEP_EPOCHS, key="sweep_epochs",
                             help="Two epochs settle the small-n runs better than one, at little extra cost.")
    data_text = (f"your sequence of {seq_len:,} steps" if seq_len is not None and cfg.task == "file"
                 else f"{cfg.series_length:,} steps per epoch")
    st.caption(
        f"Everything else comes from the sidebar: {cfg.style} style, task {cfg.task}, B = {cfg.batch_size}, "
        f"{data_text}, {cfg.optimizer} {cfg.learning_rate:g}."
    )
    plan: list[RunConfig] = []
    problem = ""
    if not ds or not seeds:
        problem = "Pick at least one state size and one seed."
    else:
        try:
            plan = sweep_configs(cfg, ns, ds, seeds, int(epochs))
        except ValueError as exc:
            problem = str(exc)
    if cfg.task == "file" and sequence is None:
        problem = "The sidebar's task is 'file' but no sequence is loaded: upload a CSV in the sidebar."
    if problem:
        st.error(problem)
    else:
        train_s, compile_s = estimate_seconds(plan, seq_len, compiled=_compiled)
        wait = f"{len(plan)} runs: roughly {_seconds(train_s)} of training one after another"
        wait += (f", plus up to {compile_s:.0f} s of compiling shapes this server has not compiled yet" if compile_s
                 else "; their shapes are compiled on this server already")
        wait += " (two runs train at once while the server has nothing else to do)" if len(plan) > 1 else ""
        if train_s + compile_s > LONG_WAIT:
            st.warning(f"{wait}. That is a long wait on 2 cores; fewer values, epochs or a shorter series are quicker.")
        else:
            st.caption(wait + ".")
        if len(plan) > MAX_RUNS:
            st.caption(f"The session keeps the last {MAX_RUNS} runs; older ones drop out of the Runs tab.")
    with st.container(horizontal=True):
        start = st.button("Run sweep", type="primary", disabled=bool(problem), key="sweep_start")
        stop = st.button("Stop", key="sweep_stop", help="Stops after the current chunk; finished runs are kept.")
    sweep_file.uploader()  # or chart a sweep the command line ran
    progress_slot, chart_slot, table_slot = st.empty(), st.empty(), st.empty()

    if start:
        sweep = SweepResult(len(plan), base_values, base_labels)
        state.set_sweep_result(sweep)
        train_in_turn([(f"n={c.truncation}, d={c.state_size}, seed {c.seed}", c) for c in plan], progress_slot,
                      compare_view.sweep_keeper(sweep, chart_slot), sequence=sequence, source="sweep", lanes=2)
        sweep.finished = True
    sweep = state.sweep_result()
    if sweep and sweep.points:
        if not sweep.finished and not start:
            progress_slot.info(f"Stopped: {len(sweep.points)} of {sweep.planned} runs finished and kept.")
        compare_view.draw_sweep(chart_slot, sweep)
        table = compare_view.sweep_table(sweep)
        with table_slot.container():
            st.dataframe(table, hide_index=True, column_config={
                "final_loss": st.column_config.NumberColumn("final loss", format="%.4f"),
                "seconds": st.column_config.NumberColumn(
                    "seconds", format="%.1f", help="The run's training time. While the server has nothing else "
                    "to do, a sweep trains two runs at once, and each run's seconds include that sharing: for a "
                    "race of speeds use the Truncation styles tab, which trains one run at a time.")})
            if sweep.labels:
                st.markdown(compare_view.sweep_reading(table, sweep.baselines, sweep.labels))
                st.caption(
                    "A loss partway between two lines has learned part of a dependency, not all of it. The window "
                    "limits how far back error can flow, not how far back the state can remember: a larger state "
                    "taught to keep inputs for a few steps can keep them longer, so it can learn a lag longer than "
                    "n; a small state has little room to."
                )
    elif stop:
        progress_slot.info("Stopped before the first run finished.")

# ---- truncation styles on equal data
with tab_styles:
    st.markdown(
        "TensorFlow style BPTT(n; n) cuts the series into windows of n and trains every loss of a window, the "
        "loss at position t backpropagated through only t + 1 steps. Williams–Peng BPTT(n; k1) slides the window "
        "k1 steps at a time and trains only its last k1 losses, each through at least n − k1 + 1 steps; "
        "BPTT(n; 1) backpropagates every loss n steps. All three read the same series (same seed)."
    )
    s1, s2 = st.columns(2)
    style_n = s1.number_input("Window n", 2, int(BOUNDS["truncation"].high), max(2, cfg.truncation), key="styles_n")
    style_k1 = s2.number_input("k1 for the third run", 1, int(style_n),
                               max(1, min(int(style_n) - 1, int(style_n) // 2)),
                               key="styles_k1", help="1 < k1 < n adds BPTT(n; k1); 1 or n would repeat a run.")
    online, style_seeds = compare_view.online_inputs(cfg, SEED_OPTIONS)
    trio: list[tuple[str, RunConfig]] = []
    try:
        trio = style_configs(cfg, int(style_n), int(style_k1), online, style_seeds)
    except ValueError as exc:
        st.error(str(exc))
    if cfg.task == "file" and sequence is None:
        st.error("The sidebar's task is 'file' but no sequence is loaded: upload a CSV in the sidebar.")
        trio = []
    if trio:
        rows = row_length(trio[0][1], seq_len)
        counts = ", ".join(dict.fromkeys(f"{compare_view.style_short(c)} {total_steps(c, rows):,}" for _, c in trio))
        train_s, compile_s = estimate_seconds([c for _, c in trio], seq_len, compiled=_compiled)
        st.caption(
            f"Training steps over {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} of "
            f"{seq_len if cfg.task == 'file' and seq_len is not None else cfg.series_length:,} steps: {counts}. "
            "BPTT(n; 1) takes about n times as many steps for the same data. "
            f"Roughly {_seconds(train_s)} of training"
            + (f" plus up to {compile_s:.0f} s of compiling." if compile_s else "; the shapes are compiled already.")
        )
    with st.container(horizontal=True):
        race = st.button("Compare styles", type="primary", disabled=not trio, key="styles_start")
        st.button("Stop", key="styles_stop", help="Stops after the current chunk; finished runs are kept.")
    styles_progress = st.empty()
    if race:
        styles = StylesResult(len(trio), base_values, base_labels)
        state.set_styles_result(styles)
        train_in_turn(trio, styles_progress, compare_view.styles_keeper(styles, trio, seq_len), sequence=sequence,
                      source="styles", compile_first=True)
    styles = state.styles_result()
    if styles and styles.rows:
        if len(styles.rows) < styles.planned and not race:
            styles_progress.info(f"Stopped: {len(styles.rows)} of {styles.planned} runs finished and kept.")
        st.dataframe(pd.DataFrame(styles.rows), hide_index=True, column_config={
            "final loss": st.column_config.NumberColumn(format="%.4f"),
            "steps/s": st.column_config.NumberColumn(format="%.0f"),
            "seconds": st.column_config.NumberColumn(format="%.2f")})
        compare_view.seed_spread(styles.rows)
        reading = compare_view.styles_reading(styles.rows)
        if reading:
            st.markdown(reading)
            if min(r["seconds"] for r in styles.rows) < 1.0:
                st.caption("Runs shorter than a second are timed mostly by per-call overhead; use a longer series "
                           "in the sidebar for a speed comparison you can trust.")
        window = st.slider("Smoothing (TensorFlow-style steps of data)", 1, 500, 100, key="styles_smooth",
                           help="Every curve averages the same amount of data: a BPTT(n; k1) run over n / k1 times "
                                "as many of its own steps.")
        st.altair_chart(compare_charts.loss_overlay(styles.curves, compare_view.equal_data_windows(styles.rows, window),
                                                    styles.baselines, styles.labels,
                                                    x_title=compare_view.DATA_AXIS), width="stretch")
        st.caption(
            "The x axis is data read, not steps, so the styles are compared at equal data. Each run reports the loss "
            "of the predictions it trains on: all n positions for BPTT(n; n), the last k1 for BPTT(n; k1). "
            "Each program is compiled before its run starts, so seconds and steps/s are compiled training speed only."
        )

# ---- every run of the session
with tab_runs:
    runs = state.runs()
    if not runs:
        st.info("No runs yet. Train one on the Train page, or run a sweep or the styles comparison in the other tabs.")
    else:
        chosen = compare_view.pick_runs([r.label for r in runs])
        o1, o2, o3 = st.columns(3)
        window = o1.slider("Smoothing (steps)", 1, 500, 100, key="runs_smooth")
        axis = o2.radio("x axis", ["training step", "data seen"], horizontal=True, key="runs_axis",
                        help="Data seen counts time steps read over all B rows: fair across truncation styles.")
        profile_kind = o3.radio("Gradient profile", ["temporal", "grad_norms"], horizontal=True, key="runs_profile",
                                format_func={"temporal": "‖dL_last/dS_t‖", "grad_norms": "‖dL/dS_t‖"}.get)
        picked = [r for r in runs if r.label in chosen]
        if picked:
            curves = compare_view.loss_curves(picked, axis == "data seen", seq_len)
            shared, shared_labels = compare_view.shared_baselines(picked)
            st.altair_chart(compare_charts.loss_overlay(curves, window, shared, shared_labels, x_title=(
                "training step" if axis == "training step" else compare_view.DATA_AXIS)), width="stretch")
            latest = {r.label: r.profiles[profile_kind][-1] for r in picked if len(r.profiles["step"])}
            if latest:
                title = "‖dL_last/dS_t‖" if profile_kind == "temporal" else "‖dL/dS_t‖"
                st.altair_chart(compare_charts.profile_overlay(latest, title), width="stretch")
                st.caption(
                    f"Each run's latest recorded profile: {title} at every window position, the window's last "
                    "position at 0. A straight falling line on this log scale is a gradient vanishing by a constant "
                    "factor per step back."
                )
            exact_view.compare_section(picked)
        else:
            st.caption("Pick runs above to overlay them.")
        st.markdown("**All runs of this session**")
        st.dataframe(pd.DataFrame([compare_view.run_row(r) for r in runs]), hide_index=True, column_config={
            "final loss": st.column_config.NumberColumn(format="%.4f"),
            "steps/s": st.column_config.NumberColumn(format="%.0f"),
            "seconds": st.column_config.NumberColumn(format="%.1f")})
        st.caption("Seconds and steps/s count training time, including any steps run uncompiled while a new shape was "
                   "still compiling; the Truncation styles tab compiles first, so its speeds compare fairly.")
