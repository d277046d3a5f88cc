"""Compare's "Load a sweep file": a file written by `python -m rnn_core sweep --json` is charted like the page's
own sweeps (final loss against n per d, the seeds' range), and malformed files get a clear error."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_page
from rnn_core.data import R2RT, baselines
from ui import state
from ui.sweep_file import KEY
from viz.sweep_spread import spread_frame

ARGS = ["--n", "1,3", "--d", "2,4", "--seeds", "0,1", "--series-length", "2000", "--batch-size", "10", "--quiet"]


@pytest.fixture(scope="module")
def sweep_json(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    subprocess.run([sys.executable, "-m", "rnn_core", "sweep", *ARGS, "--json", str(out)], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)
    return out.read_bytes()


def upload(name: str, payload: bytes):
    at = run_page("compare", 120)
    at.file_uploader(key=KEY).upload(name, payload, "application/json").run()
    assert not at.exception
    return at


def test_a_sweep_file_is_charted_like_a_sweep_of_the_page(sweep_json):
    at = upload("sweep.json", sweep_json)
    assert not at.error
    sweep = at.session_state[state.SWEEP]
    runs = json.loads(sweep_json)["runs"]
    assert sweep.finished and sweep.source == "sweep.json" and sweep.planned == len(runs) == 8
    # every point is the file's own summary (no history in the file), keyed by the run's settings
    want = sorted((r["config"]["truncation"], r["config"]["state_size"], r["config"]["seed"],
                   r["summary"]["final_loss"]) for r in runs)
    assert sorted((p["n"], p["d"], p["seed"], p["final_loss"]) for p in sweep.points) == want
    assert sweep.baselines == baselines(R2RT)
    assert "Showing the 8 runs of sweep.json" in " ".join(c.value for c in at.caption)
    assert any(m.value.startswith("**Reading**") for m in at.markdown)
    table = next(d.value for d in at.dataframe if "final_loss" in d.value.columns)
    assert len(table) == 8 and set(table["closest baseline"]) <= {"learns nothing", "learns lag 3", "learns both"}
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert '"mean"' in spec and '"min"' in spec  # two seeds per (n, d): the mean line over the seeds' band
    band = spread_frame(sweep.points)
    for (n, d), group in {(n, d): [p["final_loss"] for p in sweep.points if (p["n"], p["d"]) == (n, d)]
                          for n in (1, 3) for d in (2, 4)}.items():
        row = band[(band["n"] == n) & (band["d"] == d)].iloc[0]
        assert (row["min"], row["max"], row["seeds"]) == (min(group), max(group), 2)
        assert row["mean"] == pytest.approx(sum(group) / 2)


def test_a_sweep_file_varying_other_settings_says_so(sweep_json):
    data = json.loads(sweep_json)
    data["runs"][0]["config"]["learning_rate"] = 0.5
    at = upload("mixed.json", json.dumps(data).encode())
    assert "also differ in learning_rate" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("payload, words", [
    (b"{not json", "sweep file is not valid JSON"),
    (b'[1, 2]', 'must be a JSON object with a list "runs"'),
    (b'{"format": "truncation-explorer-sweep/9", "runs": []}', "has format 'truncation-explorer-sweep/9'"),
    (b'{"runs": []}', "holds no runs"),
    (b'{"runs": [{"config": {"truncation": 0}, "history": [], "summary": {}}]}', "runs[0]:"),
    (b'{"runs": [{"config": {}, "history": [], "summary": {"final_loss": "low"}}]}', "no final_loss number"),
])
def test_a_malformed_sweep_file_gets_a_clear_error(payload, words):
    at = upload("bad.json", payload)
    errors = " ".join(e.value for e in at.error)
    assert "Could not load bad.json" in errors and words in errors, errors
    assert state.SWEEP not in at.session_state
