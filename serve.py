"""Serve the app as `streamlit run app.py` does, with the server's warm-up started at launch.

    .venv/bin/python serve.py [streamlit run flags, e.g. --server.port 8502]

`streamlit run app.py` runs no app code until the first browser connects, so TensorFlow's import
and the default kernel's compile (ui/warmup.py) begin only then, and the first Train click waits for
them. This launcher starts the same warm-up thread in the server's own process first, then hands the
command line to Streamlit's own `streamlit run` entry point; the app's call to `warmup.start()` finds
the thread already running (one per process, `st.cache_resource`).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    """Start the warm-up, then run `streamlit run app.py` with this command line's flags, in this process."""
    sys.path.insert(0, str(ROOT))
    from streamlit.web import cli

    from ui import warmup

    warmup.start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
