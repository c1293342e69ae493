"""The pictures of a blast radius: credentials over time, and the credential chain.

``BlastRadius.chart()`` is a shortcut to :func:`blast_chart`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import polars as pl

from forensics.charts._common import utc_axis
from forensics.resources import access_kind

if TYPE_CHECKING:
    from forensics.blast import BlastRadius

__all__ = ["blast_chart"]


def blast_chart(
    br: BlastRadius, kind: str = "timeline", *, width: int = 640, top: int = 25
) -> alt.Chart:
    """An Altair picture of the closure.

    ``kind="timeline"`` (default): one row per credential, marks sized by the number of
    calls per time bucket, coloured by read / write / denied (aggregated first: small).
    ``kind="graph"``: the credential chain left to right (seed, then what it minted or
    created, by depth) and the ``top`` most-touched resources on the right, with the
    minted / created links and each credential's resource links.
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

    agg = (
        ev.with_columns(access_kind(), pl.col("access_key_id").fill_null("(no key)"))
        .group_by(pl.col("event_time").dt.truncate(every).alias("time"), "access_key_id", "access")
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
                axis=utc_axis("%m-%d %H:%M"),
            ),
            y=alt.Y("access_key_id:N", title="credential"),
            size=alt.Size("calls:Q", title="calls"),
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


def _chain_chart(br: BlastRadius, *, width: int, top: int) -> alt.Chart:
    creds = br.credentials.select(
        "access_key_id", "depth", "joined_by", "via_access_key_id", "principal"
    )
    res = br.resources.sort(["wrote", "events"], descending=True).head(top)
    nodes: list[dict[str, Any]] = []
    depths = [int(d or 0) for d in creds["depth"].to_list()]
    # credentials: one line each (in closure order), indented by depth; resources: a column
    # on the right. Deterministic, so a ticket's picture does not change between runs.
    for row, (key, _depth, joined, _via, principal) in enumerate(creds.iter_rows()):
        nodes.append(
            {
                "id": key,
                "x": depths[row],
                "y": row,
                "kind": "credential",
                "label": f"{key} ({joined})",
                "detail": principal or "",
            }
        )
    res_x = max(depths, default=0) + 3
    for i, (arn, access) in enumerate(res.select("arn", "access").iter_rows()):
        nodes.append(
            {
                "id": arn,
                "x": res_x,
                "y": i,
                "kind": f"resource ({access})",
                "label": arn.rsplit(":", 1)[-1][-48:],
                "detail": arn,
            }
        )
    pos = {n["id"]: (n["x"], n["y"]) for n in nodes}
    edges: list[dict[str, Any]] = []
    for key, _depth, joined, via, _p in creds.iter_rows():
        if via in pos and key in pos:
            edges.append(
                {
                    "x": pos[via][0],
                    "y": pos[via][1],
                    "x2": pos[key][0],
                    "y2": pos[key][1],
                    "relation": joined,
                }
            )
    shown = set(res["arn"].to_list())
    links = (
        br.event_resources.filter(pl.col("arn").is_in(shown))
        .select("access_key_id", "arn")
        .drop_nulls()
        .unique()
    )
    for key, arn in links.iter_rows():
        if key in pos:
            edges.append(
                {
                    "x": pos[key][0],
                    "y": pos[key][1],
                    "x2": pos[arn][0],
                    "y2": pos[arn][1],
                    "relation": "touched",
                }
            )
    height = 22 * max(len(shown), creds.height, 1)
    xs = alt.Scale(domain=[-0.2, res_x + 2.5])
    ys = alt.Scale(reverse=True, domain=[-0.5, max(len(shown), creds.height, 1) - 0.5])
    edge_layer = (
        alt.Chart(
            pl.DataFrame(
                edges,
                schema={
                    "x": pl.Int64,
                    "y": pl.Int64,
                    "x2": pl.Int64,
                    "y2": pl.Int64,
                    "relation": pl.String,
                },
            )
        )
        .mark_rule(opacity=0.35)
        .encode(
            x=alt.X("x:Q", axis=None, scale=xs),
            y=alt.Y("y:Q", axis=None, scale=ys),
            x2="x2:Q",
            y2="y2:Q",
            color=alt.Color("relation:N", title="link", legend=alt.Legend(orient="bottom")),
        )
    )
    node_data = pl.DataFrame(
        nodes,
        schema={
            "id": pl.String,
            "x": pl.Int64,
            "y": pl.Int64,
            "kind": pl.String,
            "label": pl.String,
            "detail": pl.String,
        },
    )
    node_layer = (
        alt.Chart(node_data)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("x:Q", scale=xs),
            y=alt.Y("y:Q", scale=ys),
            shape=alt.Shape("kind:N", title="node", legend=alt.Legend(orient="bottom")),
            tooltip=["id:N", "kind:N", "detail:N"],
        )
    )
    text_layer = (
        alt.Chart(node_data)
        .mark_text(align="left", dx=8, fontSize=10)
        .encode(
            x=alt.X("x:Q", scale=xs),
            y=alt.Y("y:Q", scale=ys),
            text="label:N",
        )
    )
    return (edge_layer + node_layer + text_layer).properties(
        title=f"Blast radius of {br.seed}: credential chain and top resources",
        width=width,
        height=height,
    )
