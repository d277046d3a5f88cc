"""bench/peers.py: the engine's epoch is timed as the JAX peer's is, its data generation inside the time."""
from __future__ import annotations

import time

import pytest

from bench import peers
from rnn_core import train

SLOW_DATA_S = 0.5


@pytest.fixture
def slow_data(monkeypatch):
    """Each epoch's data generation takes SLOW_DATA_S longer than it does (the same rows)."""
    real = train.epoch_data

    def slow(*args, **kwargs):
        time.sleep(SLOW_DATA_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "epoch_data", slow)


@pytest.mark.parametrize("with_data", [True, False])
def test_engine_epoch_counts_data_generation_only_when_asked(slow_data, with_data):
    cfg = peers.r2rt_config(n=3, d=2, series_length=200 * 3 * 4)  # 4 windows
    started = time.perf_counter()
    result, trainer, _ = peers.engine_epoch(cfg, with_data=with_data)
    wall = time.perf_counter() - started
    assert len(result.loss) == trainer.total_steps == 4
    if with_data:  # what the JAX peer pays, as race.py compares them
        assert result.seconds >= SLOW_DATA_S
    else:  # from run() on: the Trainer's build (and its data) is outside the time
        assert result.seconds <= wall - SLOW_DATA_S
