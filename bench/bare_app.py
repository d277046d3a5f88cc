"""The floor under the app's cold start: a Streamlit page that draws only a Train button.

`python -m bench.app_latency --cold --launcher bare,streamlit` launches it with the same command and
serving settings as the app (`streamlit run`, the project's .streamlit/config.toml) and times launch
to the button enabled in the same browser, so the app's own share of a cold start is the difference.
"""
import streamlit as st

st.button("Train")
