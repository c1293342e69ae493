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
    "distinct_labels",
    "every_to_timedelta",
    "interactive_renderer",
    "iso_utc",
    "short_label",
    "time_axis",
    "time_bounds",
    "to_lazy",
    "utc_axis",
    "zoom_axis",
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
    return pl.col(column).dt.convert_time_zone("UTC").dt.strftime(ISO_UTC).alias(alias or column)


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


def distinct_labels(values: list[str | None], width: int = 40) -> dict[str | None, str]:
    """Short legend labels (:func:`short_label`) that stay distinct and at most ``width`` long.

    Two ARNs that shorten to the same text get their account added; what is still too long is
    cut in the middle, keeping the distinct tail, so no two series ever show the same text.

    >>> labels = distinct_labels(["arn:aws:iam::111122223333:role/app", "arn:aws:iam::444455556666:role/app"])
    >>> sorted(labels.values())
    ['role/app (111122223333)', 'role/app (444455556666)']
    """
    short = {v: short_label(v, 10_000) for v in values}
    counts: dict[str, int] = {}
    for text in short.values():
        counts[text] = counts.get(text, 0) + 1
    out: dict[str | None, str] = {}
    for v, text in short.items():
        if counts[text] > 1 and v is not None and str(v).startswith("arn:"):
            account = str(v).split(":", 5)[4] if str(v).count(":") >= 5 else ""
            text = f"{text} ({account})" if account else str(v)
        out[v] = _middle_cut(text, width)
    seen: dict[str, int] = {}
    for v, text in out.items():  # still equal (rare): number them
        seen[text] = seen.get(text, 0) + 1
        if list(out.values()).count(text) > 1:
            out[v] = _middle_cut(text, width - 4) + f" #{seen[text]}"
    return out


def _middle_cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head = max(1, (width - 1) // 2 - 2)
    return text[:head] + "…" + text[-(width - 1 - head) :]


_STATIC_RENDERERS = {"svg", "png", "jpeg", "pdf", "mimetype", "json"}
# Tick steps tried by :func:`time_axis`: (Vega time interval, step, seconds), smallest first.
_TICK_STEPS = tuple(
    (unit, step, step * secs)
    for unit, secs, steps in (
        ("second", 1, (1, 5, 15, 30)),
        ("minute", 60, (1, 2, 5, 10, 15, 30)),
        ("hour", 3600, (1, 2, 3, 6, 12)),
        ("day", 86400, (1, 2, 7, 14)),
        ("month", 30 * 86400, (1, 3, 6)),
        ("year", 365 * 86400, (1, 2, 5, 10)),
    )
    for step in steps
)


def interactive_renderer() -> bool:
    """Whether Altair's active renderer draws live Vega (a brush works) or a static image.

    >>> import altair as alt
    >>> with alt.renderers.enable("svg"):
    ...     interactive_renderer()
    False
    """
    import altair as alt

    return alt.renderers.active not in _STATIC_RENDERERS


def time_axis(span: timedelta, *, width: int = 640, every: str | None = None, **kwargs: Any) -> Any:
    """A UTC time axis whose ticks are never closer than a bin nor than the label format shows.

    Ticks fall on whole minutes / hours / days (``tickCount`` as a time interval) chosen so
    about one label fits every 90 px, and the label format matches the tick step, so no two
    ticks ever print the same text (no "11:45 11:45" on a 30-second tick).

    >>> from datetime import timedelta
    >>> time_axis(timedelta(minutes=55), width=640).to_dict()["tickCount"]
    {'expr': "{interval: 'minutes', step: 10}"}
    """
    target = max(2, width // 90)
    floor = every_to_timedelta(every).total_seconds() if every else 1
    seconds = max(span.total_seconds(), 1)
    unit, step, _ = next(
        ((u, k, s) for u, k, s in _TICK_STEPS if s >= floor and seconds / s <= target),
        _TICK_STEPS[-1],
    )
    if unit in ("second",):
        fmt = "%H:%M:%S"
    elif unit in ("minute", "hour"):
        fmt = "%H:%M" if seconds < 86400 else "%m-%d %H:%M"
    elif unit == "day":
        fmt = "%m-%d" if seconds < 300 * 86400 else "%Y-%m-%d"
    else:
        fmt = "%Y-%m"
    # Vega's runtime names the intervals as vega-time does ("minutes"); Vega-Lite's schema
    # only knows "minute", so the object is passed as an expression
    vega_unit = {"second": "seconds", "minute": "minutes", "hour": "hours"}.get(unit, unit)
    return utc_axis(fmt, tickCount={"expr": f"{{interval: '{vega_unit}', step: {step}}}"}, **kwargs)


def zoom_axis(**kwargs: Any) -> Any:
    """A UTC time axis for a chart a brush zooms: Vega picks the ticks, each label is whole.

    Vega's own multi-format writes ``:15`` for the seconds between minutes (the same text on
    every minute); here each label carries its date and time down to the tick's resolution
    (``03-02 11:40``, ``03-02 11:40:15``, ``03-02`` at midnight), so no two ticks read alike.
    """
    import altair as alt

    expr = (
        "utcseconds(datum.value) ? utcFormat(datum.value, '%m-%d %H:%M:%S') : "
        "(utchours(datum.value) || utcminutes(datum.value)) ? "
        "utcFormat(datum.value, '%m-%d %H:%M') : utcFormat(datum.value, '%Y-%m-%d')"
    )
    return alt.Axis(labelExpr=expr, labelAngle=0, labelOverlap=True, **kwargs)


def utc_axis(fmt: str = "%m-%d %H:%M", **kwargs: Any) -> Any:
    """An Altair axis whose labels are formatted in UTC whatever the browser's time zone.

    (Vega-Lite 6 ignores ``formatType="utc"`` on a utc scale, so the labels use ``utcFormat``.)
    """
    import altair as alt

    return alt.Axis(
        labelExpr=f"utcFormat(datum.value, '{fmt}')", labelAngle=0, labelOverlap=True, **kwargs
    )
