"""Writing the graph for Gephi / Cytoscape (GraphML, GEXF) with GraphML-safe attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import networkx as nx

__all__ = ["safe_graph", "write_gexf", "write_graphml"]


def _safe(value: Any) -> str | int | float | bool | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_safe(v)}" for k, v in value.items())
    if isinstance(value, Iterable):
        return "; ".join(str(_safe(v)) for v in value)
    return str(value)


def safe_graph(graph: nx.Graph) -> nx.Graph:
    """A copy of ``graph`` whose attributes are all GraphML scalars (str, int, float, bool).

    Lists and sets become ``"a; b"``, datetimes ISO-8601 text, ``None`` values are dropped.

    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(); g.add_node("a", names=["x", "y"], gone=None)
    >>> safe_graph(g).nodes["a"]
    {'names': 'x; y'}
    """
    out = graph.__class__()
    for node, data in graph.nodes(data=True):
        out.add_node(
            str(node),
            **{k: v for k, v in ((k, _safe(v)) for k, v in data.items()) if v is not None},
        )
    if graph.is_multigraph():
        for u, v, key, data in graph.edges(keys=True, data=True):
            out.add_edge(
                str(u),
                str(v),
                key=key,
                **{k: x for k, x in ((k, _safe(x)) for k, x in data.items()) if x is not None},
            )
    else:
        for u, v, data in graph.edges(data=True):
            out.add_edge(
                str(u),
                str(v),
                **{k: x for k, x in ((k, _safe(x)) for k, x in data.items()) if x is not None},
            )
    return out


def write_graphml(graph: nx.Graph, path: str | PathLike[str]) -> Path:
    """Write ``graph`` as GraphML (Gephi, Cytoscape, yEd); returns the path written.

    >>> import networkx as nx, tempfile, pathlib
    >>> g = nx.MultiDiGraph(); _ = g.add_edge("k", "arn:aws:s3:::b", key="action", count=2)
    >>> p = write_graphml(g, pathlib.Path(tempfile.mkdtemp()) / "g.graphml")
    >>> nx.read_graphml(p).number_of_edges()
    1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(safe_graph(graph), path)
    return path


def write_gexf(graph: nx.Graph, path: str | PathLike[str]) -> Path:
    """Write ``graph`` as GEXF (Gephi); returns the path written.

    >>> import networkx as nx, tempfile, pathlib
    >>> g = nx.MultiDiGraph(); _ = g.add_edge("k", "arn:aws:s3:::b", key="action", count=2)
    >>> p = write_gexf(g, pathlib.Path(tempfile.mkdtemp()) / "g.gexf")
    >>> nx.read_gexf(p).number_of_nodes()
    2
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = safe_graph(graph)
    if safe.is_multigraph():
        # GEXF edge ids must be unique across the file; keys repeat ("action"), so number them.
        renumbered = safe.__class__()
        renumbered.add_nodes_from(safe.nodes(data=True))
        for i, (u, v, key, data) in enumerate(safe.edges(keys=True, data=True)):
            renumbered.add_edge(u, v, key=i, id=str(i), label=str(key), **data)
        safe = renumbered
    nx.write_gexf(safe, path)
    return path
