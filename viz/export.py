"""A chart as a file: PNG bytes or SVG text, rendered offline with vl-convert (no browser)."""
from __future__ import annotations

import altair as alt
import vl_convert as vlc


def chart_to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """The chart rendered as PNG bytes."""
    return vlc.vegalite_to_png(_for_export(chart), scale=scale)


def chart_to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart rendered as SVG text."""
    return vlc.vegalite_to_svg(_for_export(chart))


def _for_export(chart: alt.TopLevelMixin) -> str:
    # A file has no container to stretch into, so give it a fixed width.
    return chart.properties(width=640).to_json()
