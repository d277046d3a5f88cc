"""What truncation cut, on the pages: the Train page's section, the Compare overlay, the Learn page's live numbers.

Every caption's numbers come from the run: the sampled cosines of the truncated gradient with the
exact one (rnn_core/sampling.py) and the latest sampled window's flow matrix (rnn_core/exact.py).
Online runs (RTRL, UORO) have no window and nothing cut: the charts that need one say so.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from ui import chart_spec, state
from viz import gradient_charts
from viz.common import fmt

WINDOW_CHARTS = ("gradient-profile", "gradient-heatmap", "position-loss", "input-target-prediction", "hidden-state")
POLL_SECONDS = 1.0


def learner_name(cfg: RunConfig) -> str:
    """'RTRL' or 'UORO' for an online config."""
    return cfg.style.upper()


def not_applicable(name: str, cfg: RunConfig) -> str:
    """Why chart `name` is not drawn for this config ('' when it is)."""
    if not cfg.online or name not in WINDOW_CHARTS:
        return ""
    return (f"Not applicable for {learner_name(cfg)}: it has no window. Each update trains one time step's loss "
            "through the whole history, so there are no window positions to profile and no truncated window to show.")


def _samples_caption(record: RunRecord, samples: dict) -> str:
    cos, cos_s, err = samples["cosine_all"], samples["cosine_W_s"], samples["rel_error"]
    n = record.config.truncation
    depth = samples["history_steps"]
    text = (f"{len(cos)} sampled steps. At each, the gradient that trained the step (BPTT through the window of "
            f"n = {n} from the state the run carried in) against the exact gradient of the same losses through the "
            f"whole history since the epoch's zero state. Mean cosine {fmt(float(np.nanmean(cos)))} over all weights "
            f"(lowest {fmt(float(np.nanmin(cos)))}), {fmt(float(np.nanmean(cos_s)))} over W_s alone; mean relative "
            f"error {fmt(float(np.nanmean(err)))}. ")
    if len(depth) and np.max(depth) > 0:
        text += (f"The exact error had faded to float32 zero {int(np.median(depth)):,} steps back (median): "
                 "what lies beyond never reached the weights. ")
    text += "A cosine of 1 means truncation did not bend the gradient at all."
    return text


def _flow_caption(record: RunRecord, flow: dict) -> str:
    cfg = record.config
    matrix, kept = np.asarray(flow["matrix"]), np.asarray(flow["truncation_mask"], bool)
    share = flow["kept_share"]
    shape = ("a triangle: each loss reaches back to the window start" if cfg.effective_k1 == cfg.truncation
             else f"a band: the last k1 = {cfg.k1} losses reach back n = {cfg.truncation} steps at most")
    cut = matrix[~kept & (matrix > 0)]
    step = flow.get("step")
    where = f"step {int(step):,}'s window" if step is not None else "the latest sampled window"
    return (f"For {where}: the norms truncation kept are {shape}. Of the summed ‖∂L_t/∂S_s‖ over the states "
            f"shown, the window kept {fmt(100 * share)}%; left of the line is what full backpropagation would have "
            f"sent into earlier windows ({len(cut)} cells, largest {fmt(float(cut.max()) if len(cut) else 0.0)}), "
            "and truncation dropped. Log colour scale; computed on the first rows of the batch.")


def train_section(record: RunRecord | None) -> None:
    """The Train page's 'What truncation cut' section: cosine over training and the latest window's flow."""
    if record is None:
        return
    st.subheader("What truncation cut: the exact gradient beside the truncated one")
    if record.config.online:
        st.info(f"{learner_name(record.config)} does not truncate: every update's gradient reaches through the whole "
                "history (RTRL exactly, UORO as an unbiased estimate), so there is no cut to show. Race it against "
                "the truncated styles on the Compare page.")
        return
    sampler = record.extra.get("sampler")
    busy = sampler is not None and sampler.busy

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def draw() -> None:
        pending = False
        if sampler is not None:
            sampler.flush(wait=False)
            pending = sampler.busy  # read once: the caption below and the rerun must agree
            if busy and not pending:
                state.rerun()  # the samples are in: redraw the page once, without this fragment's polling
        samples, flow = record.gradient_samples(), record.gradient_flow()
        if pending:
            st.caption(f"Computing the exact gradients of {len(sampler.records) - len(samples['step'])} sampled "
                       "steps in the background…")
        if not len(samples["step"]):
            st.info("No full-gradient samples yet: they are taken at 20 steps spread over the run.")
            return
        cosine_spec, flow_spec = _specs(record, samples, flow)
        st.vega_lite_chart(cosine_spec, width="stretch")
        st.caption(_samples_caption(record, samples))
        if flow_spec is not None:
            st.vega_lite_chart(flow_spec, width="stretch")
            st.caption(_flow_caption(record, flow))

    draw()


SPECS = "_exact_view_specs"  # the session's last (key, cosine spec, flow spec): the page redraws them on every run


def _specs(record: RunRecord, samples: dict, flow: dict | None) -> tuple[dict, dict | None]:
    """The cosine and flow charts' specs, built once per run and number of samples, not on every script run."""
    key = (record.label, record.summary.get("seconds"), record.summary.get("steps"), len(samples["step"]),
           flow is not None)
    kept = state.memo(SPECS)
    if kept is None or kept[0] != key:
        cosine = gradient_charts.cosine_chart(samples["step"], samples["cosine_all"], samples["cosine_W_s"])
        kept = (key, chart_spec.spec(cosine),
                chart_spec.spec(gradient_charts.flow_heatmap(flow)) if flow is not None else None)
        state.set_memo(SPECS, kept)
    return kept[1], kept[2]


def cosine_curves(records: Sequence[RunRecord]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (sampled steps, all-weights cosine) for the records that have samples."""
    out = {}
    for r in records:
        s = r.gradient_samples()
        if len(s["step"]):
            out[r.label] = (s["step"], s["cosine_all"])
    return out


def compare_section(records: Sequence[RunRecord]) -> None:
    """Compare: the picked runs' cosines with the exact gradient, overlaid."""
    curves = cosine_curves(records)
    if not curves:
        return
    st.altair_chart(gradient_charts.cosine_overlay(curves), width="stretch")
    means = ", ".join(f"{label} {fmt(float(np.nanmean(c)))}" for label, (_, c) in curves.items())
    st.caption("Cosine of each run's truncated gradient with the exact one at its sampled steps (1 = no bias). "
               f"Means: {means}. RTRL and UORO do not truncate and have no line here.")


def learn_section(records: Sequence[RunRecord], cfg: RunConfig) -> None:
    """Learn: truncation trades bias for cost, with the user's own latest truncated run's numbers."""
    st.header("6. What truncation costs: the gradient it bends")
    st.markdown(
        f"A window of n = {cfg.truncation} is cheap: each training step backpropagates n steps, whatever the length "
        "of the sequence. The price is bias: the gradient that trains the step leaves out everything the window's "
        "losses would have sent into earlier states. Learners that do not truncate pay in cost instead: RTRL "
        "carries the influence matrix ∂S_t/∂θ forward, O(d⁴) a time step; UORO keeps a random rank-one estimate of "
        "it, about the cost of BPTT(1), unbiased but noisy."
    )
    truncated = [r for r in records if not r.config.online and len(r.gradient_samples()["step"])]
    if not truncated:
        st.info("Train a run on the Train page: the numbers below then come from it.")
        return
    last = truncated[-1]
    samples, flow = last.gradient_samples(), last.gradient_flow()
    st.subheader(f"In your last run: {last.label}")
    m1, m2, m3 = st.columns(3)
    m1.metric("mean cosine, truncated vs exact", fmt(float(np.nanmean(samples["cosine_all"]))))
    m2.metric("mean relative error", fmt(float(np.nanmean(samples["rel_error"]))))
    if flow is not None:
        m3.metric("share of the error the window kept", f"{fmt(100 * flow['kept_share'])}%")
    close = np.nanmean(samples["cosine_all"]) > 0.95
    st.markdown(
        f"At {len(samples['step'])} steps of that run the exact gradient (through the whole history since the "
        f"epoch began) and the truncated one pointed "
        f"{'almost the same way' if close else 'in noticeably different directions'}: "
        f"cosine {fmt(float(np.nanmin(samples['cosine_all'])))} at worst. Wider windows raise the cosine and cost "
        "more per step; compare n on the Compare page's sweep, or race RTRL and UORO in its styles tab."
    )
    if flow is not None:
        st.altair_chart(gradient_charts.flow_heatmap(flow), width="stretch")
        st.caption(_flow_caption(last, flow))
