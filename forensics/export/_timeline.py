"""The ticket's own small charts, aggregated in polars before altair sees them.

``fx.charts`` (issue 5) draws the notebook charts; a ticket needs only two pictures that read
well at a glance and render the same every time: activity over time by service, and the calls
made with their outcome.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from forensics._schema import is_denied

__all__ = ["actions_chart", "bucket_width", "timeline_chart"]

_WIDTHS = (
    ("1s", timedelta(seconds=1)),
    ("10s", timedelta(seconds=10)),
    ("1m", timedelta(minutes=1)),
    ("5m", timedelta(minutes=5)),
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("1d", timedelta(days=1)),
    ("1w", timedelta(weeks=1)),
)
_MAX_BUCKETS = 120
_TOP = 9


def bucket_width(span: timedelta) -> str:
    """The smallest bucket (polars duration) that keeps a span within ~120 bars.

    >>> bucket_width(timedelta(minutes=13))
    '10s'
    >>> bucket_width(timedelta(days=3))
    '1h'
    """
    for name, width in _WIDTHS:
        if span / width <= _MAX_BUCKETS:
            return name
    return _WIDTHS[-1][0]


def _top_or_other(frame: pl.DataFrame, column: str, top: int = _TOP) -> pl.Expr:
    counts = (
        frame.group_by(column)
        .agg(pl.len().alias("n"))
        .sort(["n", column], descending=[True, False], nulls_last=True)
    )
    keep = [v for v in counts.get_column(column).to_list()[:top] if v is not None]
    return pl.when(pl.col(column).is_in(keep)).then(pl.col(column)).otherwise(pl.lit("(other)"))


def timeline_chart(events: pl.DataFrame, *, by: str = "event_source", title: str | None = None):
    """Events per time bucket (UTC), stacked by ``by`` (top 9, the rest as "(other)").

    >>> from forensics._schema import empty_events
    >>> timeline_chart(empty_events()).to_dict()["mark"]["type"]
    'bar'
    """
    import altair as alt

    frame = events.filter(pl.col("event_time").is_not_null())
    if frame.height:
        lo, hi = frame.get_column("event_time").min(), frame.get_column("event_time").max()
        width = bucket_width(hi - lo)  # type: ignore[operator]
        same_day = lo.date() == hi.date()  # type: ignore[union-attr]
        axis_title = f"time (UTC, {lo:%Y-%m-%d})" if same_day else "time (UTC)"
        axis_format = "%H:%M" if same_day else "%Y-%m-%d %H:%M"
    else:
        width, axis_title, axis_format = "1h", "time (UTC)", "%Y-%m-%d %H:%M"
    data = (
        frame.with_columns(
            pl.col("event_time").dt.truncate(width).alias("bucket"),
            _top_or_other(frame, by).fill_null("(none)").alias(by),
        )
        .group_by("bucket", by)
        .agg(pl.len().alias("events"))
        .sort("bucket", by)
        .select(
            pl.col("bucket").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
            pl.col(by),
            pl.col("events"),
        )
    )
    return (
        alt.Chart(data, title=title or f"Events per {width} (UTC), by {by}")
        .mark_bar()
        .encode(
            x=alt.X(
                "time:T",
                title=axis_title,
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format=axis_format, labelAngle=0),
            ),
            y=alt.Y("events:Q", title="events", stack="zero"),
            color=alt.Color(f"{by}:N", title=by, sort="ascending"),
            tooltip=[
                alt.Tooltip("time:N", title="bucket start (UTC)"),
                alt.Tooltip(f"{by}:N"),
                alt.Tooltip("events:Q"),
            ],
        )
        .properties(width=640, height=220)
    )


def actions_chart(events: pl.DataFrame, *, top: int = 20, title: str | None = None):
    """The ``top`` most frequent API calls, split by outcome (ok / error / denied).

    >>> from forensics._schema import empty_events
    >>> actions_chart(empty_events()).to_dict()["mark"]["type"]
    'bar'
    """
    import altair as alt

    outcome = (
        pl.when(pl.col("error_code").is_null())
        .then(pl.lit("ok"))
        .when(is_denied(pl.col("error_code")))
        .then(pl.lit("denied"))
        .otherwise(pl.lit("error"))
    )
    named = events.with_columns(
        pl.concat_str(
            pl.col("event_source").fill_null("?").str.replace(r"\.amazonaws\.com$", ""),
            pl.lit(":"),
            pl.col("event_name").fill_null("?"),
        ).alias("action"),
        outcome.alias("outcome"),
    )
    totals = (
        named.group_by("action")
        .agg(pl.len().alias("total"))
        .sort(["total", "action"], descending=[True, False])
        .head(top)
    )
    data = (
        named.join(totals, on="action", how="semi")
        .group_by("action", "outcome")
        .agg(pl.len().alias("events"))
        .sort("action", "outcome")
    )
    order = totals.get_column("action").to_list()
    return (
        alt.Chart(data, title=title or f"Top {top} API calls by outcome")
        .mark_bar()
        .encode(
            y=alt.Y("action:N", sort=order, title=None),
            x=alt.X("events:Q", title="events"),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(
                    domain=["ok", "error", "denied"], range=["#4c78a8", "#f58518", "#e45756"]
                ),
            ),
            tooltip=["action:N", "outcome:N", "events:Q"],
        )
        .properties(width=520, height=alt.Step(16))
    )
