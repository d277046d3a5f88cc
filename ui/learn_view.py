"""The Learn page's helper: a quick run on the spot, so section 3 has a measured gradient profile to show."""
from __future__ import annotations

import numpy as np

from rnn_core.config import RunConfig
from rnn_core.report import RunRecord
from rnn_core.train import Trainer

QUICK_STEPS = 100  # training steps of the on-the-spot run: enough for a gradient profile


def quick_run(cfg: RunConfig, sequence: tuple[np.ndarray, np.ndarray] | None) -> RunRecord:
    """Train QUICK_STEPS steps of `cfg` (one epoch just long enough; R2RT's task for a file task without its
    file), uncompiled (one eager chunk, then a plain TensorFlow graph): the run is over before a compile would be."""
    length = cfg.truncation + (QUICK_STEPS - 1) * cfg.effective_k1  # a row holding exactly QUICK_STEPS windows
    quick = cfg.replace(epochs=1, series_length=cfg.batch_size * length)
    if quick.task == "file" and sequence is None:
        quick = quick.replace(task="r2rt")
    trainer = Trainer(quick.validate(), sequence=sequence if quick.task == "file" else None, use_compiled=False)
    trainer.run_to_end()
    record = RunRecord.from_trainer(trainer)
    record.extra["source"] = "learn page"
    return record
