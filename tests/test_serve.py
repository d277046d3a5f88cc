"""serve.py: the same server as `streamlit run app.py`, with TensorFlow's import and the default kernel's
compile started at launch instead of at the first browser's visit."""
from __future__ import annotations

import time
import urllib.request
import weakref

from conftest import AppServer


def _loaded_tensorflow(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return "tensorflow" in maps.read()


def _wait_for_tensorflow(pid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if _loaded_tensorflow(pid):
            return True
        time.sleep(0.5)
    return False


def test_serve_warms_up_before_any_browser_comes_and_streamlit_run_does_not():
    plain = AppServer({}, "streamlit-plain.log").start()
    try:
        assert not _wait_for_tensorflow(plain.proc.pid, 8.0)  # no visitor, no app code, no TensorFlow
    finally:
        plain.stop()
    served = AppServer({}, "serve-py.log", command=("serve.py",)).start()
    try:
        assert _wait_for_tensorflow(served.proc.pid, 60.0)  # the warm-up thread started at launch
        with urllib.request.urlopen(served.url + "/", timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        served.stop()


def test_the_warm_up_thread_is_one_per_process(monkeypatch):
    from ui import warmup

    monkeypatch.setattr(warmup, "_warm", lambda: None)  # the thread, not a compile in the test process
    assert warmup.start() is warmup.start()  # serve.py's call and the app's share one thread


def test_the_warm_up_draws_every_chart_of_the_train_page_once(monkeypatch):
    from ui import chart_spec, live, stepper, warmup

    converted, picked = [], []
    spec = chart_spec.spec
    monkeypatch.setattr(chart_spec, "spec", lambda chart: (converted.append(chart), spec(chart))[1])
    pickable_spec = stepper.pickable_spec
    monkeypatch.setattr(stepper, "pickable_spec", lambda *a: (picked.append(a), pickable_spec(*a))[1])
    monkeypatch.setattr(warmup, "WARM_SERIES", 4_000)  # a 4-step run: quicker, and every chart has data
    assert warmup._warm_charts() > 0
    assert picked and len(converted) == len(live.NAMES) + 1  # the board's charts, and the pickable loss chart's


class _Node:
    me: object = None


def test_freezing_the_heap_takes_what_is_alive_now_out_of_the_collector_and_leaves_later_objects_in():
    import gc

    from ui import warmup

    before = [object()]  # a container: the cyclic collector tracks it
    try:
        frozen, seconds = warmup.freeze_heap()
        after = [object()]
        tracked = {id(o) for o in gc.get_objects()}
        assert frozen == gc.get_freeze_count() and frozen > 1000 and seconds >= 0.0
        assert id(before) not in tracked  # a full collection no longer walks it
        assert id(after) in tracked  # what is made later is collected as before
        cycle = _Node()
        cycle.me = cycle  # garbage only the cyclic collector frees
        probe = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert probe() is None  # cycles made after the freeze are still collected
    finally:
        gc.unfreeze()


def test_the_warm_up_freezes_the_heap_after_the_default_runs_programs_then_warms_the_sweep(monkeypatch):
    from rnn_core import kernels, sampling
    from ui import warmup

    calls = []
    monkeypatch.setattr(kernels, "warm_up", lambda key: (calls.append("compile"), 0.0)[1])
    monkeypatch.setattr(kernels, "warm_eager", lambda key: (calls.append("eager"), 0.0)[1])
    monkeypatch.setattr(sampling, "use_compiled", lambda cfg: (calls.append("sampling"), 0.0)[1])
    monkeypatch.setattr(warmup, "_warm_charts", lambda: (calls.append("charts"), 0.0)[1])
    monkeypatch.setattr(warmup, "freeze_heap", lambda: (calls.append("freeze"), (0, 0.0))[1])
    monkeypatch.setattr(warmup, "_warm_sweep", lambda: (calls.append("sweep"), (0, 0.0))[1])
    warmup._warm()
    assert calls[-2:] == ["freeze", "sweep"] and len(calls) == 6


def test_the_sweeps_shapes_compile_one_at_a_time_each_after_a_quiet_spell(monkeypatch):
    """Every shape of the Compare page's default sweep not in the pool yet is compiled, each only after
    `wait_until_quiet` (no run training for a while); a shape already compiled is left as it is."""
    from rnn_core import kernels
    from rnn_core.compare import default_sweep
    from rnn_core.config import RunConfig
    from ui import warmup

    calls = []
    default_key = kernels.key_for(RunConfig())
    monkeypatch.setattr(kernels, "wait_until_quiet", lambda seconds, poll=0.25: calls.append(("quiet", seconds)))
    monkeypatch.setattr(kernels, "warm_up", lambda key: (calls.append(("compile", key)), 0.0)[1])
    monkeypatch.setattr(kernels.POOL, "has_compiled",
                        lambda key: (calls.append(("compiled?", key)), key == default_key)[1])
    done, _ = warmup._warm_sweep()
    keys = list(dict.fromkeys(kernels.key_for(cfg) for cfg in default_sweep(RunConfig())))
    assert len(keys) == 8 and default_key in keys and done == 7
    expected = []
    for key in keys:
        expected += [("quiet", warmup.QUIET_S), ("compiled?", key)] + ([] if key == default_key else [("compile", key)])
    assert calls == expected
