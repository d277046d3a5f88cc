"""The Data page under AppTest: task inputs pre-filled from the config, sample, baselines, CSV upload."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import rnn_core.data
from conftest import run_page
from rnn_core.config import RunConfig
from rnn_core.data import R2RT, EchoTask, baseline_labels, baselines, task_for, to_csv
from rnn_core.sequence_stats import sample


def _page(cfg: RunConfig | None = None) -> AppTest:
    return run_page("data", 60, config=cfg)


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv"))
    at.run()
    assert not at.exception
    return at


def test_defaults_without_a_config_are_r2rt():
    at = _page()
    assert at.text_input(key="data_lags").value == "3, 8"
    assert at.text_input(key="data_effects").value == "0.5, -0.25"
    assert at.number_input(key="data_base").value == 0.5 and at.number_input(key="data_q").value == 0.5
    assert not at.error
    assert len(at.get("vega_lite_chart")) == 2  # the sample and the baselines
    assert at.get("download_button")


def test_inputs_are_prefilled_from_the_configs_task():
    cfg = RunConfig(task="custom", lags=(2, 5, 7), effects=(0.3, -0.2, 0.1), base_prob=0.4, input_prob=0.3)
    at = _page(cfg)
    assert at.text_input(key="data_lags").value == "2, 5, 7"
    assert at.text_input(key="data_effects").value == "0.3, -0.2, 0.1"
    assert at.number_input(key="data_base").value == pytest.approx(0.4)
    assert at.number_input(key="data_q").value == pytest.approx(0.3)
    table = at.dataframe[0].value
    assert len(table) == 8 and table["P(Y_t = 1)"].tolist() == [p for _, p in task_for(cfg).conditional_table()]
    echo = _page(RunConfig(task="echo", echo_step=4))
    assert echo.text_input(key="data_lags").value == "4" and echo.number_input(key="data_base").value == 0.0


def test_baselines_shown_are_the_engines():
    at = _page()
    text = " ".join(m.value for m in at.markdown)
    for label, value in zip(baseline_labels(R2RT), baselines(R2RT)):
        assert f"**{label}** {value:.6f} nats" in text


def test_a_bad_task_gives_an_error_not_a_traceback():
    at = _page()
    at.text_input(key="data_lags").set_value("3, x").run()
    assert not at.exception and "not a comma-separated list" in at.error[0].value
    at.text_input(key="data_lags").set_value("3, 8, 9").run()
    assert not at.exception and "effects has 2 entries" in at.error[0].value


@pytest.mark.parametrize("content,message", [
    (b"a,b\n0,1\n", "expected exactly the two columns x,y"),
    (b"x,y\n0,1\n2,0\n", "is not 0 or 1"),
    (b"x,y\n0,1\n1\n", "does not have 2 columns"),
    (b"", "empty"),
    (b"x,y\n", "no rows"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_a_bad_upload_is_refused_with_a_clear_error(content, message):
    at = _upload(_page(), "bad.csv", content)
    assert len(at.error) == 1 and message in at.error[0].value and "bad.csv" in at.error[0].value
    assert not at.metric


def test_a_too_large_upload_is_refused(monkeypatch):
    monkeypatch.setattr(rnn_core.data, "MAX_FILE_BYTES", 100)  # the page runs in this process
    at = _upload(_page(), "big.csv", b"x,y\n" + b"0,1\n" * 100)
    assert "too large" in at.error[0].value


def test_a_good_upload_shows_its_statistics_and_finds_the_lag():
    task = EchoTask(lags=(3,), effects=(1.0,), base_prob=0.0)
    x, y, _ = sample(task, 2000, seed=1)
    at = _upload(_page(), "echo.csv", to_csv(x, y).encode())
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Length": "2,000 steps", "P(x = 1)": f"{x.mean():.3f}", "P(y = 1)": f"{y.mean():.3f}"}
    assert len(at.get("vega_lite_chart")) == 3
    assert any("more than 3 standard errors): 3." in c.value for c in at.caption)
