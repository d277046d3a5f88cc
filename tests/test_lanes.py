"""rnn_core/lanes.py with stand-in trainers: plan order, the second lane only when allowed, stop, errors, pause."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from rnn_core.lanes import Finished, Progress, train_lanes


@dataclass
class Chunk:
    steps_done: int
    total_steps: int
    compiled: bool = True


class FakeTrainer:
    """Yields `chunks` chunks, each after `seconds`; counts how many fake trainers train at once."""

    live = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, index: int, chunks: int = 3, seconds: float = 0.01, fail: bool = False):
        self.index, self.chunks, self.seconds, self.fail = index, chunks, seconds, fail
        self.sampler = None
        self.ran = 0
        self.closed = False
        self.finished = False

    def run(self):
        with FakeTrainer.lock:
            FakeTrainer.live += 1
            FakeTrainer.most = max(FakeTrainer.most, FakeTrainer.live)
        try:
            for k in range(self.chunks):
                time.sleep(self.seconds)
                if self.fail:
                    raise RuntimeError(f"run {self.index} broke")
                self.ran += 1
                self.finished = k == self.chunks - 1
                yield Chunk(k + 1, self.chunks)
        except GeneratorExit:
            self.closed = True
            raise
        finally:
            with FakeTrainer.lock:
                FakeTrainer.live -= 1


@pytest.fixture(autouse=True)
def _reset():
    FakeTrainer.live = FakeTrainer.most = 0


def _finished(events) -> list[Finished]:
    return [e for e in events if isinstance(e, Finished)]


def test_runs_come_back_in_plan_order_each_with_its_record_even_when_a_later_one_finishes_first():
    slow = {0: 0.15, 1: 0.01, 2: 0.01, 3: 0.05}
    trainers = {}

    def make(i):
        trainers[i] = FakeTrainer(i, chunks=2, seconds=slow[i])
        return trainers[i]

    done = _finished(train_lanes(4, make, lambda i, t: ("record", i, t.ran), extra=lambda: True))
    assert [e.index for e in done] == [0, 1, 2, 3]
    assert [e.record for e in done] == [("record", i, 2) for i in range(4)]
    assert all(e.trainer is trainers[e.index] for e in done)
    assert FakeTrainer.most == 2  # run 1 (and 2) trained while run 0 did


def test_the_second_lane_takes_a_run_only_while_extra_allows_it():
    events = list(train_lanes(5, lambda i: FakeTrainer(i), lambda i, t: i, extra=lambda: False))
    assert [e.index for e in _finished(events)] == [0, 1, 2, 3, 4]
    assert FakeTrainer.most == 1
    allowed = iter([False, False, True] + [False] * 100)  # lane 1 is let in once
    list(train_lanes(4, lambda i: FakeTrainer(i, seconds=0.05), lambda i, t: i, extra=lambda: next(allowed),
                     poll=0.01))
    assert FakeTrainer.most == 2


def test_progress_events_name_the_busy_runs_and_their_latest_chunk():
    events = list(train_lanes(2, lambda i: FakeTrainer(i, chunks=4, seconds=0.05), lambda i, t: i, poll=0.02))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress, "a run of 0.2 s gives several progress events at a 0.02 s poll"
    seen = {(lane.index, lane.chunk.steps_done) for e in progress for lane in e.lanes if lane.chunk}
    assert {i for i, _ in seen} == {0, 1} and all(1 <= s <= 4 for _, s in seen)
    assert [e.finished for e in progress] == sorted(e.finished for e in progress)  # never goes back


def test_a_workers_error_is_raised_in_the_caller():
    with pytest.raises(RuntimeError, match="run 1 broke"):
        list(train_lanes(3, lambda i: FakeTrainer(i, fail=i == 1), lambda i, t: i))


def test_closing_the_generator_stops_the_lanes_after_their_current_chunk():
    trainers = []

    def make(i):
        trainers.append(FakeTrainer(i, chunks=1000, seconds=0.01))
        return trainers[-1]

    events = train_lanes(3, make, lambda i, t: i, extra=lambda: True, poll=0.02)
    assert isinstance(next(events), Progress)
    events.close()
    assert FakeTrainer.live == 0  # both lanes have left their runs
    assert all(t.closed and t.ran < 1000 for t in trainers) and len(trainers) == 2
    ran = [t.ran for t in trainers]
    time.sleep(0.1)
    assert [t.ran for t in trainers] == ran  # nothing trains after the close


def test_a_cleared_go_holds_the_lanes_between_chunks():
    go = threading.Event()
    go.set()
    trainer = FakeTrainer(0, chunks=50, seconds=0.005)
    events = train_lanes(1, lambda i: trainer, lambda i, t: i, go=go, poll=0.02)
    next(events)
    go.clear()
    time.sleep(0.05)
    held = trainer.ran
    time.sleep(0.15)
    assert trainer.ran == held < 50  # waiting at go
    go.set()
    assert [e.index for e in _finished(events)] == [0] and trainer.ran == 50
