"""``first_seen``: when each principal called each API for the first time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import altair as alt
import polars as pl

from forensics.charts._common import distinct_labels, iso_utc, time_axis, to_lazy

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["first_seen", "first_seen_data"]


def first_seen_data(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    principals: str | Iterable[str] | None = None,
    *,
    top: int = 10,
    since: datetime | date | str | None = None,
    max_points: int = 1500,
) -> pl.DataFrame:
    """One row per (principal, API) with the time it was first called.

    Columns: ``principal``, ``label`` (short name), ``event_source``, ``event_name``, ``api``
    (``source:name``), ``first_seen`` (ISO UTC text), ``events``, ``errors``. ``principals``
    picks whose calls to show (default: the ``top`` busiest). ``since`` keeps only APIs first
    called at or after that time: what a principal started doing after a baseline period. At
    most ``max_points`` rows (the most recent first-seen calls win).

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> ev = pl.DataFrame({"event_time": [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
    ...     "principal": ["a"] * 3, "event_source": ["s3.amazonaws.com"] * 3,
    ...     "event_name": ["GetObject", "GetObject", "PutObject"], "error_code": [None] * 3})
    >>> first_seen_data(ev).select("event_name", "first_seen", "events").rows()
    [('GetObject', '2024-01-01T00:00:00Z', 2), ('PutObject', '2024-01-03T00:00:00Z', 1)]
    """
    from forensics._schema import to_utc

    lazy = to_lazy(trail).filter(pl.col("event_time").is_not_null())
    if principals is None:
        chosen = (
            lazy.group_by("principal")
            .len()
            .sort(["len", "principal"], descending=[True, False])
            .head(top)
            .collect()
            .get_column("principal")
            .to_list()
        )
    else:
        chosen = [principals] if isinstance(principals, str) else list(principals)
    data = (
        lazy.filter(pl.col("principal").is_in(chosen))
        .group_by("principal", "event_source", "event_name")
        .agg(
            pl.col("event_time").min().alias("first"),
            pl.len().alias("events"),
            pl.col("error_code").is_not_null().sum().alias("errors"),
        )
    )
    lo = to_utc(since)
    if lo is not None:
        data = data.filter(pl.col("first") >= lo)
    data = (
        data.sort(["first", "principal", "event_name"], descending=[True, False, False])
        .head(max_points)
        .sort(["first", "principal", "event_source", "event_name"])
        .with_columns(
            (
                pl.col("event_source").str.replace(r"\.amazonaws\.com$", "")
                + ":"
                + pl.col("event_name")
            ).alias("api"),
            iso_utc("first", "first_seen"),
        )
        .drop("first")
        .collect()
    )
    names = data.get_column("principal").to_list()
    labels = distinct_labels(sorted(set(names)), 40)
    return data.with_columns(
        pl.col("principal").replace_strict(labels, return_dtype=pl.String).alias("label")
    ).select(
        "principal", "label", "event_source", "event_name", "api", "first_seen", "events", "errors"
    )


def first_seen(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    principals: str | Iterable[str] | None = None,
    *,
    top: int = 10,
    since: datetime | date | str | None = None,
    max_points: int = 1500,
    title: str | None = None,
    width: int = 640,
) -> alt.Chart:
    """Each principal's first call of each API, on a UTC time axis, coloured by service.

    A burst of new APIs late in the trail (``iam:CreateUser``, ``sts:GetCallerIdentity``,
    ``s3:ListBuckets``...) is the shape of a credential in new hands. Use ``since`` to show only
    what appeared after a baseline period. The chart embeds at most ``max_points`` rows.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.first_seen(trail, "arn:aws:iam::111122223333:user/alice",
    ...                      since="2024-03-01")  # doctest: +SKIP
    """
    data = first_seen_data(trail, principals, top=top, since=since, max_points=max_points)
    data = data.with_columns(
        pl.col("event_source").str.replace(r"\.amazonaws\.com$", "").alias("service"),
    ).with_columns(  # calls first seen in the same service are spread over 3 lanes, in time order
        (pl.col("first_seen").rank("ordinal").over("service") - 1).mod(3).alias("lane")
    )
    services = (
        data.group_by("service")
        .agg(pl.col("first_seen").min())
        .sort("first_seen", "service")
        .get_column("service")
        .to_list()
    )
    who = data.get_column("label").unique(maintain_order=True).to_list()
    suffix = f", new since {since}" if since is not None else ""
    if data.height:
        times = data.get_column("first_seen").str.to_datetime(time_zone="UTC")
        span = times.max() - times.min()
    else:
        span = timedelta(0)
    return (
        alt.Chart(data)
        .mark_point(filled=True, size=60, opacity=0.85)
        .encode(
            x=alt.X(
                "first_seen:T",
                title="first call (UTC)",
                scale=alt.Scale(type="utc"),
                axis=time_axis(span, width=width),
            ),
            y=alt.Y(
                "service:N",
                title="service (first used at the top)",
                sort=services,
                axis=alt.Axis(labelLimit=200),
            ),
            yOffset=alt.YOffset("lane:O", scale=alt.Scale(paddingOuter=0.3)),
            color=alt.Color(
                "label:N",
                title="principal",
                sort=who,
                scale=alt.Scale(scheme="category10"),
                legend=alt.Legend(orient="top", columns=2, labelLimit=0, symbolLimit=0),
            ),
            shape=alt.condition(
                alt.datum.errors > 0, alt.value("triangle-up"), alt.value("circle")
            ),
            tooltip=[
                alt.Tooltip("principal:N"),
                alt.Tooltip("api:N", title="API"),
                alt.Tooltip(
                    "utcyearmonthdatehoursminutesseconds(first_seen):T", title="first call (UTC)"
                ),
                alt.Tooltip("events:Q", format=","),
                alt.Tooltip("errors:Q", format=","),
            ],
        )
        .properties(
            width=width,
            height=alt.Step(8),
            title=title
            or f"First-seen API calls by service ({data.height:,} APIs, "
            f"{len(who)} principals{suffix}; ▲ = some calls failed)",
        )
    )
