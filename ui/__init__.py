"""Streamlit-side helpers shared by app.py and the pages (the engine lives in rnn_core)."""
