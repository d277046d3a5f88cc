"""Two browser sessions on one server (two AppTests in one process, as two tabs share one Streamlit process):
neither sees the other's runs, settings or upload, and each one's weights and losses equal the same settings
trained alone, bit for bit, although both train on the one shared compiled program of their shapes."""
from __future__ import annotations

import numpy as np

from conftest import warm
from rnn_core.config import RunConfig
from rnn_core.train import Trainer
from tests.test_app_train import button, navigation_like_the_server, open_app, texts  # noqa: F401 (autouse)
from ui import state

SMALL = "20000"


def test_two_sessions_share_nothing_but_the_program():
    cfg_a = RunConfig(seed=1, series_length=int(SMALL)).validate()
    cfg_b = RunConfig(seed=2, series_length=int(SMALL), learning_rate=0.3).validate()
    warm(Trainer(cfg_a).key)  # the server's warm-up compiles this key: every run here is compiled from step 0
    alone = {c.seed: Trainer(c, max_profiles=None).run_to_end() for c in (cfg_a, cfg_b)}

    a = open_app({"seed": "1", "series_length": SMALL})
    upload = (np.array([0, 1, 1, 0]), np.array([1, 0, 1, 1]))
    a.session_state[state.SEQUENCE] = upload
    button(a, "Train").click().run()
    assert not a.exception and "Done: 20 steps" in texts(a.success)

    b = open_app({"seed": "2", "series_length": SMALL, "learning_rate": "0.3"})
    assert not b.exception
    assert "No run yet" in texts(b.info)  # A's run is not on B's page
    assert b.session_state[state.CONFIG] == cfg_b and a.session_state[state.CONFIG] == cfg_a
    assert state.SEQUENCE not in b.session_state or b.session_state[state.SEQUENCE] is None
    assert state.RUNS not in b.session_state or not b.session_state[state.RUNS]
    button(b, "Train").click().run()
    assert not b.exception and "Done: 20 steps" in texts(b.success)

    a.run()  # A's page again, after B trained
    runs_a, runs_b = a.session_state[state.RUNS], b.session_state[state.RUNS]
    assert len(runs_a) == 1 and len(runs_b) == 1
    assert runs_a[0].config == cfg_a and runs_b[0].config == cfg_b
    assert a.session_state[state.SEQUENCE] is upload
    for mine, seed in ((a, 1), (b, 2)):
        trainer = mine.session_state[state.TRAINER]
        assert trainer.state.uncompiled_steps == 0
        np.testing.assert_array_equal(trainer.history.scalars()["loss"], alone[seed].history.scalars()["loss"])
        for p, q in zip(trainer.params, alone[seed].params):
            np.testing.assert_array_equal(p, q)
    assert not np.array_equal(runs_a[0].scalars["loss"], runs_b[0].scalars["loss"])
