"""ui/state.py step_aside, a trainer's pause in the server: asked for no time it lets waiting runs go first (and goes
on at once if none waits); asked for seconds it gives its turn back for them, so its slot serves the others; with
no turn held it sleeps."""
from __future__ import annotations

import threading
import time

import pytest

from rnn_core.turns import Turns
from ui import state


@pytest.fixture
def session(monkeypatch):
    box: dict = {}
    monkeypatch.setattr(state.st, "session_state", box)
    return box


def test_a_pause_of_some_seconds_frees_the_slot_and_rejoins_the_line(session):
    line = Turns(slots=1)
    pause = state.step_aside()
    got = []
    with line.turn(line.ticket()) as held:
        state._TURN.held = held
        try:
            first = held.ticket
            pause(0.0)  # nobody waits: goes on with its ticket
            assert held.ticket == first
            other = threading.Thread(target=lambda: (line.wait_for(line.ticket()), got.append(line.held()),
                                                     line.release()))
            other.start()
            time.sleep(0.05)  # the other run waits for the only slot
            pause(0.1)  # out for 0.1 s: the other run takes the slot meanwhile
            other.join(5)
            assert got == [1] and held.held and held.ticket > first and session[state.TICKET] == held.ticket
        finally:
            state._TURN.held = None
    assert line.held() == 0


def test_without_a_turn_a_pause_sleeps(session, monkeypatch):
    slept = []
    monkeypatch.setattr(state.time, "sleep", slept.append)
    state._TURN.held = None
    state.step_aside()(0.25)
    assert slept == [0.25]
