"""Issue 13 under AppTest and as plain functions: lesson links (hide=, note=, explain=), the Lessons page
and its place in the URL, the Train page's Step button (one window per click, the state carried, checked
against rnn_core.model.step), and the pieces of the loss chart's step picking."""
from __future__ import annotations

import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from rnn_core import model
from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.train import Trainer
from tests.conftest import ROOT
from ui import lesson_link, lessons, settings, state, stepper
from ui.lessons_content import R2RT
from viz import step_charts
from viz.graph import unrolled_dot

TIMEOUT = 300
SMALL = {"series_length": "20000"}  # 20 training steps of the default shapes


@pytest.fixture(autouse=True)
def navigation_like_the_server(monkeypatch):
    """As in test_app_train: AppTest stops re-detecting pages/ once app.py has called st.navigation."""

    class NavigationPages(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPages)


def open_app(params: dict[str, str] | None = None, budget: int | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params = dict(params or {})
    if budget is not None:
        at.session_state[state.STEP_BUDGET] = budget
    return at.run()


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def setting_widgets(at: AppTest) -> list[str]:
    found = (at.sidebar.get("number_input") + at.sidebar.get("slider") + at.sidebar.get("selectbox")
             + at.sidebar.get("text_input"))
    return [w.key for w in found if w.key and w.key.startswith("w_") and w.key[2:] in settings.NAMES]


# ---- lesson links


def test_read_link_names_unknown_controls_and_caps_the_note():
    link, warnings = lesson_link.read_link({"hide": "truncation, STATE_SIZE,bogus,,nope"}, settings.NAMES)
    assert link.hidden == ("state_size", "truncation") and not link.hide_all  # the sidebar's order, each once
    assert len(warnings) == 1 and "`bogus`" in warnings[0] and "`nope`" in warnings[0] and "2 unknown" in warnings[0]
    link, warnings = lesson_link.read_link({"note": "x" * 1000, "explain": "maybe"}, settings.NAMES)
    assert len(link.note) == lesson_link.MAX_NOTE + 2 and link.note.endswith(" …")
    assert any("1,000 characters" in w for w in warnings) and any("`explain=maybe`" in w for w in warnings)
    assert not link.explain
    link, warnings = lesson_link.read_link({"hide": "all", "explain": "1"}, settings.NAMES)
    assert link.hide_all and link.explain and not warnings and all(link.hides(n) for n in settings.NAMES)
    assert lesson_link.read_link({"hide": ""}, settings.NAMES)[1] == ["The link's `hide=` was empty; no setting is "
                                                                      "hidden."]


def test_lesson_url_round_trips_through_read_link():
    link = lesson_link.Link(("truncation",), False, "Predict: lag 8 at n = 5? <b>&", True)
    url = lesson_link.lesson_url("http://127.0.0.1:8501/", {"state_size": "16"}, link)
    assert url.startswith("http://127.0.0.1:8501/?state_size=16&hide=truncation&note=Predict")
    from urllib.parse import parse_qsl, urlsplit
    params = dict(parse_qsl(urlsplit(url).query))
    assert lesson_link.read_link(params, settings.NAMES) == (link, [])


def test_hide_names_exactly_those_controls_and_their_url_values_still_apply():
    at = open_app({"hide": "state_size,truncation,bogus", "truncation": "10", "state_size": "16"})
    assert not at.exception
    shown = setting_widgets(at)
    assert "w_truncation" not in shown and "w_state_size" not in shown
    assert {"w_init_scale", "w_seed", "w_style", "w_optimizer"} <= set(shown)
    assert at.session_state[state.CONFIG].truncation == 10 and at.session_state[state.CONFIG].state_size == 16
    warnings = " | ".join(w.value for w in at.warning)
    assert "`bogus`" in warnings and "unknown setting" in warnings
    assert at.query_params["hide"] == "state_size,truncation"  # written back without the junk


def test_hide_all_folds_every_setting_away():
    at = open_app({"hide": "all", "truncation": "7"})
    assert not at.exception
    assert setting_widgets(at) == []
    assert at.session_state[state.CONFIG].truncation == 7
    assert any("hides the settings" in c.value for c in at.sidebar.caption)
    assert not any(e.label == "Make a lesson link" for e in at.sidebar.expander)


@pytest.mark.parametrize("note", [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "**bold** and [link](javascript:alert(1)) <style>body{display:none}</style>",
])
def test_a_note_is_shown_as_plain_text_never_as_html_or_markdown(note):
    at = open_app({"note": note})
    assert not at.exception
    assert [t.value for t in at.text] == [note]  # st.text: no Markdown, no HTML parsing
    rendered = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert note not in rendered and "alert" not in rendered


def test_a_long_note_is_cut_with_a_warning():
    at = open_app({"note": "word " * 300})
    texts = [t.value for t in at.text]
    assert len(texts) == 1 and len(texts[0]) <= lesson_link.MAX_NOTE + 2
    assert any("characters long" in w.value for w in at.warning)


def test_the_lesson_link_panel_writes_a_link_that_hides_and_notes():
    at = open_app({"truncation": "10"})
    at.multiselect(key="w_link_hidden").set_value(["truncation"])
    at.text_area(key="w_link_note").set_value("Watch S_0 <b>").run()
    url = [c.value for c in at.sidebar.code][-1]
    assert "truncation=10" in url and "hide=truncation" in url and "note=Watch%20S_0%20%3Cb%3E" in url


def test_explain_toggle_adds_a_line_under_every_chart_and_is_kept_in_the_url():
    at = open_app()
    assert not any("What am I looking at" in c.value for c in at.caption)
    at.toggle(key=lesson_link.EXPLAIN_KEY).set_value(True).run()
    assert any("What am I looking at" in c.value for c in at.caption)
    assert at.query_params["explain"] == "1"
    again = open_app({"explain": "1"})
    assert again.toggle(key=lesson_link.EXPLAIN_KEY).value is True


# ---- the Lessons page


def open_lessons(params: dict[str, str], budget: int | None = None) -> AppTest:
    at = open_app(params, budget)
    at.switch_page("pages/lessons.py").run()
    assert not at.exception
    return at


def test_read_position_warns_about_junk():
    assert lessons.read_position({"lesson": "r2rt", "step": "3"}) == ("r2rt", 2, [])
    key, index, warnings = lessons.read_position({"lesson": "nope", "step": "99"})
    assert (key, index) == ("r2rt", 0) and "`lesson=nope`" in warnings[0] and "`step=99`" in warnings[1]
    assert "1 to 6" in lessons.read_position({"step": "two"})[2][0]


def test_a_link_opens_the_given_step_and_next_moves_the_url():
    at = open_lessons({"lesson": "r2rt", "step": "3"})
    assert [h.value for h in at.header] == ["3. Truncation at n"]
    assert at.button(key="lesson_r2rt_truncation_go").disabled  # predict first
    at.button(key="lesson_next").click().run()
    assert [h.value for h in at.header] == ["4. R2RT's three regimes"]
    assert at.query_params["lesson"] == "r2rt" and at.query_params["step"] == "4"
    at.button(key="lesson_back").click().run()
    assert at.query_params["step"] == "3"


def test_junk_lesson_and_step_warn_and_open_step_one():
    at = open_lessons({"lesson": "<b>x</b>", "step": "-2"})
    assert [h.value for h in at.header] == ["1. A graph one step wide"]
    warnings = " | ".join(w.value for w in at.warning)
    assert "`lesson=<b>x</b>`" in warnings and "`step=-2`" in warnings
    assert at.query_params["step"] == "1" and at.query_params["lesson"] == "r2rt"


def test_a_lesson_step_applies_its_settings_trains_and_reads_the_run_against_the_prediction():
    at = open_lessons({"lesson": "r2rt", "step": "2"}, budget=30)
    radio = at.radio(key="lesson_r2rt_n-wide_choice")
    radio.set_value(radio.options[2]).run()  # predicts both lags
    at.button(key="lesson_r2rt_n-wide_go").click().run()
    assert not at.exception
    cfg = at.session_state[state.CONFIG]
    assert (cfg.truncation, cfg.state_size) == (5, 4) and at.query_params.get("truncation") is None  # n=5 default
    res = at.session_state[lessons.RESULTS][("r2rt", "n-wide")]
    final = res.record.final_loss()
    assert res.record.summary["steps"] == 30 and res.budget_cut
    shown = " | ".join(m.value for m in list(at.success) + list(at.info) + list(at.warning))
    assert f"**{final:.3f} nats**" in shown and "cut short" in shown
    base = res.record.baselines
    nearest = int(np.argmin([abs(final - b) for b in base]))
    assert ("matches" in shown) == (nearest == 2)  # the reading follows the run's own nearest baseline
    assert len(at.get("vega_lite_chart")) == 1


@pytest.mark.parametrize("id_arrives", [True, False])
def test_a_lesson_run_cut_short_by_the_browser_ids_rerun_trains_again(id_arrives, monkeypatch, tmp_path):
    """A step's button pressed as the page loads: the browser id's rerun cut its training short (the loop left
    its marks); that rerun trains the step to its result, and a rerun of any other cause does not."""
    monkeypatch.setenv("TRUNCATION_EXPLORER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TRUNCATION_EXPLORER_DB", raising=False)
    at = open_lessons({"lesson": "r2rt", "step": "2"}, budget=30)
    at.session_state[lessons.TRAINING] = ("r2rt", "n-wide")  # as a loop cut short by a rerun leaves them
    at.session_state[state.CUT] = True
    if id_arrives:
        at.session_state[state.TEST_OWNER] = "a-browser"
    at.run()
    assert not at.exception
    res = at.session_state[lessons.RESULTS].get(("r2rt", "n-wide")) if lessons.RESULTS in at.session_state else None
    if id_arrives:
        assert res is not None and res.record.summary["steps"] == 30
        assert lessons.TRAINING not in at.session_state and not at.session_state[state.CUT]
    else:
        assert res is None


def test_the_cost_step_times_model_step_for_each_n():
    at = open_lessons({"lesson": "r2rt", "step": "6"})
    radio = at.radio(key="lesson_r2rt_cost_choice")
    radio.set_value(radio.options[1]).run()
    at.button(key="lesson_r2rt_cost_go").click().run()
    assert not at.exception
    res = at.session_state[lessons.RESULTS][("r2rt", "cost")]
    assert list(res.times) == [5, 10, 20, 40] and all(t > 0 for t in res.times.values())
    assert res.times[40] > res.times[5]  # 8x the graph is never cheaper
    shown = " | ".join(m.value for m in list(at.success) + list(at.info) + list(at.warning))
    assert f"n = 40: {res.times[40] * 1000:.1f} ms" in shown


def test_every_lesson_step_is_complete():
    assert len(R2RT.steps) >= 6 and len({s.key for s in R2RT.steps}) == len(R2RT.steps)
    for s in R2RT.steps:
        assert s.question.endswith("?") and len(s.choices) >= 2 and s.kind in ("baseline", "reach", "cost")
        lessons.step_config(s)
        if s.kind == "baseline":
            assert len(s.outcome) == len(s.choices)


def test_reading_uses_the_runs_nearest_baseline():
    step = R2RT.steps[0]
    trainer = Trainer(RunConfig(truncation=1, series_length=200 * 40), use_compiled=False).run_to_end()
    from rnn_core.report import RunRecord
    res = lessons.Result("baseline", record=RunRecord.from_trainer(trainer))
    final, base = trainer.summary()["final_loss"], trainer.baselines
    k = int(np.argmin([abs(final - b) for b in base]))
    matched, text = lessons.reading(step, res, k)
    assert matched is True and f"{final:.3f}" in text
    assert lessons.reading(step, res, (k + 1) % 3)[0] is False


# ---- Step on the Train page


def test_each_step_click_trains_exactly_one_window_and_carries_the_state():
    at = open_app(SMALL)
    assert [b.label for b in at.main.button][:6] == ["Train", "Step", "Continue", "One more epoch", "Stop", "Reset"]
    button(at, "Step").click().run()
    assert not at.exception
    trainer = at.session_state[state.TRAINER]
    assert trainer.state.steps_done == 1
    first = at.session_state[stepper.STEP_VIEW]
    params_after_first = [p.copy() for p in trainer.state.params]
    carried_batch = trainer.state.state.copy()
    cfg = trainer.cfg
    n = cfg.truncation
    xb, yb = epoch_data(cfg, 0)
    assert first.step == 0 and first.window == 0 and np.array_equal(first.x, xb[0, :n])
    assert np.array_equal(first.first_state, np.zeros(cfg.state_size))
    assert np.allclose(first.carried, carried_batch[0])

    button(at, "Step").click().run()
    assert not at.exception
    assert trainer.state.steps_done == 2
    second = at.session_state[stepper.STEP_VIEW]
    assert second.step == 1 and second.window == 1
    assert np.array_equal(second.x, xb[0, n:2 * n]) and np.array_equal(second.y, yb[0, n:2 * n])  # the next window
    assert np.array_equal(second.first_state, first.carried)  # starts from the state the first Step carried
    # an independent computation: the taught graph (tf.GradientTape on model.unroll) on the same window
    loss, _, metrics, last = model.step(params_after_first, xb[:, n:2 * n], yb[:, n:2 * n], carried_batch)
    assert np.allclose(second.states, metrics["states"].numpy()[:, 0, :], atol=1e-5)
    assert np.allclose(second.prob, metrics["prob_one"].numpy()[:, 0], atol=1e-5)
    assert np.allclose(second.grad_norms, metrics["grad_norms"].numpy(), rtol=1e-3)
    assert np.isclose(second.loss, float(loss), rtol=1e-5)
    assert np.allclose(second.carried, last.numpy()[0], atol=1e-5)
    assert [s.value for s in at.subheader][0] == "Step 1: one window, slowed down"
    graph = at.get("graphviz_chart")[0].proto.spec
    assert graph == unrolled_dot(n, n, notes=step_charts.window_notes(
        second.x, second.y, second.prob, step_charts.row_loss(second.y, second.prob), second.grad_norms,
        second.first_state))
    assert f"x = {int(second.x[0])}" in graph and "carried in: " in graph


def test_continue_goes_on_from_the_stepped_state_like_an_unbroken_run():
    at = open_app(SMALL, budget=3)
    button(at, "Step").click().run()
    button(at, "Step").click().run()
    stepped = at.session_state[state.TRAINER].history.scalars()["loss"].copy()
    button(at, "Continue").click().run()
    assert not at.exception
    trainer = at.session_state[state.TRAINER]
    assert trainer.state.steps_done == 5
    loss = trainer.history.scalars()["loss"]
    assert np.array_equal(loss[:2], stepped)
    unbroken = Trainer(trainer.cfg, use_compiled=False)
    list(unbroken.run(max_steps=5))
    assert np.allclose(loss, unbroken.history.scalars()["loss"], rtol=1e-4)
    assert not any(s.value.endswith("slowed down") for s in at.subheader)  # the close-up was of step 1


# ---- picking a step on the loss chart


def test_picked_step_reads_the_selection_event():
    assert step_charts.picked_step({"selection": {"pick": [{"step": 41.0}]}}) == 41
    assert step_charts.picked_step({"selection": {"pick": []}}) is None
    assert step_charts.picked_step({"selection": {}}) is None
    assert step_charts.picked_step(None) is None


def test_nearest_kept_profile_and_the_window_of_a_step():
    assert stepper.nearest_kept(np.array([0, 4, 8, 12]), 7) == 2
    assert stepper.nearest_kept(np.array([0, 4, 8]), 6) == 1  # a tie goes to the earlier one
    assert stepper.nearest_kept(np.zeros(0), 3) is None
    cfg = RunConfig(series_length=200 * 50)
    xb, yb = epoch_data(cfg, 0)
    x, y = stepper.window_data(cfg, None, 3, 10)
    assert np.array_equal(x, xb[0, 15:20]) and np.array_equal(y, yb[0, 15:20])
    x1, _ = stepper.window_data(cfg.replace(epochs=2), None, 12, 10)  # the second epoch's third window
    assert np.array_equal(x1, epoch_data(cfg, 1)[0][0, 10:15])
    assert stepper.window_data(cfg, None, 10, 10) is None


def test_pickable_loss_chart_has_a_named_point_selection_and_tooltips():
    from viz import train_charts
    chart = train_charts.loss_chart(np.linspace(0.7, 0.5, 30), [0.66, 0.52, 0.45], ["a", "b", "c"])
    spec = step_charts.pickable(chart, picked=12).to_dict()
    params = [p for p in spec.get("params", []) if p.get("select")]
    assert [p["name"] for p in params] == ["pick"]
    assert params[0]["select"]["fields"] == ["step"] and params[0]["select"]["nearest"] is True
    layers = spec["layer"]
    assert all("tooltip" in layer.get("encoding", {}) for layer in layers if layer["mark"]["type"] != "text")
    lone = train_charts.loss_chart(np.linspace(0.7, 0.5, 10))  # no baselines: one layer, its data hoisted
    assert [p["name"] for p in step_charts.pickable(lone).to_dict()["params"]] == ["pick"]
    assert step_charts.pickable(train_charts.loss_chart(np.zeros(0))) is None


def _layers(spec: dict) -> list[dict]:
    return [leaf for layer in spec.get("layer", [spec]) for leaf in (_layers(layer) if "layer" in layer else [layer])]


def test_every_train_chart_has_tooltips_on_its_data_marks():
    from viz import train_charts
    rng = np.random.default_rng(0)
    charts = [
        train_charts.loss_chart(rng.random(30), [0.66, 0.52, 0.45], ["a", "b", "c"]),
        train_charts.grad_profile_chart(rng.random(5) + 0.1, rng.random(5) + 0.1),
        train_charts.grad_heatmap_chart(np.arange(4), rng.random((4, 5)) + 0.1),
        train_charts.position_loss_chart(rng.random(5), [0.66], ["a"]),
        train_charts.sigma_chart(rng.random(10) + 0.5),
        train_charts.global_norm_chart(rng.random(10) + 0.1, clip=0.5),
        train_charts.strip_chart(np.ones(5), np.zeros(5), rng.random(5)),
        train_charts.state_heatmap(rng.random((5, 4))),
    ]
    for chart in charts:
        for layer in _layers(chart.to_dict()):
            mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            if mark != "text":
                assert "tooltip" in layer.get("encoding", {}), (chart.to_dict().get("title"), mark)
