"""The actor -> resource graph (networkx) and its GraphML / GEXF export.

>>> from forensics.graph import build_graph, write_graphml, write_gexf
"""

from forensics.graph._build import MINT_EVENTS, build_graph, minted_credentials
from forensics.graph._export import safe_graph, write_gexf, write_graphml

__all__ = [
    "MINT_EVENTS",
    "build_graph",
    "minted_credentials",
    "safe_graph",
    "write_gexf",
    "write_graphml",
]
