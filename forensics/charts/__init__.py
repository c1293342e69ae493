"""Charts of a trail (Altair): timelines, activity heatmap, first-seen calls, top-N, graphs.

Every chart aggregates in polars first and embeds only the aggregate (a few hundred rows at
most), so they stay small and fast on a million events. Times are UTC and say so on the axes.

>>> import forensics as fx  # doctest: +SKIP
>>> fx.charts.timeline(trail, by="event_source", every="1h")  # doctest: +SKIP
>>> fx.charts.heatmap(trail); fx.charts.top(trail, "source_ip", 10)  # doctest: +SKIP
"""

from forensics.charts._blast import blast_chart
from forensics.charts._coverage import delivery, delivery_data
from forensics.charts._first_seen import first_seen, first_seen_data
from forensics.charts._graph import blast_graph, graph_data
from forensics.charts._heatmap import heatmap, heatmap_data
from forensics.charts._insights import insights_chart, insights_data
from forensics.charts._rule_hits import findings_timeline, findings_timeline_data
from forensics.charts._timeline import BY_CHOICES, timeline, timeline_data
from forensics.charts._top import top, top_data

__all__ = [
    "BY_CHOICES",
    "blast_chart",
    "blast_graph",
    "chart_rows",
    "delivery",
    "delivery_data",
    "findings_timeline",
    "findings_timeline_data",
    "first_seen",
    "first_seen_data",
    "graph_data",
    "heatmap",
    "heatmap_data",
    "insights",
    "insights_chart",
    "insights_data",
    "timeline",
    "timeline_data",
    "top",
    "top_data",
]


insights = insights_chart  # fx.charts.insights(trail, "CreateUser")


def chart_rows(chart) -> int:
    """How many data rows a chart embeds (all its datasets together).

    >>> import altair as alt, polars as pl
    >>> chart_rows(alt.Chart(pl.DataFrame({"a": [1, 2]})).mark_bar().encode(x="a:Q"))
    2
    """
    spec = chart.to_dict()
    return sum(len(rows) for rows in spec.get("datasets", {}).values())
