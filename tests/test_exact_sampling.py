"""Issue 12, phase 2: styles rtrl/uoro, the online trainer, full-gradient sampling, and their charts and pages.

The sampled numbers are checked against `rnn_core.exact` (itself checked against the float64
NumPy reference in tests/exact_reference.py by test_exact.py) and, for the flow heatmap, against
`exact.gradient_flow` directly.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from rnn_core.compare import style_configs
from rnn_core.config import RunConfig
from rnn_core.data import epoch_data
from rnn_core.exact import full_gradient_comparison, gradient_flow
from rnn_core.exact_batch import BatchItem, compare_many
from rnn_core.model import Params, init_params
from rnn_core.online import OnlineKernel, zero_carry
from rnn_core.online_train import OnlineTrainer, make_trainer, online_key
from rnn_core.report import RunRecord
from rnn_core.sampling import SAMPLES, plan_steps
from rnn_core.train import Trainer
from tests.conftest import ROOT

SMALL = dict(series_length=20_000)  # 20 TF-style steps, 100 online updates at B = 200


# ---- config
def test_online_styles_validate_and_rtrl_is_refused_above_d32_with_its_cost():
    for style in ("rtrl", "uoro"):
        cfg = RunConfig(style=style).validate()
        assert cfg.online and cfg.effective_k1 == 1 and cfg.window_width == 1
    RunConfig(style="rtrl", state_size=32).validate()
    with pytest.raises(ValueError, match=r"RTRL is offered for state size d <= 32.*d=33.*GFLOP"):
        RunConfig(style="rtrl", state_size=33).validate()
    RunConfig(style="uoro", state_size=256).validate()  # UORO costs about BPTT(1): offered at every d
    RunConfig(style="rtrl", truncation=200, k1=150, series_length=200).validate()  # n, k1 do not apply
    with pytest.raises(ValueError, match="series_length=100 is too short"):
        RunConfig(style="uoro", series_length=100).validate()
    with pytest.raises(ValueError, match="style='bptt' is not one of"):
        RunConfig(style="bptt").validate()


def test_sidebar_hides_n_k1_and_gradient_for_online_styles():
    from ui.settings import BY_NAME, DEFAULT_VALUES

    for style, shown in (("tensorflow", True), ("rtrl", False), ("uoro", False)):
        values = dict(DEFAULT_VALUES, style=style)
        assert BY_NAME["truncation"].shown(values) is shown
        assert BY_NAME["gradient"].shown(values) is shown
        assert not BY_NAME["k1"].shown(values)
    assert "rtrl" in BY_NAME["style"].options and "uoro" in BY_NAME["style"].options


# ---- the online trainer
def test_make_trainer_picks_the_trainer_by_style():
    assert type(make_trainer(RunConfig(**SMALL))) is Trainer
    assert type(make_trainer(RunConfig(style="uoro", **SMALL))) is OnlineTrainer
    with pytest.raises(ValueError, match="OnlineTrainer trains styles rtrl and uoro"):
        OnlineTrainer(RunConfig(**SMALL))


@pytest.mark.parametrize("style", ["rtrl", "uoro"])
def test_online_trainer_equals_the_online_kernel_run_directly(style):
    cfg = RunConfig(style=style, batch_size=20, series_length=2_000, epochs=2, seed=5)  # 100 updates an epoch
    trainer = OnlineTrainer(cfg, chunk_seconds=1e-4)  # many small chunks: carry and UORO signs cross calls
    chunks = list(trainer.run())
    assert len(chunks) > 4 and trainer.state.status == "completed" and trainer.state.steps_done == 200
    scalars = trainer.history.scalars()

    key = online_key(cfg)
    kernel = OnlineKernel(key)
    kernel.load(init_params(cfg.state_size, cfg.init_scale, cfg.seed), kernel.fresh_optimizer_state(cfg.learning_rate))
    loss, norms, sigma = [], [], []
    for epoch in range(2):
        xb, yb = epoch_data(cfg, epoch)
        slab = np.zeros((cfg.batch_size, kernel.slab_width()), np.int8)
        slab[:, :100] = xb + 2 * yb
        out = kernel.run_packed(slab, zero_carry(key), 100, cfg.clip, seed=cfg.seed, time_offset=epoch * 100,
                                compiled=False)
        loss.append(out["loss"])
        norms.append(out["global_norm"])
        sigma.append(out["sigma_max"])
    np.testing.assert_allclose(scalars["loss"], np.concatenate(loss), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(scalars["global_norm"], np.concatenate(norms), rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(scalars["sigma_max"], np.concatenate(sigma), rtol=2e-5)
    np.testing.assert_allclose(trainer.params.W, kernel.save()[0][0], rtol=1e-4, atol=1e-6)
    assert trainer.history.profiles()["grad_norms"].shape[0] == 0  # no window: no per-position profiles
    assert trainer.summary()["program"].startswith(style.upper())


def test_a_new_online_shape_trains_as_a_graph_and_queues_its_compile_after_the_first_chunk(monkeypatch):
    """No eager updates (about a second each): the first chunk traces the graph, then the XLA compile is queued."""
    from rnn_core import online_train

    calls, real = [], online_train.compile_online

    def recording(key):
        calls.append(trainer.state.steps_done)
        return real(key)

    monkeypatch.setattr(online_train, "compile_online", recording)
    cfg = RunConfig(style="uoro", batch_size=20, series_length=2_000, seed=3, state_size=5)  # shapes no other test uses
    trainer = OnlineTrainer(cfg, chunk_seconds=1e-4)
    runner = trainer.run()
    first = next(runner)
    assert not first.compiled and calls == [1]  # queued once the first chunk has run
    list(runner)
    st = trainer.state
    how = trainer.summary()["program"].split("; ")[1]
    if st.uncompiled_steps == st.steps_done:
        assert how == "TensorFlow graph (not XLA-compiled)"
    else:
        assert how == (f"TensorFlow graph (not XLA) for {st.uncompiled_steps:,} steps, then XLA-compiled for "
                       f"{st.steps_done - st.uncompiled_steps:,} steps")
    real(online_key(cfg)).result(timeout=600)  # the queued compile ends before the test does


def test_online_trainer_stops_and_continues_to_the_same_losses():
    cfg = RunConfig(style="uoro", batch_size=20, series_length=2_000, seed=1)
    whole = OnlineTrainer(cfg).run_to_end().history.scalars()["loss"]
    parts = OnlineTrainer(cfg, chunk_seconds=1e-4)
    for _ in parts.run(max_steps=37):
        pass
    assert parts.state.steps_done == 37 and not parts.finished
    parts.run_to_end()
    np.testing.assert_allclose(parts.history.scalars()["loss"], whole, rtol=2e-5)


# ---- full-gradient sampling
def test_plan_spreads_at_least_20_samples_over_the_run_ending_at_its_last_step():
    steps = plan_steps(1000)
    assert len(steps) == SAMPLES >= 20 and steps[-1] == 999 and steps[0] == 49
    assert set(np.diff(steps)) == {50}
    assert plan_steps(7) == list(range(7))


def test_trainer_samples_the_planned_steps_with_the_weights_and_state_that_trained_them():
    cfg = RunConfig(series_length=200_000, seed=2)  # 200 TF-style steps
    trainer = Trainer(cfg)
    seen = {}
    for chunk in trainer.run():
        seen[chunk.steps_done] = ([np.array(p) for p in trainer.state.params], trainer.state.state.copy())
    record = RunRecord.from_trainer(trainer)  # the run has ended: waits for the samples
    samples = record.gradient_samples()
    assert list(samples["step"]) == plan_steps(200) and len(samples["step"]) >= 20
    assert np.all(np.isfinite(samples["cosine_all"])) and np.all(samples["cosine_all"] <= 1 + 1e-9)

    # recompute three samples with exact.full_gradient_comparison from an independent replay of the run
    replay = Trainer(cfg)
    replay.sampler = None
    xb, yb = epoch_data(cfg, 0)
    checked = 0
    for i, step in enumerate(samples["step"]):
        if step not in (49, 99, 199):
            continue
        for _ in replay.run(max_steps=int(step) - replay.state.steps_done):
            pass
        weights, state = replay.state.params, replay.state.state
        ws = int(step) * cfg.truncation
        R = 32
        ref = full_gradient_comparison(Params(*weights), xb[:R], yb[:R], ws, cfg.truncation, cfg.truncation,
                                       ws == 0, first_state=state[:R])
        assert samples["cosine_all"][i] == pytest.approx(ref.cosine_all, abs=2e-4)
        assert samples["cosine_W_s"][i] == pytest.approx(ref.cosine_W_s, abs=2e-4)
        assert samples["rel_error"][i] == pytest.approx(ref.rel_error, rel=2e-3, abs=2e-4)
        checked += 1
    assert checked == 3


def test_batched_samples_equal_one_at_a_time_and_a_short_history_equals_the_whole_one():
    cfg = RunConfig(state_size=4)
    xb, yb = epoch_data(cfg, 0)
    rng = np.random.default_rng(0)
    rows = (xb[:16] + 2 * yb[:16]).astype(np.int8)
    n, K = 5, 256
    items, refs = [], []
    for i, ws in enumerate([0, 100, 700, 2000, 4000]):
        p = init_params(4, 0.8 + 0.1 * i, i)
        state = rng.uniform(-0.5, 0.5, (16, 4)).astype(np.float32) * (ws > 0)  # the epoch starts from zero
        have = min(K, ws)
        slab = np.zeros((16, K + n), np.int8)
        slab[:, K - have:] = rows[:, ws - have: ws + n]
        mask = np.ones(n, np.float32)
        items.append(BatchItem([np.asarray(a, np.float32) for a in p], slab, K - have, mask, state))
        refs.append(full_gradient_comparison(p, xb[:16], yb[:16], ws, n, n, ws == 0, first_state=state))
    got = compare_many(items)
    for g, r in zip(got, refs):
        assert g.cosine_all == pytest.approx(r.cosine_all, abs=1e-4)
        assert g.cosine_W_s == pytest.approx(r.cosine_W_s, abs=1e-4)
        assert g.rel_error == pytest.approx(r.rel_error, rel=1e-3, abs=1e-5)
    assert got[0].cosine_all == pytest.approx(1.0, abs=1e-6)  # the epoch's first window: nothing to cut
    depths = [g.history_steps for g in got]
    # no history before the epoch's first window; a whole history is walked at most to its start; a short one
    # at most to K (sampling recomputes those that reach K + n with 1,000 steps)
    assert depths[0] == n and depths[1] <= 100 + n and all(n <= h <= K + n for h in depths), depths


def test_a_samples_floats_do_not_hang_on_which_samples_share_its_batch(monkeypatch):
    """A batch's backward pass runs until its last sample has stopped; the ones that stopped earlier add exact
    zeros from then on, so each sample is the same floats alone, in any batch, at any batch size."""
    from rnn_core import sampling

    monkeypatch.setattr(sampling.GradientSampler, "flush_behind", lambda self: None)
    trainer = Trainer(RunConfig(state_size=4, seed=1, series_length=300_000))
    trainer.run_to_end()
    items = [p.items[1] for p in trainer.sampler._pending if len(p.items) > 1]  # 256 steps: depths 44-150
    key = lambda r: (r.cosine_all, r.cosine_W_s, r.rel_error, r.history_steps)  # noqa: E731
    together = [key(r) for r in compare_many(items)]
    alone = [key(compare_many([it])[0]) for it in items]
    threes = [key(r) for i in range(0, len(items), 3) for r in compare_many(items[i : i + 3])]
    backwards = [key(r) for r in compare_many(items[::-1])][::-1]
    assert together == alone == threes == backwards
    assert len({r[3] for r in together}) > 5  # the samples stop at many different depths, so the check has teeth


@pytest.mark.parametrize("d, seed, start", [(4, 1, None), (4, 1, 0), (16, 0, 0)])
def test_each_sample_goes_back_as_far_as_its_gradient_reaches_and_equals_the_longest_history(
        d, seed, start, monkeypatch):
    """Every sample equals the same sample recomputed over 1,000 steps, whichever history it started with: the
    guess's own (start None) or, forced, the 64-step one, from which d = 4's fast-fading gradients stay short and
    d = 16's slower ones must go back 256 or 1,000 steps (so both branches of the retry are taken, whatever the
    trained weights' last bits on this machine make of the guess)."""
    import rnn_core.sampling as sampling

    if start is not None:
        monkeypatch.setattr(sampling, "first_history", lambda W, state, histories, available: start)
    # every sample kept for the end, where the test reads them all (behind the chunks, how many are left
    # pending hangs on the machine's timing)
    monkeypatch.setattr(sampling.GradientSampler, "flush_behind", lambda self: None)
    trainer = Trainer(RunConfig(state_size=d, seed=seed, series_length=300_000))
    trainer.run_to_end()
    sampler = trainer.sampler
    pending = list(sampler._pending)
    assert [len(p.items) for p in pending[-3:]] == [3, 3, 3]  # late in the epoch: all three histories exist
    sampler.flush()
    longest = compare_many([p.items[-1] for p in pending if len(p.items) == 3])
    got = [p.sample for p in pending if len(p.items) == 3]
    for s, ref in zip(got, longest):
        assert s.cosine_all == pytest.approx(ref.cosine_all, abs=2e-6)
        assert s.cosine_W_s == pytest.approx(ref.cosine_W_s, abs=2e-6)
        assert s.rel_error == pytest.approx(ref.rel_error, rel=1e-4, abs=1e-6)
        assert abs(s.history_steps - ref.history_steps) <= 4  # where it stops hangs on the recomputed states' last bits
    went_further = [s.history_steps > 64 + 5 for s in got]
    if start == 0 and d == 4:
        assert not all(went_further), [s.history_steps for s in got]  # the 64-step history was enough
    if start == 0 and d == 16:
        assert any(went_further), [s.history_steps for s in got]  # and here it was not: the retry went on


def test_samples_are_the_same_floats_however_the_run_was_cut_and_flushed():
    """A run cut into other chunks, its samples computed behind other chunks and by redraws in between, gives
    the same floats (the CLI's sweep and a Ray sweep of the same grid compare bit for bit)."""
    cfg = RunConfig(series_length=300_000, seed=3)
    whole = Trainer(cfg).run_to_end()  # samples computed behind its chunks
    RunRecord.from_trainer(whole)
    pieces = Trainer(cfg)
    while not pieces.finished:
        for _ in pieces.run(max_steps=97):
            pass
        pieces.sampler.flush_behind()  # groups trained so far, behind the next piece
        RunRecord.from_trainer(pieces, wait_samples=False)  # a page's redraw between pieces
    RunRecord.from_trainer(pieces)
    a, b = whole.sampler.done(), pieces.sampler.done()
    assert len(a) == len(b) == SAMPLES
    assert [(s.step, s.cosine_all, s.cosine_W_s, s.rel_error, s.history_steps) for s in a] == \
        [(s.step, s.cosine_all, s.cosine_W_s, s.rel_error, s.history_steps) for s in b]
    np.testing.assert_array_equal(whole.sampler.flow.matrix, pieces.sampler.flow.matrix)


def test_first_history_guess_starts_short_only_for_a_fast_fading_gradient():
    from rnn_core.sampling import HISTORIES, first_history

    W = np.zeros((4, 6))
    W[:, 2:] = 0.5 * np.eye(4)  # spectral radius 0.5: the error halves (or faster) each step: ~23 steps
    assert first_history(W, np.zeros((8, 4)), HISTORIES, 3) == 0
    W[:, 2:] = 0.99 * np.eye(4)  # ~1,600 steps at tanh' = 1: start at 256 (a retry takes it to 1,000)
    assert first_history(W, np.zeros((8, 4)), HISTORIES, 3) == 1
    assert first_history(W, np.full((8, 4), 0.9), HISTORIES, 3) == 0  # saturated states fade it fast
    W[:, 2:] = 1.5 * np.eye(4)  # no bound at all
    assert first_history(W, np.zeros((8, 4)), HISTORIES, 3) == 1
    assert first_history(W, np.zeros((8, 4)), HISTORIES, 1) == 0  # only one history reaches the epoch's start


def test_cli_json_has_full_gradient_cosine_on_every_record_null_where_not_sampled(tmp_path):
    out = tmp_path / "run.json"
    subprocess.run([sys.executable, "-m", "rnn_core", "train", "--series-length", "500000", "--quiet",
                    "--json", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    bundle = json.loads(out.read_text())
    history = bundle["history"]
    assert len(history) == 500 and all("full_gradient_cosine" in rec for rec in history)
    sampled = [rec["step"] for rec in history if rec["full_gradient_cosine"] is not None]
    assert sampled == plan_steps(500) and len(sampled) == 20
    assert sum(rec["full_gradient_cosine"] is None for rec in history) == 480
    assert bundle["gradient_samples"]["step"] == sampled and len(bundle["gradient_samples"]["rel_error"]) == 20
    back = RunRecord.from_json(bundle)
    np.testing.assert_allclose(back.gradient_samples()["cosine_W_s"], bundle["gradient_samples"]["cosine_W_s"])
    flow = back.gradient_flow()
    assert flow["matrix"].shape == (5, 15) and flow["step"] == 499
    assert json.loads(json.dumps(back.to_json())) == bundle


def test_cli_trains_online_styles_and_refuses_n(tmp_path):
    out = tmp_path / "u.json"
    run = subprocess.run([sys.executable, "-m", "rnn_core", "train", "--style", "uoro", "--series-length", "20000",
                          "--quiet", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    bundle = json.loads(out.read_text())
    assert len(bundle["history"]) == 100 and all(r["full_gradient_cosine"] is None for r in bundle["history"])
    assert "UORO" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "rnn_core", "train", "--style", "rtrl", "--n", "5"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--n/--k2 do not apply to --style rtrl" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "rnn_core", "train", "--style", "rtrl", "--d", "64"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "RTRL is offered for state size d <= 32" in bad.stderr


# ---- charts
def test_flow_heatmap_data_is_exact_gradient_flow_of_the_latest_window():
    cfg = RunConfig(series_length=100_000, style="williams-peng", k1=2, seed=4)  # 48 steps
    trainer = Trainer(cfg)
    trainer.run_to_end()
    sampler = trainer.sampler
    last = sampler._pending[-1]
    record = RunRecord.from_trainer(trainer)
    flow = record.gradient_flow()
    assert flow["step"] == trainer.total_steps - 1
    longest = last.items[-1]  # the reference goes back as far as the sampler could, whichever history it used
    n = cfg.truncation
    K = longest.slab.shape[1] - n
    ref = gradient_flow(Params(*longest.params), longest.slab & 1, longest.slab >> 1, K, n, cfg.k1, False,
                        extra=2 * n, history=K - longest.begin)
    np.testing.assert_allclose(flow["matrix"], ref.matrix, rtol=1e-5)  # float32 over a shorter history vs float64
    from viz.gradient_charts import flow_frame, flow_heatmap

    frame = flow_frame(flow)
    positive = ref.matrix > 0
    assert len(frame) == int(positive.sum())
    rows = {(int(t), int(s)): v for t, s, v in zip(frame["loss"], frame["state"], frame["norm"])}
    t_idx, s_idx = np.nonzero(positive)
    for i, j in zip(t_idx, s_idx):
        t, s = ref.loss_positions[i] - ref.window_start, ref.state_positions[j] - ref.window_start
        assert rows[(int(t), int(s))] == pytest.approx(ref.matrix[i, j], rel=1e-5)
    assert sorted(set(frame["loss"])) == [n - 2, n - 1]  # Williams-Peng k1 = 2: a band of two trained losses
    assert min(frame["state"]) == -2 * n and (frame["part"] == "cut by truncation").any()
    spec = flow_heatmap(flow).to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["type"] == "log"


def test_flow_over_the_short_history_equals_the_flow_over_a_thousand_steps():
    """Late in an epoch at the defaults the flow matrix comes from the 64-step recompute: it equals the one
    recomputed over 1,000 steps (float64 reference)."""
    cfg = RunConfig(series_length=300_000)  # 1,500 steps: the last window starts 7,495 steps into its row
    trainer = Trainer(cfg)
    trainer.run_to_end()
    sampler = trainer.sampler
    last = sampler._pending[-1]
    flow = RunRecord.from_trainer(trainer).gradient_flow()
    assert len(last.items) == 3 and sampler.flow_level(last) == 0  # the short history was enough
    longest, n = last.items[-1], cfg.truncation
    ref = gradient_flow(Params(*longest.params), longest.slab & 1, longest.slab >> 1, 1000, n, n, False,
                        extra=2 * n, history=1000)
    np.testing.assert_allclose(flow["matrix"], ref.matrix, rtol=1e-5)
    assert flow["kept_share"] == pytest.approx(ref.kept_share, rel=1e-5)


def test_style_configs_add_online_learners_and_seeds():
    plans = style_configs(RunConfig(), 5, 1, online=("rtrl", "uoro"), seeds=(0, 1))
    names = [name for name, _ in plans]
    assert names == ["BPTT(5; 5) TensorFlow style, seed 0", "BPTT(5; 5) TensorFlow style, seed 1",
                     "BPTT(5; 1) Williams-Peng, seed 0", "BPTT(5; 1) Williams-Peng, seed 1",
                     "RTRL (no truncation), seed 0", "RTRL (no truncation), seed 1",
                     "UORO (no truncation), seed 0", "UORO (no truncation), seed 1"]
    assert [c.seed for _, c in plans] == [0, 1] * 4 and plans[4][1].style == "rtrl"
    with pytest.raises(ValueError, match="RTRL is offered"):
        style_configs(RunConfig(state_size=64), 5, 1, online=("rtrl",))


# ---- pages
def test_train_page_section_shows_cosine_and_flow_with_the_runs_numbers():
    from tests.conftest import run_page
    from ui import state

    trainer = Trainer(RunConfig(series_length=100_000, seed=1))
    trainer.run_to_end()
    record = RunRecord.from_trainer(trainer)  # samples computed
    at = run_page("train", 300, **{state.CONFIG: trainer.cfg, state.TRAINER: trainer, state.RECORD: record,
                                     state.RUNS: [record]})
    samples = record.gradient_samples()
    captions = " | ".join(c.value for c in at.caption)
    assert f"{len(samples['step'])} sampled steps" in captions
    mean = float(np.nanmean(samples["cosine_all"]))
    from viz.common import fmt

    assert f"Mean cosine {fmt(mean)}" in captions
    assert f"the window kept {fmt(100 * record.gradient_flow()['kept_share'])}%" in captions
    assert len(at.get("vega_lite_chart")) == 10  # the board's 8, the cosine chart and the flow heatmap


def test_train_page_online_run_says_not_applicable():
    from tests.conftest import run_page
    from ui import state

    trainer = OnlineTrainer(RunConfig(style="uoro", batch_size=20, series_length=2_000))
    trainer.run_to_end()
    record = RunRecord.from_trainer(trainer)
    at = run_page("train", 300, **{state.CONFIG: trainer.cfg, state.TRAINER: trainer, state.RECORD: record,
                                     state.RUNS: [record]})
    infos = " | ".join(i.value for i in at.info)
    assert infos.count("Not applicable for UORO") == 5 and "UORO does not truncate" in infos
    captions = " | ".join(c.value for c in at.caption)
    assert "learning online with UORO" in captions and "windows of n" not in captions  # no window to speak of


def test_learn_page_section_uses_the_latest_truncated_run():
    from tests.conftest import run_page
    from ui import state
    from viz.common import fmt

    trainer = Trainer(RunConfig(series_length=100_000, truncation=3, seed=2))
    trainer.run_to_end()
    record = RunRecord.from_trainer(trainer)
    at = run_page("learn", 300, **{state.RUNS: [record]})
    assert any("What truncation costs" in h.value for h in at.header)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["mean cosine, truncated vs exact"] == fmt(float(np.nanmean(record.gradient_samples()["cosine_all"])))


def test_compare_page_overlays_the_cosines_of_the_picked_runs():
    from tests.conftest import run_page
    from ui import state

    records = []
    for n in (2, 8):
        t = Trainer(RunConfig(series_length=100_000, truncation=n))
        t.run_to_end()
        records.append(RunRecord.from_trainer(t))
    at = run_page("compare", 300, **{state.RUNS: records})
    captions = " | ".join(c.value for c in at.caption)
    assert "Cosine of each run's truncated gradient with the exact one" in captions
    for r in records:
        assert f"{r.label} " in captions


def test_a_grace_period_lets_a_finished_runs_samples_finish_without_blocking_for_ever():
    cfg = RunConfig(series_length=100_000, seed=4)  # 100 TF-style steps, 20 samples
    trainer = Trainer(cfg)
    trainer.run_to_end()
    sampler = trainer.sampler
    assert sampler.busy and len(sampler.done()) == 0  # observed, nothing computed yet
    record = RunRecord.from_trainer(trainer, wait_samples=False, sample_grace=120.0)
    assert not sampler.busy and len(record.gradient_samples()["step"]) == len(plan_steps(100))
    again = Trainer(cfg)
    again.run_to_end()
    t0 = time.perf_counter()
    again.sampler.flush(wait=False)  # no grace: returns while the background thread computes
    assert time.perf_counter() - t0 < 5.0
    again.sampler.flush(wait=True)
    first = [s.cosine_all for s in sampler.done()]
    assert [s.cosine_all for s in again.sampler.done()] == pytest.approx(first, abs=1e-5)


def test_a_servers_compiled_sampling_programs_give_the_numpy_numbers(monkeypatch):
    """The XLA path a server switches to (exact_batch_xla) against the NumPy pass, on a real run's samples."""
    from rnn_core import exact_batch_xla, sampling

    monkeypatch.setattr(sampling.GradientSampler, "flush_behind", lambda self: None)  # all samples kept pending
    cfg = RunConfig(series_length=100_000, seed=5)
    trainer = Trainer(cfg)
    trainer.run_to_end()
    items = [p.items[0] for p in trainer.sampler._pending]  # the first history each sample tries
    assert len(items) == SAMPLES
    numpy_results = compare_many(items)
    monkeypatch.setattr(exact_batch_xla, "_ENABLED", True)
    monkeypatch.setattr(exact_batch_xla, "_READY", {})
    monkeypatch.setattr(exact_batch_xla, "_QUEUED", set())
    from rnn_core.exact_batch import BATCH

    exact_batch_xla.compile_now(BATCH, 32, items[0].slab.shape[1] - cfg.truncation, cfg.truncation, cfg.state_size)
    from rnn_core import exact_batch

    def no_numpy(*_):
        raise AssertionError("the NumPy pass ran although the shape's program is compiled")

    monkeypatch.setattr(exact_batch, "_batched", no_numpy)
    xla_results = compare_many(items[:7])  # a short batch: padded to the program's 20
    assert len(xla_results) == 7 and exact_batch_xla._READY
    for got, ref in zip(xla_results, numpy_results):
        assert got.cosine_all == pytest.approx(ref.cosine_all, abs=1e-5)
        assert got.cosine_W_s == pytest.approx(ref.cosine_W_s, abs=1e-5)
        assert got.rel_error == pytest.approx(ref.rel_error, rel=1e-4, abs=1e-6)
        assert abs(got.history_steps - ref.history_steps) <= 2
    assert len({round(r.cosine_all, 4) for r in xla_results}) > 3  # distinct samples, so the check has teeth
    # and, as in NumPy, a sample's floats do not hang on which samples share its batch
    alone = [compare_many([it])[0] for it in items[:7]]
    assert [(r.cosine_all, r.rel_error, r.history_steps) for r in alone] == \
        [(r.cosine_all, r.rel_error, r.history_steps) for r in xla_results]


@pytest.mark.parametrize("n, queued", [(5, True), (20, True), (21, False), (200, False)])
def test_a_server_queues_the_sampling_compile_of_narrow_windows_only(monkeypatch, n, queued):
    """A new shape's sampling program is built in the background only up to BACKGROUND_MAX_N steps of window: a
    wider one's trace holds the GIL for many seconds (17.8 s at n = 200), so its samples stay on NumPy."""
    from rnn_core import exact_batch_xla

    submitted = []
    monkeypatch.setattr(exact_batch_xla, "_ENABLED", True)
    monkeypatch.setattr(exact_batch_xla, "_READY", {})
    monkeypatch.setattr(exact_batch_xla, "_QUEUED", set())
    monkeypatch.setattr(exact_batch_xla._COMPILER, "submit", lambda fn, key: submitted.append(key))
    N, B, K, d = 2, 3, 4, 2
    arrays = (np.zeros((N, d, 2 + d), np.float32), np.zeros((N, d), np.float32), np.zeros((N, 2, d), np.float32),
              np.zeros((N, 2), np.float32), np.zeros((N, B, K + n), np.int8), np.zeros(N, np.int32),
              np.ones((N, n), np.float32), np.zeros((N, B, d), np.float32))
    assert exact_batch_xla.run(*arrays) is None  # not built yet: this batch goes to NumPy either way
    assert submitted == ([(N, B, K, n, d)] if queued else [])


def test_a_heavy_runs_samples_wait_for_the_light_runs_then_give_the_same_numbers(monkeypatch):
    """A heavy run's sample batches (sampler.heavy, set by Trainer.run) go on their own thread only once no light run
    trains or has samples pending, and no other run holds or waits for a turn; they are the same floats."""
    from rnn_core import kernels, sampling

    monkeypatch.setattr(sampling.GradientSampler, "flush_behind", lambda self: None)  # all samples kept pending
    cfg = RunConfig(series_length=60_000, seed=5)
    light, heavy = Trainer(cfg), Trainer(cfg)
    light.run_to_end()
    heavy.run_to_end()
    light.sampler.flush(wait=True)
    heavy.sampler.heavy = True
    kernels.begin_training()  # a light run of another session trains
    try:
        assert sampling.light_work()
        heavy.sampler.flush(wait=False)
        time.sleep(0.4)
        assert heavy.sampler.busy and not heavy.sampler.done()  # waiting, not computed
    finally:
        kernels.end_training()
    deadline = time.monotonic() + 60
    while heavy.sampler.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not sampling.light_work()
    key = lambda s: (s.step, s.cosine_all, s.cosine_W_s, s.rel_error, s.history_steps)  # noqa: E731
    assert [key(s) for s in heavy.sampler.done()] == [key(s) for s in light.sampler.done()]
    assert len(heavy.sampler.done()) == len(plan_steps(heavy.total_steps))


def test_a_heavy_runs_samples_wait_while_another_run_holds_a_turn(monkeypatch):
    from rnn_core import sampling
    from rnn_core.turns import Turns

    line = Turns(slots=2)
    monkeypatch.setattr("rnn_core.turns.shared", lambda: (line, ""))
    assert not sampling.light_work()
    with line.turn(line.ticket()):  # the heavy run's own turn: not a reason to wait
        assert not sampling.light_work()
        with line.turn(line.ticket()):  # another run's data, training or final charts
            assert sampling.light_work()
    assert not sampling.light_work()


def test_a_heavy_sample_batch_waits_without_spinning(monkeypatch):
    """While another run holds a turn (no light run training), the heavy batch looks every HEAVY_POLL s, not in a
    loop that would hold Python's lock against the class."""
    from rnn_core import sampling

    looks = []
    busy_until = time.monotonic() + 0.35

    def light_work():
        looks.append(1)
        return time.monotonic() < busy_until

    monkeypatch.setattr(sampling, "light_work", light_work)
    done = []
    sampling._heavy_job(done.append, ["batch"])
    assert done == [["batch"]] and 3 <= len(looks) <= 6  # 0.35 s at 0.1 s a look



def test_a_queued_sampling_compile_waits_until_no_run_has_trained_for_a_while(monkeypatch):
    """A background compile (a later run's speed-up) waits while a run trains and QUIET_S seconds after it ends,
    so it never takes a core from the runs training now; one asked for at once (`compile_now`) does not wait."""
    import threading
    import time

    from rnn_core import exact_batch_xla, kernels

    key, at_once = (1, 2, 3, 4, 5), (9, 8, 7, 6, 5)  # shapes no other test builds
    built = []  # other tests' queued compiles may also reach the patched _compile once the process is quiet

    def ours():
        return [(k, when) for k, when in built if k in (key, at_once)]

    monkeypatch.setattr(exact_batch_xla, "_compile", lambda k: built.append((k, time.monotonic())))
    monkeypatch.setattr(exact_batch_xla, "QUIET_S", 0.6)
    monkeypatch.setattr(exact_batch_xla, "QUIET_POLL", 0.05)
    kernels.begin_training()
    ended = None
    try:
        worker = threading.Thread(target=exact_batch_xla._compile_when_quiet, args=(key,))
        worker.start()
        time.sleep(1.0)
        assert ours() == [] and kernels.quiet_seconds() == 0.0  # a run trains: the compile waits
        monkeypatch.setattr(exact_batch_xla, "_READY", {})
        monkeypatch.setattr(exact_batch_xla, "_QUEUED", set())
        exact_batch_xla.compile_now(*at_once)  # a server warming its default shapes: at once
        assert [k for k, _ in ours()] == [at_once]
    finally:
        kernels.end_training()
        ended = time.monotonic()
    worker.join(timeout=10)
    assert [k for k, _ in ours()] == [at_once, key]
    assert ours()[1][1] - ended >= 0.6  # not before the process had been quiet that long
