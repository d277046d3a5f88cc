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


def _every_kind_of_chart(record, snapshot) -> list:
    from viz.gradient_charts import cosine_chart, flow_heatmap
    from viz.step_charts import pickable

    figs = {fig.name: fig.chart for fig in live.figures(record, snapshot) if fig.chart is not None}
    samples = record.gradient_samples()
    charts = list(figs.values())
    charts.append(pickable(figs["loss"], picked=int(record.scalars["step"][-1])))  # a layer with a selection
    charts.append(cosine_chart(samples["step"], samples["cosine_all"], samples["cosine_W_s"]))
    charts.append(flow_heatmap(record.gradient_flow()))
    return charts


def test_altair_shortcuts_build_and_convert_to_altairs_own_dicts(finished, monkeypatch):
    """`fast_plain_values` (no Protocol checks for plain values) and `uncopied_plain_layers` (no deep copies
    of parameter-free layers): every kind of chart the app draws, built and converted, is the same dict,
    dataset names included, as with Altair's own functions put back; and building leaves its layers as they
    were (the shared reference lines are not edited through an uncopied layer)."""
    from altair.utils import schemapi
    from altair.vegalite.v6 import api as alt_api

    record, snapshot = finished
    assert schemapi._todict is chart_spec._plain_first  # on, as the app imports it
    assert alt_api._combine_subchart_params is chart_spec._combine_subchart_params
    charts = _every_kind_of_chart(record, snapshot)
    layers_before = [[layer.to_dict(validate=False) for layer in c.layer] for c in charts if hasattr(c, "layer")]
    ours = [chart_spec.spec(c) for c in charts]
    assert [[layer.to_dict(validate=False) for layer in c.layer] for c in charts if hasattr(c, "layer")] \
        == layers_before
    monkeypatch.setattr(schemapi, "_todict", chart_spec._ALTAIR_TODICT)
    monkeypatch.setattr(alt_api, "_remove_duplicate_params", chart_spec._REMOVE_DUPLICATE_PARAMS)
    monkeypatch.setattr(alt_api, "_combine_subchart_params", chart_spec._COMBINE_SUBCHART_PARAMS)
    theirs = [chart_spec.spec(c) for c in _every_kind_of_chart(record, snapshot)]
    assert len(charts) >= 10 and any("params" in o for o in ours) and ours == theirs


def test_schema_objects_are_built_without_altairs_debug_check_and_to_dict_still_checks(monkeypatch):
    """Once ui.chart_spec is imported, Altair no longer validates each schema object as it is built (its debug
    mode, which raises at once on a bad value); asked to, `to_dict()` still validates the whole chart and finds it.
    Without the switch, the same object fails as it is built."""
    import altair as alt
    from altair.utils import schemapi

    assert schemapi.DEBUG_MODE is False
    chart = alt.Chart({"values": [{"a": 1}]}).mark_point().encode(x=alt.X("a:Q", axis=alt.Axis(labelAngle="x")))
    chart_spec.spec(chart)  # sent to the browser as built
    with pytest.raises(schemapi.SchemaValidationError):
        chart.to_dict()
    monkeypatch.setattr(schemapi, "DEBUG_MODE", True)
    with pytest.raises(schemapi.SchemaValidationError):
        alt.Axis(labelAngle="x")


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
    monkeypatch.setattr(live.Board, "_emit",
                        lambda self, drawn, **kw: (sent.append(drawn.figure.name), emit(self, drawn, **kw)))
    again = live.Board(present=False, memory=memory).draw(record, snapshot)  # e.g. the rerun after a click
    assert built == [live.NAMES, ()] and sent == list(live.NAMES)  # every chart sent, none built
    assert [f.caption for f in again] == [f.caption for f in first]
    live.Board(present=True, memory=memory).draw(record, snapshot)  # presentation mode: other specs
    assert built[-1] == live.NAMES
    later = RunRecord(record.config, record.baselines, record.scalars, record.profiles,
                      {**record.summary, "seconds": float(record.summary["seconds"]) + 1.0}, label=record.label)
    live.Board(present=True, memory=memory).draw(later, snapshot)  # another run of the same settings and label
    assert built[-1] == live.NAMES


def test_a_chart_left_to_the_page_is_neither_converted_nor_sent_until_asked(finished, monkeypatch):
    """The Train page draws its loss chart pickable: the board must not convert and send the plain one first."""
    record, snapshot = finished
    converted, sent = [], []
    spec = chart_spec.spec
    monkeypatch.setattr(chart_spec, "spec", lambda chart: (converted.append(chart), spec(chart))[1])
    emit_chart = live.Board._emit_chart
    monkeypatch.setattr(live.Board, "_emit_chart",
                        lambda self, drawn: (sent.append(drawn.figure.name), emit_chart(self, drawn)))
    board = live.Board(present=False)
    figs = board.draw(record, snapshot, leave=("loss",))
    assert len(converted) == len(live.NAMES) - 1 and "loss" not in sent and len(sent) == len(live.NAMES) - 1
    assert figs[0].name == "loss" and figs[0].chart is not None  # its figure (and caption) are there
    board.emit_chart("loss")  # the page found nothing to pick: the chart as it is
    assert sent[-1] == "loss" and len(converted) == len(live.NAMES)
    assert board._memory["loss"].spec == spec(figs[0].chart)


@pytest.mark.parametrize("present", [False, True])
@pytest.mark.parametrize("picked", [None, 7])
def test_the_pickable_spec_lifted_by_hand_is_altairs_own(finished, present, picked):
    from ui.stepper import pickable_spec
    from viz.common import presentation
    from viz.step_charts import pickable

    loss = live.figures(finished[0], finished[1], ("loss",))[0].chart
    altairs = pickable(loss, picked)
    assert pickable_spec(loss, picked, present) == chart_spec.spec(presentation(altairs) if present else altairs)


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


def test_a_board_drawn_once_puts_charts_straight_into_their_columns_and_never_twice(finished, monkeypatch):
    record, snapshot = finished
    board = live.Board(present=False, placeholders=("loss",))
    assert board._direct == set(live.NAMES) - {"loss"}
    sent = []
    emit_chart = live.Board._emit_chart
    monkeypatch.setattr(live.Board, "_emit_chart",
                        lambda self, drawn: (sent.append(drawn.figure.name), emit_chart(self, drawn)))
    board.draw(record, snapshot)
    board.draw(record, snapshot)  # unchanged: nothing more goes into the columns
    assert sorted(sent) == sorted(live.NAMES)
