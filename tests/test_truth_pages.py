"""What the pages tell a student is true: failed runs, settings on every chart, formats, the file flow.

Driven headless with Streamlit's AppTest (the navigation fixture of test_app_train makes it behave
like the server).
"""
from __future__ import annotations

from rnn_core.config import RunConfig
from tests.test_app_train import button, navigation_like_the_server, open_app, texts  # noqa: F401
from ui import settings

FAILING = RunConfig(optimizer="sgd", learning_rate=10.0, init_scale=10.0, series_length=20000)


def url(cfg: RunConfig) -> dict[str, str]:
    return settings.url_params(settings.values_from_config(cfg), present=False)


def test_a_failed_run_is_an_error_with_advice_not_done():
    at = open_app(url(FAILING))
    button(at, "Train").click().run()
    assert not at.exception
    assert not any("Done" in s.value for s in at.success), texts(at.success)
    message = texts(at.error)
    assert "The run failed" in message and "learns nothing" in message
    assert "clipping" in message and "smaller learning rate" in message and "1 instead of 10" in message


def test_a_normal_run_is_done():
    at = open_app(url(RunConfig(series_length=20000)))
    button(at, "Train").click().run()
    assert "Done: 20 steps" in texts(at.success)
    assert not at.error


def test_invalid_settings_stay_out_of_the_url_and_hide_the_old_run():
    at = open_app({"series_length": "20000"})
    button(at, "Train").click().run()
    assert "Done" in texts(at.success)
    charts = len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart"))
    assert charts >= 8
    at.sidebar.number_input(key="w_series_length").set_value(100).run()  # shorter than B × n = 1,000
    assert not at.exception
    assert "Fix the settings first" in texts(at.error)
    assert at.query_params.get("series_length") in (["20000"], "20000")  # the last valid value, not 100
    assert not at.success  # no "Done" of a run made with other settings
    assert not at.get("arrow_vega_lite_chart") and not at.get("vega_lite_chart")


def test_the_file_task_without_a_file_says_one_thing():
    at = open_app({"task": "file"})
    assert not at.exception
    assert len(at.error) == 1 and "upload a CSV" in at.error[0].value, texts(at.error)
    assert not any("press **Train**" in i.value for i in at.main.info)
    assert button(at, "Train").disabled


def test_stop_and_reset_are_disabled_when_idle_and_a_finished_run_gets_one_more_epoch():
    at = open_app({"series_length": "20000"})
    assert button(at, "Stop").disabled and button(at, "Reset").disabled
    assert button(at, "One more epoch").disabled
    button(at, "Train").click().run()
    assert "Done: 20 steps" in texts(at.success)
    assert button(at, "Stop").disabled  # the run is over: nothing to stop
    assert not button(at, "Reset").disabled
    first = at.session_state["trainer"] if "trainer" in at.session_state else None
    button(at, "One more epoch").click().run()
    assert not at.exception
    assert "Done: 40 steps" in texts(at.success), texts(at.success)
    assert at.sidebar.number_input(key="w_epochs").value == 2
    assert at.query_params.get("epochs") in (["2"], "2")
    if first is not None:
        assert at.session_state["trainer"] is first  # the same run, continued


def test_d_and_n_can_be_typed():
    at = open_app({"series_length": "20000"})
    at.sidebar.number_input(key="w_state_size_typed").set_value(16).run()
    at.sidebar.number_input(key="w_truncation_typed").set_value(10).run()
    assert not at.exception
    assert at.sidebar.slider(key="w_state_size").value == 16 and at.sidebar.slider(key="w_truncation").value == 10
    assert at.query_params.get("state_size") in (["16"], "16") and at.query_params.get("truncation") in (["10"], "10")
    at.sidebar.slider(key="w_truncation").set_value(4).run()  # dragging moves the box too
    assert at.sidebar.number_input(key="w_truncation_typed").value == 4
