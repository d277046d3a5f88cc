"""The Data page and the sidebar share one uploaded sequence; a file too short for the lag chart says so."""
from __future__ import annotations

from test_page_data import _page, _upload

from rnn_core.data import R2RT, to_csv
from rnn_core.sequence_stats import sample
from ui import state


def test_a_file_read_on_the_data_page_is_the_one_the_file_task_trains_on():
    x, y, _ = sample(R2RT, 500, 1)
    at = _upload(_page(), "mine.csv", to_csv(x, y).encode())
    seq = at.session_state[state.SEQUENCE]
    assert seq[0].tolist() == x.tolist() and seq[1].tolist() == y.tolist()
    assert at.session_state[state.SEQUENCE_NAME] == "mine.csv"


def test_a_two_row_file_gets_a_message_not_an_empty_chart():
    at = _upload(_page(), "two.csv", b"x,y\n1,0\n0,1\n")
    assert not at.error
    assert len(at.get("vega_lite_chart")) == 2  # the sample and the baselines only: no empty lag chart
    assert any("too short" in i.value and "2 steps" in i.value for i in at.info)


def test_the_uploaders_name_the_real_limits():
    import tomllib

    from rnn_core.data import MAX_FILE_BYTES
    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == MAX_FILE_BYTES  # Streamlit's "Limit 64MB per file"
    at = _page()
    assert "at most 5,000,000 rows" in at.file_uploader(key="data_upload").label


def test_learn_in_presentation_mode_draws_fewer_larger_columns_at_n_10():
    from conftest import run_page
    from rnn_core.config import RunConfig
    from viz.graph import unrolled_dot

    cfg = RunConfig(truncation=10)
    screen = [g.proto.spec for g in run_page("learn", 300, config=cfg).get("graphviz_chart")]
    projected = run_page("learn", 300, config=cfg, present=True)
    assert screen[1] == unrolled_dot(10, 10, 9)  # all ten steps on a screen
    assert [g.proto.spec for g in projected.get("graphviz_chart")][1] == unrolled_dot(10, 10, 9, max_drawn=8)
    assert any("the other 3 are alike" in c.value for c in projected.caption)
