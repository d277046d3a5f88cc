"""Compare page: overlay the session's runs, sweep the truncation n, and race the truncation styles on equal data."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from rnn_core.compare import (data_seen, estimate_seconds, nearest_baseline, row_length, style_configs,
                              sweep_configs, total_steps)
from rnn_core.config import BOUNDS, RunConfig
from rnn_core.data import baseline_labels, baselines, task_for
from rnn_core.report import RunRecord
from ui.runs import MAX_RUNS, get_runs
from ui.sweep import train_in_turn
from ui.entry import require_app
from viz import compare_charts

require_app()

N_OPTIONS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50]
D_OPTIONS = [1, 2, 4, 8, 16, 32, 64]
SEED_OPTIONS = list(range(10))
LONG_WAIT = 60.0  # seconds; warn before a sweep expected to take longer

cfg: RunConfig = st.session_state.get("config") or RunConfig()
sequence = st.session_state.get("sequence") if cfg.task == "file" else None
task = task_for(cfg)
task_baselines = baselines(task) if task is not None else []
task_labels = baseline_labels(task) if task is not None else []
seq_len = len(sequence[0]) if sequence is not None else None

st.title("Compare")
# The Runs tab is filled last so it already lists the runs trained by the other two tabs in this same run.
tab_runs, tab_sweep, tab_styles = st.tabs(["Runs", "Sweep over n", "Truncation styles"], key="compare_tab")


def run_row(record: RunRecord) -> dict:
    """One line of the runs table."""
    c, s = record.config, record.summary
    return {
        "run": record.label, "from": record.extra.get("source", "") or "train page or bundle",
        "style": "TF BPTT(n;n)" if c.style == "tensorflow" else f"BPTT(n;{c.k1})",
        "n": c.truncation, "d": c.state_size, "steps": s.get("steps"), "final loss": record.final_loss(),
        "closest baseline": nearest_baseline(record.final_loss(), record.baselines, task_labels_for(record)),
        "steps/s": s.get("steps_per_second"), "seconds": s.get("seconds"), "status": s.get("status"),
    }


def task_labels_for(record: RunRecord) -> list[str]:
    """Baseline labels of the run's own task."""
    run_task = task_for(record.config)
    return baseline_labels(run_task) if run_task is not None else []


# ---- sweep over n
with tab_sweep:
    st.markdown(
        "Train the same settings for several window widths n and plot where each run's loss ends. "
        "The dashed lines are the exact losses of the best predictor that knows no lag, the shortest lag, or all "
        "of them. R2RT found with d = 4 that n = 1 learns nothing and n = 5 learns lag 3; lag 8 needs a wider "
        "window and a larger state (n = 10, d = 16). The defaults, two state sizes, show those regimes."
    )
    c1, c2, c3, c4 = st.columns([3, 2, 2, 1])
    ns = c1.multiselect("Values of n", N_OPTIONS, default=[1, 2, 5, 10, 15], key="sweep_ns")
    ds = c2.multiselect("State sizes d", D_OPTIONS, default=[4, 16], key="sweep_ds")
    seeds = c3.multiselect("Seeds", SEED_OPTIONS, default=[cfg.seed if cfg.seed in SEED_OPTIONS else 0], key="sweep_seeds")
    epochs = c4.number_input("Epochs", 1, int(BOUNDS["epochs"].high), 2, key="sweep_epochs",
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
        train_s, compile_s = estimate_seconds(plan, seq_len)
        wait = f"{len(plan)} runs: roughly {train_s:.0f} s of training plus up to {compile_s:.0f} s of compiling new shapes"
        if train_s + compile_s > LONG_WAIT:
            st.warning(f"{wait}. That is a long wait on 2 cores; fewer values, epochs or a shorter series are quicker.")
        else:
            st.caption(wait + ".")
        if len(plan) > MAX_RUNS:
            st.caption(f"The session keeps the last {MAX_RUNS} runs; older ones drop out of the Runs tab.")
    with st.container(horizontal=True):
        start = st.button("Run sweep", type="primary", disabled=bool(problem), key="sweep_start")
        stop = st.button("Stop", key="sweep_stop", help="Stops after the current chunk; finished runs are kept.")
    progress_slot, chart_slot, table_slot = st.empty(), st.empty(), st.empty()

    def draw_sweep(state: dict) -> None:
        chart_slot.altair_chart(compare_charts.sweep_chart(state["points"], state["baselines"], state["labels"]),
                                width="stretch")

    if start:
        sweep = {"points": [], "planned": len(plan), "baselines": task_baselines, "labels": task_labels,
                 "finished": False}
        st.session_state["compare_sweep"] = sweep

        def keep_point(i: int, record: RunRecord, trainer) -> None:
            c = record.config
            sweep["points"].append({"n": c.truncation, "d": c.state_size, "seed": c.seed,
                                    "final_loss": record.final_loss(), "steps": record.summary["steps"],
                                    "seconds": record.summary["seconds"], "status": record.summary["status"]})
            draw_sweep(sweep)

        train_in_turn([(f"n={c.truncation}, d={c.state_size}, seed {c.seed}", c) for c in plan], progress_slot,
                      keep_point, sequence=sequence, source="sweep")
        sweep["finished"] = True
    sweep = st.session_state.get("compare_sweep")
    if sweep and sweep["points"]:
        if not sweep["finished"] and not start:
            progress_slot.info(f"Stopped: {len(sweep['points'])} of {sweep['planned']} runs finished and kept.")
        draw_sweep(sweep)
        table = pd.DataFrame(sweep["points"])
        table["closest baseline"] = [nearest_baseline(v, sweep["baselines"], sweep["labels"]) for v in table["final_loss"]]
        with table_slot.container():
            st.dataframe(table, hide_index=True, column_config={
                "final_loss": st.column_config.NumberColumn("final loss", format="%.4f"),
                "seconds": st.column_config.NumberColumn("seconds", format="%.1f")})
            if sweep["labels"]:
                readings: dict[str, list[str]] = {}
                for row in table.to_dict("records"):
                    readings.setdefault(f"d = {row['d']}, seed {row['seed']}", []).append(
                        f"n = {row['n']} → {row['closest baseline']}")
                st.markdown("**Reading:** " + " ".join(
                    f"{series}: " + "; ".join(items) + "." for series, items in readings.items()))
                st.caption(
                    "Closest baseline of each final loss. The window limits how far back error can flow, not how "
                    "far back the state can remember: a larger state that was taught to keep inputs for a few steps "
                    "can keep them longer, so it sometimes learns a lag longer than n; a small state has little room to."
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
    style_k1 = s2.number_input("k1 for the third run", 1, int(style_n), max(1, min(int(style_n) - 1, int(style_n) // 2)),
                               key="styles_k1", help="1 < k1 < n adds BPTT(n; k1); 1 or n would repeat a run.")
    trio: list[tuple[str, RunConfig]] = []
    try:
        trio = style_configs(cfg, int(style_n), int(style_k1))
    except ValueError as exc:
        st.error(str(exc))
    if cfg.task == "file" and sequence is None:
        st.error("The sidebar's task is 'file' but no sequence is loaded: upload a CSV in the sidebar.")
        trio = []
    if trio:
        rows = row_length(trio[0][1], seq_len)
        counts = ", ".join(f"BPTT({c.truncation}; {c.effective_k1}) {total_steps(c, rows):,}" for _, c in trio)
        train_s, compile_s = estimate_seconds([c for _, c in trio], seq_len)
        st.caption(
            f"Training steps over {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} of "
            f"{seq_len if cfg.task == 'file' and seq_len is not None else cfg.series_length:,} steps: {counts}. BPTT(n; 1) takes about n times as many steps for the same data. "
            f"Roughly {train_s:.0f} s of training plus up to {compile_s:.0f} s of compiling."
        )
    with st.container(horizontal=True):
        race = st.button("Compare styles", type="primary", disabled=not trio, key="styles_start")
        st.button("Stop", key="styles_stop", help="Stops after the current chunk; finished runs are kept.")
    styles_progress = st.empty()
    if race:
        styles = {"rows": [], "curves": {}, "planned": len(trio), "baselines": task_baselines, "labels": task_labels}
        st.session_state["compare_styles"] = styles

        def keep_style(i: int, record: RunRecord, trainer) -> None:
            name, c = trio[i]
            s = record.summary
            styles["rows"].append({
                "style": name, "training steps": s["steps"], "losses trained per step": c.effective_k1,
                "final loss": record.final_loss(), "steps/s": s["steps_per_second"], "seconds": s["seconds"],
                "status": s["status"],
            })
            steps = record.scalars["step"]
            styles["curves"][name] = (data_seen(c, steps, row_length(c, seq_len)), record.scalars["loss"])

        train_in_turn(trio, styles_progress, keep_style, sequence=sequence, source="styles", compile_first=True)
    styles = st.session_state.get("compare_styles")
    if styles and styles["rows"]:
        if len(styles["rows"]) < styles["planned"] and not race:
            styles_progress.info(f"Stopped: {len(styles['rows'])} of {styles['planned']} runs finished and kept.")
        st.dataframe(pd.DataFrame(styles["rows"]), hide_index=True, column_config={
            "final loss": st.column_config.NumberColumn(format="%.4f"),
            "steps/s": st.column_config.NumberColumn(format="%.0f"),
            "seconds": st.column_config.NumberColumn(format="%.2f")})
        done = styles["rows"]
        if len(done) >= 2 and done[0]["seconds"] > 0:
            tf_row = done[0]
            st.markdown("**Reading:** " + " ".join(
                f"{r['style'].split(')')[0]}) took {r['seconds'] / tf_row['seconds']:.1f}× the "
                f"training time of TensorFlow style for the same data and ended at {r['final loss']:.3f} "
                f"(TensorFlow style {tf_row['final loss']:.3f})." for r in done[1:]))
            if min(r["seconds"] for r in done) < 1.0:
                st.caption("Runs shorter than a second are timed mostly by per-call overhead; use a longer series "
                           "in the sidebar for a speed comparison you can trust.")
        window = st.slider("Smoothing (steps)", 1, 500, 100, key="styles_smooth")
        st.altair_chart(compare_charts.loss_overlay(styles["curves"], window, styles["baselines"], styles["labels"],
                                                    x_title="time steps of data consumed (all rows)"), width="stretch")
        st.caption(
            "The x axis is data read, not steps, so the styles are compared at equal data. Each run reports the loss "
            "of the predictions it trains on: all n positions for BPTT(n; n), the last k1 for BPTT(n; k1). "
            "Each program is compiled before its run starts, so seconds and steps/s are compiled training speed only."
        )

# ---- every run of the session
with tab_runs:
    runs = get_runs()
    if not runs:
        st.info("No runs yet. Train one on the Train page, or run a sweep or the styles comparison in the other tabs.")
    else:
        labels = [r.label for r in runs]
        if "compare_selected" in st.session_state:
            st.session_state["compare_selected"] = [v for v in st.session_state["compare_selected"] if v in labels]
            chosen = st.multiselect("Runs to overlay", labels, key="compare_selected")
        else:
            chosen = st.multiselect("Runs to overlay", labels, default=labels[-3:], key="compare_selected")
        o1, o2, o3 = st.columns(3)
        window = o1.slider("Smoothing (steps)", 1, 500, 100, key="runs_smooth")
        axis = o2.radio("x axis", ["training step", "data seen"], horizontal=True, key="runs_axis",
                        help="Data seen counts time steps read over all B rows: fair across truncation styles.")
        profile_kind = o3.radio("Gradient profile", ["temporal", "grad_norms"], horizontal=True, key="runs_profile",
                                format_func={"temporal": "‖dL_last/dS_t‖", "grad_norms": "‖dL/dS_t‖"}.get)
        picked = [r for r in runs if r.label in chosen]
        if picked:
            curves = {}
            for r in picked:
                steps = r.scalars["step"]
                if axis == "data seen" and not (r.config.task == "file" and seq_len is None):
                    curves[r.label] = (data_seen(r.config, steps, row_length(r.config, seq_len)), r.scalars["loss"])
                else:
                    curves[r.label] = (steps, r.scalars["loss"])
            shared = picked[0].baselines if all(r.baselines == picked[0].baselines for r in picked) else []
            st.altair_chart(compare_charts.loss_overlay(curves, window, shared, task_labels_for(picked[0]) if shared else [],
                                                        x_title="training step" if axis == "training step" else
                                                        "time steps of data consumed (all rows)"), width="stretch")
            latest = {r.label: r.profiles[profile_kind][-1] for r in picked if len(r.profiles["step"])}
            if latest:
                title = "‖dL_last/dS_t‖" if profile_kind == "temporal" else "‖dL/dS_t‖"
                st.altair_chart(compare_charts.profile_overlay(latest, title), width="stretch")
                st.caption(
                    f"Each run's latest recorded profile: {title} at every window position, the window's last "
                    "position at 0. A straight falling line on this log scale is a gradient vanishing by a constant "
                    "factor per step back."
                )
        else:
            st.caption("Pick runs above to overlay them.")
        st.markdown("**All runs of this session**")
        st.dataframe(pd.DataFrame([run_row(r) for r in runs]), hide_index=True, column_config={
            "final loss": st.column_config.NumberColumn(format="%.4f"),
            "steps/s": st.column_config.NumberColumn(format="%.0f"),
            "seconds": st.column_config.NumberColumn(format="%.1f")})
        st.caption("Seconds and steps/s count training time, including any steps run eagerly while a new shape was "
                   "still compiling; the Truncation styles tab compiles first, so its speeds compare fairly.")
