"""Make every page run inside app.py, even when its own URL is the first request a server gets.

Streamlit decides per process whether `pages/` is an old-style pages folder; until app.py's
st.navigation has run once, a fresh server opened at /learn would run pages/learn.py alone,
with Streamlit's automatic file list and without the shared settings sidebar.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_app() -> None:
    """Rerun through app.py (the same URL, so the same page) if this page was started on its own."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
