"""Widgets for investigations in JupyterLab (ipywidgets 8).

* :func:`explore` - pick a principal, a time range and filters; a linked timeline, a paged
  event table and each event's original record.
* :func:`blast_radius` - pick a seed key or ARN; credentials, resources, timeline and graph.

Every widget part carries a stable ``fx-*`` CSS class (``fx-principal``, ``fx-seed``,
``fx-timeline``, ``fx-table``...) and every event field is HTML-escaped.

>>> import forensics as fx  # doctest: +SKIP
>>> fx.ui.explore(trail)  # doctest: +SKIP
"""

from forensics.ui._blast import BlastRadiusExplorer, blast_radius
from forensics.ui._explore import Explorer, explore
from forensics.ui._html import esc, html_table, record_html

__all__ = [
    "BlastRadiusExplorer",
    "Explorer",
    "blast_radius",
    "esc",
    "explore",
    "html_table",
    "record_html",
]
