"""A Train (Step, Continue) click whose script run the browser id's answer cuts short before it acted is done by
that rerun instead (ui/state.py note_click / cut_click / acted); any other later run leaves it alone. The browser
test `test_train_pressed_the_moment_a_cold_page_shows_it_trains` is the same race in a real page. A click on the
row the Train page draws after training (other keys: ui/train_buttons.py) is this run's own click (`own_click`).
The sidebar's run-list redraw (`on_runs_changed`) belongs to the script run that drew the list."""
from __future__ import annotations

from types import SimpleNamespace

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


def test_own_click_is_the_click_that_started_this_run_until_acted_on(session):
    state.new_script_run()
    assert state.own_click() is None
    click_run(session, "reset")
    assert state.own_click() == "reset"
    state.acted()
    assert state.own_click() is None
    click_run(session, "step")
    state.new_script_run()  # a later run of any cause: not its click
    assert state.own_click() is None


def test_the_run_list_redraw_of_an_earlier_script_run_is_never_called(session, monkeypatch):
    """The browser id's arrival keeps a run in the sidebar before the list is drawn: the last run's redraw would
    write into that run's placeholder, which in this run is another element."""
    monkeypatch.setattr(state, "_store", lambda record: None)
    calls = []
    state.new_script_run()
    state.on_runs_changed(lambda: calls.append("first run"))
    state.add_run(SimpleNamespace(label="run", extra={}))
    assert calls == ["first run"]  # kept later in the run that drew the list: redrawn
    state.new_script_run()
    state.add_run(SimpleNamespace(label="run", extra={}))
    assert calls == ["first run"]
    state.on_runs_changed(lambda: calls.append("second run"))
    state.add_run(SimpleNamespace(label="run", extra={}))
    assert calls == ["first run", "second run"]
