"""Truncation explorer: the Streamlit entry point.

Sets the page config, builds the navigation over pages/, renders the shared settings sidebar
(ui/settings.py; in a session's first run on the Train page after the page, ui/page_first.py),
keeps Streamlit from clearing Keras after each run (ui/server_tuning.py)
and, from a session's second script run on, loads TensorFlow and compiles the default run's kernel
in the background (ui/warmup.py). The first run's page reaches the browser only as fast as the server
hands out the frontend's code for each new kind of element; TensorFlow's import, started alongside,
held the GIL against that for seconds. The second run is the browser id's answer (ui/browser_id.py),
or the user's first click, whichever comes first: the page is in the browser by then.
Run with `streamlit run app.py`; the serving settings are in .streamlit/config.toml.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

import streamlit as st  # noqa: E402

from ui import page_first, run_list, server_tuning, settings, state, warmup  # noqa: E402

first_run = state.new_script_run()

server_tuning.keep_keras_session()  # Streamlit would clear Keras after every run of every session

FAVICON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui", "favicon.png")  # emoji icons come from a CDN
st.set_page_config(page_title="Truncation explorer", page_icon=FAVICON, layout="wide")
train_page = st.Page("pages/train.py", title="Train", icon=":material/play_circle:", default=True)
page = st.navigation([
    train_page,
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/cast_for_education:"),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
])
waiting = st.empty()  # always here, so the page below keeps its place whether this run waited or not


def show_waiting(ahead: int) -> None:
    waiting.info(f"Waiting for the server: {ahead} run{'s' if ahead != 1 else ''} ahead of yours. With a class "
                 "on one server, the earliest clicks go first.", icon=":material/hourglass_top:")


if state.turns_problem():
    st.warning(f"Server setting: {state.turns_problem()}.")
with state.script_turn(show_waiting):  # the server's line of runs (rnn_core/turns.py): earliest click first
    waiting.empty()
    settings.begin()  # the URL's settings and lesson link, when new
    with st.sidebar:
        settings_box = st.container()  # the settings sit above "Your runs" whichever is drawn first

    def sidebar() -> None:
        settings.draw(settings_box)
        if run_list.sidebar(after_page=True):  # this browser's stored runs (ui/state.py keeps the list), its id
            state.rerun()  # they came after the page was drawn: draw it again with the run they put back

    if first_run and page.url_path == train_page.url_path:
        settings.settle()  # the config the page needs; the sidebar follows the Train page
        page_first.hold(sidebar)  # the browser id too: its answer starts TensorFlow's import (ui/warmup.py)
    else:
        page_first.hold(None)
        settings.draw(settings_box)
        settings.settle()
        run_list.sidebar()
    if not first_run:
        warmup.start()  # once per process; a Train click before it finds the trainer compiling on its own
    page.run()
    page_first.release()  # a page that did not draw the held sidebar (it ends before its buttons otherwise)
