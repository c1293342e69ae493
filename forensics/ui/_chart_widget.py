"""Altair charts inside widgets: an offline ``JupyterChart`` rendered as SVG by the browser."""

from __future__ import annotations

import altair as alt

__all__ = ["chart_widget", "set_chart"]

_OFFLINE = {"done": False}


def chart_widget(chart: alt.TopLevelMixin, css_class: str) -> alt.JupyterChart:
    """A ``JupyterChart`` for ``chart`` carrying the CSS class ``css_class``.

    The Vega bundle comes from vl-convert (``enable_offline``), so it renders with no network;
    the browser draws it, so a redraw costs the kernel only the spec, not an SVG render.
    """
    if not _OFFLINE["done"]:
        alt.JupyterChart.enable_offline()
        _OFFLINE["done"] = True
    widget = alt.JupyterChart(chart, embed_options={"renderer": "svg", "actions": False})
    widget.add_class(css_class)
    return widget


def set_chart(widget: alt.JupyterChart, chart: alt.TopLevelMixin) -> None:
    """Replace the chart a ``JupyterChart`` shows (its selections start empty again)."""
    widget.chart = chart
