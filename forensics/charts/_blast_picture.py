"""The blast-radius picture: credentials as a spine in time order, resources grouped by type.

One drawing for ``BlastRadius.chart("graph")`` and the widget's graph tab
(:func:`forensics.charts.blast_graph` given a ``BlastRadius``). Laid out on a grid, never by a
force layout, so labels do not overlap and the same closure always draws the same picture:

* left: one row per credential, in the order it was first used (the seed first), indented by
  how many steps it is from the seed; the label says key, principal, how it joined, when;
* right: one row per resource group (service and type, e.g. ``s3 Bucket``) with how many
  resources it holds and how many were written / denied;
* links: minted / created between credentials, and credential -> group (how many resources of
  the group the credential touched, coloured by the strongest access: write > read > denied).

Every node carries a ``detail`` text shown on hover (the full key, principal, ARNs in a group).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import polars as pl

from forensics.charts._common import short_label

if TYPE_CHECKING:
    from forensics.blast import BlastRadius

__all__ = ["blast_picture", "blast_picture_data", "resource_group"]

ROW = 24  # pixels per row: labels at 11 px never overlap
_ACCESS_RANK = {"write": 0, "read": 1, "denied": 2}
_ACCESS_COLORS = {"write": "#e45756", "read": "#4c78a8", "denied": "#9d9d9d"}
_LINK_COLORS = {
    "minted": "#ff7f0e",
    "created": "#d62728",
    "created identity": "#8c564b",
    "touched: write": "#e45756",
    "touched: read": "#4c78a8",
    "touched: denied": "#9d9d9d",
}
_KIND_COLORS = {
    "seed": "#d62728",
    "credential": "#ff7f0e",
    "resources: write": "#e45756",
    "resources: read": "#4c78a8",
    "resources: denied": "#9d9d9d",
    "more": "#cccccc",
}


def resource_group(service: str | None, resource_type: str | None) -> str:
    """The group a resource is drawn in: its service and the last part of its type.

    >>> resource_group("s3", "AWS::S3::Bucket")
    's3 Bucket'
    >>> resource_group("ec2", None)
    'ec2'
    """
    kind = (resource_type or "").rsplit("::", 1)[-1]
    head = service or "(unknown service)"
    return f"{head} {kind}" if kind else head


def _time(value: Any) -> str:
    return value.strftime("%m-%d %H:%M") if value is not None else "?"


def blast_picture_data(
    br: BlastRadius, *, max_credentials: int = 60, max_groups: int = 30
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Node and link rows of :func:`blast_picture` (``x``/``y`` in rows and columns).

    Nodes: ``id``, ``label``, ``kind``, ``side`` (``credential`` / ``resource``), ``row``,
    ``depth``, ``size`` (events or resources), ``detail`` (hover text), ``members`` (the ARNs of
    a group, ``; ``-joined). Links: ``source``, ``target``, ``relation``, ``count``, rows.
    """
    creds = br.credentials.with_columns(pl.coalesce("first_used", "minted_at").alias("_when")).sort(
        [pl.col("joined_by") != "seed", pl.col("_when").is_null(), "_when", "access_key_id"]
    )
    more_creds = max(0, creds.height - max_credentials)
    creds = creds.head(max_credentials)
    nodes: list[dict[str, Any]] = []
    row_of: dict[str, int] = {}
    for row, c in enumerate(creds.iter_rows(named=True)):
        key = c["access_key_id"]
        row_of[key] = row
        who = short_label(c.get("principal"), 30)
        joined = c.get("joined_by") or ""
        # source_ips also holds the AWS services that acted for the key (s3.amazonaws.com)
        ips = ", ".join([ip for ip in c.get("source_ips") or [] if "amazonaws" not in ip][:4])
        nodes.append(
            {
                "id": key,
                "label": f"{_time(c['_when'])}  {key}  {who}",
                "kind": "seed" if joined == "seed" else "credential",
                "side": "credential",
                "row": row,
                "depth": min(int(c.get("depth") or 0), 6),
                "size": int(c.get("events") or 0),
                "detail": (
                    f"{key} ({joined}); principal {c.get('principal') or '?'}; "
                    f"first used {_time(c.get('first_used'))}, last {_time(c.get('last_used'))} "
                    f"UTC; {int(c.get('events') or 0):,} events; IPs {ips or '-'}"
                ),
                "members": "",
            }
        )
    if more_creds:
        nodes.append(
            {
                "id": "(more credentials)",
                "label": f"… {more_creds:,} more credentials (see br.credentials)",
                "kind": "more",
                "side": "credential",
                "row": len(row_of),
                "depth": 0,
                "size": 0,
                "detail": f"{more_creds:,} credentials not drawn",
                "members": "",
            }
        )

    res = br.resources.with_columns(
        pl.struct("service", "resource_type")
        .map_elements(
            lambda s: resource_group(s["service"], s["resource_type"]), return_dtype=pl.String
        )
        .alias("group")
    )
    groups = (
        res.group_by("group")
        .agg(
            pl.len().alias("n"),
            pl.col("wrote").sum().alias("written"),
            pl.col("denied_only").sum().alias("denied"),
            pl.col("events").sum().alias("events"),
            pl.col("arn").sort().alias("arns"),
        )
        .sort(["written", "n", "group"], descending=[True, True, False])
    )
    if groups.height > max_groups:  # the rest in one row, named on hover
        head, tail = groups.head(max_groups - 1), groups.tail(groups.height - max_groups + 1)
        rest = tail.select(
            pl.lit(f"(other: {tail.height} types)").alias("group"),
            pl.col("n").sum().cast(pl.UInt32),
            pl.col("written").sum(),
            pl.col("denied").sum(),
            pl.col("events").sum(),
            pl.col("arns").explode().sort().implode(),
        )
        group_of_other = dict.fromkeys(tail.get_column("group").to_list(), rest.item(0, "group"))
        groups = pl.concat([head, rest.cast(head.schema)])
    else:
        group_of_other = {}
    group_rows: dict[str, int] = {}
    for row, g in enumerate(groups.iter_rows(named=True)):
        name = g["group"]
        group_rows[name] = row
        access = "write" if g["written"] else "denied" if g["denied"] == g["n"] else "read"
        notes = [f"{g['written']} written"] if g["written"] else []
        notes += [f"{g['denied']} denied"] if g["denied"] else []
        shown = g["arns"][:12]
        nodes.append(
            {
                "id": name,
                "label": f"{name} ×{g['n']:,}" + (f" ({', '.join(notes)})" if notes else ""),
                "kind": f"resources: {access}",
                "side": "resource",
                "row": row,
                "depth": 0,
                "size": int(g["n"]),
                "detail": f"{name}: {g['n']:,} resources, {int(g['events'] or 0):,} events; "
                + "; ".join(short_label(a, 60) for a in shown)
                + (
                    f"; … {len(g['arns']) - len(shown)} more" if len(g["arns"]) > len(shown) else ""
                ),
                "members": "; ".join(g["arns"]),
            }
        )

    links: list[dict[str, Any]] = []
    for c in creds.iter_rows(named=True):
        via, key = c.get("via_access_key_id"), c["access_key_id"]
        if via in row_of and key in row_of:
            links.append(
                {
                    "source": via,
                    "target": key,
                    "relation": c.get("joined_by") or "minted",
                    "count": 1,
                    "source_row": row_of[via],
                    "target_row": row_of[key],
                    "side": "chain",
                }
            )
    er = br.event_resources
    if er.height and group_rows:
        kinds = res.select("arn", "group").unique("arn")
        touched = (
            er.select("access_key_id", "arn", "access")
            .drop_nulls(["access_key_id", "arn"])
            .join(kinds, on="arn", how="inner")
            .with_columns(pl.col("group").replace(group_of_other))
            .filter(pl.col("access_key_id").is_in(list(row_of)))
            .with_columns(pl.col("access").replace_strict(_ACCESS_RANK, default=1).alias("rank"))
            .group_by("access_key_id", "group")
            .agg(pl.col("arn").n_unique().alias("count"), pl.col("rank").min())
            .sort("access_key_id", "group")
        )
        names = {v: k for k, v in _ACCESS_RANK.items()}
        for key, group, count, rank in touched.iter_rows():
            links.append(
                {
                    "source": key,
                    "target": group,
                    "relation": f"touched: {names[rank]}",
                    "count": int(count),
                    "source_row": row_of[key],
                    "target_row": group_rows[group],
                    "side": "touch",
                }
            )
    node_schema = {
        "id": pl.String,
        "label": pl.String,
        "kind": pl.String,
        "side": pl.String,
        "row": pl.Int64,
        "depth": pl.Int64,
        "size": pl.Int64,
        "detail": pl.String,
        "members": pl.String,
    }
    link_schema = {
        "source": pl.String,
        "target": pl.String,
        "relation": pl.String,
        "count": pl.Int64,
        "source_row": pl.Int64,
        "target_row": pl.Int64,
        "side": pl.String,
    }
    return pl.DataFrame(nodes, schema=node_schema), pl.DataFrame(links, schema=link_schema)


def blast_picture(
    br: BlastRadius,
    *,
    width: int = 760,
    max_credentials: int = 60,
    max_groups: int = 30,
    title: str | None = None,
) -> alt.LayerChart:
    """The closure as a picture a responder can read (see the module docstring).

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.blast_graph(br)  # doctest: +SKIP
    """
    nodes, links = blast_picture_data(br, max_credentials=max_credentials, max_groups=max_groups)
    rows = max(int(nodes.get_column("row").max() or 0) + 1, 1) if nodes.height else 1
    height = ROW * rows
    label_w = max(200, int(width * 0.45))  # credential labels, right-aligned left of the dots
    cred_x, group_x, indent = label_w + 10, label_w + 80, 8
    nodes = nodes.with_columns(
        pl.when(pl.col("side") == "credential")
        .then(cred_x + indent * pl.col("depth"))
        .otherwise(group_x)
        .alias("x"),
        (pl.col("row") * ROW + ROW / 2).alias("y"),
    )
    pos = {i: (x, y) for i, x, y in nodes.select("id", "x", "y").iter_rows()}
    links = links.with_columns(
        pl.col("source").replace_strict({k: v[0] for k, v in pos.items()}, default=0).alias("x"),
        pl.col("source").replace_strict({k: v[1] for k, v in pos.items()}, default=0).alias("y"),
        pl.col("target").replace_strict({k: v[0] for k, v in pos.items()}, default=0).alias("x2"),
        pl.col("target").replace_strict({k: v[1] for k, v in pos.items()}, default=0).alias("y2"),
    )
    xs = alt.Scale(domain=[0, width], nice=False, zero=True)
    ys = alt.Scale(domain=[0, height], nice=False, zero=True, reverse=True)
    no_axis = None
    relations = [r for r in _LINK_COLORS if r in set(links.get_column("relation").to_list())]
    link_layer = (
        alt.Chart(links)
        .mark_rule(opacity=0.55)
        .encode(
            x=alt.X("x:Q", scale=xs, axis=no_axis),
            y=alt.Y("y:Q", scale=ys, axis=no_axis),
            x2="x2:Q",
            y2="y2:Q",
            strokeWidth=alt.StrokeWidth("count:Q", legend=None, scale=alt.Scale(range=[1, 5])),
            color=alt.Color(
                "relation:N",
                title="link",
                scale=alt.Scale(domain=relations, range=[_LINK_COLORS[r] for r in relations]),
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=0),
            ),
            tooltip=[
                alt.Tooltip("source:N", title="from"),
                alt.Tooltip("target:N", title="to"),
                alt.Tooltip("relation:N"),
                alt.Tooltip("count:Q", title="resources", format=","),
            ],
        )
    )
    kinds = [k for k in _KIND_COLORS if k in set(nodes.get_column("kind").to_list())]
    node_tooltip = [alt.Tooltip("id:N", title="node"), alt.Tooltip("detail:N", title="detail")]
    node_layer = (
        alt.Chart(nodes)
        .mark_circle(opacity=1, stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("x:Q", scale=xs, axis=no_axis),
            y=alt.Y("y:Q", scale=ys, axis=no_axis),
            size=alt.Size("size:Q", legend=None, scale=alt.Scale(range=[50, 260], zero=True)),
            fill=alt.Fill(
                "kind:N",
                title="node",
                scale=alt.Scale(domain=kinds, range=[_KIND_COLORS[k] for k in kinds]),
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=0),
            ),
            tooltip=node_tooltip,
        )
    )
    cred_text = (
        alt.Chart(nodes.filter(pl.col("side") == "credential"))
        .mark_text(align="right", dx=-9, fontSize=11, limit=label_w - 4, baseline="middle")
        .encode(
            x=alt.X("x:Q", scale=xs, axis=no_axis),
            y=alt.Y("y:Q", scale=ys, axis=no_axis),
            text="label:N",
            tooltip=node_tooltip,
        )
    )
    group_text = (
        alt.Chart(nodes.filter(pl.col("side") == "resource"))
        .mark_text(align="left", dx=9, fontSize=11, limit=width - group_x - 12, baseline="middle")
        .encode(
            x=alt.X("x:Q", scale=xs, axis=no_axis),
            y=alt.Y("y:Q", scale=ys, axis=no_axis),
            text="label:N",
            tooltip=node_tooltip,
        )
    )
    n_creds = int((nodes.get_column("side") == "credential").sum())
    n_res = br.resources.height
    return (
        alt.layer(link_layer, node_layer, cred_text, group_text)
        .resolve_scale(color="independent")
        .properties(
            width=width,
            height=height,
            title=title
            or alt.TitleParams(
                f"Blast radius of {br.seed}",
                subtitle=f"{n_creds:,} credentials in order of first use (left); "
                f"{n_res:,} resources grouped by type (right)",
            ),
            view=alt.ViewConfig(stroke=None),
        )
    )
