"""A Train (Step, Continue) click whose script run the browser id's answer cuts short before it acted is done by
that rerun instead (ui/state.py note_click / cut_click / acted); any other later run leaves it alone. The browser
test `test_train_pressed_the_moment_a_cold_page_shows_it_trains` is the same race in a real page."""
from __future__ import annotations

import pytest

from ui import state


@pytest.fixture
def session(monkeypatch):
    """A plain dict as the session (ui.state reads and writes st.session_state)."""
    box: dict = {}
    monkeypatch.setattr(state.st, "session_state", box)
    return box


def click_run(session: dict, action: str = "train") -> None:
    state.note_click(action)  # the button's on_click, before the script run it starts
    state.new_script_run()


def id_rerun(session: dict) -> None:
    state.new_script_run()
    session[state.ID_ARRIVED] = True  # ui.state.use_browser, in the sidebar before the page


def test_the_id_rerun_does_a_click_its_run_never_acted_on(session):
    state.new_script_run()  # the first page
    click_run(session)
    assert state.cut_click() is None  # the click's own run: nothing to redo, and the note stays
    id_rerun(session)  # cut that run at the TensorFlow import, before the run started
    assert state.cut_click() == "train"
    assert state.cut_click() is None  # once


@pytest.mark.parametrize("action", ["train", "step", "continue"])
def test_a_click_acted_on_is_not_done_again(session, action):
    state.new_script_run()
    click_run(session, action)
    assert state.cut_click() is None
    state.acted()  # the run was started (or stepped): the id's rerun resumes a cut loop instead
    id_rerun(session)
    assert state.cut_click() is None


def test_only_the_id_rerun_right_after_the_click_redoes_it(session):
    state.new_script_run()
    click_run(session)
    state.new_script_run()  # a rerun the user asked for (a slider, Stop) cut it: their newer wish wins
    assert state.cut_click() is None
    id_rerun(session)
    assert state.cut_click() is None  # the note went with the run that saw it unacted

    click_run(session)
    state.new_script_run()
    state.new_script_run()
    session[state.ID_ARRIVED] = True  # the id's answer, but two runs after the click
    assert state.cut_click() is None
