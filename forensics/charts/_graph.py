"""``blast_graph``: a networkx graph (blast radius, lineage, actor -> resource) drawn with Altair."""

from __future__ import annotations

from typing import Any

import altair as alt
import networkx as nx
import polars as pl

from forensics.charts._common import short_label

__all__ = ["blast_graph", "graph_data"]

_RELATION_ORDER = ("minted", "assumed", "created", "acts_as", "action")
_ACCESS_ORDER = ("denied", "write", "read")
_KIND_COLORS = {
    "seed": "#d62728",
    "credential": "#ff7f0e",
    "principal": "#1f77b4",
    "resource": "#7f7f7f",
}
_EDGE_COLORS = {
    "minted": "#ff7f0e",
    "assumed": "#9467bd",
    "created": "#d62728",
    "acts_as": "#1f77b4",
    "action: write": "#e377c2",
    "action: read": "#bcbd22",
    "action: denied": "#8c564b",
    "action": "#c7c7c7",
}


def _graph_of(result_or_graph: Any) -> tuple[nx.Graph, str | None]:
    if isinstance(result_or_graph, nx.Graph):
        return result_or_graph, None
    graph = getattr(result_or_graph, "graph", None)
    if callable(graph) and not isinstance(graph, nx.Graph):
        graph = graph()
    if not isinstance(graph, nx.Graph):
        raise TypeError(
            "blast_graph() needs a networkx graph or an object with a .graph "
            f"(BlastRadius, Lineage, Trail), got {type(result_or_graph).__name__}"
        )
    seed = getattr(result_or_graph, "seed", None)
    return graph, seed if isinstance(seed, str) else None


def _kind(node: str, attrs: dict[str, Any]) -> str:
    kind = attrs.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    text = str(node)
    if text.startswith(("AKIA", "ASIA")):
        return "credential"
    if text.startswith("arn:") and any(
        part in text for part in (":user/", ":role/", ":root", ":assumed-role/", ":federated-user/")
    ):
        return "principal"
    return "resource"


def _edge_type(attrs: dict[str, Any]) -> str:
    relation = attrs.get("relation") or "action"
    if relation == "action" and attrs.get("access") in _ACCESS_ORDER:
        return f"action: {attrs['access']}"
    return str(relation)


def graph_data(
    result_or_graph: Any,
    *,
    max_nodes: int = 120,
    max_edges: int = 600,
    seed: str | None = None,
    layout_seed: int = 7,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Node and edge rows (with layout coordinates) for :func:`blast_graph`.

    Keeps the ``max_nodes`` best-connected nodes (the seed always), merges parallel edges
    between two nodes into one row and returns ``(nodes, edges, nodes_left_out)``.
    """
    graph, found_seed = _graph_of(result_or_graph)
    seed = seed or found_seed
    degree = dict(graph.degree())
    ranked = sorted(graph.nodes, key=lambda n: (n != seed, -degree.get(n, 0), str(n)))
    kept = ranked[:max_nodes]
    dropped = len(ranked) - len(kept)
    keep = set(kept)

    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    edge_iter = (
        graph.edges(data=True) if not graph.is_multigraph() else graph.edges(keys=False, data=True)
    )
    for u, v, attrs in edge_iter:
        if u not in keep or v not in keep or u == v:
            continue
        row = merged.setdefault((u, v), {"types": set(), "count": 0, "events": set()})
        row["types"].add(_edge_type(attrs))
        row["count"] += int(attrs.get("count", 1) or 1)
        names = attrs.get("event_names") or attrs.get("event_name")
        if isinstance(names, str):
            row["events"].update(n.strip() for n in names.split(";") if n.strip())

    def rank(t: str) -> tuple[int, str]:
        base = t.split(":")[0]
        head = _RELATION_ORDER.index(base) if base in _RELATION_ORDER else len(_RELATION_ORDER)
        return head, t

    edges_list = sorted(
        merged.items(), key=lambda kv: (rank(min(kv[1]["types"], key=rank)), -kv[1]["count"])
    )[:max_edges]

    layout_graph = nx.Graph()
    layout_graph.add_nodes_from(sorted(kept, key=str))
    layout_graph.add_edges_from(sorted(((u, v) for (u, v), _ in edges_list), key=str))
    if layout_graph.number_of_nodes():
        pos = nx.spring_layout(layout_graph, seed=layout_seed, iterations=100)
    else:
        pos = {}

    node_rows = []
    for n in sorted(kept, key=str):
        attrs = graph.nodes[n]
        kind = "seed" if n == seed else _kind(n, attrs)
        x, y = pos.get(n, (0.0, 0.0))
        node_rows.append(
            {
                "id": str(n),
                "label": short_label(str(n), 36),
                "kind": kind,
                "degree": int(degree.get(n, 0)),
                "x": round(float(x), 4),
                "y": round(float(y), 4),
            }
        )
    edge_rows = []
    for (u, v), row in edges_list:
        (x, y), (x2, y2) = pos[u], pos[v]
        edge_rows.append(
            {
                "source": str(u),
                "target": str(v),
                "type": min(row["types"], key=rank),
                "relations": ", ".join(sorted(row["types"])),
                "count": row["count"],
                "event_names": ", ".join(sorted(row["events"])[:12]),
                "x": round(float(x), 4),
                "y": round(float(y), 4),
                "x2": round(float(x2), 4),
                "y2": round(float(y2), 4),
            }
        )
    node_schema = {
        "id": pl.String,
        "label": pl.String,
        "kind": pl.String,
        "degree": pl.Int64,
        "x": pl.Float64,
        "y": pl.Float64,
    }
    edge_schema = {
        "source": pl.String,
        "target": pl.String,
        "type": pl.String,
        "relations": pl.String,
        "count": pl.Int64,
        "event_names": pl.String,
        "x": pl.Float64,
        "y": pl.Float64,
        "x2": pl.Float64,
        "y2": pl.Float64,
    }
    return (
        pl.DataFrame(node_rows, schema=node_schema),
        pl.DataFrame(edge_rows, schema=edge_schema),
        dropped,
    )


def blast_graph(
    result_or_graph: Any,
    *,
    max_nodes: int = 120,
    max_edges: int = 600,
    seed: str | None = None,
    labels: bool | None = None,
    title: str | None = None,
    width: int = 640,
    height: int = 460,
) -> alt.LayerChart:
    """Draw a blast radius, or any networkx graph of the kit (spring layout).

    A ``BlastRadius`` is drawn as :func:`forensics.charts._blast_picture.blast_picture`
    (credentials in time order, resources grouped by type), the same picture as
    ``br.chart("graph")``; other graphs (a ``Lineage``, a ``Trail``'s graph) with a seeded
    networkx spring layout, as follows.

    Nodes are coloured by kind (the seed in red, credentials, principals, resources); edges by
    relation (``minted``, ``assumed``, ``created``, ``acts_as``) and, for actions, by access
    (write / read / denied). Big graphs keep their ``max_nodes`` best-connected nodes (and the
    seed); the title says how many were left out. The layout is seeded, so the same graph
    always draws the same picture.

    Parameters
    ----------
    result_or_graph
        A ``BlastRadius`` (its ``.graph`` and ``.seed``), a ``Lineage``, a ``Trail`` (its
        ``graph()``), or a networkx graph.
    labels
        Draw every node's name (default: when there are at most 40 nodes; else only the seed,
        the identities and the eight busiest credentials).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph()
    >>> g.add_edge("AKIAEXAMPLE", "arn:aws:iam::111122223333:user/alice", relation="acts_as")
    >>> len(blast_graph(g).to_dict()["layer"])
    3
    """
    if all(hasattr(result_or_graph, a) for a in ("credentials", "resources", "event_resources")):
        # a BlastRadius: the same grid picture as br.chart("graph") (readable at 100+ nodes)
        from forensics.charts._blast_picture import blast_picture

        return blast_picture(result_or_graph, width=max(width, 640), title=title)
    nodes, edges, dropped = graph_data(
        result_or_graph, max_nodes=max_nodes, max_edges=max_edges, seed=seed
    )
    if labels is None:
        labels = nodes.height <= 40
    if labels:
        text_nodes = nodes
    else:  # crowded: name the seed, the identities and the busiest credentials only
        busiest = (
            nodes.filter(pl.col("kind") == "credential")
            .sort(["degree", "id"], descending=[True, False])
            .head(8)
            .get_column("id")
        )
        text_nodes = nodes.filter(
            pl.col("kind").is_in(["seed", "principal"]) | pl.col("id").is_in(busiest.implode())
        )
    extra = f", {dropped:,} less-connected nodes not drawn" if dropped else ""
    no_axis = alt.Axis(labels=False, ticks=False, domain=False, grid=False, title=None)
    x = alt.X("x:Q", axis=no_axis, scale=alt.Scale(zero=False, padding=30))
    y = alt.Y("y:Q", axis=no_axis, scale=alt.Scale(zero=False, padding=20))
    edge_types = [t for t in _EDGE_COLORS if t in set(edges.get_column("type").to_list())]
    kinds = [k for k in _KIND_COLORS if k in set(nodes.get_column("kind").to_list())]
    kinds += sorted(set(nodes.get_column("kind").to_list()) - set(kinds))
    edge_layer = (
        alt.Chart(edges)
        .mark_rule(strokeWidth=1.5, opacity=0.7)
        .encode(
            x=x,
            y=y,
            x2="x2:Q",
            y2="y2:Q",
            color=alt.Color(
                "type:N",
                title="edge",
                scale=alt.Scale(domain=edge_types, range=[_EDGE_COLORS[t] for t in edge_types]),
            ),
            tooltip=["source:N", "target:N", "relations:N", "count:Q", "event_names:N"],
        )
    )
    node_layer = (
        alt.Chart(nodes)
        .mark_circle(opacity=0.95, stroke="white", strokeWidth=1)
        .encode(
            x=x,
            y=y,
            size=alt.Size("degree:Q", legend=None, scale=alt.Scale(range=[60, 500])),
            fill=alt.Fill(
                "kind:N",
                title="node",
                scale=alt.Scale(
                    domain=kinds, range=[_KIND_COLORS.get(k, "#17becf") for k in kinds]
                ),
            ),
            tooltip=["id:N", "kind:N", "degree:Q"],
        )
    )
    text_layer = (
        alt.Chart(text_nodes)
        .mark_text(fontSize=9, dy=-11, color="#333")
        .encode(x=x, y=y, text="label:N")
    )
    return (
        alt.layer(edge_layer, node_layer, text_layer)
        .resolve_scale(color="independent")
        .properties(
            width=width,
            height=height,
            title=title
            or f"Blast radius graph: {nodes.height:,} nodes, {edges.height:,} links{extra}",
        )
    )
