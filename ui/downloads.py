"""Download buttons: a chart as PNG or SVG, all charts as a ZIP, a run's metrics as CSV and as the JSON bundle.

Chart files are rendered only when a button is clicked (deferred data), so drawing the page
costs nothing; the buttons do not rerun the app, so a click never interrupts training.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import streamlit as st

from rnn_core.report import RunRecord
from ui.live import TITLES, Figure
from viz.export import chart_to_png, chart_to_svg


def file_stem(record: RunRecord) -> str:
    """A file-name-safe stem from the run's label, e.g. 'TF-n5-d4-adagrad-0.1-r2rt-seed-0'."""
    stem = re.sub(r"[^A-Za-z0-9.]+", "-", record.label.replace("n=", "n").replace("d=", "d")).strip("-")
    return stem or "run"


def metrics_csv(record: RunRecord) -> str:
    """Per-step metrics as CSV: step, loss, global_norm, sigma_max, then per-position columns where recorded."""
    frame = pd.DataFrame({name: record.scalars[name] for name in ("step", "loss", "global_norm", "sigma_max")})
    prof = record.profiles
    if len(prof["step"]):
        columns = {"step": prof["step"]}
        for name in ("grad_norms", "temporal", "position_loss"):
            values = np.asarray(prof[name])
            for t in range(values.shape[1]):
                columns[f"{name}_{t}"] = values[:, t]
        frame = frame.merge(pd.DataFrame(columns), on="step", how="left")
    return frame.to_csv(index=False)


def run_buttons(record: RunRecord) -> None:
    """The run's metrics CSV and JSON bundle."""
    stem = file_stem(record)
    with st.container(horizontal=True):
        st.download_button("Metrics (CSV)", lambda: metrics_csv(record), f"{stem}-metrics.csv", "text/csv",
                           on_click="ignore", icon=":material/table:", key="dl_csv",
                           help="One row per training step; per-position columns on the recorded steps.")
        st.download_button("Run bundle (JSON)", lambda: json.dumps(record.to_json()), f"{stem}.json",
                           "application/json", on_click="ignore", icon=":material/data_object:", key="dl_json",
                           help="Settings, baselines and every metric; load it back from the sidebar.")


def charts_zip(figs: list[Figure], stem: str) -> bytes:
    """Every drawn chart as PNG and as SVG, in one ZIP file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for fig in figs:
            if fig.chart is not None:
                bundle.writestr(f"{stem}-{fig.name}.png", chart_to_png(fig.chart))
                bundle.writestr(f"{stem}-{fig.name}.svg", chart_to_svg(fig.chart))
    return out.getvalue()


def chart_buttons(figs: list[Figure], stem: str) -> None:
    """One chart (picked by name) as PNG or SVG, or all of them as a ZIP: four widgets, not two per chart, so a
    page of a finished run stays cheap to draw for a server holding a class."""
    drawn = {f.name: f for f in figs if f.chart is not None}
    if not drawn:
        return
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = st.selectbox("Chart", list(drawn), format_func=lambda n: TITLES.get(n, n), key="dl_chart",
                            help="Which chart the PNG and SVG buttons download.", width=320)
        fig = drawn.get(name) or next(iter(drawn.values()))
        st.download_button("PNG", lambda c=fig.chart: chart_to_png(c), f"{stem}-{fig.name}.png", "image/png",
                           on_click="ignore", icon=":material/image:", key="dl_png")
        st.download_button("SVG", lambda c=fig.chart: chart_to_svg(c), f"{stem}-{fig.name}.svg", "image/svg+xml",
                           on_click="ignore", icon=":material/draw:", key="dl_svg")
        st.download_button(f"All {len(drawn)} charts (ZIP)", lambda: charts_zip(list(drawn.values()), stem),
                           f"{stem}-charts.zip", "application/zip", on_click="ignore", icon=":material/folder_zip:",
                           key="dl_zip", help="Each chart as PNG and as SVG.")
