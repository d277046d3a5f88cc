"""Learn page: the source document's argument for truncated backpropagation, drawn for the sidebar's n."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import streamlit as st

from rnn_core import derived, model, truncation, window
from rnn_core.data import task_for
from rnn_core.kernels import program_name, window_pass_for
from rnn_core.truncation import lag_reach, mean_depth
from rnn_core.vanishing import mean_factor, pascanu_bound, step_factors, steps_to_shrink
from ui import exact_view, state
from ui.entry import require_app
from ui.learn_view import QUICK_STEPS, quick_run
from viz import compare_charts
from viz.graph import drawn_positions, one_step_dot, subscript, unrolled_dot

require_app()

cfg = state.config()
n, d = cfg.truncation, cfg.state_size

st.title("Learn: why the graph is n steps wide")

# ---- 1. the model
st.header("1. The model")
st.markdown("At time step t the cell reads the input $X_t$ (one-hot, 2 classes) and its previous state $S_{t-1}$:")
st.latex(r"S_t = \tanh\big(W\,(X_t \,\|\, S_{t-1}) + b_s\big), \qquad P_t = U S_t + b_p")
st.markdown(
    f"With your state size d = {d}: $W$ is {d} × {2 + d}, $b_s$ has {d} entries, $U$ is 2 × {d}, $b_p$ has 2. "
    f"The last {d} columns of $W$ act on the state: call that block $W_s$. The loss $L_t$ is the cross-entropy of "
    "$P_t$ against the target $Y_t$. Every time step applies the same weights."
)

# ---- 2. one step at a time
st.header("2. A graph one step wide cannot learn dependencies")
st.graphviz_chart(one_step_dot())
st.markdown(
    "The simplest graph is one time step, $G(X_t, S_{t-1}) \\to (P_t, S_t)$, run once per step with the state "
    "it returned fed back in. The state does flow forward, but backpropagation treats the incoming $S_{t-1}$ as a "
    "constant: the error of $L_t$ adjusts how $W$ maps the current input and the given state to a prediction, and "
    "never reaches step t − 1. So nothing ever teaches the cell to *store* $X_{t-3}$ for a later loss. "
    "(A larger state may keep some of the past by accident, which is why n = 1 can land below the 'learns "
    "nothing' baseline, as a sweep with d = 16 on the Compare page shows; it is never taught to keep it.)"
    + (" **Your sidebar has n = 1: this is the graph you train.**" if n == 1 else "")
)

# ---- 3. vanishing and exploding gradients
st.header("3. A graph as wide as the sequence: vanishing and exploding gradients")
st.markdown(
    "Going back one step multiplies the error by the Jacobian of the cell; over k steps by a product of k of them:"
)
st.latex(r"\frac{\partial L}{\partial S_{t-k}} = \frac{\partial L}{\partial S_t}\prod_{j=t-k+1}^{t}"
         r"\operatorname{diag}\!\big(1 - S_j^2\big)\,W_s, \qquad "
         r"\Big\|\frac{\partial L}{\partial S_{t-k}}\Big\| \le "
         r"\sigma_{\max}(W_s)^k\,\Big\|\frac{\partial L}{\partial S_t}\Big\|")
st.markdown(
    "because $|\\tanh'| \\le 1$. Pascanu, Mikolov and Bengio (2013): if the largest singular value "
    "$\\sigma_{\\max}(W_s) < 1$ the long-range error is *sure* to vanish geometrically (a sufficient condition, for "
    "tanh); $\\sigma_{\\max} > 1$ is *necessary* for it to explode, but does not make it explode. Either way a "
    "gradient over hundreds of steps is useless, so the graph is cut to n steps: the truncation."
)
runs = state.runs()
if not runs:
    offer = st.empty()
    with offer.container():
        st.info("No run yet: train one on the Train page, or train a quick one here to see its numbers.")
        quick_clicked = st.button(f"Train a quick run ({QUICK_STEPS} steps with the sidebar's settings)",
                                  key="learn_quick")
    if quick_clicked:
        with st.spinner("Training…"):
            state.add_run(quick_run(cfg, state.sequence(cfg)))
        runs = state.runs()
        offer.empty()
if runs:
    last = runs[-1]
    sigma = float(last.scalars["sigma_max"][-1]) if len(last.scalars["sigma_max"]) else float("nan")
    has_profile = len(last.profiles["step"]) > 0
    temporal = np.asarray(last.profiles["temporal"][-1], dtype=np.float64) if has_profile else np.zeros(0)
    factor = mean_factor(temporal)
    st.subheader(f"Your last run: {last.label}")
    m1, m2, m3 = st.columns(3)
    m1.metric("σ_max(W_s) after its last step", f"{sigma:.3f}")
    m2.metric("error factor per step back (geometric mean)", "—" if factor != factor else f"{factor:.3f}")
    shrink = steps_to_shrink(factor)
    m3.metric("steps back to shrink the error 1000×", "never" if shrink == float("inf") else f"{shrink:.0f}")
    if sigma != sigma:
        st.caption("This run recorded no σ_max.")
    elif sigma < 1:
        st.markdown(f"σ_max = {sigma:.3f} < 1: the bound guarantees the error fades at least as fast as "
                    f"{sigma:.3f}^k, a factor {sigma ** 100:.1e} after 100 steps.")
    else:
        st.markdown(f"σ_max = {sigma:.3f} ≥ 1: the bound allows the error to grow (up to {sigma:.3f}^k); whether it "
                    "does depends on the states, since tanh' shrinks it wherever a unit saturates.")
    if len(temporal) >= 2:
        ratios = step_factors(temporal)
        st.altair_chart(compare_charts.profile_overlay({
            "measured ‖dL_last/dS_t‖": temporal,
            "bound ‖dL_last/dS_(n−1)‖ · σ_max^(n−1−t)": pascanu_bound(temporal, sigma),
        }, "‖dL_last/dS_t‖"), width="stretch")
        above = int(np.sum(ratios > sigma * 1.001))
        st.caption(
            f"The latest recorded profile of the run (n = {len(temporal)}): how much of the last loss's error reaches "
            f"each state of the window. Per step back the error changed by factors between {np.nanmin(ratios):.3f} "
            f"and {np.nanmax(ratios):.3f}, geometric mean {factor:.3f}. "
            + ("Every factor is within σ_max, as the bound says." if above == 0 else
               f"{above} factor(s) exceed σ_max slightly: σ_max is measured after the step, the profile before it.")
        )
    else:
        st.caption("The last run has n = 1: its window has no step back to measure.")

# ---- 4. truncation: the graph n wide
st.header(f"4. Truncate: the graph n = {n} steps wide")
st.markdown(
    "The source's TensorFlow style builds the graph n steps wide, every step a copy sharing the same weights, runs "
    "it on a window of n inputs, and passes the final state on as the next window's initial state. Error flows back "
    "inside the window only. Which losses reach which states depends on the truncation style."
)
styles = {"tf": f"TensorFlow style BPTT({n}; {n})", "wp1": f"Williams–Peng BPTT({n}; 1)"}
if cfg.style == "williams-peng" and 1 < cfg.k1 < n:
    styles["wpk"] = f"Williams–Peng BPTT({n}; {cfg.k1}) (your k1)"
pick = st.radio("Truncation style", list(styles), format_func=styles.get, horizontal=True, key="learn_style",
                index=2 if "wpk" in styles else (1 if cfg.style == "williams-peng" and cfg.k1 == 1 else 0))
k1 = {"tf": n, "wp1": 1, "wpk": cfg.k1}[pick]
trace = (st.slider("Trace the error of the loss at window position t", 0, n - 1, n - 1, key=f"learn_trace_{n}")
         if n > 1 else 0)
# A projector needs bigger boxes: the drawing is scaled to the page width, so fewer columns draw larger.
most = 8 if state.present() else 12
st.graphviz_chart(unrolled_dot(n, k1, trace, max_drawn=most))
hidden = n - sum(1 for t in drawn_positions(n, most) if t is not None)
drawn = f" Only the first and last steps are drawn; the other {hidden} are alike." if hidden else ""
st.caption(
    f"Orange: losses trained in one step. Blue: the states the error of {subscript('L', trace)} reaches "
    f"({subscript('S', 0) + ' only' if trace == 0 else subscript('S', 0) + ' … ' + subscript('S', trace)}). "
    f"The dashed {subscript('S', k1 - 1)} is what the next window starts from; no gradient crosses into it.{drawn}"
)
if k1 == n:
    st.markdown(
        f"**BPTT({n}; {n})**: all {n} losses of the window are trained. The loss at position t reaches states 0..t, "
        f"so the last one is backpropagated {n} steps and the first only 1: on average {mean_depth(n, k1):.1f} steps "
        f"of the {n} you paid for. One training step per {n} inputs."
    )
else:
    st.markdown(
        f"**BPTT({n}; {k1})**: the window slides {k1} step{'s' if k1 > 1 else ''} at a time and only "
        f"{'its last loss is' if k1 == 1 else f'its last {k1} losses are'} trained, "
        f"each reaching at least {n - k1 + 1} states (on average {mean_depth(n, k1):.1f}). Every loss gets its turn "
        f"near the end of a window, at the price of {n / k1:.1f}× as many training steps per epoch as BPTT({n}; {n})."
    )
task = task_for(cfg)
task_lags = sorted(task.lags) if task is not None else []
if task_lags:
    reach = pd.DataFrame(lag_reach(n, k1, task_lags))
    reach["fraction"] = reach["fraction"].map(lambda v: f"{v:.0%}")
    st.dataframe(reach.rename(columns={"lag": "lag L", "losses_reaching": "trained losses whose error reaches X(t−L)",
                                       "trained_losses": "trained losses per step", "fraction": "share"}),
                 hide_index=True)
    missing = [lag for lag in task_lags if lag >= n]
    st.caption(
        "A loss can only teach the cell to keep X(t−L) if its error reaches back L steps within the window. "
        + (f"With n = {n} no trained loss reaches lag {', '.join(map(str, missing))}: learning it is left to luck."
           if missing else f"With n = {n} every lag of the task is within reach of some trained loss.")
    )

# ---- 5. the engine's code
st.header("5. The engine's code, as it runs")
runs_now = window_pass_for(cfg.gradient, n)
st.markdown(
    "As the source describes, each kind of duplicated tensor (inputs, states, predictions, losses) is a Python "
    "list of n tensors sharing W, b_s, U, b_p. On the left the engine's own functions, shown as they are: "
    "`unroll` builds the graph and `step` differentiates it with tf.GradientTape. On the right the same gradient "
    "derived by hand: one step back through the cell, which the fast passes repeat from the window's last "
    "position to its first."
)
autodiff_col, derived_col = st.columns(2)
with autodiff_col:
    st.markdown("**autodiff**: what tf.GradientTape computes")
    st.code(inspect.getsource(model.unroll), language="python")
    st.code(inspect.getsource(model.step), language="python")
    if runs_now is window.autodiff_rolled:
        st.caption(f"For n = {n} the autodiff program rolls the same cell into one tf.scan, so that compiling "
                   "does not grow with n:")
        st.code(inspect.getsource(window.autodiff_rolled), language="python")
with derived_col:
    st.markdown("**derived**: the same thing worked out by hand")
    st.code(inspect.getsource(derived.backward_step), language="python")
    st.caption("derived.unrolled_window calls it for each of a short window's n steps, derived.rolled_window inside "
               "a tf.scan for wide windows; the tests hold both, and both autodiff programs, to finite differences "
               "and to an independent NumPy computation.")
st.markdown(
    f"**What trains with your settings** (gradient = {cfg.gradient}, n = {n}): {program_name(cfg.gradient, n)}. "
    "The setting *Gradient computed by* in the sidebar switches between the two; both give the same weights, "
    "up to float32 rounding."
)
st.subheader("The truncation rule the trainer, the kernel and these drawings share")
st.code("\n\n".join(inspect.getsource(f) for f in (truncation.window_start, truncation.loss_mask,
                                                    truncation.carried_position, truncation.epoch_start_state)),
        language="python")

exact_view.learn_section(state.runs(), cfg)
