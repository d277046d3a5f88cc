"""Lessons: a guided walk through the source document's argument, one step at a time: predict, train, read.

The place in the lesson is in the URL (?lesson=r2rt&step=3), so a link opens a given step; the logic
is ui/lessons.py and the lesson itself is data in ui/lessons_content.py.
"""
import altair as alt
import pandas as pd
import streamlit as st

from rnn_core.data import task_baselines
from ui import explain, lessons
from ui.entry import require_app
from viz import train_charts

require_app()

lesson, index = lessons.position()
step = lesson.steps[index]
count = len(lesson.steps)

st.title(f"Lesson: {lesson.title}")
for warning in lessons.position_warnings():
    st.warning(warning, icon="⚠️")
if index == 0:
    st.markdown(lesson.intro)
st.progress((index + 1) / count, text=f"Step {index + 1} of {count}: {step.title}")

st.header(f"{index + 1}. {step.title}")
st.markdown(step.text)
st.subheader("Predict first")
choice_label = st.radio(step.question, step.choices, index=None, key=f"lesson_{lesson.key}_{step.key}_choice")
choice = step.choices.index(choice_label) if choice_label is not None else None
if step.kind != "cost":
    cfg = lessons.step_config(step)
    st.caption(f"Settings: R2RT's defaults with n = {cfg.truncation}, d = {cfg.state_size}, {cfg.epochs} "
               f"epoch{'s' if cfg.epochs > 1 else ''} of {cfg.series_length:,} steps (B = {cfg.batch_size}); "
               "the button puts them into the sidebar, so the Train page shows the same run. Training takes about "
               "10–20 s here, most of it building the compiled program.")
st.button(step.button, type="primary", icon=":material/play_arrow:", disabled=choice is None,
          on_click=lessons.apply, args=(lesson, step), key=f"lesson_{lesson.key}_{step.key}_go",
          help="Choose a prediction first." if choice is None else "Train and read the result.")
if choice is None:
    st.caption("Choose your prediction to unlock the button.")

progress = st.empty()
if lessons.pending(lesson, step):
    if step.kind == "cost":
        lessons.time_steps(lesson, step, progress)
    else:
        lessons.train(lesson, step, progress)
    progress.empty()

res = lessons.result(lesson, step)
if res is not None:
    st.subheader("What happened")
    matched, text = lessons.reading(step, res, choice)
    (st.success if matched else st.info if matched is None else st.warning)(text)
    if res.record is not None:
        rec = res.record
        st.altair_chart(train_charts.loss_chart(rec.scalars["loss"], rec.baselines, task_baselines(rec.config)[1],
                                                steps=rec.scalars["step"]), width="stretch")
        if explain.line("lesson-result"):
            st.caption(f"*{explain.line('lesson-result')}*")
        if step.kind == "reach" and len(rec.profiles["step"]):
            st.altair_chart(train_charts.grad_profile_chart(rec.profiles["grad_norms"][-1],
                                                            rec.profiles["temporal"][-1]), width="stretch")
            if explain.line("gradient-profile"):
                st.caption(f"*{explain.line('gradient-profile')}*")
    if res.times:
        df = pd.DataFrame({"n": list(res.times), "ms per step": [t * 1000 for t in res.times.values()]})
        st.altair_chart(alt.Chart(df).mark_line(point=True).encode(
            x=alt.X("n:Q", title="window n"), y=alt.Y("ms per step:Q", title="ms per training step (eager)"),
            tooltip=["n:Q", alt.Tooltip("ms per step:Q", format=".2f")],
        ).properties(title="Time per training step against n", height=260), width="stretch")
        if explain.line("lesson-cost"):
            st.caption(f"*{explain.line('lesson-cost')}*")
    table = lessons.runs_table(lesson)
    if step.kind == "baseline" and len(table) > 1:
        st.caption("Your runs in this lesson so far, against the exact baselines:")
        st.dataframe(table, hide_index=True)
    if step.kind != "cost":
        st.page_link("pages/train.py", label="Look at this run on the Train page", icon=":material/play_circle:")

left, right = st.columns(2)
with left:
    st.button("Back", icon=":material/arrow_back:", disabled=index == 0, on_click=lessons.go,
              args=(lesson.key, index - 1), key="lesson_back")
with right:
    st.button("Next step" if index + 1 < count else "Last step", icon=":material/arrow_forward:",
              disabled=index + 1 >= count, on_click=lessons.go, args=(lesson.key, index + 1), key="lesson_next")
if index + 1 == count:
    st.markdown("**The argument in one line:** the window limits how far the error flows back, not how far the "
                "state remembers; a wider window learns longer lags and costs more per step. Try any of it on the "
                "Train page, with **Step** to watch one window at a time.")
