"""The Train page and the shared sidebar, driven headless with Streamlit's AppTest."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.train import Trainer
from tests.conftest import ROOT, navigation_pages
from ui import settings, state, train_buttons

TIMEOUT = 120
SMALL = {"series_length": "20000"}  # 20 training steps of the default shapes


@pytest.fixture(autouse=True)
def navigation_like_the_server(monkeypatch):
    navigation_pages(monkeypatch)


def open_app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params = dict(params or {})
    return at.run()


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


def test_controls_exist_with_r2rt_defaults():
    at = open_app()
    assert not at.exception
    default = RunConfig()
    for s in settings.SETTINGS:
        if s.shown(settings.DEFAULT_VALUES):
            widget = (at.sidebar.get("number_input") + at.sidebar.get("slider") + at.sidebar.get("selectbox")
                      + at.sidebar.get("text_input"))
            found = [w for w in widget if w.key == f"w_{s.name}"]
            assert found and found[0].value == getattr(default, s.name), s.name
            assert found[0].help, f"{s.name} has no help text"
    assert (default.state_size, default.truncation, default.optimizer, default.learning_rate, default.batch_size,
            default.series_length, default.task) == (4, 5, "adagrad", 0.1, 200, 1_000_000, "r2rt")
    assert [b.label for b in at.main.button] == ["Train", "Step", "Continue", "One more epoch", "Stop", "Reset"]
    assert button(at, "Continue").disabled
    assert at.session_state[state.CONFIG] == default
    assert at.query_params == {}


def test_before_any_run_the_loss_chart_shows_the_tasks_exact_baselines():
    at = open_app()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    caption = texts(at.caption)
    # R2RT's exact baselines (reference.md): 0.6616, 0.5192, 0.4545 nats
    assert "Before training" in caption
    assert "learns nothing 0.662, learns lag 3 0.519, learns both 0.454" in caption, caption


def test_small_run_trains_to_the_end():
    at = open_app(SMALL)
    button(at, "Train").click().run()
    assert not at.exception
    assert "Done: 20 steps" in texts(at.success)
    runs = at.session_state[state.RUNS]
    assert len(runs) == 1 and runs[0].summary["steps"] == 20 and runs[0].summary["status"] == "completed"
    program = runs[0].summary["program"]  # the trainer's own record of what computed the gradients
    assert program.startswith(runs[0].config.gradient + " (") and f"Gradients: {program}." in texts(at.success)
    # the board's 8, and the cosine and flow charts once the background full-gradient samples are in
    assert len(at.get("vega_lite_chart")) in (8, 10)
    assert "learns lag 3" in texts(at.caption)
    assert {b.label for b in at.get("download_button")} >= {"Metrics (CSV)", "Run bundle (JSON)", "PNG", "SVG"}


def test_chart_downloads_follow_the_picked_chart_and_the_zip_holds_every_chart():
    import io
    import zipfile

    from ui import downloads, live

    at = open_app(SMALL)
    button(at, "Train").click().run()
    assert not at.exception
    picker = next(s for s in at.selectbox if s.key == "dl_chart")
    assert picker.options == [live.TITLES[n] for n in live.NAMES]  # every chart of the board can be picked
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("PNG") == 1 and labels.count("SVG") == 1 and "All 8 charts (ZIP)" in labels
    picker.set_value("gradient-heatmap").run()
    assert not at.exception and at.session_state["dl_chart"] == "gradient-heatmap"

    record = at.session_state[state.RUNS][0]
    figs = live.figures(record, None)
    drawn = [f for f in figs if f.chart is not None]
    with zipfile.ZipFile(io.BytesIO(downloads.charts_zip(figs, "run"))) as bundle:
        names = bundle.namelist()
        assert sorted(names) == sorted([f"run-{f.name}.png" for f in drawn] + [f"run-{f.name}.svg" for f in drawn])
        assert all(bundle.read(n)[:8] == b"\x89PNG\r\n\x1a\n" for n in names if n.endswith(".png"))
        assert all(b"<svg" in bundle.read(n)[:300] for n in names if n.endswith(".svg"))


def test_the_exact_gradient_charts_are_built_once_per_run_not_on_every_script_run(monkeypatch):
    import time

    from ui import exact_view

    built = []
    real = exact_view.gradient_charts.cosine_chart
    monkeypatch.setattr(exact_view.gradient_charts, "cosine_chart", lambda *a: built.append(1) or real(*a))
    at = open_app(SMALL)
    button(at, "Train").click().run()
    sampler = at.session_state[state.RUNS][0].extra["sampler"]
    deadline = time.monotonic() + 60
    while sampler.busy and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()  # the samples are all in: drawn from them
    before = len(built)
    for _ in range(3):
        at.run()
    assert not at.exception and not sampler.busy
    assert len(at.get("vega_lite_chart")) == 10  # the board's 8, the cosines and the flow
    assert before >= 1 and len(built) == before  # later script runs send the kept spec


def test_a_train_click_waits_its_turn_behind_earlier_runs_and_gives_every_turn_back():
    import threading
    import time

    from rnn_core.turns import shared

    line = shared()[0]
    if line.slots == 0:
        pytest.skip("TRUNCATION_RUN_SLOTS=0: no line")
    at = open_app(SMALL)
    earlier = [line.ticket() for _ in range(line.slots)]  # other sessions' runs, started before this click
    for ticket in earlier:
        line.wait_for(ticket)
    released = []

    def finish_them() -> None:
        time.sleep(1.0)
        released.append(time.monotonic())
        for _ in earlier:
            line.release()

    holder = threading.Thread(target=finish_them)
    holder.start()
    button(at, "Train").click().run()
    done = time.monotonic()
    holder.join(5)
    assert not at.exception and "Done: 20 steps" in texts(at.success)
    assert released and done > released[0]  # it could not train before the earlier runs gave their turns back
    assert line.held() == 0 and line.waiting() == 0  # its own turns all given back
    assert at.session_state[state.TICKET] > max(earlier)


def test_stop_keeps_what_was_trained_and_continue_reaches_the_end():
    at = open_app(SMALL)
    at.session_state[state.STEP_BUDGET] = 5
    button(at, "Train").click().run()
    assert "Stopped at step 5 of 20" in texts(at.info)
    weights = [p.copy() for p in at.session_state[state.TRAINER].params]
    assert not button(at, "Continue").disabled
    assert button(at, "Stop").disabled  # nothing is running: there is nothing to stop
    assert at.session_state[state.TRAINER].state.steps_done == 5
    del at.session_state[state.STEP_BUDGET]
    button(at, "Continue").click().run()
    assert not at.exception
    assert "Done: 20 steps" in texts(at.success)
    trainer: Trainer = at.session_state[state.TRAINER]
    assert trainer.state.steps_done == 20
    assert any((a != b).any() for a, b in zip(weights, trainer.params))
    runs = at.session_state[state.RUNS]
    assert len(runs) == 1 and runs[0].summary["steps"] == 20  # one entry per run, updated on Continue


def test_a_run_trained_to_its_end_redraws_its_buttons_in_the_script_run_that_trained(monkeypatch):
    """No second script run just to redraw the page: the run that trained draws the buttons again for the finished
    run (ui/train_buttons.py) and then its final charts. A click on that second row reaches the next run through
    its on_click, for every button it has enabled."""
    monkeypatch.setattr(state, "SAMPLE_GRACE_SECONDS", 120.0)  # the samples are in by the final charts: no rerun
    at = open_app(SMALL)
    runs_before = at.session_state[state.SCRIPT_RUNS]
    button(at, "Train").click().run()
    assert not at.exception and "Done: 20 steps" in texts(at.success)
    assert at.session_state[state.SCRIPT_RUNS] == runs_before + 1
    row = {b.label: b for b in at.main.button}
    assert list(row) == ["Train", "Step", "Continue", "One more epoch", "Stop", "Reset"]
    assert all(b.key.endswith(train_buttons.AFTER) for b in row.values())  # the row drawn after training
    assert [row[k].disabled for k in row] == [False, False, True, False, True, False]

    button(at, "One more epoch").click().run()
    assert not at.exception and "Done: 40 steps" in texts(at.success)
    assert at.session_state[state.TRAINER].cfg.epochs == 2

    extended = at.session_state[state.TRAINER]
    button(at, "Train").click().run()  # a fresh run (of the two epochs the sidebar now says), from the row after
    assert not at.exception and "Done: 40 steps" in texts(at.success)
    assert at.session_state[state.TRAINER] is not extended and len(at.session_state[state.RUNS]) == 2

    button(at, "Reset").click().run()
    assert not at.exception and state.TRAINER not in at.session_state
    assert "No run yet" in texts(at.info)


def test_a_click_on_the_row_drawn_after_training_is_acted_on_once():
    """The next script run draws the usual row, so the click it acts on is the one its on_click noted; the run
    after that (a slider, a rerun of any cause) does not act on it again."""
    at = open_app(SMALL)
    button(at, "Train").click().run()
    assert button(at, "Train").key.endswith(train_buttons.AFTER)
    button(at, "Step").click().run()
    assert not at.exception
    stepped = at.session_state[state.TRAINER].state.steps_done
    assert stepped == 1  # a fresh run, stepped once
    at.run()
    assert at.session_state[state.TRAINER].state.steps_done == stepped


def test_changing_a_setting_updates_the_url_and_resets_the_run():
    at = open_app(SMALL)
    button(at, "Train").click().run()
    at.sidebar.slider(key="w_truncation").set_value(4).run()
    assert at.query_params == {"series_length": "20000", "truncation": "4"}
    assert at.session_state[state.CONFIG].truncation == 4
    assert state.TRAINER not in at.session_state
    assert len(at.session_state[state.RUNS]) == 1  # the earlier run is kept for Compare


def test_url_settings_open_the_app_with_them():
    at = open_app({"truncation": "10", "state_size": "16", "optimizer": "adam", "learning_rate": "0.01",
                   "task": "custom", "lags": "2,6", "effects": "0.4,-0.2"})
    assert not at.warning
    assert at.session_state[state.CONFIG] == RunConfig(truncation=10, state_size=16, optimizer="adam",
                                                   learning_rate=0.01, task="custom", lags=(2, 6), effects=(0.4, -0.2))
    assert at.sidebar.text_input(key="w_lags").value == "2, 6"


def test_junk_in_the_url_warns_and_falls_back_to_defaults():
    at = open_app({"truncation": "abc", "state_size": "9999", "learning_rate": "nan", "style": "sideways",
                   "present": "maybe", "batch_size": "2.5"})
    assert not at.exception
    warned = texts(at.warning)
    for fragment in ("truncation=abc", "state_size=9999", "learning_rate=nan", "style=sideways", "present=maybe",
                     "batch_size=2.5"):
        assert fragment in warned
    assert at.session_state[state.CONFIG] == RunConfig()
    assert at.query_params == {}


def test_cross_field_conflict_in_the_url_keeps_the_valid_part():
    at = open_app({"style": "williams-peng", "k1": "7"})  # k1 must be at most n = 5
    assert "k1=7" in texts(at.warning)
    assert at.session_state[state.CONFIG] == RunConfig(style="williams-peng")


def test_presentation_mode_renders():
    at = open_app({**SMALL, "present": "1"})
    assert at.sidebar.toggle(key="w_present").value is True
    assert any("font-size" in m.value for m in at.markdown)
    button(at, "Train").click().run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) in (8, 10)  # 10 once the background full-gradient samples are in
    assert at.query_params["present"] == "1"


def test_run_bundle_loads_back_with_its_settings_and_charts():
    trainer = Trainer(RunConfig(series_length=20000, truncation=4, seed=3))
    trainer.run_to_end()
    bundle = json.dumps(RunRecord.from_trainer(trainer).to_json()).encode()
    at = open_app()
    at.sidebar.file_uploader(key="w_bundle").upload("run.json", bundle, "application/json").run()
    assert not at.exception
    assert at.session_state[state.CONFIG] == trainer.cfg
    assert at.query_params == {"series_length": "20000", "truncation": "4", "seed": "3"}
    assert "Loaded run" in texts(at.info)
    # six board charts (the per-row snapshot is not in a bundle), and the bundle's gradient samples and flow
    assert len(at.get("vega_lite_chart")) == 8


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "not valid JSON"),
    (b'{"config": {"truncation": 0}, "history": [], "summary": {}}', "truncation"),
    (b"[1, 2]", "JSON object"),
])
def test_bad_bundles_get_a_clear_error(payload, message):
    at = open_app()
    at.sidebar.file_uploader(key="w_bundle").upload("bad.json", payload, "application/json").run()
    assert not at.exception
    assert message in texts(at.sidebar.error)
    assert at.session_state[state.CONFIG] == RunConfig()


def test_csv_task_trains_on_the_uploaded_sequence_and_reports_bad_files():
    at = open_app({"task": "file", "batch_size": "10"})
    assert "needs a sequence" in texts(at.error)
    assert button(at, "Train").disabled
    at.sidebar.file_uploader(key="w_csv").upload("bad.csv", b"x,y\n0,1\n1,2\n", "text/csv").run()
    assert "line 3" in texts(at.sidebar.error)
    rows = "".join(f"{i % 2},{(i // 3) % 2}\n" for i in range(500))
    at.sidebar.file_uploader(key="w_csv").upload("seq.csv", ("x,y\n" + rows).encode(), "text/csv").run()
    assert not at.sidebar.error
    button(at, "Train").click().run()
    assert not at.exception
    assert "Done: 10 steps" in texts(at.success)  # 10 rows of 50 steps: windows of n = 5 every 5 steps


def test_a_diverged_run_says_where_and_what_to_try():
    trainer = Trainer(RunConfig(series_length=20000))
    trainer.run_to_end()
    bundle = RunRecord.from_trainer(trainer).to_json()
    bundle["summary"].update(status="diverged", diverged_at=7)
    at = open_app()
    at.sidebar.file_uploader(key="w_bundle").upload("run.json", json.dumps(bundle).encode(), "application/json").run()
    message = texts(at.error)
    assert "diverged at step 7" in message
    assert "clipping" in message and "smaller learning rate" in message and "0.01" in message


def test_url_round_trip_of_every_setting():
    cfg = RunConfig(state_size=16, truncation=10, style="williams-peng", k1=3, batch_size=32, series_length=64000,
                    epochs=2, learning_rate=0.003, optimizer="adam", clip=1.5, init_scale=0.5, seed=9, task="custom",
                    lags=(2, 7), effects=(0.25, -0.5), base_prob=0.4, input_prob=0.3, echo_step=5)
    params = settings.url_params(settings.values_from_config(cfg), present=True)
    values, present, warnings = settings.read_url(params)
    assert not warnings and present
    assert settings.config_from_values(values) == cfg
    assert settings.url_params(settings.DEFAULT_VALUES, present=False) == {}


def test_only_the_train_page_resets_a_run_whose_settings_changed():
    at = open_app(SMALL)
    button(at, "Train").click().run()
    trained = at.session_state[state.TRAINER]
    at.switch_page("pages/compare.py").run()
    at.sidebar.slider(key="w_truncation").set_value(4).run()
    assert not at.exception
    assert at.session_state[state.CONFIG].truncation == 4
    assert at.session_state[state.TRAINER] is trained  # the sidebar and the Compare page leave the run alone
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert state.TRAINER not in at.session_state
    assert [r.config.truncation for r in at.session_state[state.RUNS]] == [5]  # kept for Compare
    assert "No run yet" in texts(at.info)


def test_a_loaded_bundle_is_forgotten_when_the_settings_change():
    trainer = Trainer(RunConfig(series_length=20000, truncation=4))
    trainer.run_to_end()
    at = open_app()
    bundle = json.dumps(RunRecord.from_trainer(trainer).to_json()).encode()
    at.sidebar.file_uploader(key="w_bundle").upload("run.json", bundle, "application/json").run()
    assert "Loaded run" in texts(at.info)
    at.sidebar.slider(key="w_truncation").set_value(6).run()
    assert not at.exception
    assert state.LOADED not in at.session_state and "No run yet" in texts(at.info)


def test_session_state_has_one_owner():
    """Every read and write of st.session_state goes through ui/state.py."""
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
             *sorted((ROOT / "viz").glob("*.py"))]
    users = [f.relative_to(ROOT).as_posix() for f in files if "session_state" in f.read_text()]
    assert users == ["ui/state.py"]


@pytest.mark.parametrize("cause", ["browser id", "a click of the user's", "an id's mark left by an earlier run"])
def test_a_run_cut_short_by_the_browser_ids_rerun_trains_on(cause, monkeypatch, tmp_path):
    """A student who presses Train as the page loads: the browser id's arrival reruns the script, which cuts the
    loop short. That rerun continues the run; a rerun of any other cause leaves it stopped."""
    monkeypatch.setenv("TRUNCATION_EXPLORER_DATA_DIR", str(tmp_path))  # the id's arrival loads its stored runs
    monkeypatch.delenv("TRUNCATION_EXPLORER_DB", raising=False)
    at = open_app(SMALL)
    at.session_state[state.STEP_BUDGET] = 5
    button(at, "Train").click().run()
    assert at.session_state[state.TRAINER].state.steps_done == 5 and "Stopped at step 5" in texts(at.info)
    del at.session_state[state.STEP_BUDGET]
    at.session_state[state.CUT] = True  # as a loop cut short by a rerun leaves it
    if cause == "browser id":
        at.session_state[state.TEST_OWNER] = "a-browser"  # its id arrives: state.use_browser marks this rerun
    elif cause.startswith("an id's mark"):
        at.session_state[state.ID_ARRIVED] = True  # as if an id had arrived on another page: not this rerun's
    at.run()
    assert not at.exception
    if cause == "browser id":
        assert at.session_state[state.TRAINER].state.steps_done == 20 and "Done: 20 steps" in texts(at.success)
        assert not at.session_state[state.CUT]  # the loop ended on its own
    else:
        assert at.session_state[state.TRAINER].state.steps_done == 5 and "Stopped at step 5" in texts(at.info)
