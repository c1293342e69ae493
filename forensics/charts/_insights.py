"""``insights``: one API's per-minute call (or error) rate, its baseline band, Insight windows.

Read and computed Insights share one table (:func:`forensics.baseline.insights`); the chart
draws the rate the Insights are about, the band from the baseline average up to the deviation
threshold, and shades every Insight window of that API (CloudTrail's own or computed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import polars as pl

from forensics.baseline import insights as insights_table
from forensics.baseline import rate_series
from forensics.charts._common import to_lazy, utc_axis

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["insights_chart", "insights_data"]


def insights_data(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    event_name: str,
    *,
    event_source: str | None = None,
    insight_type: str = "ApiCallRateInsight",
    error_code: str | None = None,
    max_points: int = 2000,
    **options: Any,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(series, windows) behind :func:`insights_chart`.

    ``series``: ``time`` (ISO UTC), ``rate``, ``baseline``, ``threshold`` per bin (per minute,
    or coarser bins averaging per-minute values so that there are at most ``max_points``);
    ``windows``: ``start``, ``end``, ``origin``, ``insight_type`` of the API's Insights.
    """
    lazy = to_lazy(trail)
    s = rate_series(lazy, event_name=event_name, event_source=event_source,
                    insight_type=insight_type, error_code=error_code, **options)  # fmt: skip
    minutes = max(s.height, 1)
    every = max(1, -(-minutes // max_points))
    series = (
        s.group_by_dynamic("minute", every=f"{every}m")
        .agg(
            pl.col("n").mean().alias("rate"),
            pl.col("baseline_average").mean().alias("baseline"),
            pl.col("threshold").mean().alias("threshold"),
        )
        .select(
            pl.col("minute").dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("time"),
            "rate",
            "baseline",
            "threshold",
        )
    )
    table = insights_table(lazy, **options).filter(
        (pl.col("event_name") == event_name) & (pl.col("insight_type") == insight_type)
    )
    if event_source is not None:
        table = table.filter(pl.col("event_source") == event_source)
    if error_code is not None:
        table = table.filter(pl.col("error_code") == error_code)
    end_of_trail = lazy.select(pl.col("event_time").max()).collect().item()
    windows = table.select(
        pl.col("start").dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("start"),
        pl.coalesce("end", pl.lit(end_of_trail)).dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("end"),
        "origin",
        "insight_type",
    )
    return series, windows


def insights_chart(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    event_name: str,
    *,
    event_source: str | None = None,
    insight_type: str = "ApiCallRateInsight",
    error_code: str | None = None,
    width: int = 720,
    height: int = 260,
    **options: Any,
) -> alt.LayerChart:
    """Per-minute rate of one API with its baseline band and its Insight windows shaded.

    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.insights(trail, "CreateUser")  # doctest: +SKIP
    """
    series, windows = insights_data(trail, event_name, event_source=event_source,
                                    insight_type=insight_type, error_code=error_code, **options)  # fmt: skip
    label = "errors per minute" if insight_type == "ApiErrorRateInsight" else "calls per minute"
    x = alt.X("time:T", axis=utc_axis(), title="time (UTC)")
    base = alt.Chart(series).encode(x=x)
    band = base.mark_area(opacity=0.25, color="#9ecae1").encode(
        y=alt.Y("baseline:Q", title=label), y2="threshold:Q",
        tooltip=["time:T", alt.Tooltip("baseline:Q", format=".3f"),
                 alt.Tooltip("threshold:Q", format=".1f")],
    )  # fmt: skip
    line = base.mark_line(color="#08519c", strokeWidth=1).encode(
        y="rate:Q", tooltip=["time:T", alt.Tooltip("rate:Q", format=".2f")]
    )
    shade = (
        alt.Chart(windows)
        .mark_rect(opacity=0.25, color="#e6550d")
        .encode(x="start:T", x2="end:T", tooltip=["start:T", "end:T", "origin:N", "insight_type:N"])
    )
    title = f"{event_name}: {label}, baseline band and Insights"
    return alt.layer(shade, band, line).properties(width=width, height=height, title=title)
