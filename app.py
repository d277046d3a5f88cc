"""Truncation explorer: the Streamlit entry point.

Sets the page config, builds the navigation over pages/, renders the shared settings sidebar
(ui/settings.py), keeps Streamlit from clearing Keras after each run (ui/server_tuning.py)
and starts compiling the default run's kernel in the background.
Run with `streamlit run app.py`; the serving settings are in .streamlit/config.toml.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

import streamlit as st  # noqa: E402

from ui import warmup  # noqa: E402

warmup.start()  # TensorFlow loads and the default kernel compiles while the first page draws

from ui import run_list, server_tuning, settings, state  # noqa: E402

state.new_script_run()

server_tuning.keep_keras_session()  # Streamlit would clear Keras after every run of every session

FAVICON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui", "favicon.png")  # emoji icons come from a CDN
st.set_page_config(page_title="Truncation explorer", page_icon=FAVICON, layout="wide")
page = st.navigation([
    st.Page("pages/train.py", title="Train", icon=":material/play_circle:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/cast_for_education:"),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
])
settings.sidebar()
run_list.sidebar()  # this browser's stored runs (ui/state.py keeps the list)
page.run()
