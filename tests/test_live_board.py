"""The Train page's Board: charts sent as the same Vega-Lite Streamlit's own Altair conversion makes, unchanged
charts not rebuilt, and live redraws spaced out as more boards train at once."""
from __future__ import annotations

import hashlib
import json
import time

import pyarrow as pa
import pytest
from streamlit.elements import vega_charts

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from ui import chart_spec, live


@pytest.fixture(scope="module")
def finished():
    trainer = Trainer(RunConfig(series_length=40_000)).run_to_end()
    return RunRecord.from_trainer(trainer), trainer.last_chunk.snapshot


def _canonical(spec: dict) -> tuple[str, list[str]]:
    """The spec as text with each dataset's name replaced by a hash of its columns and values (decoded from the
    Arrow bytes, without the pandas index column Streamlit's conversion adds), and those columns as text."""
    text = json.dumps({k: v for k, v in spec.items() if k != "datasets"}, sort_keys=True, default=str)
    contents = []
    for name, data in spec["datasets"].items():
        table = pa.ipc.open_stream(data).read_all()
        columns = {c: table.column(c).to_pylist() for c in table.column_names if not c.startswith("__index_level")}
        content = json.dumps(columns, sort_keys=True)
        text = text.replace(name, hashlib.sha256(content.encode()).hexdigest())
        contents.append(content)
    return text, sorted(contents)


def test_specs_equal_streamlits_own_conversion(finished):
    record, snapshot = finished
    for fig in live.figures(record, snapshot):
        ours = chart_spec.spec(fig.chart)
        theirs = vega_charts._convert_altair_to_vega_lite_spec(fig.chart)
        assert ours["datasets"]  # the data travels as named Arrow datasets
        assert _canonical(ours) == _canonical(theirs), fig.name


def test_a_frame_of_numbers_and_text_becomes_the_same_arrow_columns_and_others_keep_streamlits_conversion():
    import pandas as pd

    frame = pd.DataFrame({"step": [3, 1], "loss": [0.5, float("nan")], "series": ["a", "b"], "ok": [True, False]},
                         index=[7, 9])
    table = chart_spec.arrow_table(frame)
    assert table.column_names == ["step", "loss", "series", "ok"]
    assert table.column("step").to_pylist() == [3, 1] and table.column("series").to_pylist() == ["a", "b"]
    assert table.column("loss").to_pylist() == [0.5, None] and table.column("ok").to_pylist() == [True, False]
    assert chart_spec.arrow_table(pd.DataFrame({"when": pd.to_datetime(["2026-01-01"])})) is None
    assert chart_spec.arrow_table(pd.DataFrame({"mixed": ["a", 1]})) is None


@pytest.fixture
def built(monkeypatch) -> list[tuple[str, ...]]:
    """The names of the charts each call of live.figures builds, in order."""
    calls = []
    real = live.figures

    def counting(rec, snap, names=live.NAMES):
        calls.append(tuple(names))
        return real(rec, snap, names)

    monkeypatch.setattr(live, "figures", counting)
    return calls


def test_a_chart_drawn_from_the_same_data_is_not_rebuilt(finished, built):
    record, snapshot = finished
    board = live.Board(present=False)
    first = board.draw(record, snapshot)
    again = board.draw(record, snapshot)
    assert built == [live.NAMES, ()]  # the second draw rebuilt nothing
    assert [f.name for f in again] == list(live.NAMES) and again[0] is first[0]
    board.draw(record, None, ("hidden-state", "loss"))  # another snapshot: only the snapshot's chart is stale
    assert built[-1] == ("hidden-state",)


def test_a_later_script_runs_board_sends_the_kept_charts_without_building_them(finished, built, monkeypatch):
    record, snapshot = finished
    memory: dict = {}
    first = live.Board(present=False, memory=memory).draw(record, snapshot)
    sent = []
    emit = live.Board._emit
    monkeypatch.setattr(live.Board, "_emit", lambda self, drawn: (sent.append(drawn.figure.name), emit(self, drawn)))
    again = live.Board(present=False, memory=memory).draw(record, snapshot)  # e.g. the rerun after a click
    assert built == [live.NAMES, ()] and sent == list(live.NAMES)  # every chart sent, none built
    assert [f.caption for f in again] == [f.caption for f in first]
    live.Board(present=True, memory=memory).draw(record, snapshot)  # presentation mode: other specs
    assert built[-1] == live.NAMES
    later = RunRecord(record.config, record.baselines, record.scalars, record.profiles,
                      {**record.summary, "seconds": float(record.summary["seconds"]) + 1.0}, label=record.label)
    live.Board(present=True, memory=memory).draw(later, snapshot)  # another run of the same settings and label
    assert built[-1] == live.NAMES


def test_a_remembered_spec_is_built_once_per_key():
    board = live.Board(present=False)
    calls = []
    build = lambda: calls.append(1) or {"mark": "point"}  # noqa: E731
    assert board.remembered("pick", ("a", 1), build) == {"mark": "point"}
    assert board.remembered("pick", ("a", 1), build) == {"mark": "point"} and len(calls) == 1
    board.remembered("pick", ("a", 2), build)
    assert len(calls) == 2


def test_live_redraws_thin_out_as_more_boards_train(monkeypatch):
    board = live.Board(present=False)
    board._drawn, board._cost = True, 0.02
    board._last = time.perf_counter() - 1.0  # drawn a second ago
    monkeypatch.setattr(live.LIVE, "count", lambda: 1)
    assert board.due()  # alone: every min_interval (0.3 s)
    monkeypatch.setattr(live.LIVE, "count", lambda: 30)
    assert not board.due()  # 30 boards x 0.02 s / LIVE_SHARE = 2.4 s between redraws
    board._last = time.perf_counter() - 0.02 * 30 / live.LIVE_SHARE - 0.01
    assert board.due()


def test_the_first_live_tick_builds_three_charts_and_holds_the_others_places(finished, built):
    record, snapshot = finished
    board = live.Board(present=False)
    board.draw_live(record, snapshot)
    assert built == [("loss", "gradient-profile", "gradient-heatmap")]  # not all eight on a crowded server
    board.draw_live(record, snapshot)
    assert built[-1] == ("position-loss", "sigma-max")  # the loss chart's data did not change: not rebuilt
    board.draw(record, snapshot)  # the run's end: the charts not drawn yet, in full
    assert set(built[-1]) == set(live.NAMES[5:])
