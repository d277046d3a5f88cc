"""rnn_core.data: exact loss baselines (R2RT's published numbers, and Monte Carlo estimates over
generated data for a custom task), the echo task, row-major batching, steps per epoch, seeded
fresh data per epoch, and the CSV loader's clear errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_core import data
from rnn_core.config import MAX_LAGS, RunConfig
from rnn_core.data import R2RT, SPLIT_FROM, EchoTask


def test_r2rt_baselines_are_the_published_numbers():
    assert data.baselines(data.R2RT) == pytest.approx([0.661563, 0.519167, 0.454454], abs=1e-6)
    assert data.baseline_labels(data.R2RT) == ["learns nothing", "learns lag 3", "learns both"]
    assert data.task_for(RunConfig()) == data.R2RT


def test_r2rt_baselines_by_hand():
    """Closed forms from the task's definition: P(Y=1) in {0.5, 1, 0.25, 0.75}, each case 1/4."""
    def h(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p)) if 0 < p < 1 else 0.0

    def ce(p, q):
        return -(p * math.log(q) + (1 - p) * math.log(1 - q))

    nothing = h(0.625)  # E[P(Y=1)] = (0.5 + 1 + 0.25 + 0.75) / 4
    lag3 = 0.5 * (0.5 * ce(0.5, 0.375) + 0.5 * ce(0.25, 0.375)) + 0.5 * (0.5 * ce(1.0, 0.875) + 0.5 * ce(0.75, 0.875))
    both = (h(0.5) + h(1.0) + h(0.25) + h(0.75)) / 4
    assert data.baselines(data.R2RT) == pytest.approx([nothing, lag3, both], abs=1e-12)


CUSTOM = EchoTask(lags=(1, 4), effects=(0.5, -0.6), base_prob=0.7, input_prob=0.4)  # 1.2 clips to 1


def true_probability(task: EchoTask, x: np.ndarray) -> np.ndarray:
    """P(Y_t = 1) written out from the definition (inputs before t = 0 count as 0)."""
    p = np.full(len(x), task.base_prob)
    for lag, effect in zip(task.lags, task.effects):
        shifted = np.concatenate([np.zeros(lag), x[:-lag]])
        p = p + effect * shifted
    return np.clip(p, 0.0, 1.0)


def test_custom_task_baselines_by_monte_carlo():
    """Empirical cross-entropy of the best k-lag predictors over 400,000 generated steps ≈ baselines.

    p_k is estimated from the sample itself (frequency of Y = 1 per pattern of the k shortest lagged
    inputs) and p_all is the true conditional probability, so nothing is taken from the enumeration
    in `baselines`. Tolerance: 5 standard errors of the per-step loss mean (~1e-3 nats here) plus
    the plug-in estimate's bias, at most (number of patterns) / (2 N) nats.
    """
    task = CUSTOM
    N = 400_000
    x, y = task.generate(N + 10, np.random.default_rng(20240607))
    start = max(task.lags)  # before this, some lagged inputs are the implicit zeros
    x, y, t = x.astype(int), y.astype(int), np.arange(start, N + 10)
    expected = data.baselines(task)
    order = np.argsort(task.lags)
    lags = [task.lags[i] for i in order]
    assert len(expected) == len(lags) + 1
    for k in range(len(lags) + 1):
        pattern = np.zeros(len(t), dtype=int)
        for lag in lags[:k]:
            pattern = pattern * 2 + x[t - lag]
        p_k = np.zeros(len(t))
        for value in np.unique(pattern):
            sel = pattern == value
            p_k[sel] = y[t][sel].mean()
        if k == len(lags):
            p_k = true_probability(task, x)[t]
        yt = y[t]
        per_step = -np.where(yt == 1, np.log(np.where(yt == 1, p_k, 1.0)), np.log(np.where(yt == 0, 1 - p_k, 1.0)))
        assert np.isfinite(per_step).all()
        mean = per_step.mean()
        tolerance = 5 * per_step.std() / math.sqrt(len(t)) + 2**k / (2 * len(t))
        assert abs(mean - expected[k]) < tolerance, (k, mean, expected[k], tolerance)


def test_generated_series_follow_the_task():
    x, y = CUSTOM.generate(200_000, np.random.default_rng(5))
    assert x.dtype == np.int8 and y.dtype == np.int8
    assert set(np.unique(x)) <= {0, 1} and set(np.unique(y)) <= {0, 1}
    assert abs(x.mean() - 0.4) < 5 * math.sqrt(0.24 / 200_000)
    p = true_probability(CUSTOM, x.astype(int))
    np.testing.assert_allclose(CUSTOM.probability(x), p, atol=1e-12)
    resid = y - p
    assert abs(resid.mean()) < 5 * math.sqrt((p * (1 - p)).mean() / 200_000)
    assert (y[p == 1.0] == 1).all()


def test_baselines_take_the_shortest_lags_first_whatever_the_order():
    swapped = EchoTask(lags=(4, 1), effects=(-0.6, 0.5), base_prob=0.7, input_prob=0.4)
    assert data.baselines(swapped) == pytest.approx(data.baselines(CUSTOM), abs=1e-15)
    assert data.baseline_labels(swapped)[1] == "learns lag 1"


def test_baselines_decrease_and_one_lag_task_with_no_noise_is_zero():
    assert all(a >= b for a, b in zip(data.baselines(CUSTOM), data.baselines(CUSTOM)[1:]))
    task = EchoTask(lags=(2,), effects=(1.0,), base_prob=0.0, input_prob=0.3)
    b = data.baselines(task)
    h = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert b == pytest.approx([h, 0.0], abs=1e-12)


@pytest.mark.parametrize("step", [1, 3, 7])
def test_echo_task_is_the_input_shifted_by_the_echo_step(step):
    cfg = RunConfig(task="echo", echo_step=step, series_length=5000, batch_size=1, truncation=5)
    task = data.task_for(cfg)
    x, y = task.generate(5000, np.random.default_rng(step))
    np.testing.assert_array_equal(y[:step], 0)
    np.testing.assert_array_equal(y[step:], x[:-step])
    assert data.baselines(task)[-1] == 0.0
    assert data.baselines(task)[0] == pytest.approx(math.log(2), abs=1e-12)
    xb, yb = data.epoch_data(cfg, 0)
    np.testing.assert_array_equal(yb[0, step:], xb[0, :-step])


def test_batch_rows_is_row_major_and_drops_the_tail():
    x = np.arange(23)
    rows = data.batch_rows(x, 4)
    assert rows.shape == (4, 5)
    for i in range(4):
        np.testing.assert_array_equal(rows[i], np.arange(5 * i, 5 * i + 5))
    assert 20 not in rows and 22 not in rows
    assert rows.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(data.batch_rows(np.arange(6), 6), np.arange(6)[:, None])


def test_epoch_data_is_seeded_repeatable_and_fresh_each_epoch():
    cfg = RunConfig(series_length=10_000, batch_size=10, truncation=5)
    a0, b0 = data.epoch_data(cfg, 0)
    a0_again, b0_again = data.epoch_data(cfg, 0)
    a1, _ = data.epoch_data(cfg, 1)
    other_seed, _ = data.epoch_data(cfg.replace(seed=1), 0)
    assert a0.shape == (10, 1000) and b0.shape == (10, 1000)
    np.testing.assert_array_equal(a0, a0_again)
    np.testing.assert_array_equal(b0, b0_again)
    assert (a0 != a1).mean() > 0.4  # independent fair coins disagree half the time
    assert (a0 != other_seed).mean() > 0.4
    # the targets follow the R2RT rule within each row's series
    x = a0.reshape(-1).astype(int)
    y = b0.reshape(-1)
    p = true_probability(data.R2RT, x)
    assert (y[p == 1.0] == 1).all()


def test_epoch_data_for_a_file_sequence():
    x = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0], np.int8)
    y = np.roll(x, 1)
    cfg = RunConfig(task="file", batch_size=2, truncation=3)
    xb, yb = data.epoch_data(cfg, 0, (x, y))
    np.testing.assert_array_equal(xb, x[:10].reshape(2, 5))
    np.testing.assert_array_equal(yb, y[:10].reshape(2, 5))
    np.testing.assert_array_equal(data.epoch_data(cfg, 3, (x, y))[0], xb)  # same every epoch
    with pytest.raises(ValueError, match="needs a sequence"):
        data.epoch_data(cfg, 0)
    with pytest.raises(ValueError, match=r"too short for batch_size=4 rows of at least n=3"):
        data.epoch_data(cfg.replace(batch_size=4), 0, (x, y))


# ---------------------------------------------------------------- CSV files


def test_csv_loader_reads_a_good_file(tmp_path):
    x = np.array([0, 1, 1, 0, 1], np.int8)
    y = np.array([1, 0, 1, 1, 0], np.int8)
    path = tmp_path / "seq.csv"
    path.write_text(data.to_csv(x, y))
    lx, ly = data.load_sequence_csv(path)
    np.testing.assert_array_equal(lx, x)
    np.testing.assert_array_equal(ly, y)
    assert lx.dtype == np.int8
    # str path, bytes, Windows line ends, a BOM, spaces, an upper-case header and trailing blank lines
    np.testing.assert_array_equal(data.load_sequence_csv(str(path))[0], x)
    raw = "\ufeffX, Y\r\n0, 1\r\n1,0\r\n1,1\r\n\r\n\n".encode()
    bx, by = data.load_sequence_csv(raw)
    np.testing.assert_array_equal(bx, [0, 1, 1])
    np.testing.assert_array_equal(by, [1, 0, 1])
    one_row = data.load_sequence_csv(b"x,y\n1,0\n")
    np.testing.assert_array_equal(one_row[0], [1])


BAD_CSV = {
    "wrong header": (b"a,b\n0,1\n", "header is 'a,b'; expected exactly the two columns x,y"),
    "extra header column": (b"x,y,z\n0,1,0\n", "header is 'x,y,z'"),
    "three columns": (b"x,y\n0,1\n1,0,1\n", "line 3: '1,0,1' does not have 2 columns"),
    "one column": (b"x,y\n0,1\n1\n", "line 3: '1' does not have 2 columns"),
    "blank line inside": (b"x,y\n0,1\n\n1,0\n", "line 3: '' does not have 2 columns"),
    "value 2": (b"x,y\n0,1\n1,2\n", "line 3: y = '2' is not 0 or 1"),
    "value 0.5": (b"x,y\n0.5,1\n", "line 2: x = '0.5' is not 0 or 1"),
    "negative": (b"x,y\n0,1\n0,0\n-1,0\n", "line 4: x = '-1' is not 0 or 1"),
    "word": (b"x,y\n0,1\nyes,0\n", "line 3: 'yes' is not 0 or 1"),
    "nan": (b"x,y\n0,nan\n", "line 2: y = 'nan' is not 0 or 1"),
    "empty": (b"", "data file is empty"),
    "only blank lines": (b"\n\n", "data file is empty"),
    "header only": (b"x,y\n", "has a header but no rows"),
    "not utf-8": (b"x,y\n0,1\n\xff\xfe\x00\x01\n", "not UTF-8 text"),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
def test_csv_loader_errors_name_the_problem(name, tmp_path):
    raw, message = BAD_CSV[name]
    with pytest.raises(ValueError) as from_bytes:
        data.load_sequence_csv(raw)
    assert message in str(from_bytes.value)
    path = tmp_path / "bad.csv"
    path.write_bytes(raw)
    with pytest.raises(ValueError) as from_file:
        data.load_sequence_csv(path)
    assert str(from_file.value) == str(from_bytes.value)


def test_csv_loader_rejects_too_many_rows(monkeypatch):
    monkeypatch.setattr(data, "MAX_FILE_STEPS", 3)
    data.load_sequence_csv(b"x,y\n0,1\n1,0\n1,1\n")
    with pytest.raises(ValueError, match=r"has 4 rows; at most 3 are allowed"):
        data.load_sequence_csv(b"x,y\n0,1\n1,0\n1,1\n0,0\n")


def test_csv_loader_rejects_too_many_bytes_and_missing_files(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 10)
    with pytest.raises(ValueError, match=r"too large"):
        data.load_sequence_csv(b"x,y\n0,1\n1,0\n")
    path = tmp_path / "big.csv"
    path.write_bytes(b"x,y\n0,1\n1,0\n")
    with pytest.raises(ValueError, match=r"too large"):
        data.load_sequence_csv(path)
    with pytest.raises(ValueError, match=r"does not exist"):
        data.load_sequence_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize("task", [
    R2RT,
    EchoTask(lags=(5,), effects=(1.0,), base_prob=0.0, input_prob=0.5),
    EchoTask(lags=(1, 2, 3, 5, 8, 13, 21, 34), effects=(0.1, 0.2, 0.3, -0.7, 0.15, 0.05, -0.35, 0.9),
             base_prob=0.3, input_prob=0.6),  # MAX_LAGS lags; sums that clip and depend on their order
])
def test_looked_up_probabilities_are_bit_for_bit_the_summed_ones(task):
    x = (np.random.default_rng(11).random(50_000) < task.input_prob).astype(np.int8)
    assert len(task.lags) <= MAX_LAGS
    np.testing.assert_array_equal(task.probability(x), true_probability(task, x.astype(int)))


def _plain_generate(task, length, rng):
    """The series as first written: fresh arrays, no kept buffer."""
    x = (rng.random(length) < task.input_prob).astype(np.int8)
    y = (rng.random(length) < task.probability(x)).astype(np.int8)
    return x, y


@pytest.mark.parametrize("length", [1, 1000, 1_000_000, 1_200_000])  # a kept buffer, a part of one, a new one
def test_generated_series_equal_the_plain_formula(length):
    for task, seed in ((R2RT, 0), (CUSTOM, 3), (R2RT, 11)):
        for _ in range(2):  # the second time, from the buffer the first one left
            x, y = task.generate(length, np.random.default_rng(seed))
            px, py = _plain_generate(task, length, np.random.default_rng(seed))
            assert x.dtype == px.dtype == np.int8 and y.dtype == py.dtype == np.int8
            assert np.array_equal(x, px) and np.array_equal(y, py)
            assert x.base is None or x.base.dtype == np.bool_  # the arrays are the caller's, not the buffer


def test_series_generated_on_many_threads_at_once_are_each_their_own():
    from concurrent.futures import ThreadPoolExecutor

    seeds = list(range(12))
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda s: R2RT.generate(300_000, np.random.default_rng(s)), seeds))
    for seed, (x, y) in zip(seeds, got):
        px, py = _plain_generate(R2RT, 300_000, np.random.default_rng(seed))
        assert np.array_equal(x, px) and np.array_equal(y, py)


@pytest.mark.parametrize("length", [SPLIT_FROM - 1, SPLIT_FROM, SPLIT_FROM + 1, 2 * SPLIT_FROM + 7])
@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.MT19937])  # halves at once / one pass (no advance)
def test_a_series_drawn_in_halves_is_the_one_drawn_in_one_pass(length, bits):
    """The same bits either side of SPLIT_FROM, the generator left where one pass leaves it."""
    lagging = EchoTask(lags=(1, 5, 8), effects=(0.3, 0.2, -0.4), base_prob=0.3, input_prob=0.7)
    for task in (R2RT, lagging):
        rng, plain_rng = np.random.Generator(bits(9)), np.random.Generator(bits(9))
        x, y = task.generate(length, rng)
        px, py = _plain_generate(task, length, plain_rng)
        assert np.array_equal(x, px) and np.array_equal(y, py)
        assert rng.random() == plain_rng.random()
