"""runstore: bundles survive a round trip, owners never see each other's runs, the bounds prune oldest
first and say so, every kind of damage gives a typed StoreError, threads share one store, and a new
process on the same database sees the runs. Each store test runs on SQLite and on a throwaway
PostgreSQL server (Debian's `postgresql` package; skipped when absent unless REQUIRE_POSTGRES=1).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from pg_server import PgServer, pg_bin_dir
from sqlalchemy import event, insert, inspect, text

import runstore
from runstore import (
    BadBundle,
    CorruptRun,
    IncompatibleRun,
    RunNotFound,
    RunStore,
    RunTooLarge,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreSettings,
    StoreUnavailable,
)
from runstore.engines import typed_error
from runstore.schema import runs

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the whole session, stopped (and its data dir removed) even on failure."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL binaries not found (Debian: apt-get install postgresql); CI sets REQUIRE_POSTGRES=1")
    server = PgServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        runstore.dispose_all()  # no pooled connection may outlive the server
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh empty database URL of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'runs.sqlite3'}"
    else:
        server = request.getfixturevalue("pg_server")
        yield server.create_database("t_" + uuid.uuid4().hex[:12])
    runstore.dispose_all()


def settings(**kw) -> StoreSettings:
    return StoreSettings(**{"busy_timeout_s": 5.0, **kw})


class Clock:
    """A settable UTC clock so age pruning can be tested without waiting."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


def owner() -> str:
    return runstore.new_owner_id()


def bundle(label: str = "run", steps: int = 6, pad: int = 0) -> dict:
    """A real bundle from rnn_core.report.RunRecord (built without training); `pad` adds bytes to the summary."""
    from rnn_core.config import RunConfig
    from rnn_core.report import RunRecord

    n = 3
    rng = np.random.default_rng(len(label) + steps)
    cfg = RunConfig(truncation=n, state_size=2, batch_size=2, series_length=100)
    loss = rng.uniform(0.3, 0.7, steps).astype(np.float32)
    loss[1] = np.nan
    scalars = {"step": np.arange(steps), "loss": loss,
               "global_norm": rng.uniform(0, 2, steps).astype(np.float32),
               "sigma_max": rng.uniform(0, 2, steps).astype(np.float32)}
    profiles = {"step": np.arange(0, steps, 2)}
    for name in ("position_loss", "grad_norms", "temporal"):
        profiles[name] = rng.uniform(0, 1, (len(profiles["step"]), n)).astype(np.float32)
    summary = {"final_loss": float(loss[-1]), "steps": steps, "status": "completed", "note": "x" * pad}
    return RunRecord(cfg, [0.69, 0.6, 0.55], scalars, profiles, summary, label=label).to_json()


def size_of(b: dict) -> int:
    return len(json.dumps(b, separators=(",", ":")).encode())


def raw_insert(store: RunStore, who: str, body: str, version: int = 1, label: str = "raw") -> int:
    """Write a row behind the store's back, as a damaged file or another app version would leave it."""
    now = dt.datetime.now(dt.UTC)
    with store.engine.begin() as conn:
        return conn.execute(insert(runs).values(
            owner=who, label=label, schema_version=version, body=body, size_bytes=len(body.encode()),
            created_at=now, updated_at=now).returning(runs.c.id)).scalar_one()


# ---------------------------------------------------------------- round trip, isolation


def test_real_bundle_round_trips_with_its_numbers(url):
    from rnn_core.report import RunRecord

    store, me = RunStore(url, settings()), owner()
    original = bundle("TF n=3 first", steps=8)
    saved = store.put(me, original)
    as_text = store.put(me, json.dumps(bundle("second")))
    assert not saved.pruned and saved.run_id != as_text.run_id
    loaded = store.load(me, saved.run_id)
    assert loaded == original
    rec, ref = RunRecord.from_json(loaded), RunRecord.from_json(original)
    for name in ("step", "loss", "global_norm", "sigma_max"):
        np.testing.assert_array_equal(rec.scalars[name], ref.scalars[name])
    np.testing.assert_array_equal(rec.profiles["temporal"], ref.profiles["temporal"])
    assert np.isnan(rec.scalars["loss"][1])
    listing = store.list(me)
    assert [r.label for r in listing.runs] == ["TF n=3 first", "second"] and not listing.skipped
    first = listing.runs[0]
    assert first.id == saved.run_id and first.schema_version == 1 and first.size_bytes == size_of(original)
    assert first.created.tzinfo is not None and first.created <= listing.runs[1].created
    everything = store.load_all(me)
    assert everything.bundles[0] == original and [r.id for r in everything.runs] == [r.id for r in listing.runs]


def test_replace_overwrites_only_the_owners_run(url):
    clock = Clock()
    store, me = RunStore(url, settings(), clock=clock), owner()
    rid = store.put(me, bundle("before")).run_id
    clock.advance(minutes=5)
    assert not store.replace(me, rid, bundle("after", steps=12))
    (run,) = store.list(me).runs
    assert run.label == "after" and run.updated - run.created == dt.timedelta(minutes=5)
    assert len(store.load(me, rid)["history"]) == 12


def test_owners_never_see_each_others_runs(url):
    store, alice, bob = RunStore(url, settings()), owner(), owner()
    rid = store.put(alice, bundle("alice's")).run_id
    store.put(bob, bundle("bob's"))
    assert [r.label for r in store.list(bob).runs] == ["bob's"]
    with pytest.raises(RunNotFound, match=f"run {rid} is not in your stored runs"):
        store.load(bob, rid)
    with pytest.raises(RunNotFound):
        store.replace(bob, rid, bundle("hijack"))
    assert store.delete(bob, rid) is False
    near_miss = alice[:-1] + ("A" if alice[-1] != "A" else "B")
    bad = ["", "short", None, 42, alice + "!", "' OR '1'='1' --" + "x" * 20, "%" * 32, "_" * 31, near_miss,
           alice.upper() if alice.upper() != alice else alice.lower()]
    for guess in bad:
        assert store.list(guess).runs == [] and store.load_all(guess).bundles == [], guess
        assert store.forget(guess) == 0 and store.delete(guess, rid) is False
        with pytest.raises(RunNotFound):
            store.load(guess, rid)
    for bad_id in ("1; DROP TABLE explorer_runs", None, 1.5e30j):
        with pytest.raises(RunNotFound):
            store.load(alice, bad_id)
        assert store.delete(alice, bad_id) is False
    with pytest.raises(StoreError, match="malformed"):
        store.put("not an id", bundle())
    assert store.load(alice, rid)["label"] == "alice's"


def test_forget_my_runs_deletes_mine_only(url):
    store, me, other = RunStore(url, settings()), owner(), owner()
    for i in range(3):
        store.put(me, bundle(f"mine {i}"))
    store.put(other, bundle("theirs"))
    assert store.forget(me) == 3
    assert store.list(me).runs == [] and store.forget(me) == 0
    assert [r.label for r in store.list(other).runs] == ["theirs"]


def test_owner_ids_are_long_random_and_recognised():
    ids = {runstore.new_owner_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == 32 and runstore.is_owner_id(i) for i in ids)
    assert not any(runstore.is_owner_id(v) for v in ("", "a" * 31, "a" * 65, "a" * 31 + "/", b"a" * 32, None))


def test_format_matches_the_engines_bundle_format():
    from rnn_core.report import FORMAT

    assert FORMAT == f"{runstore.FORMAT_PREFIX}{runstore.CURRENT_VERSION}"


def test_runstore_imports_neither_streamlit_nor_tensorflow():
    code = "import sys, runstore; print(sorted(m for m in ('streamlit', 'tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- bounds


def test_runs_per_owner_cap_prunes_that_owners_oldest_first(url):
    clock = Clock()
    store, me, other = RunStore(url, settings(max_runs_per_owner=3), clock=clock), owner(), owner()
    store.put(other, bundle("other 0"))
    results = []
    for i in range(5):
        clock.advance(seconds=1)
        results.append(store.put(me, bundle(f"mine {i}")))
    assert [bool(r.pruned) for r in results] == [False, False, False, True, True]
    assert [r.label for r in results[3].pruned.own] == ["mine 0"] and results[3].pruned.others == 0
    assert "Removed 1 of your oldest runs ('mine 0')" in results[3].pruned.message()
    assert "at most 3 runs" in results[3].pruned.message()
    assert [r.label for r in store.list(me).runs] == ["mine 2", "mine 3", "mine 4"]
    assert [r.label for r in store.list(other).runs] == ["other 0"]


def test_total_size_cap_prunes_oldest_of_anyone_and_counts_others(url):
    clock = Clock()
    one = size_of(bundle("a 0", pad=2000))
    store = RunStore(url, settings(max_total_bytes=int(3.5 * one), max_run_bytes=2 * one), clock=clock)
    me, other = owner(), owner()
    for i, who in enumerate([other, me, other]):
        clock.advance(seconds=1)
        assert not store.put(who, bundle(f"a {i}", pad=2000)).pruned
    clock.advance(seconds=1)
    saved = store.put(me, bundle("a 3", pad=2000))
    assert saved.pruned.own == [] and saved.pruned.others == 1  # "a 0" was the other student's
    assert "1 older runs of other students" in saved.pruned.message()
    clock.advance(seconds=1)
    saved = store.put(other, bundle("a 4", pad=2000))
    assert [r.label for r in saved.pruned.own] == [] and saved.pruned.others == 1  # "a 1", mine
    rows, used = store.usage()
    assert rows == 3 and used <= 3.5 * one
    assert [r.label for r in store.list(me).runs] == ["a 3"]
    assert [r.label for r in store.list(other).runs] == ["a 2", "a 4"]


def test_a_bundle_larger_than_the_bounds_is_refused_and_nothing_is_lost(url):
    store, me = RunStore(url, settings(max_run_bytes=5000)), owner()
    store.put(me, bundle("small"))
    with pytest.raises(RunTooLarge, match=r"the store keeps runs up to 0\.0 MB"):
        store.put(me, bundle("big", pad=6000))
    rid = store.list(me).runs[0].id
    with pytest.raises(RunTooLarge):
        store.replace(me, rid, bundle("big", pad=6000))
    assert [r.label for r in store.list(me).runs] == ["small"]


def test_runs_older_than_the_age_bound_are_removed(url):
    clock = Clock()
    store, me, other = RunStore(url, settings(max_age_days=30), clock=clock), owner(), owner()
    store.put(me, bundle("old mine"))
    store.put(other, bundle("old theirs"))
    clock.advance(days=20)
    store.put(me, bundle("recent"))
    assert not store.prune()
    clock.advance(days=11)  # the first two are now 31 days old, "recent" 11
    saved = store.put(me, bundle("new"))
    assert [r.label for r in saved.pruned.own] == ["old mine"] and saved.pruned.others == 1
    assert "kept 30 days after they were last saved" in saved.pruned.message()
    clock.advance(days=25)  # "recent" is 36 days old: a prune with no write removes it
    pruned = store.prune(me)
    assert [r.label for r in pruned.own] == ["recent"] and pruned.others == 0
    assert [r.label for r in store.list(me).runs] == ["new"] and store.list(other).runs == []


def test_prune_without_an_owner_applies_the_per_owner_cap_to_everyone(url):
    clock = Clock()
    loose = RunStore(url, settings(max_runs_per_owner=10), clock=clock)
    me, other = owner(), owner()
    for i in range(4):
        clock.advance(seconds=1)
        loose.put(me, bundle(f"m{i}"))
        loose.put(other, bundle(f"o{i}"))
    strict = RunStore(url, settings(max_runs_per_owner=2), clock=clock)  # e.g. a restart with a lower cap
    pruned = strict.prune(me)
    assert [r.label for r in pruned.own] == ["m0", "m1"] and pruned.others == 2
    assert [r.label for r in strict.list(me).runs] == ["m2", "m3"]
    assert [r.label for r in strict.list(other).runs] == ["o2", "o3"]


# ---------------------------------------------------------------- damage


@pytest.mark.parametrize("offered, error, words", [
    ("{not json", BadBundle, "not valid JSON"),
    (b"\xff\xfe{}", BadBundle, "not valid JSON"),
    ("[1, 2]", BadBundle, "must be a JSON object"),
    ({"config": {}, "history": []}, BadBundle, "lacks 'summary'"),
    ({"config": {}, "history": [], "summary": {"x": float("nan")}}, BadBundle, "cannot be written as JSON"),
    ({"format": "something-else/1", "config": {}, "history": [], "summary": {}}, BadBundle, "'format' must look"),
    ({"format": "truncation-explorer-run/9", "config": {}, "history": [], "summary": {}}, IncompatibleRun,
     "a newer version of the app"),
])
def test_bad_bundles_are_refused_with_a_reason(tmp_path, offered, error, words):
    store, me = RunStore(f"sqlite:///{tmp_path / 'r.sqlite3'}", settings()), owner()
    with pytest.raises(error, match=words):
        store.put(me, offered)
    assert store.list(me).runs == []
    runstore.dispose_all()


def test_a_corrupt_row_is_skipped_with_a_note_and_the_others_still_load(url):
    store, me = RunStore(url, settings()), owner()
    good = store.put(me, bundle("good")).run_id
    bad = raw_insert(store, me, '{"config": {}, "history": [', label="torn")
    wrong = raw_insert(store, me, '{"just": "json"}', label="not a bundle")
    everything = store.load_all(me)
    assert [r.id for r in everything.runs] == [good] and everything.bundles[0]["label"] == "good"
    assert len(everything.skipped) == 2
    assert f"run {bad} 'torn' is damaged in the store (not valid JSON" in everything.skipped[0]
    assert f"run {wrong} 'not a bundle' is damaged" in everything.skipped[1]
    with pytest.raises(CorruptRun, match="damaged"):
        store.load(me, bad)
    assert store.load(me, good)["label"] == "good"


def test_bundles_of_other_versions_are_skipped_with_a_note(url):
    store, me = RunStore(url, settings()), owner()
    good = store.put(me, bundle("now")).run_id
    newer = raw_insert(store, me, json.dumps(bundle("future")), version=2, label="future")
    older = raw_insert(store, me, json.dumps(bundle("past")), version=0, label="past")
    listing = store.list(me)
    assert [r.id for r in listing.runs] == [good]
    assert any(f"run {newer} 'future': saved by a newer version" in n for n in listing.skipped)
    assert any(f"run {older} 'past': saved by an older version" in n for n in listing.skipped)
    assert store.load_all(me).skipped == listing.skipped
    with pytest.raises(IncompatibleRun, match="bundle format 2; this app reads format 1"):
        store.load(me, newer)


def test_a_full_disk_gives_store_full_and_keeps_what_was_stored(tmp_path):
    store, me = RunStore(f"sqlite:///{tmp_path / 'r.sqlite3'}", settings()), owner()
    store.put(me, bundle("fits"))
    with store.engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_conn, _record):  # a database that may not grow past its current size + 2 pages
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 2}")

    store.engine.dispose()
    with pytest.raises(StoreFull, match="could not save the run: the database or its disk is full"):
        store.put(me, bundle("too much", pad=200_000))
    assert [r.label for r in store.list(me).runs] == ["fits"]
    assert store.load(me, store.list(me).runs[0].id)["label"] == "fits"
    runstore.dispose_all()


def test_a_really_full_disk_gives_store_full(tmp_path):
    """A 256 KiB tmpfs (needs root to mount; the max_page_count test above covers other machines)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        store, me = RunStore(f"sqlite:///{mnt / 'r.sqlite3'}", settings()), owner()
        first = store.put(me, bundle("first")).run_id
        with pytest.raises(StoreFull, match="the database or its disk is full"):
            for i in range(100):
                store.put(me, bundle(f"more {i}", pad=20_000))
        assert 1 < len(store.list(me).runs) < 100 and store.load(me, first)["label"] == "first"
    finally:
        runstore.dispose_all()
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_locked_database_gives_store_locked_then_works_again(url):
    store, me = RunStore(url, settings(busy_timeout_s=0.3)), owner()
    store.put(me, bundle("before"))
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    else:
        import psycopg

        holder = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        holder.execute("LOCK TABLE explorer_runs IN EXCLUSIVE MODE")  # readers pass, writers wait
    try:
        t0 = time.perf_counter()
        with pytest.raises(StoreLocked, match="could not save the run: the database is busy"):
            store.put(me, bundle("during"))
        assert time.perf_counter() - t0 < 5
        assert [r.label for r in store.list(me).runs] == ["before"]  # WAL / EXCLUSIVE MODE: reads go on
    finally:
        holder.rollback()
        holder.close()
    store.put(me, bundle("after"))
    assert [r.label for r in store.list(me).runs] == ["before", "after"]


@pytest.mark.parametrize("make_url, words", [
    (lambda tmp: "not a url", "is not a database URL"),
    (lambda tmp: "mysql://u@127.0.0.1/db", "no database driver|only sqlite"),
    (lambda tmp: f"sqlite:///{_a_file(tmp)}/under/a/file.sqlite3", "cannot create the run store's directory"),
    (lambda tmp: f"sqlite:///{_garbage(tmp)}", "file is not a database"),
    (lambda tmp: "postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the run store"),
])
def test_an_unusable_database_gives_store_unavailable(tmp_path, make_url, words):
    with pytest.raises(StoreUnavailable, match=words):
        RunStore(make_url(tmp_path), settings())


def _a_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("x")
    return tmp / "plain"


def _garbage(tmp: Path) -> Path:
    (tmp / "bad.sqlite3").write_bytes(b"this is not sqlite" * 100)
    return tmp / "bad.sqlite3"


def test_postgresql_errors_map_to_typed_errors():
    import psycopg

    assert isinstance(typed_error(psycopg.errors.DiskFull("could not extend file"), "saving"), StoreFull)
    assert isinstance(typed_error(psycopg.errors.LockNotAvailable("lock timeout"), "saving"), StoreLocked)
    assert isinstance(typed_error(psycopg.errors.DeadlockDetected("deadlock"), "saving"), StoreLocked)
    err = typed_error(psycopg.OperationalError("connection refused"), "saving")
    assert isinstance(err, StoreUnavailable) and str(err) == "saving: connection refused"


# ---------------------------------------------------------------- sharing and restarts


def test_many_session_threads_share_one_store(url):
    store = RunStore(url, settings(max_runs_per_owner=100))
    owners, errors = [owner() for _ in range(8)], []

    def session(who: str) -> None:
        try:
            for i in range(6):
                store.put(who, bundle(f"{who[:4]} {i}"))
                assert len(store.list(who).runs) == i + 1
        except Exception as exc:  # reported below with the thread's owner
            errors.append(f"{who[:4]}: {exc!r}")

    threads = [threading.Thread(target=session, args=(w,)) for w in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for who in owners:
        assert [r.label for r in store.list(who).runs] == [f"{who[:4]} {i}" for i in range(6)]
    assert RunStore(url, settings(max_runs_per_owner=100)).engine is store.engine  # one engine per URL
    if url.startswith("sqlite"):
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


def test_a_restarted_server_sees_the_same_runs(url):
    me = owner()
    rid = RunStore(url, settings()).put(me, bundle("survivor")).run_id
    runstore.dispose_all()  # this process's connections are gone, as after a restart
    assert RunStore(url, settings()).load(me, rid)["label"] == "survivor"
    runstore.dispose_all()
    code = (f"import runstore; s = runstore.RunStore({url!r}); "
            f"print([r.label for r in s.list({me!r}).runs], s.load({me!r}, {rid})['label'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['survivor'] survivor"


def test_the_default_database_is_created_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUNCATION_EXPLORER_DB", raising=False)
    monkeypatch.setenv("TRUNCATION_EXPLORER_DATA_DIR", str(tmp_path / "new" / "dir"))
    store = RunStore()
    assert store.url == f"sqlite:///{tmp_path / 'new' / 'dir' / 'runs.sqlite3'}"
    store.put(owner(), bundle())
    assert (tmp_path / "new" / "dir" / "runs.sqlite3").is_file()
    monkeypatch.setenv("TRUNCATION_EXPLORER_DB", "postgresql+psycopg://u@db.example/runs")
    assert runstore.database_url() == "postgresql+psycopg://u@db.example/runs"
    runstore.dispose_all()


def test_settings_come_from_the_environment_with_clear_errors():
    s = StoreSettings.from_env({"TRUNCATION_EXPLORER_MAX_RUNS": "7", "TRUNCATION_EXPLORER_MAX_MB": "1.5",
                                "TRUNCATION_EXPLORER_MAX_DAYS": "2", "TRUNCATION_EXPLORER_BUSY_S": "0.5"})
    assert (s.max_runs_per_owner, s.max_total_bytes, s.max_age_days, s.busy_timeout_s) == (7, 1_500_000, 2.0, 0.5)
    d = StoreSettings.from_env({})
    assert (d.max_runs_per_owner, d.max_total_bytes, d.max_run_bytes, d.max_age_days) == (50, 200e6, 20e6, 30.0)
    with pytest.raises(ValueError, match="TRUNCATION_EXPLORER_MAX_RUNS must be a number, got 'lots'"):
        StoreSettings.from_env({"TRUNCATION_EXPLORER_MAX_RUNS": "lots"})
    with pytest.raises(ValueError, match="max_age_days must be positive"):
        StoreSettings.from_env({"TRUNCATION_EXPLORER_MAX_DAYS": "0"})


def test_a_store_made_before_the_size_index_gets_it_when_opened_and_keeps_its_runs(url):
    me = owner()
    rid = RunStore(url, settings()).put(me, bundle("old")).run_id
    with RunStore(url, settings()).engine.begin() as conn:
        conn.execute(text("DROP INDEX explorer_runs_updated_size"))  # as a store of the earlier schema has it
    runstore.dispose_all()
    store = RunStore(url, settings())  # a new process opening that file
    with store.engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("explorer_runs")}
    assert "explorer_runs_updated_size" in names
    assert store.load(me, rid)["label"] == "old"


def test_sqlite_answers_the_size_bound_from_the_index_without_reading_the_bodies(tmp_path):
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}", settings())
    store.put(owner(), bundle(pad=50_000))
    queries = {  # what `_prune` and `usage` ask on every write
        "sum": "SELECT coalesce(sum(size_bytes), 0) FROM explorer_runs",
        "oldest": "SELECT id, size_bytes FROM explorer_runs WHERE id != 1 ORDER BY updated_at, id",
    }
    with store.engine.connect() as conn:
        for name, sql in queries.items():
            plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "COVERING INDEX explorer_runs_updated_size" in plan, (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)  # walked in index order, no sort
    runstore.dispose_all()
