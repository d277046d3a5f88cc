"""Train a list of runs on worker threads, two at once while the process has nothing else to do.

A default Compare sweep is 24 short runs. One run at a time keeps one of the two cores busy with its compiled
calls (which release the GIL) while the other waits for the run's Python between calls; two runs at once
trained the 24 in 4.4 s against 5.9 s (bench/results.md, session 23). The second lane takes a new run only
while `extra()` says so (the app: no other script run holds a turn or waits for one), so a sweep never takes
a second core from a class.

`train_lanes` is a generator the caller (one thread, e.g. a Streamlit script run) drives: it yields a
`Progress` about every `poll` seconds with every lane's latest chunk, and a `Finished` per run in plan order
(a run finished early waits for the runs planned before it), its record made on the worker thread (its
full-gradient samples computed there, while the other lane trains). The caller's own work between two events
(drawing, storing) overlaps the lanes' training. While `go` is cleared the lanes wait between chunks (the
caller gave its turn back). Closing the generator (a click stopped the script) stops the lanes after their
current chunk; a worker's exception is raised in the caller. Nothing here knows about Streamlit.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

POLL = 0.1  # s between Progress events while runs train
JOIN_S = 10.0  # s a closed generator waits for its lanes to finish their current chunk


@dataclass
class Lane:
    """What one lane trains now: the plan index, the trainer, its latest chunk (None before the first)."""

    index: int
    trainer: Any
    chunk: Any = None
    compiling: bool = False  # waiting for its compiled program before its clock starts (`compile_first`)


@dataclass
class Progress:
    """The lanes' state: runs finished (handed out as Finished) and each busy lane."""

    finished: int
    lanes: list[Lane] = field(default_factory=list)


@dataclass
class Finished:
    """A run trained to its end (or its divergence): plan index, trainer, and its record."""

    index: int
    trainer: Any
    record: Any


def train_lanes(
    count: int,
    make: Callable[[int], Any],
    finish: Callable[[int, Any], Any],
    extra: Callable[[], bool] = lambda: False,
    go: threading.Event | None = None,
    warm: Callable[[Any], None] | None = None,
    poll: float = POLL,
) -> Iterator[Progress | Finished]:
    """Train runs 0 .. count-1: `make(i)` builds run i's trainer, `finish(i, trainer)` its record (both on a worker).

    Lane 0 always trains; lane 1 starts a run only when `extra()` is true. With `warm`, each trainer is handed
    to it before its training starts (to wait for its compiled program). See the module docstring.
    """
    go = go or _set_event()
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    lock = threading.Lock()
    next_index = [0]
    busy: dict[int, Lane] = {}

    def take(lane: int) -> int | None:
        while not stop.is_set():
            with lock:
                if next_index[0] >= count:
                    return None
                if lane == 0 or extra():
                    next_index[0] += 1
                    return next_index[0] - 1
            stop.wait(poll)  # lane 1 waits for the process to be free again (or for the plan to run out)
        return None

    def work(lane: int) -> None:
        try:
            while (i := take(lane)) is not None:
                trainer = make(i)
                busy[lane] = Lane(i, trainer)
                if warm is not None:
                    busy[lane].compiling = True
                    warm(trainer)
                    busy[lane].compiling = False
                chunks = trainer.run()
                try:
                    for chunk in chunks:
                        busy[lane].chunk = chunk
                        if trainer.sampler is not None and not trainer.finished:
                            trainer.sampler.flush_behind()  # this run's samples so far, while it trains on
                        go.wait()
                        if stop.is_set():
                            return
                finally:
                    chunks.close()
                record = finish(i, trainer)
                del busy[lane]
                events.put(Finished(i, trainer, record))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            events.put(exc)
        finally:
            busy.pop(lane, None)
            events.put(lane)  # this lane is done

    workers = [threading.Thread(target=work, args=(lane,), name=f"sweep-lane-{lane}", daemon=True)
               for lane in range(2)]
    for w in workers:
        w.start()
    ready: dict[int, Finished] = {}
    handed, lanes_done = 0, 0
    try:
        while handed < count and lanes_done < len(workers):
            try:
                event = events.get(timeout=poll)
            except queue.Empty:
                yield Progress(handed + len(ready), _lanes(busy))
                continue
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, int):
                lanes_done += 1
                continue
            ready[event.index] = event
            while handed in ready:
                yield ready.pop(handed)
                handed += 1
        while handed in ready:
            yield ready.pop(handed)
            handed += 1
    finally:
        stop.set()
        go.set()
        for w in workers:
            w.join(JOIN_S)


def _lanes(busy: dict[int, Lane]) -> list[Lane]:
    """The busy lanes in plan order (a copy: the workers go on changing theirs)."""
    return sorted((Lane(b.index, b.trainer, b.chunk, b.compiling) for b in list(busy.values())),
                  key=lambda b: b.index)


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event

