"""When the app's sidebar (the settings, then this browser's runs) is drawn: before the page, except on a
session's first script run, when it is drawn after the page.

A cold page reaches the browser element by element, and the browser shows an element only once it has the
frontend code of the element kinds sent with it. The sidebar holds eight kinds (toggle, slider, number box,
select box, text box, checkbox, multiselect, file uploader) and the browser id's component; sent before the
page, they kept the Train button from showing for about a second of a 3.4 s cold start (`bench/results.md`,
session 11). So on a session's first script run app.py settles the settings first (`ui.settings.settle`: the
config, the URL, no widget), the page draws, and only then is the sidebar drawn (`draw_deferred`: app.py after
the page, and the Train page before each of its `st.stop()`, after which nothing more is drawn). Every later
script run draws the sidebar before the page, as a user with the page open expects. The page needs nothing the
drawing does: a browser's id is never known on a session's first run (its component answers with a rerun), and
one a session was given without it is synced before the page (`ui.run_list.sync`).
"""
from __future__ import annotations

import threading

from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui import run_list, settings

_RUN = threading.local()  # this script run's thread: the settled sidebar still to draw, if any


def begin(settled: settings.Settled, first_run: bool) -> None:
    """Draw the sidebar now, or (on a session's first script run) keep it for `draw_deferred`."""
    _RUN.pending = settled if first_run else None
    if first_run:
        run_list.sync(None)  # an id known before the browser's answer restores before the page, as it would after
    else:
        _draw(settled)


def draw_deferred() -> bool:
    """Draw the sidebar if this script run has kept it back (app.py after the page; a page before its `st.stop()`).
    Returns whether it drew."""
    settled = getattr(_RUN, "pending", None)
    if settled is None:
        return False
    _RUN.pending = None
    ctx = get_script_run_ctx()
    if ctx is None:  # bare mode: no page, no widgets' ids to keep
        _draw(settled)
        return True
    # As the app's own elements, not the page's: a widget's id includes the script that drew it, and on every later
    # run the sidebar is drawn before the page. Ids that changed between runs would lose what the user set.
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        _draw(settled)
    return True


def _draw(settled: settings.Settled) -> None:
    settings.draw(settled)
    run_list.sidebar()  # this browser's stored runs (ui/state.py keeps the list)
