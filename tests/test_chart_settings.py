"""Every chart of a run names the run's settings (d, n, style, task, seed) under its title: on screen, in
presentation mode and in the exported SVG/PNG."""
from __future__ import annotations

import json

import pytest

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord, settings_line
from rnn_core.train import Trainer
from ui import live
from viz.common import presentation
from viz.export import chart_to_svg

CFG = RunConfig(state_size=3, truncation=4, style="williams-peng", k1=2, series_length=4000, batch_size=20, seed=7)


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer(CFG).run_to_end()
    return RunRecord.from_trainer(trainer), trainer.last_chunk.snapshot


def test_settings_line_names_d_n_style_task_seed():
    assert settings_line(CFG) == "d = 3, n = 4, Williams–Peng BPTT(4; 2), task r2rt, seed 7"
    assert settings_line(RunConfig()) == "d = 4, n = 5, TensorFlow style BPTT(5; 5), task r2rt, seed 0"
    # an online run has no window: no n, no BPTT (the Train page once labelled a UORO run "Williams–Peng BPTT(5; 1)")
    uoro = RunConfig(style="uoro", state_size=6)
    assert settings_line(uoro) == "d = 6, UORO, online (no truncation), task r2rt, seed 0"
    assert settings_line(RunConfig(style="rtrl")) == "d = 4, RTRL, online (no truncation), task r2rt, seed 0"


def test_every_train_chart_carries_the_settings(trained):
    record, snapshot = trained
    figs = live.figures(record, snapshot)
    assert len(figs) == len(live.NAMES) and all(f.chart is not None for f in figs)
    line = ["d = 3, n = 4, Williams–Peng BPTT(4; 2)", f"task r2rt, seed 7 · after {record.summary['steps']:,} steps"]
    for fig in figs:
        spec = fig.chart.to_dict()
        assert spec["title"]["subtitle"] == line, fig.name
        assert spec["title"]["text"], fig.name  # the chart's own title is kept
        assert presentation(fig.chart).to_dict()["title"]["subtitle"] == line


def test_exported_svg_names_the_settings(trained):
    record, snapshot = trained
    fig = live.figures(record, snapshot, ("loss",))[0]
    svg = chart_to_svg(fig.chart)
    assert "d = 3, n = 4, Williams–Peng BPTT(4; 2)" in svg and "task r2rt, seed 7" in svg


def test_the_targets_chart_before_a_run_names_them_too():
    fig = live.targets_figure(RunConfig())
    assert json.dumps(fig.chart.to_dict(), ensure_ascii=False).count("d = 4, n = 5") == 1
