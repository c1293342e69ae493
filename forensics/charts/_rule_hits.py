"""Findings on a UTC time axis: one row per rule, a mark per time bin, coloured by level.

Aggregated in Polars first (rule x bin), so a million findings embed a few hundred rows.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from forensics.charts._common import auto_every, iso_utc, utc_axis

__all__ = ["findings_timeline", "findings_timeline_data"]

_LEVELS = ["informational", "low", "medium", "high", "critical"]
_COLOURS = ["#9e9e9e", "#4c78a8", "#f2a900", "#e4572e", "#7b0000"]
_RANKS = {lv: i for i, lv in enumerate(_LEVELS)}


def findings_timeline_data(
    findings: Any, *, min_level: str = "medium", top: int = 25, every: str | None = None
) -> pl.DataFrame:
    """Hits per rule and time bin: ``title``, ``level``, ``bin`` (ISO UTC), ``hits``, ``events``.

    ``findings``: a :class:`forensics.detect.Findings` or any findings table (first-seen,
    Insights). Keeps rules at ``min_level`` or above,
    the ``top`` worst (then busiest) of them.

    >>> from forensics.detect._findings import Findings, empty_findings
    >>> findings_timeline_data(Findings(empty_findings())).height
    0
    """
    from forensics.detect import as_findings  # a baseline table is findings too

    frame = as_findings(findings).at_least(min_level).frame
    schema = {"title": pl.String, "level": pl.String, "bin": pl.String, "hits": pl.UInt32,
              "events": pl.UInt32, "techniques": pl.String}  # fmt: skip
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    lo, hi = frame["time"].min(), frame["time"].max()
    every = every or auto_every(hi - lo)
    rank = (
        pl.col("level")
        .cast(pl.String)
        .replace_strict({lv: i for i, lv in enumerate(_LEVELS)}, default=0, return_dtype=pl.Int8)
    )
    kept = (
        frame.group_by(pl.col("title").cast(pl.String))
        .agg(rank.max().alias("r"), pl.len().alias("n"))
        .sort(["r", "n", "title"], descending=[True, True, False])
        .head(top)["title"]
    )
    return (
        frame.with_columns(pl.col("title").cast(pl.String))
        .filter(pl.col("title").is_in(kept.implode()))
        .with_columns(pl.col("time").dt.truncate(every).alias("bin"))
        .group_by("title", "bin")
        .agg(
            pl.col("level").cast(pl.String).first(),
            pl.len().cast(pl.UInt32).alias("hits"),
            pl.col("event_count").sum().cast(pl.UInt32).alias("events"),
            pl.col("techniques").first().cast(pl.List(pl.String)).list.join(", "),
        )
        .sort("bin", "title")
        .with_columns(iso_utc("bin"))
        .select(list(schema))
    )


def findings_timeline(
    findings: Any,
    *,
    min_level: str = "medium",
    top: int = 25,
    every: str | None = None,
    width: int = 640,
    title: str | None = None,
) -> alt.Chart:
    """When each rule fired (UTC), worst rules on top; marks sized by hits.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.findings_timeline(fx.detect(trail), min_level="high")  # doctest: +SKIP
    """
    data = findings_timeline_data(findings, min_level=min_level, top=top, every=every)
    rows = (  # worst level first, then the busiest
        data.group_by("title")
        .agg(
            pl.col("level").replace_strict(_RANKS, default=0).max().alias("r"), pl.col("hits").sum()
        )
        .sort(["r", "hits", "title"], descending=[True, True, False])
        .get_column("title")
        .to_list()
    )
    return (
        alt.Chart(data)
        .mark_circle(opacity=0.85)
        .encode(
            x=alt.X("bin:T", title="time (UTC)", scale=alt.Scale(type="utc"), axis=utc_axis()),
            y=alt.Y("title:N", title="rule", sort=rows),
            color=alt.Color(
                "level:N", scale=alt.Scale(domain=_LEVELS, range=_COLOURS), title="level"
            ),
            size=alt.Size("hits:Q", title="hits", scale=alt.Scale(range=[30, 400])),
            tooltip=[
                alt.Tooltip("title:N", title="rule"),
                alt.Tooltip("level:N"),
                alt.Tooltip("techniques:N", title="ATT&CK"),
                alt.Tooltip("utcyearmonthdatehoursminutes(bin):T", title="from (UTC)"),
                alt.Tooltip("hits:Q", format=","),
                alt.Tooltip("events:Q", format=","),
            ],
        )
        .properties(
            width=width,
            height=max(60, 22 * len(rows)),
            title=title or f"Findings at {min_level} or above ({len(rows)} rules)",
        )
    )
