"""The one owner of this session's state: every other module reads and writes it through these functions.

Shared by the pages: the validated config and what is wrong with the widgets' values, presentation
mode, the uploaded sequence for the 'file' task, the session's kept runs, the live run (its
Trainer, its entry in the run list, the training lock) and a run loaded from a bundle, and the
Compare page's sweep and styles results. The sidebar's own bookkeeping (what it last wrote into
the URL, refused link settings, a bundle waiting to be shown) and widget values set from code go
through here too, so `st.session_state` appears in no other file.

The run list is backed by the run store (ui/stored_runs.py, runstore/) under this browser's id once
the browser has sent it (`use_browser`): kept, refreshed and forgotten runs are written there, and a
new session (a reload, a reconnect, a restarted server or another replica) starts with the stored
runs. Without an id, or when the store fails, the list lives in the session only and the page is
told why (st.warning); a store problem never loses the run in memory.

A trainer's run goes into the run list once, the first time it is saved, and the same entry is
replaced with the newer record when the run is continued. Only the Train page forgets a run whose
settings changed (`drop_if_changed`).

With Streamlit's fast reruns a click starts the new script run on a new thread while the old one
is still training until its next st.* call. The training loop therefore holds `training_lock()`,
and every function here that touches the trainer first waits for it, so a new run only ever sees
a trainer whose generator has been closed and whose weights have been copied out.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.turns import Turn, shared

if TYPE_CHECKING:  # the trainer imports TensorFlow: imported when a run starts, so the landing page draws without it
    from rnn_core.train import Trainer

XY = tuple[np.ndarray, np.ndarray]  # an uploaded sequence: inputs x and targets y

CONFIG, CONFIG_ERROR, PRESENT = "config", "config_error", "present"
SEQUENCE, SEQUENCE_NAME, SEQUENCE_ERROR = "sequence", "sequence_name", "csv_error"
RUNS, TRAINER, RECORD, LOADED, LOCK = "runs", "trainer", "trainer_record", "loaded_run", "_training_lock"
STEP_BUDGET = "train_step_budget"  # caps the steps one click of Train trains (tests set it)
SWEEP, STYLES = "compare_sweep", "compare_styles"
OWNER, FORGOTTEN, RENEW = "_store_owner", "_store_forgotten", "_store_renew"
CHANGED = "_runs_changed"
ID_ARRIVED, CUT = "_browser_id_arrived", "_training_cut"
CLICK = "_click_to_act_on"  # (action, script run) of a Train, Step, Continue or Reset click not acted on yet
TICKET = "_run_ticket"  # this session's place in the server's line of runs (rnn_core/turns.py)
KEEP_TICKET = "_keep_ticket"  # the next script run is the app's own rerun: it keeps TICKET
SCRIPT_RUNS = "_script_runs"  # how many script runs this session has had
BOARD_MEMORY = "_board_memory"  # the Train page's charts as last drawn (ui/live.Board), kept across script runs
TEST_OWNER = "test_browser_id"  # AppTest has no browser: tests give the session's browser id here
STORE_ID = "store_id"  # RunRecord.extra key: the run's id in the store
MAX_RUNS = 20
WAIT_SECONDS = 30.0
SAMPLE_GRACE_SECONDS = 0.5  # how long saving a finished run waits for its full-gradient samples


# ---- settings


def config() -> RunConfig:
    """The sidebar's validated config (the defaults when a page runs without the sidebar, as in tests)."""
    return st.session_state.get(CONFIG) or RunConfig()


def has_config() -> bool:
    """Whether the sidebar has committed a config in this session yet."""
    return CONFIG in st.session_state


def set_config(cfg: RunConfig) -> None:
    st.session_state[CONFIG] = cfg


def config_error() -> str:
    """What is wrong with the sidebar's settings ('' when they apply)."""
    return st.session_state.get(CONFIG_ERROR) or ""


def set_config_error(problem: str) -> None:
    st.session_state[CONFIG_ERROR] = problem


def present() -> bool:
    """Presentation mode: larger text, settings folded away, charts full width."""
    return bool(st.session_state.get(PRESENT))


def set_present(on: bool) -> None:
    st.session_state[PRESENT] = on


def board_memory() -> dict:
    """This session's memory of the Train page's charts as drawn (what from, their figures and specs): a rerun's
    board sends a chart whose data did not change without building it again."""
    return st.session_state.setdefault(BOARD_MEMORY, {})


def step_budget() -> int | None:
    """At most this many steps per click of Train or Continue, if set."""
    return st.session_state.get(STEP_BUDGET)


# ---- the uploaded sequence


def sequence(cfg: RunConfig | None = None) -> XY | None:
    """The uploaded (x, y) sequence; with `cfg`, only if that config trains on a file."""
    if cfg is not None and cfg.task != "file":
        return None
    return st.session_state.get(SEQUENCE)


def sequence_name() -> str:
    return st.session_state.get(SEQUENCE_NAME, "the uploaded file")


def sequence_error() -> str:
    """Why the last uploaded file was refused ('' if it was not)."""
    return st.session_state.get(SEQUENCE_ERROR) or ""


def set_sequence(seq: XY | None, name: str = "", error: str = "") -> None:
    """Keep an uploaded sequence, or forget it (with the reason it was refused, if any)."""
    for key, value in ((SEQUENCE, seq), (SEQUENCE_NAME, name or None), (SEQUENCE_ERROR, error or None)):
        if value is None:
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = value


# ---- the session's kept runs


def runs() -> list[RunRecord]:
    """Every kept run of this session, oldest first."""
    return st.session_state.setdefault(RUNS, [])


def add_run(record: RunRecord) -> RunRecord:
    """Keep a run (dropping the oldest beyond MAX_RUNS) and store it; its label is made unique in the session."""
    kept = runs()
    labels = {r.label for r in kept}
    base, k = record.label, 2
    while record.label in labels:
        record.label = f"{base} #{k}"
        k += 1
    sweep = st.session_state.get(SWEEP)
    if record.extra.get("source") == "sweep" and sweep is not None:
        record.extra["group"] = sweep.group  # so a reload can redraw this sweep's chart from the store
    kept.append(record)
    del kept[:-MAX_RUNS]
    _store(record)
    _changed()
    return record


def _store(record: RunRecord) -> None:
    """Write a kept run to the store (new, or over its stored self); drop what the store pruned; say what happened."""
    who = owner()
    if who is None:
        return
    run_id = record.extra.get(STORE_ID)
    from ui import stored_runs  # SQLAlchemy (0.15 s to import) only once a browser id is known

    done = stored_runs.put(who, record) if run_id is None else stored_runs.replace(who, run_id, record)
    if done.run_id is None:
        record.extra.pop(STORE_ID, None)
    else:
        record.extra[STORE_ID] = done.run_id
    if done.pruned:
        st.session_state[RUNS] = [r for r in runs() if r is record or r.extra.get(STORE_ID) not in done.pruned]
    for note in done.notes:
        st.warning(note, icon=":material/database:")


def on_runs_changed(redraw: Callable[[], None]) -> None:
    """Call `redraw` when a run is kept later in this script run (the sidebar's list is drawn before the page).

    Only in this script run: `redraw` draws into this run's placeholder, and a later run (whose sidebar may keep
    a run before it has drawn the list, as the browser id's arrival does) must not write into an old one."""
    st.session_state[CHANGED] = (st.session_state.get(SCRIPT_RUNS, 0), redraw)


def _changed() -> None:
    run, redraw = st.session_state.get(CHANGED) or (None, None)
    if redraw is not None and run == st.session_state.get(SCRIPT_RUNS, 0):
        redraw()


# ---- the run store behind the run list


def owner() -> str | None:
    """The browser id the run list is stored under (None: the runs are kept in this session only)."""
    return st.session_state.get(OWNER)


def use_browser(browser: str | None) -> tuple[bool, list[str]]:
    """Called once per script run with this browser's id (ui.browser_id; None until it has answered).

    The first time an id is known in a session, the run list becomes the stored runs followed by any run
    made before (now stored too). Returns (whether the list was just loaded, notes for the page).
    """
    browser = st.session_state.get(TEST_OWNER) or browser
    if browser is None or browser == owner() or browser == st.session_state.get(FORGOTTEN):
        return False, []
    wait_idle()
    unsaved = [r for r in runs() if STORE_ID not in r.extra]
    st.session_state[OWNER] = browser
    st.session_state[ID_ARRIVED] = True  # this rerun is the id's: it may have cut a run short (resume_cut_run)
    from ui import stored_runs

    loaded = stored_runs.load(browser, MAX_RUNS)
    for run_id, record in loaded.runs:
        record.extra[STORE_ID] = run_id
    st.session_state[RUNS] = [record for _, record in loaded.runs][-MAX_RUNS:]
    for record in unsaved:
        add_run(record)
    return True, loaded.notes


def forget_runs() -> list[str]:
    """"Forget my runs": delete them from the store and from this session, and have the browser renew its id
    (the old id then names nothing). Returns notes; when the store could not delete, nothing is forgotten."""
    wait_idle()
    who = owner()
    if who is not None:
        from ui import stored_runs

        _, notes = stored_runs.forget(who)
        if notes:
            return notes
    for key in (RUNS, TRAINER, RECORD, LOADED, SWEEP, STYLES, OWNER, TEST_OWNER):
        st.session_state.pop(key, None)
    st.session_state[FORGOTTEN] = who
    st.session_state[RENEW] = who is not None
    return []


def renew_browser_id() -> bool:
    """True once after "Forget my runs": the browser replaces its id on this script run."""
    return bool(st.session_state.pop(RENEW, False))


# ---- the live run


def _lock() -> threading.RLock:
    lock = st.session_state.get(LOCK)
    if lock is None:  # re-entrant: the Train page holds it while it acts on a click, and stepping takes it again
        lock = st.session_state[LOCK] = threading.RLock()
    return lock


@contextmanager
def training_lock() -> Iterator[None]:
    """Held while a script run trains, or acts on a click (the Train page); released (without any st.* call) when its
    loop ends or is stopped. A later script run of the session waits for it in `trainer()`."""
    lock = _lock()
    acquired = lock.acquire(timeout=WAIT_SECONDS)
    try:
        yield
    finally:
        if acquired:
            lock.release()


def mark_training(on: bool) -> None:
    """Set while a script run trains and cleared when its loop ends or a button stops it: still set on the next
    run when a rerun the user did not ask for cut the loop short."""
    st.session_state[CUT] = on


def new_script_run() -> bool:
    """Called first in every script run (app.py): the browser id's mark is only ever about the run that set it.
    Returns whether this is the session's first script run (the page has not reached the browser yet)."""
    st.session_state.pop(ID_ARRIVED, None)
    first = SCRIPT_RUNS not in st.session_state
    st.session_state[SCRIPT_RUNS] = st.session_state.get(SCRIPT_RUNS, 0) + 1
    return first


def id_rerun_cut_training() -> bool:
    """True (once) when this script run is the one the browser id's arrival caused, and it cut a training loop
    short (marked by `mark_training`): the loop should go on, as if nothing had happened."""
    arrived = bool(st.session_state.pop(ID_ARRIVED, False))
    return arrived and bool(st.session_state.get(CUT))


def note_click(action: str) -> None:
    """on_click of the Train page's action buttons: remember the action with the script run it starts (callbacks run
    before the script, so that is the next one) until the page has acted on it (`acted`)."""
    st.session_state[CLICK] = (action, st.session_state.get(SCRIPT_RUNS, 0) + 1)


def acted() -> None:
    """The page has done what the click asked (started the run, stepped, or its loop is about to train)."""
    st.session_state.pop(CLICK, None)


def cut_click() -> str | None:
    """The action of a click whose script run the browser id's answer cut short before the page acted on it: that
    run was the one just before this one, and this one is the id's. This run then does it (a student who presses
    Train the moment the page shows it, before the id has answered, still gets the run). Call before
    `resume_cut_run`, which uses up the id's mark."""
    click, now = st.session_state.get(CLICK), st.session_state.get(SCRIPT_RUNS, 0)
    if click is None or click[1] >= now:
        return None  # none, or this run's own click
    st.session_state.pop(CLICK, None)
    action, run = click
    return action if run == now - 1 and st.session_state.get(ID_ARRIVED) else None


def own_click() -> str | None:
    """The action of a click noted for this script run, not acted on yet: the click that started it. The Train
    page redraws its buttons after training under other keys (ui/train_buttons.py), so a click on one of those
    reaches the next run only through its on_click note."""
    click = st.session_state.get(CLICK)
    return click[0] if click is not None and click[1] == st.session_state.get(SCRIPT_RUNS, 0) else None


def resume_cut_run(live: Trainer | None) -> bool:
    """True (once) when this script run is the one the browser id's arrival caused and it cut `live`'s training
    short: a student who pressed Train as the page loaded sees the run go on, not "Stopped at step 1"."""
    return id_rerun_cut_training() and live is not None and not live.finished


def turns_problem() -> str:
    """What is wrong with the server's `TRUNCATION_RUN_SLOTS` setting ('' if nothing)."""
    return shared()[1]


@contextmanager
def script_turn(waiting: Callable[[int], None] | None = None) -> Iterator[Turn]:
    """Hold the server's turn for this script run (app.py wraps the sidebar and the page in it).

    Each script run a user's action starts joins the back of the server's line of runs (rnn_core/turns.py):
    the earliest click goes first. A script run the app itself asked for (`rerun`: the redraw once a finished
    run's full-gradient samples are in) keeps the place of the run that asked, so a finished run's charts go
    before later clicks. `waiting(runs ahead)` is called while it waits.
    """
    line = shared()[0]
    kept = st.session_state.pop(KEEP_TICKET, False) and TICKET in st.session_state
    ticket = st.session_state[TICKET] if kept else line.ticket()
    st.session_state[TICKET] = ticket
    with line.turn(ticket, waiting) as held:
        _TURN.held = held
        try:
            yield held
        finally:
            _TURN.held = None


_TURN = threading.local()  # the turn this script run's thread holds


def share_turn(waiting: Callable[[int], None] | None = None, quantum: float | None = None) -> bool:
    """Let the runs started after this one go first if it has held its turn longer than `quantum` (the line's
    by default) while they wait (between training chunks). False if this script run holds no turn."""
    held = getattr(_TURN, "held", None)
    if held is None:
        return False
    st.session_state[TICKET] = held.share(waiting, quantum)
    return True


def step_aside(waiting: Callable[[int], None] | None = None) -> Callable[[float], None]:
    """A trainer's `pause` for a server with a line of runs. Asked for no time, a run lets the runs waiting go
    first (the back of the line if any wait, on at once if none does). Asked for some seconds (a heavy run
    going after the light runs, or a chunk that overran), it gives its turn back for them, so the slot it held
    serves the others, then waits in line again. Without a turn (a script run outside the line), it sleeps."""
    def pause(seconds: float) -> None:
        held = getattr(_TURN, "held", None)
        if held is None:
            time.sleep(seconds)
        elif seconds <= 0:
            share_turn(waiting, quantum=0.0)
        else:
            st.session_state[TICKET] = held.step_out(seconds, waiting)

    return pause


def rerun() -> None:
    """Rerun the script at once, keeping this run's place in the server's line (an app-made rerun, not a click)."""
    st.session_state[KEEP_TICKET] = True
    st.rerun()


def wait_idle() -> None:
    """Wait until no earlier script run of this session is still training."""
    lock = _lock()
    if lock.acquire(timeout=WAIT_SECONDS):
        lock.release()


def trainer() -> Trainer | None:
    """The live trainer of this session, if any (after any earlier run's training has stopped)."""
    wait_idle()
    return st.session_state.get(TRAINER)


def loaded() -> RunRecord | None:
    """A run restored from a JSON bundle, shown while no trainer is live."""
    return st.session_state.get(LOADED)


def start(cfg: RunConfig, seq: XY | None) -> Trainer:
    """Keep the current run, then begin a fresh trainer for `cfg` (ValueError if the data does not fit)."""
    from rnn_core.online_train import make_trainer  # TensorFlow loads here, or is already loading in ui/warmup.py

    reset()
    fresh = make_trainer(cfg, sequence=seq if cfg.task == "file" else None)
    st.session_state[TRAINER] = fresh
    return fresh


def save() -> RunRecord | None:
    """Put the live run into the run list, or refresh its entry there; returns its record."""
    live, old = trainer(), st.session_state.get(RECORD)
    if live is None or live.state.steps_done == 0:
        return old
    if old is not None and (old.summary.get("steps"), old.extra.get("trainer_status")) == (live.state.steps_done,
                                                                                           live.state.status):
        return old  # nothing trained since it was saved (the summary's status may say 'failed' for 'completed')
    # A finished run's samples usually take a few tens of ms: waiting a moment for them saves the page
    # the redraw that showing them later costs (which would cancel a download clicked meanwhile).
    record = RunRecord.from_trainer(live, label=old.label if old is not None else "", wait_samples=False,
                                    sample_grace=SAMPLE_GRACE_SECONDS if live.finished else 0.0)
    record.extra["trainer_status"] = live.state.status
    kept = runs()
    for i, entry in enumerate(kept):
        if entry is old:
            record.extra = {**old.extra, "trainer_status": live.state.status}
            kept[i] = record
            _store(record)
            break
    else:
        add_run(record)
    st.session_state[RECORD] = record
    return record


def reset() -> None:
    """Keep what the live run trained in the run list, then forget it and any loaded bundle."""
    save()
    for key in (TRAINER, RECORD, LOADED):
        st.session_state.pop(key, None)


def drop_if_changed(cfg: RunConfig, seq: XY | None) -> None:
    """Reset the live or loaded run if it was made with other settings or another sequence than these."""
    live, shown = trainer(), loaded()
    if live is not None and (live.cfg != cfg or live.sequence is not seq):
        reset()
    elif shown is not None and shown.config != cfg:
        reset()


def show_loaded(record: RunRecord) -> None:
    """Show a run restored from a bundle in place of a live one."""
    reset()
    st.session_state[LOADED] = record


# ---- the Compare page's results, kept across reruns (a click during a sweep keeps the runs finished)


@dataclass
class SweepResult:
    """Final losses of a sweep over n, one point per finished run."""

    planned: int
    baselines: list[float]
    labels: list[str]
    points: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    group: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # stamped on its runs in the store
    source: str = ""  # where the points came from when not trained here, e.g. a loaded sweep file's name


@dataclass
class StylesResult:
    """The truncation-styles race: a table row and a loss curve over data seen per finished run."""

    planned: int
    baselines: list[float]
    labels: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def sweep_result() -> SweepResult | None:
    return st.session_state.get(SWEEP)


def set_sweep_result(result: SweepResult) -> None:
    st.session_state[SWEEP] = result


def styles_result() -> StylesResult | None:
    return st.session_state.get(STYLES)


def set_styles_result(result: StylesResult) -> None:
    st.session_state[STYLES] = result


# ---- widget values set from code, and the pages' small memories


def widget(key: str, default: Any = None) -> Any:
    """The value a widget with this key holds (default if it has not been drawn or set)."""
    return st.session_state.get(key, default)


def has_widget(key: str) -> bool:
    return key in st.session_state


def set_widgets(values: dict[str, Any]) -> None:
    """Set widgets' values before they are drawn (Streamlit takes a keyed widget's value from here)."""
    for key, value in values.items():
        st.session_state[key] = value


def memo(key: str, default: Any = None) -> Any:
    """Something a page or the sidebar remembers between reruns that no widget holds."""
    return st.session_state.get(key, default)


def set_memo(key: str, value: Any) -> None:
    st.session_state[key] = value


def forget(key: str) -> Any:
    """Drop a remembered value; returns it (None if there was none)."""
    return st.session_state.pop(key, None)
