"""rnn_core: the truncated-BPTT RNN engine of the truncation explorer (no UI).

Modules: config (settings), data (echo tasks, baselines), truncation (the BPTT(n; k1) rule), model
(the seed's cell, the unrolled graph, `step`), window (the result type, the autodiff passes), derived
(the hand-derived passes), spectral (sigma_max), weights (.npz files), kernels (compiled training
chunks), train (the trainer), report (JSON bundles),
compare (run plans). Charts and graph drawings live beside it in viz/.
"""
from . import runtime

runtime.apply()  # TensorFlow and XLA read these settings when TensorFlow is imported, so before any module here does
