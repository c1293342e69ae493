"""``timeline``: events over time, stacked by principal / service / region / error, with a brush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import altair as alt
import polars as pl

from forensics.charts._common import (
    DEFAULT_MAX_BINS,
    auto_every,
    capped_category,
    distinct_labels,
    every_to_timedelta,
    interactive_renderer,
    iso_utc,
    time_axis,
    time_bounds,
    to_lazy,
    zoom_axis,
)

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["BY_CHOICES", "timeline", "timeline_data"]

#: What a timeline can be split by (the legend), with the label shown for each.
BY_CHOICES = {
    "principal": "principal",
    "event_source": "service",
    "aws_region": "region",
    "error_code": "error",
    "event_name": "event name",
    "source_ip": "source IP",
    "access_key_id": "access key",
    "user_agent": "user agent",
}
_NULL_LABEL = {"error_code": "(success)", "access_key_id": "(no key)", "user_agent": "(none)"}


def timeline_data(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    *,
    by: str = "principal",
    every: str | None = None,
    top: int = 8,
    max_bins: int = DEFAULT_MAX_BINS,
) -> tuple[pl.DataFrame, str]:
    """The aggregated rows a timeline draws, and the bin width used.

    Columns: ``bucket`` (ISO 8601 UTC text, start of the bin), ``category`` (one of the ``top``
    values of ``by``, or ``(other)``), ``events`` (count), ``label`` (``category`` shortened
    for the legend: ARNs lose their ``arn:aws:...:account:`` prefix). At most ``max_bins * (top + 1)`` rows.

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> ev = pl.DataFrame({"event_time": [datetime(2024, 1, 1, 10, 5, tzinfo=UTC)] * 3,
    ...                    "principal": ["a", "a", "b"]})
    >>> timeline_data(ev, every="1h")[0].rows()
    [('2024-01-01T10:00:00Z', 'a', 2, 'a'), ('2024-01-01T10:00:00Z', 'b', 1, 'b')]
    """
    if by not in BY_CHOICES:
        raise ValueError(f"cannot split a timeline by {by!r}; choose one of {sorted(BY_CHOICES)}")
    lazy = to_lazy(trail).filter(pl.col("event_time").is_not_null())
    lo, hi = time_bounds(lazy)
    if lo is None:
        every = every or "1h"
        empty = pl.DataFrame(
            schema={
                "bucket": pl.String,
                "category": pl.String,
                "events": pl.UInt32,
                "label": pl.String,
            }
        )
        return empty, every
    span = hi - lo
    if every is None:
        every = auto_every(span, target=min(120, max_bins))
    bins = span / every_to_timedelta(every) + 1
    if bins > max_bins:
        raise ValueError(
            f"{every!r} bins would cut {span} of events into {int(bins):,} bins (more than "
            f"{max_bins}); choose a wider bin (e.g. every={auto_every(span, target=max_bins)!r}) "
            "or narrow the time range first (trail.between(...))"
        )
    category, _ = capped_category(lazy, by, top, null_label=_NULL_LABEL.get(by, "(none)"))
    data = (
        lazy.select(pl.col("event_time").dt.truncate(every).alias("bucket"), category)
        .group_by("bucket", "category")
        .agg(pl.len().alias("events"))
        .sort("bucket", "category")
        .with_columns(iso_utc("bucket"))
        .collect()
    )
    values = data.get_column("category").unique().sort().to_list()
    labels = distinct_labels(values, 40)
    data = data.with_columns(
        pl.col("category").replace_strict(labels, return_dtype=pl.String).alias("label")
    )
    return data, every


def _span(data: pl.DataFrame) -> tuple[datetime, datetime]:
    """First and last bin start of a timeline's rows (UTC)."""
    if data.height == 0:
        now = datetime(1970, 1, 1, tzinfo=UTC)
        return now, now
    b = data.get_column("bucket")
    return datetime.fromisoformat(b.min()), datetime.fromisoformat(b.max())


def _totals(data: pl.DataFrame, every: str) -> pl.DataFrame:
    """Events per bin with every bin between the first and the last, empty bins at 0.

    A step area drawn over only the non-empty bins would hold its level across an empty
    stretch (a line across minutes with no events); with the zeros it drops to the axis.
    """
    if data.height == 0:
        return pl.DataFrame(schema={"bucket": pl.String, "events": pl.UInt32})
    lo, hi = _span(data)
    step = every_to_timedelta(every)
    # one bin past the last, so the step after the last bin closes at 0 too
    grid = pl.DataFrame(
        {"bucket": pl.datetime_range(lo, hi + step, every, time_zone="UTC", eager=True)}
    ).with_columns(iso_utc("bucket"))
    sums = data.group_by("bucket").agg(pl.col("events").sum())
    return (
        grid.join(sums, on="bucket", how="left")
        .with_columns(pl.col("events").fill_null(0).cast(pl.UInt32))
        .sort("bucket")
    )


def _axis_format(every: str, data: pl.DataFrame) -> tuple[str, str]:
    """Tick label format, and the day to name in the axis title when all bins share it."""
    if every_to_timedelta(every) >= timedelta(days=1):
        return "%Y-%m-%d", ""
    days = data.get_column("bucket").str.slice(0, 10).unique().to_list()
    if len(days) == 1:
        return "%H:%M", f" on {days[0]}"
    return "%m-%d %H:%M", ""


def timeline(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    by: Literal[
        "principal",
        "event_source",
        "aws_region",
        "error_code",
        "event_name",
        "source_ip",
        "access_key_id",
        "user_agent",
    ] = "principal",
    every: str | None = None,
    top: int = 8,
    *,
    title: str | None = None,
    width: int = 640,
    height: int = 220,
    overview: bool = True,
    brush: bool | None = None,
    findings: Any = None,
    enrich: Any = None,
) -> alt.Chart | alt.LayerChart | alt.VConcatChart:
    """Events over time, stacked by ``by``, with a brush to select a time range.

    Counts are aggregated in polars (``dt.truncate`` + ``group_by``) before the chart is built,
    so the chart embeds at most a few hundred bins times ``top + 1`` categories whatever the
    size of the trail. The brush (a selection named ``brush``) sits on the overview strip and
    zooms the main chart; in a :class:`altair.JupyterChart` its value is in
    ``chart.selections.brush``.

    Parameters
    ----------
    trail
        A :class:`~forensics.Trail`, a ``BlastRadius`` or an events frame.
    by
        The column to split by: ``principal``, ``event_source``, ``aws_region``,
        ``error_code`` (also ``event_name``, ``source_ip``, ``access_key_id``).
    every
        Bin width as a polars duration (``"5m"``, ``"1h"``, ``"1d"``); default: picked from the
        time span (about 120 bins at most).
    top
        Values of ``by`` shown on their own; the others are summed as ``(other)``.
    overview
        Add the overview strip with the brush under the main chart (``False``: one chart with
        the brush on it).
    brush
        Whether the chart is live (a brush can be dragged): default, when Altair's renderer
        draws live Vega. With a static renderer (``svg``, ``png``: an image, where nothing can
        be dragged) there is no brush, no overview strip and no "drag to select".
    findings
        ``Findings`` (``fx.detect(trail)``, or any findings table): a mark above each bin
        holding findings on these events, in the colour of its worst level; its tooltip gives
        the hits by level, the worst rules and the findings' source IPs.
    enrich
        What source IPs are, in the tooltips (split by ``source_ip``, and the findings'
        addresses): ``True``, ``fx.enrich`` options (``{"ip_ranges": ..., "mmdb": [...]}``)
        or an ``fx.enrich`` table. Without it, enrichment columns already on the events
        (``fx.enrichment.add_ip_columns``) are shown when present.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.timeline(trail, by="event_source", every="1h", top=5)  # doctest: +SKIP
    """
    data, every = timeline_data(trail, by=by, every=every, top=top)
    data = _with_about(data, trail, by, enrich)
    label = BY_CHOICES[by]
    order = (
        data.group_by("category")
        .agg(pl.col("events").sum())
        .sort(["events", "category"], descending=[True, False])
    )
    domain = (
        order.join(
            data.select("category", "label").unique(),
            on="category",
            how="left",
            maintain_order="left",
        )
        .get_column("label")
        .to_list()
    )
    _fmt, day = _axis_format(every, data)
    lo, hi = _span(data)
    axis = time_axis(hi - lo, width=width, every=every)
    total = int(data.get_column("events").sum() or 0)
    live = interactive_renderer() if brush is None else brush
    brush = alt.selection_interval(encodings=["x"], name="brush")
    x_title = f"time (UTC){day}, {every} bins"
    base = alt.Chart(data)
    color = alt.Color(  # labels are distinct and <= 40 characters: never cut them
        "label:N",
        title=label,
        scale=alt.Scale(domain=domain),
        sort=domain,
        legend=alt.Legend(labelLimit=0),
    )
    tooltip = [
        alt.Tooltip("utcyearmonthdatehoursminutes(bucket):T", title="bin start (UTC)"),
        alt.Tooltip("category:N", title=label),
        alt.Tooltip("events:Q", title="events", format=","),
    ]
    if "about" in data.columns:
        tooltip.append(alt.Tooltip("about:N", title="what the IP is"))
    marks = None if findings is None else _finding_layer(findings, trail, data, every, enrich)
    main_title = title or f"Events per {every} by {label} ({total:,} events)"
    if not overview or not live:
        single = base.mark_bar().encode(
            x=alt.X("bucket:T", title=x_title, scale=alt.Scale(type="utc"), axis=axis),
            y=alt.Y("sum(events):Q", title="events", axis=alt.Axis(tickMinStep=1)),
            color=color,
            tooltip=tooltip,
        )
        if live:
            single = single.add_params(brush)
        if marks is not None:
            x = alt.X("bucket:T", scale=alt.Scale(type="utc"))
            return alt.layer(single, marks.encode(x=x)).properties(
                width=width, height=height, title=main_title
            )
        return single.properties(width=width, height=height, title=main_title)
    main = (
        base.mark_bar()
        .encode(
            x=alt.X(
                "bucket:T",
                title=x_title,
                scale=alt.Scale(type="utc", domain=brush),
                # zoomed by the brush: Vega's own UTC ticks, whose format follows the zoom
                # (fixed intervals would leave a zoomed view with no tick at all)
                axis=zoom_axis(),
            ),
            y=alt.Y("sum(events):Q", title="events", axis=alt.Axis(tickMinStep=1)),
            color=color,
            tooltip=tooltip,
        )
        .properties(width=width, height=height, title=main_title)
    )
    if marks is not None:
        zoomed = alt.X("bucket:T", scale=alt.Scale(type="utc", domain=brush))
        main = alt.layer(main, marks.encode(x=zoomed)).properties(
            width=width, height=height, title=main_title
        )
    strip = (
        alt.Chart(_totals(data, every))  # every bin, empty ones at 0: gaps stay gaps
        .mark_area(interpolate="step-after")
        .encode(
            x=alt.X(
                "bucket:T",
                title="drag to select a time range (UTC)",
                scale=alt.Scale(type="utc"),
                axis=axis,
            ),
            y=alt.Y("events:Q", title=None, axis=alt.Axis(tickCount=2, tickMinStep=1)),
        )
        .add_params(brush)
        .properties(width=width, height=50)
    )
    return alt.vconcat(main, strip).resolve_scale(color="independent")


def _with_about(data: pl.DataFrame, trail: Any, by: str, enrich: Any) -> pl.DataFrame:
    """A timeline split by source IP gets ``about`` (what each address is) for its tooltip:
    from ``enrich``, or from enrichment columns the events already carry."""
    if by != "source_ip" or data.height == 0:
        return data
    from forensics.charts._finding_marks import ENRICH_TOOLTIP, ip_about

    ips = data.get_column("category")
    if enrich is not None and enrich is not False:
        about = ip_about(ips, enrich)
    else:
        lazy = to_lazy(trail)
        carried = [c for c in ENRICH_TOOLTIP if c in lazy.collect_schema().names()]
        if not carried:
            return data
        from forensics.enrichment import describe_ips

        info = (
            lazy.filter(pl.col("source_ip").is_in(ips.unique().implode()))
            .group_by("source_ip")
            .agg(pl.col(c).drop_nulls().first() for c in carried)
            .collect()
        )
        about = describe_ips(info)
    return data.join(
        about.rename({"source_ip": "category"}), on="category", how="left", maintain_order="left"
    )


def _finding_layer(
    findings: Any, trail: Any, data: pl.DataFrame, every: str, enrich: Any
) -> alt.Chart | None:
    """Marks above the bins that hold findings, coloured by the worst level (no x encoding:
    the caller sets it, zoomed by the brush or not)."""
    from forensics.charts._finding_marks import LEVEL_COLOURS, LEVELS, finding_marks_data

    marks = finding_marks_data(findings, to_lazy(trail), every, enrich=enrich)
    if marks.height == 0 or data.height == 0:
        return None
    tops = data.group_by("bucket").agg(pl.col("events").sum().alias("top"))
    marks = marks.join(tops, on="bucket", how="left").with_columns(pl.col("top").fill_null(0))
    return (
        alt.Chart(marks)
        .mark_point(shape="triangle-down", filled=True, opacity=0.95, yOffset=-7)
        .encode(
            y=alt.Y("top:Q"),
            fill=alt.Fill(
                "level:N",
                scale=alt.Scale(domain=LEVELS, range=LEVEL_COLOURS),
                title="finding (worst level)",
            ),
            stroke=alt.value("#1b1f24"),
            strokeWidth=alt.value(0.5),
            size=alt.Size("hits:Q", scale=alt.Scale(range=[60, 260]), legend=None),
            tooltip=[
                alt.Tooltip("utcyearmonthdatehoursminutes(bucket):T", title="bin start (UTC)"),
                alt.Tooltip("by_level:N", title="findings"),
                alt.Tooltip("rules:N", title="worst rules"),
                alt.Tooltip("source_ips:N", title="source IPs"),
            ],
        )
    )
