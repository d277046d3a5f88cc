"""The order a real server sends a page in (ui/sidebar.py): on a session's first script run the page goes out
before the sidebar's widgets, so a cold browser shows the Train button without first fetching the code of eight
widget kinds; on every later run the sidebar comes first. Read off the server's own messages (Streamlit's
protocol, as bench/classroom.py speaks it), with the widgets' ids, which must not change between the two."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.classroom import Server, _rerun_msg

MAIN, SIDEBAR = 0, 1  # a delta's first path index: the root container it goes into


async def _run_elements(ws, query: str, values: dict) -> list[tuple[int, str, str, str]]:
    """One script run's new elements, in the order sent: (root container, kind, label, widget id); the settings
    widgets' (set_value, slider value) go into `values` by widget id."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    await ws.send(_rerun_msg(query))
    out = []
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            what = el.WhichOneof("type")
            body = getattr(el, what)
            out.append((msg.metadata.delta_path[0], what, getattr(body, "label", ""), getattr(body, "id", "")))
            wid = getattr(body, "id", "")
            if hasattr(body, "set_value") and "-w_" in wid and "-w_link_" not in wid:  # a setting (not the link panel)
                values[body.id] = (body.set_value, list(body.value) if what == "slider" else None)
        elif kind == "script_finished":
            assert msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY, msg.script_finished
            return out


async def _two_runs(url: str, query: str) -> tuple[list, list, list[dict]]:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    async with connect(url, subprotocols=[Subprotocol("streamlit")], max_size=None, open_timeout=60) as ws:
        values: list[dict] = [{}, {}]
        first = await _run_elements(ws, query, values[0])
        second = await _run_elements(ws, query, values[1])  # as the browser id's answer, or any click, causes
    return first, second, values


def _index(elements: list, root: int, kind: str, label: str = "") -> int:
    return next(i for i, (r, k, lab, _) in enumerate(elements) if r == root and k == kind and lab.startswith(label))


def _first_sidebar_widget(elements: list) -> int:
    return next(i for i, (r, _, _, wid) in enumerate(elements) if r == SIDEBAR and wid)


@pytest.fixture(scope="module")
def server():
    with Server() as srv:
        yield srv


@pytest.mark.parametrize("query", ["", "truncation=12&state_size=8", "truncation=0"])
def test_the_first_run_sends_the_page_before_the_sidebar_and_later_runs_the_sidebar_first(server, query):
    url = f"ws://127.0.0.1:{server.port}/_stcore/stream"
    with ThreadPoolExecutor(1) as pool:  # its own event loop: the browser tests' Playwright keeps one in this thread
        first, second, values = pool.submit(asyncio.run, _two_runs(url, query)).result(timeout=120)
    train_first, train_second = _index(first, MAIN, "button", "Train"), _index(second, MAIN, "button", "Train")
    assert train_first < _first_sidebar_widget(first)  # the first page: its buttons before any sidebar widget
    assert _first_sidebar_widget(second) < train_second  # later runs: the sidebar first, as before
    # The whole sidebar is there in both runs, and each widget keeps its id: what a user sets on the first page
    # reaches the next run.
    widgets = [{lab: wid for r, _, lab, wid in run if r == SIDEBAR and wid} for run in (first, second)]
    assert widgets[0] == widgets[1] and "State size d" in widgets[0] and "Window n (steps unrolled)" in widgets[0]
    # Every settings widget's element carries its value in every run: a browser that mounts it from the second
    # run's element (its code was still loading, or the first run was cut before the sidebar) shows the link's
    # value, not the widget's default (the minimum).
    for run in values:
        assert run and all(set_value for set_value, _ in run.values()), [w for w, (sv, _) in run.items() if not sv]
        if "state_size=8" in query:
            assert next(v for wid, (_, v) in run.items() if wid.endswith("-w_state_size")) == [8.0]
    if query == "truncation=0":  # a refused setting: the page stops early, and the sidebar still comes
        assert any(k == "alert" and r == MAIN for r, k, _, _ in first)
