"""``heatmap``: when a trail is active, hour of day (UTC) x day of week."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import polars as pl

from forensics.charts._common import to_lazy

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["WEEKDAYS", "heatmap", "heatmap_data"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heatmap_data(trail: Trail | pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Counts per (weekday, hour) in UTC: at most 168 rows.

    Columns ``weekday`` (``Mon`` .. ``Sun``), ``day`` (1 = Monday), ``hour`` (0-23), ``events``.

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> ev = pl.DataFrame({"event_time": [datetime(2024, 1, 1, 9, tzinfo=UTC)] * 2})
    >>> heatmap_data(ev).rows()
    [('Mon', 1, 9, 2)]
    """
    t = pl.col("event_time").dt.convert_time_zone("UTC")
    return (
        to_lazy(trail)
        .filter(pl.col("event_time").is_not_null())
        .group_by(t.dt.weekday().alias("day"), t.dt.hour().alias("hour"))
        .agg(pl.len().alias("events"))
        .with_columns(
            pl.col("day")
            .replace_strict(list(range(1, 8)), list(WEEKDAYS), return_dtype=pl.String)
            .alias("weekday")
        )
        .select("weekday", "day", "hour", "events")
        .sort("day", "hour")
        .collect()
    )


def heatmap(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    *,
    title: str | None = None,
    width: int = 560,
    height: int = 180,
) -> alt.Chart:
    """Activity by hour of day (UTC) and day of week: when do the principals normally work?

    Off-hours activity by a human principal stands out as a lone cell away from the working
    block. At most 168 rows are embedded, whatever the size of the trail.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.heatmap(trail.where(principal="arn:aws:iam::111122223333:user/alice"))  # doctest: +SKIP
    """
    data = heatmap_data(trail)
    total = int(data.get_column("events").sum() or 0)
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "hour:O",
                title="hour of day (UTC)",
                scale=alt.Scale(domain=list(range(24))),
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y(
                "weekday:O",
                title="day of week (UTC)",
                sort=list(WEEKDAYS),
                scale=alt.Scale(domain=list(WEEKDAYS)),
            ),
            color=alt.Color(  # from 0: a pale cell means few events, not "the fewest"
                "events:Q",
                title="events",
                scale=alt.Scale(scheme="orangered", domainMin=0, zero=True),
                legend=alt.Legend(tickMinStep=1),
            ),
            tooltip=[
                alt.Tooltip("weekday:O", title="day (UTC)"),
                alt.Tooltip("hour:O", title="hour (UTC)"),
                alt.Tooltip("events:Q", format=","),
            ],
        )
        .properties(
            width=width,
            height=height,
            title=title or f"Activity by hour and weekday, UTC ({total:,} events)",
        )
    )
