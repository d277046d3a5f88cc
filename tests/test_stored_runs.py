"""The session run list backed by the run store, driven with AppTest: a new session with the same browser id
gets the runs back (Train page and Compare), another id sees none, "Forget my runs" deletes them, pruning is
reported, and a damaged store (corrupt row, a bundle from another version, a full disk, a locked database,
a store that cannot be opened) gives a clear warning while the app goes on with the run in memory.

AppTest has no browser, so the tests hand the session its browser id through ui.state.TEST_OWNER; the
browser side (localStorage, reloads, restarts) is in tests/test_browser.py.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import event, text
from streamlit.testing.v1 import AppTest

import runstore
from runstore import RunStore, new_owner_id
from tests.conftest import ROOT, navigation_pages
from ui import state

TIMEOUT = 120
SMALL = {"series_length": "20000"}  # 20 training steps of the default shapes


@pytest.fixture(autouse=True)
def navigation_like_the_server(monkeypatch):
    """As in test_app_train: AppTest runs app.py's navigation like a server that has started."""
    navigation_pages(monkeypatch)


@pytest.fixture()
def db(tmp_path, monkeypatch):
    """A fresh SQLite store for the app (TRUNCATION_EXPLORER_DB); yields its URL."""
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    monkeypatch.setenv("TRUNCATION_EXPLORER_DB", url)
    monkeypatch.setenv("TRUNCATION_EXPLORER_BUSY_S", "0.3")
    yield url
    runstore.dispose_all()


def session(owner: str | None, params: dict[str, str] | None = None, page: str = "") -> AppTest:
    """A new browser session (a reload, another tab, a restarted server) whose browser sent `owner`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params = dict(params or SMALL)
    if owner:
        at.session_state[state.TEST_OWNER] = owner
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def train(at: AppTest) -> AppTest:
    next(b for b in at.main.button if b.label == "Train").click().run()
    assert not at.exception
    assert "Done: 20 steps" in " ".join(s.value for s in at.success)
    return at


def warnings(at: AppTest) -> str:
    return " | ".join(w.value for w in at.warning)


def sidebar_runs(at: AppTest) -> str:
    """The sidebar's count, e.g. '1 run'."""
    return next(c.value for c in at.sidebar.caption if "kept in this" in c.value).split(" (")[0]


def stored(url: str, owner: str) -> list[dict]:
    return RunStore(url).load_all(owner).bundles


def test_a_new_session_with_the_same_browser_id_gets_the_runs_back(db):
    me = new_owner_id()
    first = train(session(me))
    losses = first.session_state[state.RUNS][0].scalars["loss"]
    [saved] = stored(db, me)
    assert saved["summary"]["steps"] == 20 and saved["config"]["truncation"] == 5
    assert sidebar_runs(first) == "1 run"

    again = session(me)  # the reload: a new session, the same browser id
    runs = again.session_state[state.RUNS]
    assert len(runs) == 1 and (runs[0].scalars["loss"] == losses).all()
    assert "Loaded run" in " ".join(i.value for i in again.info)  # the Train page draws it again
    # as a loaded bundle: no live snapshot for the board's last two; the exact-gradient section's two charts when
    # the run's samples were done when it was stored (saving a finished run waits up to 0.5 s for them)
    sampled = bool(saved["gradient_samples"]["step"])
    assert len(again.get("vega_lite_chart")) == 6 + 2 * sampled
    assert not again.query_params.get(state.TEST_OWNER) and me not in json.dumps(again.query_params)

    compare = session(me, page="pages/compare.py")
    assert compare.multiselect(key="compare_selected").value == [runs[0].label]
    assert len(compare.get("vega_lite_chart")) >= 2  # the overlay and the gradient profile of the stored run


def test_a_continued_run_replaces_its_stored_self(db):
    me = new_owner_id()
    at = session(me)
    at.session_state[state.STEP_BUDGET] = 5
    next(b for b in at.main.button if b.label == "Train").click().run()
    assert [b["summary"]["steps"] for b in stored(db, me)] == [5]
    del at.session_state[state.STEP_BUDGET]
    next(b for b in at.main.button if b.label == "Continue").click().run()
    assert [b["summary"]["steps"] for b in stored(db, me)] == [20]  # one stored run, updated


def test_another_browser_id_sees_none_of_them(db):
    me, stranger = new_owner_id(), new_owner_id()
    train(session(me))
    other = session(stranger)
    assert other.session_state[state.RUNS] == [] and sidebar_runs(other) == "0 runs"
    assert len(stored(db, me)) == 1 and stored(db, stranger) == []


def test_without_a_browser_id_runs_stay_in_the_session_and_nothing_is_stored(db):
    at = train(session(None))
    assert len(at.session_state[state.RUNS]) == 1
    assert RunStore(db).usage() == (0, 0)
    assert "this session only" in " ".join(c.value for c in at.sidebar.caption)


def test_forget_my_runs_deletes_them_and_asks_for_a_new_id(db):
    me = new_owner_id()
    at = train(session(me))
    at.sidebar.button(key="forget_runs").click().run()
    assert not at.exception
    assert stored(db, me) == [] and at.session_state[state.RUNS] == []
    assert state.TRAINER not in at.session_state and state.LOADED not in at.session_state
    assert state.OWNER not in at.session_state  # until the browser sends its renewed id
    assert session(me).session_state[state.RUNS] == []


def test_pruning_is_reported_on_the_page(db, monkeypatch):
    monkeypatch.setenv("TRUNCATION_EXPLORER_MAX_RUNS", "1")
    me = new_owner_id()
    at = train(session(me))
    train(at)
    assert "Removed 1 of your oldest runs" in warnings(at) and "at most 1 runs" in warnings(at)
    assert len(stored(db, me)) == 1 and len(at.session_state[state.RUNS]) == 1


def _raw(url: str, owner: str, body: str, version: int = 1, label: str = "damaged") -> None:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute("INSERT INTO explorer_runs (owner, label, schema_version, body, size_bytes, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, datetime('now'), datetime('now'))", (owner, label, version, body, len(body)))
    con.commit()
    con.close()


@pytest.mark.parametrize("body, version, words", [
    ('{"config": {}, "history": [', 1, "is damaged in the store (not valid JSON"),
    ('{"config": {"truncation": 0}, "history": [], "summary": {}}', 1, "cannot be read"),
    ('{"config": {}, "history": [], "summary": {}, "format": "truncation-explorer-run/2"}', 2,
     "saved by a newer version of the app"),
])
def test_a_damaged_stored_run_is_skipped_with_a_warning_and_the_good_ones_load(db, body, version, words):
    me = new_owner_id()
    train(session(me))
    _raw(db, me, body, version)
    at = session(me)
    assert "A stored run was skipped" in warnings(at) and words in warnings(at), warnings(at)
    assert len(at.session_state[state.RUNS]) == 1
    train(at)  # the app goes on, and the damaged row stays untouched in the store
    assert len(at.session_state[state.RUNS]) == 2 and RunStore(db).usage()[0] == 3


def _full(url: str) -> None:
    """Cap the SQLite file at its current size: every later insert of a run fails with SQLITE_FULL."""
    store = RunStore(url)
    with store.engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 1}")

    store.engine.dispose()


def test_a_full_disk_warns_and_keeps_the_run_in_memory(db):
    me = new_owner_id()
    at = session(me)
    _full(db)
    train(at)
    assert "the database or its disk is full" in warnings(at) and "kept in this session only" in warnings(at)
    assert len(at.session_state[state.RUNS]) == 1 and stored(db, me) == []


def test_a_locked_database_warns_and_the_next_run_is_stored_again(db):
    me = new_owner_id()
    at = session(me)
    RunStore(db)  # the tables exist before the lock is taken
    holder = sqlite3.connect(db.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        train(at)
        assert "busy with another writer" in warnings(at) and "kept in this session only" in warnings(at)
    finally:
        holder.rollback()
        holder.close()
    assert len(at.session_state[state.RUNS]) == 1 and stored(db, me) == []
    train(at)
    assert len(stored(db, me)) == 1 and not warnings(at)


def test_a_store_that_cannot_be_opened_warns_once_and_the_app_trains(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("TRUNCATION_EXPLORER_DB", f"sqlite:///{blocker}/runs.sqlite3")
    at = session(new_owner_id())
    assert "cannot create the run store's directory" in warnings(at), warnings(at)
    train(at)
    assert len(at.session_state[state.RUNS]) == 1
    runstore.dispose_all()
