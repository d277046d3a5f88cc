"""Streamlit helpers shared by app.py and the pages: state (the one owner of session state), settings
(the sidebar and the URL), live (the Train page's board), the pages' helpers (progress, compare_view,
learn_view, data_view), sweep, downloads, entry, warmup. Charts come from viz/, the engine is rnn_core/."""
