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
