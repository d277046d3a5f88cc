"""Turns: the order in which one process's concurrent runs get the CPU, the earliest-started first.

A server that holds a class sees thirty runs start within a second. Left to the OS and Python's GIL, they
share the CPU evenly and all finish near the end of the whole class's work. Served the earliest-started
first, half of them finish in half that time, and the total work stays the same.

Each run takes a `ticket` when it starts, and does its work inside `Turns.turn(ticket)` (the app holds one
for every script run: ui/state.py `script_turn`). At most `slots` turns are held at once, and the lowest
ticket waiting goes next. A run that has held its turn for longer than `quantum` seconds takes a new
ticket at the back of the line (`Turn.share`), so a heavy run cannot hold up the runs started after it.
Nothing here knows about Streamlit: a waiter's `on_wait` callback is how a page shows that it waits.
"""
from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV_SLOTS = "TRUNCATION_RUN_SLOTS"
DEFAULT_SLOTS = 2  # one run's Python while another's compiled calls and websocket writes run without the GIL
QUANTUM = 1.0  # s of turns a run holds before it goes to the back of the line
POLL = 0.25  # s between a waiter's `on_wait` calls
MAX_WAIT = 120.0  # s after which a waiter goes ahead anyway (a holder that never let go must not stop a class)


def slots_from_env(environ: dict[str, str] | None = None) -> int:
    """How many turns may be held at once: `TRUNCATION_RUN_SLOTS` (0 means no limit), else `DEFAULT_SLOTS`.

    ValueError names the variable and its value if it is not a whole number of at least 0.
    """
    raw = (os.environ if environ is None else environ).get(ENV_SLOTS)
    if raw is None or raw.strip() == "":
        return DEFAULT_SLOTS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_SLOTS} must be a whole number of runs (0 for no limit), got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{ENV_SLOTS} must be 0 (no limit) or more, got {raw!r}")
    return value


class Turn:
    """One held turn: how long it has been held, and `share` to go to the back of the line after a long hold."""

    def __init__(self, turns: Turns, ticket: int):
        self.turns = turns
        self.ticket = ticket
        self.held = True
        self.since = time.perf_counter()

    def share(self, on_wait: Callable[[int], None] | None = None, quantum: float | None = None) -> int:
        """If held longer than the quantum (the line's, or this one) while others wait, let them go first: a new
        ticket at the back, and wait for the turn again.

        Returns the ticket the run holds its turn with now.
        """
        quantum = self.turns.quantum if quantum is None else quantum
        if time.perf_counter() - self.since < quantum or not self.turns.waiting():
            return self.ticket
        return self._rejoin(0.0, on_wait)

    def step_out(self, seconds: float, on_wait: Callable[[int], None] | None = None) -> int:
        """Give the turn back for `seconds` (the others go meanwhile, a slot is free), then take a new ticket at
        the back of the line and wait for the turn again.

        Returns the ticket the run holds its turn with now.
        """
        return self._rejoin(seconds, on_wait)

    def _rejoin(self, away: float, on_wait: Callable[[int], None] | None) -> int:
        """Give the turn back, stay out `away` seconds, then wait for it again with a new ticket at the back."""
        self.turns.release()
        self.held = False
        if away > 0:
            time.sleep(away)
        self.ticket = self.turns.ticket()
        self.turns.wait_for(self.ticket, on_wait)  # `on_wait` may raise: then no turn is held
        self.held = True
        self.since = time.perf_counter()
        return self.ticket


class Turns:
    """A line of runs: `slots` turns at once (0: no limit), the lowest ticket waiting next."""

    def __init__(self, slots: int = DEFAULT_SLOTS, quantum: float = QUANTUM, max_wait: float = MAX_WAIT):
        self.slots = slots
        self.quantum = quantum
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._held = 0
        self._waiting: list[int] = []  # a heap of tickets
        self._wakers: dict[int, threading.Condition] = {}  # each waiting ticket's own condition, on `_lock`
        self._tickets = itertools.count(1)

    def ticket(self) -> int:
        """A new ticket, later than every ticket given out before."""
        with self._lock:
            return next(self._tickets)

    def held(self) -> int:
        """How many turns are held now."""
        with self._lock:
            return self._held

    def waiting(self) -> int:
        """How many runs wait for a turn now."""
        with self._lock:
            return len(self._waiting)

    def ahead_of(self, ticket: int) -> int:
        """How many runs go before this ticket: the turns held now and the lower tickets waiting."""
        with self._lock:
            return self._held + sum(t < ticket for t in self._waiting)

    def _free(self, ticket: int) -> bool:
        return (self.slots == 0 or self._held < self.slots) and self._waiting[0] == ticket

    def _wake_next(self) -> None:
        """Wake the lowest ticket waiting if a turn is free for it (`_lock` held). Only that waiter can go, so
        only it is woken: with thirty waiting, waking them all on every release cost a turn of the GIL each."""
        if self._waiting and (self.slots == 0 or self._held < self.slots):
            self._wakers[self._waiting[0]].notify()

    def acquire(self, ticket: int, timeout: float | None = None) -> bool:
        """Wait (at most `timeout` s) until this ticket is the lowest waiting and a turn is free; take it.

        False, and out of the line again, if the time ran out first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            heapq.heappush(self._waiting, ticket)
            waker = self._wakers[ticket] = threading.Condition(self._lock)
            try:
                while not self._free(ticket):
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        self._waiting.remove(ticket)
                        heapq.heapify(self._waiting)
                        return False
                    waker.wait(left)
                heapq.heappop(self._waiting)
                self._held += 1
                return True
            finally:
                del self._wakers[ticket]
                self._wake_next()  # the next in line: it may go too (more slots), or now that this one left

    def release(self) -> None:
        """Give a turn back."""
        with self._lock:
            self._held -= 1
            self._wake_next()

    def wait_for(self, ticket: int, on_wait: Callable[[int], None] | None = None) -> None:
        """Take a turn for `ticket`, calling `on_wait(runs ahead)` every `POLL` s while it waits.

        `on_wait` may raise (a page script stopped by a click): the ticket leaves the line first. After
        `max_wait` s the turn is taken whatever is held, so a holder that never let go cannot stop the line.
        """
        started = time.monotonic()
        while not self.acquire(ticket, timeout=POLL if on_wait is not None else self.max_wait):
            if time.monotonic() - started >= self.max_wait:
                with self._lock:
                    self._held += 1
                return
            if on_wait is not None:
                on_wait(self.ahead_of(ticket))

    @contextmanager
    def turn(self, ticket: int, on_wait: Callable[[int], None] | None = None) -> Iterator[Turn]:
        """Hold a turn for `ticket` inside the block (see `wait_for`); given back however the block ends."""
        self.wait_for(ticket, on_wait)
        held = Turn(self, ticket)
        try:
            yield held
        finally:
            if held.held:
                self.release()


_SHARED: list[tuple[Turns, str]] = []
_SHARED_LOCK = threading.Lock()


def shared() -> tuple[Turns, str]:
    """This process's line of runs, sized from the environment on first use, and what was wrong with the
    setting ('' if nothing; a bad value leaves `DEFAULT_SLOTS` in force)."""
    with _SHARED_LOCK:
        if not _SHARED:
            try:
                _SHARED.append((Turns(slots_from_env()), ""))
            except ValueError as exc:
                _SHARED.append((Turns(DEFAULT_SLOTS), f"{exc}; using {DEFAULT_SLOTS}"))
        return _SHARED[0]
