"""A session's first script run on the Train page draws the sidebar after the page.

The browser shows nothing of a script run's elements until it has the frontend's code for every kind of element
it has been sent so far, and the server hands that code out slowly while a cold process works. The sidebar's
sliders, boxes, selectboxes, uploaders and the browser-id component are about forty such pieces: sent with the
buttons, they kept Train hidden (and so disabled) about a second longer (bench/results.md, session 16). So
app.py settles the settings first (ui/settings.py `settle`) and `hold`s the sidebar; the Train page `release`s
it once the page is drawn (its chart libraries' import puts about a second between the buttons and the
sidebar), and app.py releases whatever a page did not. Every later run, and a first run on any other page,
draws the sidebar first (`hold(None)`). A click that lands before the browser has the sidebar's widgets trains
the settings the server holds: every widget's default is its value (ui/settings.py `_widget`).
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
