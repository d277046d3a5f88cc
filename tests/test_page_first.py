"""A session's first script run draws the Train page's buttons before the sidebar (ui/page_first.py), and no
order of drawing or mounting changes a setting: every sidebar widget's default is its value, its id is the
same in the first run as after it, and a first run that ends early or starts on another page has its sidebar."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.test_lessons import navigation_like_the_server  # noqa: F401 - autouse: pages/ detected as the server does
from ui import settings

TIMEOUT = 300
LINK = {"state_size": "12", "truncation": "7", "optimizer": "adam", "learning_rate": "0.05", "task": "custom",
        "lags": "2,6", "effects": "0.4,-0.3", "series_length": "20000", "present": "0", "explain": "1"}


def open_app(params: dict[str, str], page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params = dict(params)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception
    return at


def setting_widgets(at: AppTest) -> dict[str, object]:
    """The sidebar's widget for each setting shown, by setting name."""
    out = {}
    for kind in (at.sidebar.slider, at.sidebar.number_input, at.sidebar.selectbox, at.sidebar.text_input,
                 at.sidebar.toggle):
        for w in kind:
            name = (w.key or "").removeprefix("w_")
            if name in settings.BY_NAME or name == settings.PRESENT or w.key == "w_explain":
                out[name] = w
    return out


def proto_default(w) -> object:
    """The default the browser would mount this widget with, read from the element the server sent."""
    proto = w.proto
    if w.type == "selectbox":
        return settings.BY_NAME[w.key.removeprefix("w_")].options[proto.default]
    if w.type == "slider":
        return proto.default[0]
    return proto.default


def test_every_setting_widget_mounts_with_its_value_not_its_minimum():
    at = open_app(LINK)
    widgets = setting_widgets(at)
    assert {"state_size", "truncation", "optimizer", "learning_rate", "lags", "effects", "series_length",
            "present", "explain"} <= set(widgets)
    for name, w in widgets.items():
        assert proto_default(w) == w.value, name  # a late mount starts from the value the server holds
    assert widgets["state_size"].value == 12 and widgets["optimizer"].value == "adam"
    assert widgets["lags"].value == "2, 6" and widgets["explain"].value is True
    # the user moves a slider and picks another optimizer: the defaults sent from then on follow
    at.slider(key="w_state_size").set_value(20)
    at.selectbox(key="w_optimizer").set_value("sgd")
    at.toggle(key="w_present").set_value(True).run()
    widgets = setting_widgets(at)
    assert widgets["state_size"].value == 20 and proto_default(widgets["state_size"]) == 20
    assert widgets["optimizer"].value == "sgd" and proto_default(widgets["optimizer"]) == "sgd"
    assert widgets["present"].value is True and proto_default(widgets["present"]) is True
    assert at.session_state["settings"]["state_size"] == 20


def test_the_first_runs_widgets_keep_their_ids_and_values_in_later_runs():
    """The first run draws the sidebar from inside the Train page: its widgets must still be app.py's, or every
    one would be new (and at its default) in the next run."""
    at = open_app(LINK)
    first = {name: w.id for name, w in setting_widgets(at).items()}
    at.number_input(key="w_learning_rate").set_value(0.2).run()
    later = setting_widgets(at)
    assert {name: w.id for name, w in later.items()} == first
    assert later["learning_rate"].value == pytest.approx(0.2) and later["state_size"].value == 12


def test_a_first_run_that_stops_after_the_buttons_still_has_its_sidebar():
    """task=file without a sequence: the Train page stops at 'Fix the settings first', after its buttons."""
    at = open_app({"task": "file"})
    assert any("Fix the settings first" in e.value for e in at.main.error)
    assert any(u.label.startswith("Sequence CSV") for u in at.sidebar.get("file_uploader"))
    assert setting_widgets(at)["task"].value == "file"


@pytest.mark.parametrize("page", ["pages/compare.py", "pages/learn.py", "pages/lessons.py", "pages/data.py"])
def test_a_first_run_on_another_page_draws_the_sidebar_once(page):
    at = open_app({"state_size": "9"}, page)
    widgets = setting_widgets(at)
    assert widgets["state_size"].value == 9
    assert len(at.sidebar.slider) == len({w.key for w in at.sidebar.slider})  # each drawn once


def test_the_first_run_has_one_sidebar_in_the_same_order_as_later_runs():
    at = open_app({})
    first = [type(e).__name__ for e in at.sidebar]
    labels_first = [e.label for e in at.sidebar.expander]
    at.run()
    assert [e.label for e in at.sidebar.expander] == labels_first
    assert [type(e).__name__ for e in at.sidebar] == first
    assert labels_first.index("Model") < labels_first.index("Your runs")
