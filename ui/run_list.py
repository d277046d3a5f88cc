"""The sidebar's "Your runs": this browser's id, the stored run list, "Forget my runs", and what a reload restores.

Called by app.py on every script run, after the settings sidebar. It reads the browser id
(ui.browser_id, a components-v2 element in the sidebar), hands it to ui.state, and when the session's
run list has just been loaded from the store (a new tab, a reload, a reconnect, a restarted server or
another replica) it puts back what the page showed: on the Train page the latest run if it was made
with the settings now in the sidebar, on Compare the chart of the last sweep over n. Notes about
the store (damaged rows, a store that cannot be opened) are shown at the top of the page.
"""
from __future__ import annotations

import streamlit as st

from rnn_core.data import task_baselines
from rnn_core.report import RunRecord
from ui import state
from ui.browser_id import browser_id
from ui.state import SweepResult

FORGET_FAILED = "forget_failed"
NOTES_PENDING = "_store_notes_pending"  # the store's notes from a load that a rerun will show
SHOWN = 8  # labels listed in the sidebar; Compare lists them all


def sidebar(after_page: bool = False) -> bool:
    """Sync the run list with this browser's stored runs and draw the sidebar section; whether the list was just
    loaded from the store. `after_page`: the page is drawn already and will be drawn again if so (app.py reruns),
    so the store's notes are kept for that run rather than shown at the page's foot."""
    with st.sidebar:
        loaded, notes = state.use_browser(browser_id(renew=state.renew_browser_id()))
        if loaded:
            restore()
        _section()
    if loaded and after_page:
        state.set_memo(NOTES_PENDING, notes)
        return True
    for note in list(state.forget(NOTES_PENDING) or []) + notes:
        st.warning(note, icon=":material/database:")
    return loaded


def restore() -> None:
    """After the run list came from the store: the Train page's latest run and Compare's last sweep chart."""
    kept = state.runs()
    if not kept:
        return
    last = kept[-1]
    if state.trainer() is None and state.loaded() is None and last.config == state.config():
        state.show_loaded(last)
    if state.sweep_result() is None:
        sweep = sweep_from_runs(kept)
        if sweep is not None:
            state.set_sweep_result(sweep)


def sweep_from_runs(records: list[RunRecord]) -> SweepResult | None:
    """The last sweep over n whose runs are in `records` (by the group stamped on them), as a finished result."""
    from ui.compare_view import sweep_point  # compare_view imports ui.state too; only needed here

    groups = [r.extra.get("group") for r in records if r.extra.get("source") == "sweep" and r.extra.get("group")]
    if not groups:
        return None
    mine = [r for r in records if r.extra.get("group") == groups[-1]]
    first = mine[0]
    sweep = SweepResult(len(mine), list(first.baselines), task_baselines(first.config)[1], finished=True,
                        group=groups[-1])
    sweep.points = [sweep_point(r) for r in mine]
    return sweep


def _section() -> None:
    with st.expander("Your runs", expanded=False):
        slot = st.empty()
        _list(slot)
        state.on_runs_changed(lambda: _list(slot))  # a run kept later in this script run redraws the list
        if state.memo(FORGET_FAILED):
            st.error(state.forget(FORGET_FAILED))
        st.button("Forget my runs", icon=":material/delete:", key="forget_runs", on_click=_forget,
                  help="Delete your stored runs and this session's, and give this browser a new run-store id.")


def _list(slot) -> None:
    kept = state.runs()
    where = ("kept in this browser's run store" if state.owner() is not None
             else "kept in this session only (this browser has not given its run-store id)")
    with slot.container():
        st.caption(f"{len(kept)} run{'' if len(kept) == 1 else 's'} (trained here, by sweeps and by the styles race), "
                   f"{where}. They come back after a reload or a server restart; a shared link carries settings, "
                   "never runs.")
        if kept:
            st.markdown("\n".join(f"- {r.label}" for r in kept[-SHOWN:][::-1]))
        if len(kept) > SHOWN:
            st.caption(f"and {len(kept) - SHOWN} older: all are on the Compare page.")


def _forget() -> None:
    notes = state.forget_runs()
    if notes:
        state.set_memo(FORGET_FAILED, " ".join(notes))
