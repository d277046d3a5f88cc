"""rnn_core.turns: the earliest ticket goes first, at most `slots` at once, a long holder goes to the back,
a waiter that gives up (or is stopped) leaves the line, and a bad server setting is named."""
from __future__ import annotations

import threading
import time

import pytest

from rnn_core.turns import DEFAULT_SLOTS, ENV_SLOTS, Turns, slots_from_env


def _line_up(turns: Turns, tickets: list[int], order: list[int], hold: float = 0.0) -> list[threading.Thread]:
    """One thread per ticket, each waiting for its turn and noting when it got it; all queued before any runs."""
    def run(ticket: int) -> None:
        with turns.turn(ticket):
            order.append(ticket)
            time.sleep(hold)

    threads = [threading.Thread(target=run, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    return threads


def _until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_the_lowest_ticket_waiting_goes_first_whatever_order_they_arrived_in():
    turns, order = Turns(slots=1), []
    tickets = [turns.ticket() for _ in range(6)]
    with turns.turn(0):  # the line is blocked until everyone waits
        threads = _line_up(turns, tickets[::-1], order)  # arrive latest first
        _until(lambda: turns.waiting() == 6)
        assert [turns.ahead_of(t) for t in tickets] == [1, 2, 3, 4, 5, 6]  # the holder, then the lower tickets
    for thread in threads:
        thread.join(5)
    assert order == tickets


def test_no_more_turns_are_held_than_there_are_slots():
    turns, order = Turns(slots=2), []
    most = [0]
    lock = threading.Lock()

    def run(ticket: int) -> None:
        with turns.turn(ticket):
            with lock:
                most[0] = max(most[0], turns.held())
            time.sleep(0.02)
            order.append(ticket)

    threads = [threading.Thread(target=run, args=(turns.ticket(),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2 and len(order) == 8 and turns.held() == 0 and turns.waiting() == 0


def test_zero_slots_means_no_limit():
    turns = Turns(slots=0)
    with turns.turn(turns.ticket()), turns.turn(turns.ticket()), turns.turn(turns.ticket()):
        assert turns.held() == 3


def test_a_long_holder_goes_to_the_back_only_when_others_wait():
    turns, order = Turns(slots=1, quantum=0.0), []
    first = turns.ticket()
    with turns.turn(first) as held:
        assert held.share() == first  # nobody waits: keeps its turn and its ticket
        later = turns.ticket()
        threads = _line_up(turns, [later], order)
        _until(lambda: turns.waiting() == 1)
        new = held.share()  # the later run goes first, then this one again
        assert order == [later] and new > later and held.held
    for thread in threads:
        thread.join(5)
    assert turns.held() == 0


def test_a_holder_within_its_quantum_keeps_its_turn():
    turns = Turns(slots=1, quantum=60.0)
    first = turns.ticket()
    with turns.turn(first) as held:
        waiter = threading.Thread(target=lambda: (turns.wait_for(turns.ticket()), turns.release()))
        waiter.start()
        _until(lambda: turns.waiting() == 1)
        assert held.share() == first and turns.held() == 1 and turns.waiting() == 1
    waiter.join(5)
    assert turns.held() == 0


def test_a_waiter_stopped_while_waiting_leaves_the_line_and_holds_nothing():
    turns = Turns(slots=1)
    seen = []

    class Stopped(Exception):
        pass

    def stop(ahead: int) -> None:
        seen.append(ahead)
        raise Stopped  # what a click does to a Streamlit script at its next st.* call

    with turns.turn(turns.ticket()):
        with pytest.raises(Stopped):
            with turns.turn(turns.ticket(), stop):
                pass
        assert seen == [1] and turns.waiting() == 0 and turns.held() == 1
    assert turns.held() == 0


def test_a_run_stopped_while_it_waits_to_go_on_gives_back_nothing_twice():
    turns = Turns(slots=1, quantum=0.0)

    class Stopped(Exception):
        pass

    def stop(ahead: int) -> None:
        raise Stopped

    other = threading.Event()
    with pytest.raises(Stopped):
        with turns.turn(turns.ticket()) as held:
            blocker = threading.Thread(target=lambda: (turns.wait_for(turns.ticket()), other.wait(5), turns.release()))
            blocker.start()
            _until(lambda: turns.waiting() == 1)
            held.share(stop)  # goes to the back, the other run takes the turn, and this one is stopped waiting
    assert turns.held() == 1  # only the other run's turn
    other.set()
    blocker.join(5)
    assert turns.held() == 0 and turns.waiting() == 0


def test_a_waiter_whose_time_runs_out_leaves_the_line():
    turns = Turns(slots=1)
    with turns.turn(turns.ticket()):
        assert not turns.acquire(turns.ticket(), timeout=0.05)
        assert turns.waiting() == 0


def test_a_turn_never_given_back_holds_the_line_only_for_max_wait():
    turns = Turns(slots=1, max_wait=0.2)
    turns.wait_for(turns.ticket())  # taken and never released (a bug somewhere)
    t0 = time.monotonic()
    with turns.turn(turns.ticket()):
        waited = time.monotonic() - t0
    assert 0.15 < waited < 2.0


@pytest.mark.parametrize(("raw", "slots"), [(None, DEFAULT_SLOTS), ("", DEFAULT_SLOTS), ("1", 1), (" 3 ", 3),
                                            ("0", 0)])
def test_the_server_setting_is_read(raw, slots):
    assert slots_from_env({} if raw is None else {ENV_SLOTS: raw}) == slots


@pytest.mark.parametrize("raw", ["two", "1.5", "-1"])
def test_a_bad_server_setting_is_named(raw):
    with pytest.raises(ValueError, match=f"{ENV_SLOTS}.*{raw!r}"):
        slots_from_env({ENV_SLOTS: raw})


def test_a_forced_share_goes_to_the_back_at_once_when_others_wait():
    turns, order = Turns(slots=1, quantum=60.0), []
    with turns.turn(turns.ticket()) as held:
        first = held.ticket
        assert held.share(quantum=0.0) == first  # nobody waits: goes on at once
        later = turns.ticket()
        threads = _line_up(turns, [later], order)
        _until(lambda: turns.waiting() == 1)
        assert held.share() == first  # within the line's quantum: keeps its turn
        assert held.share(quantum=0.0) > later and order == [later]  # forced: the waiting run went first
    for thread in threads:
        thread.join(5)


def test_a_released_turn_wakes_only_the_waiter_that_goes_next(monkeypatch):
    """Thirty waiters, each woken on every release, cost the server a turn of the GIL each; only the lowest ticket
    can go, so only it is woken (a spurious wake-up now and then is allowed)."""
    woken = []

    class Counting(threading.Condition):
        def wait(self, timeout=None):
            got = super().wait(timeout)
            woken.append(threading.get_ident())
            return got

    monkeypatch.setattr(threading, "Condition", Counting)
    turns, order = Turns(slots=1), []
    tickets = [turns.ticket() for _ in range(12)]
    with turns.turn(0):
        threads = _line_up(turns, tickets, order)
        _until(lambda: turns.waiting() == 12)
    for thread in threads:
        thread.join(5)
    assert order == tickets
    assert len(woken) <= 2 * len(tickets)  # all woken on every release: 12 + 11 + ... + 1 = 78


def test_a_run_that_steps_out_frees_its_slot_meanwhile_and_comes_back_at_the_back():
    turns, order = Turns(slots=1, quantum=60.0), []
    with turns.turn(turns.ticket()) as held:
        first = held.ticket
        later = turns.ticket()
        threads = _line_up(turns, [later], order, hold=0.05)
        _until(lambda: turns.waiting() == 1)
        back = held.step_out(0.02)  # the slot is free while it is out: the waiting run goes, then this one again
        assert order == [later] and back > later > first and held.held and turns.held() == 1
        assert held.step_out(0.0) > back  # nobody waits: out and in again, a new ticket
    for thread in threads:
        thread.join(5)
    assert turns.held() == 0 and turns.waiting() == 0


def test_while_a_run_is_stepped_out_another_holds_the_only_slot():
    turns = Turns(slots=1)
    seen = []
    with turns.turn(turns.ticket()) as held:
        other = threading.Thread(target=lambda: (turns.wait_for(turns.ticket()), seen.append(turns.held()),
                                                 time.sleep(0.05), turns.release()))
        stepping = threading.Thread(target=held.step_out, args=(0.2,))
        stepping.start()
        _until(lambda: not held.held)
        other.start()
        other.join(5)
        stepping.join(5)
        assert seen == [1] and held.held  # the other run had the slot alone while this one was out
    assert turns.held() == 0
