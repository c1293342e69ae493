"""Shared helpers for the charts: input coercion, time bins, UTC formatting, category capping."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = [
    "DEFAULT_MAX_BINS",
    "ISO_UTC",
    "auto_every",
    "capped_category",
    "every_to_timedelta",
    "iso_utc",
    "short_label",
    "time_bounds",
    "to_lazy",
    "utc_axis",
]

#: How charts write times into their data: ISO 8601 with an explicit ``Z`` (UTC).
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
#: The most time bins a timeline embeds (bins x categories bounds the chart's rows).
DEFAULT_MAX_BINS = 400

# Bin widths tried by :func:`auto_every`, smallest first.
_LADDER = (
    "1m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d", "2d", "7d", "14d", "30d",
)  # fmt: skip
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def to_lazy(data: Trail | pl.DataFrame | pl.LazyFrame | Any) -> pl.LazyFrame:
    """Events as a LazyFrame, from a :class:`~forensics.Trail`, a frame, or a result object.

    Objects with an ``events`` frame (a ``BlastRadius``) are accepted too.

    >>> import polars as pl
    >>> to_lazy(pl.DataFrame({"a": [1]})).collect().height
    1
    """
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    lazy = getattr(data, "lazy", None)
    if isinstance(lazy, pl.LazyFrame):
        return lazy
    events = getattr(data, "events", None)
    if isinstance(events, pl.DataFrame | pl.LazyFrame):
        return events.lazy()
    raise TypeError(
        f"expected a Trail, a BlastRadius or a polars frame of events, got {type(data).__name__}"
    )


def every_to_timedelta(every: str) -> timedelta:
    """A polars duration string (``"15m"``, ``"1h"``, ``"1d"``, ``"1w"``) as a timedelta.

    >>> every_to_timedelta("90m")
    datetime.timedelta(seconds=5400)
    """
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", every)
    if not match:
        raise ValueError(
            f"cannot read the bin width {every!r}; use a number and a unit among s, m, h, d, w "
            "(e.g. '15m', '1h', '1d')"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])


def auto_every(span: timedelta, *, target: int = 120) -> str:
    """The smallest bin width from a fixed ladder that cuts ``span`` into at most ``target`` bins.

    >>> from datetime import timedelta
    >>> auto_every(timedelta(days=7))
    '2h'
    >>> auto_every(timedelta(minutes=30))
    '1m'
    """
    for every in _LADDER:
        if span / every_to_timedelta(every) <= target:
            return every
    return _LADDER[-1]


def time_bounds(lazy: pl.LazyFrame) -> tuple[Any, Any]:
    """``(min, max)`` of ``event_time`` (``(None, None)`` for no events)."""
    row = lazy.select(
        pl.col("event_time").min().alias("lo"), pl.col("event_time").max().alias("hi")
    ).collect()
    return row.item(0, "lo"), row.item(0, "hi")


def iso_utc(column: str, alias: str | None = None) -> pl.Expr:
    """A datetime column as ISO 8601 UTC text ending in ``Z`` (what Vega-Lite reads unambiguously)."""
    return (
        pl.col(column)
        .dt.convert_time_zone("UTC")
        .dt.strftime(ISO_UTC)
        .alias(alias or column)
    )


def capped_category(
    lazy: pl.LazyFrame, column: str, top: int, *, null_label: str = "(none)"
) -> tuple[pl.Expr, list[str]]:
    """An expression mapping ``column`` to its ``top`` most frequent values, the rest to ``(other)``.

    Returns the expression (aliased ``category``) and the kept values, most frequent first.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    filled = pl.col(column).cast(pl.String).fill_null(null_label)
    kept = (
        lazy.group_by(filled.alias("value"))
        .len()
        .sort(["len", "value"], descending=[True, False])
        .head(top)
        .collect()
        .get_column("value")
        .to_list()
    )
    expr = pl.when(filled.is_in(kept)).then(filled).otherwise(pl.lit("(other)")).alias("category")
    return expr, kept


def short_label(value: str | None, width: int = 48) -> str:
    """A readable label for an ARN or key: the part after the account, cut to ``width``.

    >>> short_label("arn:aws:sts::111122223333:assumed-role/admin/alice")
    'assumed-role/admin/alice'
    >>> short_label("service:s3.amazonaws.com")
    'service:s3.amazonaws.com'
    """
    if value is None:
        return "(none)"
    text = str(value)
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        text = parts[5] if len(parts) == 6 and parts[5] else text
    return text if len(text) <= width else text[: width - 1] + "…"


def utc_axis(fmt: str = "%m-%d %H:%M", **kwargs: Any) -> Any:
    """An Altair axis whose labels are formatted in UTC whatever the browser's time zone.

    (Vega-Lite 6 ignores ``formatType="utc"`` on a utc scale, so the labels use ``utcFormat``.)
    """
    import altair as alt

    return alt.Axis(labelExpr=f"utcFormat(datum.value, '{fmt}')", labelAngle=0, labelOverlap=True, **kwargs)
