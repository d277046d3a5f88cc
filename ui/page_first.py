"""A session's first script run draws the Train page's buttons before the sidebar's widgets.

The first run's page reaches the browser only as fast as the server hands out the frontend's code for each
new kind of element (ui/warmup.py's note in app.py); a sidebar of sliders, boxes and expanders ahead of the
buttons kept Train disabled for about a second more of a cold start. So app.py settles the settings first
(ui/settings.py `settle`), `hold`s the sidebar's drawing, and the Train page `release`s it as soon as its
buttons are drawn, as app.py's own elements. Every later run, and a first run on any other page, draws
the sidebar first (`hold(None)`).
"""
from __future__ import annotations

from collections.abc import Callable

from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui import state

PENDING = "_sidebar_pending"


def hold(draw: Callable[[], None] | None) -> None:
    """This script run's sidebar, to be drawn by `release` (None: drawn already, nothing held)."""
    state.set_memo(PENDING, draw)


def release() -> None:
    """Draw the held sidebar now, once (a no-op when none is held, e.g. a later run's already drawn one)."""
    draw = state.memo(PENDING)
    state.set_memo(PENDING, None)
    if draw is None:
        return
    ctx = get_script_run_ctx()
    if ctx is None:
        draw()
        return
    # As if app.py drew it: a widget's id (and so its value from one run to the next) and the browser's note of
    # which script drew an element both depend on the script running, here the page (StreamlitPage.run).
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        draw()
