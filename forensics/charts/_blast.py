"""The pictures of a blast radius: credentials over time, and the credential chain.

``BlastRadius.chart()`` is a shortcut to :func:`blast_chart`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import polars as pl

from forensics.charts._common import time_axis
from forensics.resources import access_kind

if TYPE_CHECKING:
    from forensics.blast import BlastRadius

__all__ = ["blast_chart"]


#: Credentials drawn one per row in the timeline; the others share one row (a closure of
#: thousands of session keys would make an unreadable chart, and a spec too big to render).
MAX_CREDENTIAL_ROWS = 60


def blast_chart(
    br: BlastRadius, kind: str = "timeline", *, width: int = 640, top: int = 25
) -> alt.Chart:
    """An Altair picture of the closure.

    ``kind="timeline"`` (default): one row per credential, marks sized by the number of
    calls per time bucket, coloured by read / write / denied (aggregated first: small).
    ``kind="graph"``: the credentials as a spine in order of first use (indented by depth
    from the seed) and the resources grouped by service and type on the right, with the
    minted / created links and each credential's links to the groups it touched.

    The timeline draws the seed and the busiest credentials, up to
    :data:`MAX_CREDENTIAL_ROWS` rows; the rest are one row, "(N other credentials)".
    """
    if kind == "graph":
        return _chain_chart(br, width=width, top=top)
    if kind != "timeline":
        raise ValueError(f"unknown chart kind {kind!r}; use 'timeline' or 'graph'")

    ev = br.events
    if ev.height == 0:
        return (
            alt.Chart(pl.DataFrame({"x": []}))
            .mark_point()
            .properties(title=f"Blast radius of {br.seed}: no events")
        )
    span = (ev["event_time"].max() - ev["event_time"].min()).total_seconds()
    every = "1m" if span <= 3 * 3600 else "1h" if span <= 4 * 86400 else "1d"

    keyed = ev.with_columns(access_kind(), pl.col("access_key_id").fill_null("(no key)"))
    busiest = (
        keyed.group_by("access_key_id")
        .len()
        .sort(["len", "access_key_id"], descending=[True, False])
    )
    if busiest.height > MAX_CREDENTIAL_ROWS:
        shown = set(busiest.head(MAX_CREDENTIAL_ROWS - 2).get_column("access_key_id").to_list())
        shown.add(str(br.seed))
        others = (
            f"({busiest.height - len(shown & set(busiest['access_key_id'])):,} other credentials)"
        )
        keyed = keyed.with_columns(
            pl.when(pl.col("access_key_id").is_in(sorted(shown)))
            .then(pl.col("access_key_id"))
            .otherwise(pl.lit(others))
            .alias("access_key_id")
        )
    agg = (
        keyed.group_by(
            pl.col("event_time").dt.truncate(every).alias("time"), "access_key_id", "access"
        )
        .agg(
            pl.len().alias("calls"),
            pl.col("event_name").unique().sort().head(5).str.join(", ").alias("events"),
        )
        .sort("time", "access_key_id", "access")  # a deterministic chart spec
    )

    return (
        alt.Chart(agg)
        .mark_circle(opacity=0.8)
        .encode(
            x=alt.X(
                "time:T",
                title=f"time (UTC, per {every})",
                scale=alt.Scale(type="utc"),
                axis=time_axis(ev["event_time"].max() - ev["event_time"].min(), width=width),
            ),
            y=alt.Y(  # in order of first use, as in the graph's spine
                "access_key_id:N",
                title="credential (in order of first use)",
                sort=agg.group_by("access_key_id")
                .agg(pl.col("time").min())
                .sort("time", "access_key_id")
                .get_column("access_key_id")
                .to_list(),
                axis=alt.Axis(labelLimit=0),
            ),
            size=alt.Size("calls:Q", title="calls", legend=alt.Legend(tickMinStep=1)),
            color=alt.Color(
                "access:N",
                scale=alt.Scale(
                    domain=["read", "write", "denied"], range=["#4c78a8", "#e45756", "#9d9d9d"]
                ),
            ),
            tooltip=[
                alt.Tooltip("utcyearmonthdatehoursminutes(time):T", title="bucket (UTC)"),
                "access_key_id:N",
                "access:N",
                "calls:Q",
                "events:N",
            ],
        )
        .properties(title=f"Blast radius of {br.seed}", width=width)
    )


def _chain_chart(br: BlastRadius, *, width: int, top: int) -> alt.LayerChart:
    # one drawing for this and the widget's graph tab; ``top`` is kept for callers (it was the
    # number of resources drawn one by one; resources are now grouped by type)
    from forensics.charts._blast_picture import blast_picture

    return blast_picture(br, width=max(width, 640))
