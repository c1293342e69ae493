"""``lineage(trail, key)``: where a credential came from, and everything that came from it."""

from __future__ import annotations

import difflib
import html
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx
import polars as pl

from forensics._errors import PrincipalError
from forensics.identity._credentials import credentials

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["Lineage", "lineage"]

#: Columns describing a credential on each graph node (from :func:`credentials`).
_NODE_ATTRS = (
    "kind",
    "principal",
    "principal_arn",
    "account_id",
    "minted_by",
    "minted_by_event_id",
    "first_used",
    "last_used",
    "events",
)


@dataclass(frozen=True, eq=False)
class Lineage:
    """The lineage of one access key.

    Attributes
    ----------
    access_key_id : str
        The key asked about.
    chain : polars.DataFrame
        :func:`~forensics.identity.credentials` rows from the origin credential down to the key,
        in order, plus ``relation``: how each row came from the one above ("minted" for an STS
        session, "created" for a ``CreateAccessKey`` key; null on the origin).
    tree : polars.DataFrame
        Every credential minted or created beneath the key (the key itself excluded), breadth
        first: the credentials rows plus ``depth`` (1 = made directly with the key),
        ``relation`` and ``from_access_key_id`` (the key it was made with; equal to
        ``parent_access_key_id`` for minted rows and ``created_by_access_key_id`` for created).
    graph : networkx.DiGraph
        The credentials of the chain and the tree as nodes (attributes from ``credentials()``)
        with an edge parent -> child whose ``relation`` is "minted" or "created".
    cycle : bool
        True when the records loop (a key minted by one of its own descendants); the walk stops
        at the first key seen twice.
    """

    access_key_id: str
    chain: pl.DataFrame
    tree: pl.DataFrame
    graph: nx.DiGraph = field(repr=False)
    cycle: bool = False

    @property
    def origin(self) -> str:
        """The first credential of the chain (the key itself when nothing minted it)."""
        return self.chain["access_key_id"][0]

    def summary(self) -> str:
        """A few lines of text: the chain, then how much was made beneath the key."""
        lines = []
        for i, r in enumerate(self.chain.iter_rows(named=True)):
            how = r["minted_by"]
            if r["minted_by_principal"] and r["minted_by"] != "unknown":
                how += f" by {r['minted_by_principal']}"
            lines.append(f"{'  ' * i}{r['access_key_id']} ({r['kind']}, {r['principal']}; {how})")
        n = self.tree.height
        lines.append(
            f"{n} credential{'s' if n != 1 else ''} made beneath {self.access_key_id}"
            + (f" (deepest: {self.tree['depth'].max()})" if n else "")
            + (" - the records contain a cycle" if self.cycle else "")
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<Lineage {self.access_key_id}: chain of {self.chain.height} from {self.origin}, "
            f"{self.tree.height} beneath{', cycle' if self.cycle else ''}>"
        )

    def _repr_html_(self) -> str:
        # Principal names and keys come from the records: attacker-controlled, so escaped.
        return f"<pre>{html.escape(self.summary())}</pre>"


def _links(creds: pl.DataFrame) -> pl.DataFrame:
    """(child, parent, relation) for every credential made with another key."""
    return pl.concat(
        [
            creds.filter(pl.col("parent_access_key_id").is_not_null()).select(
                pl.col("access_key_id").alias("child"),
                pl.col("parent_access_key_id").alias("parent"),
                pl.lit("minted").alias("relation"),
            ),
            creds.filter(pl.col("created_by_access_key_id").is_not_null()).select(
                pl.col("access_key_id").alias("child"),
                pl.col("created_by_access_key_id").alias("parent"),
                pl.lit("created").alias("relation"),
            ),
        ]
    )


def unknown_key_error(key: str, known: list[str]) -> PrincipalError:
    close = difflib.get_close_matches(key, known, n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return PrincipalError(
        f"access key {key!r} is not used, minted or created anywhere in this trail{hint}",
        candidates=close,
    )


def lineage(trail: Trail, access_key_id: str) -> Lineage:
    """The chain from the origin credential down to ``access_key_id``, and what it made.

    The chain follows each key to the key that minted it (role chaining, across accounts) or
    created it, by key only. Loops in the records cannot hang the walk.

    Raises :class:`~forensics.PrincipalError` (with close matches) for a key the trail does not
    know.

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> def assume(t, caller_key, new_key):
    ...     return {"eventTime": t, "eventName": "AssumeRole",
    ...             "userIdentity": {"type": "IAMUser", "accessKeyId": caller_key,
    ...                              "arn": "arn:aws:iam::111122223333:user/alice"},
    ...             "responseElements": {"credentials": {"accessKeyId": new_key}}}
    >>> t = fx.Trail(normalize_records([assume("2024-01-01T00:00:00Z", "AKIAALICE0000000",
    ...     "ASIAHOP100000000"), assume("2024-01-01T00:01:00Z", "ASIAHOP100000000",
    ...     "ASIAHOP200000000")], "x.json"))
    >>> lineage(t, "ASIAHOP200000000").chain["access_key_id"].to_list()
    ['AKIAALICE0000000', 'ASIAHOP100000000', 'ASIAHOP200000000']
    >>> lineage(t, "AKIAALICE0000000").tree.select("access_key_id", "depth").rows()
    [('ASIAHOP100000000', 1), ('ASIAHOP200000000', 2)]
    """
    key = access_key_id.strip()
    creds = credentials(trail)
    known = creds["access_key_id"]
    if not known.is_in([key]).any():
        raise unknown_key_error(key, known.to_list())

    links = _links(creds)
    up: dict[str, tuple[str, str]] = {}
    down: dict[str, list[tuple[str, str]]] = {}
    for child, parent, relation in links.iter_rows():
        up.setdefault(child, (parent, relation))
        down.setdefault(parent, []).append((child, relation))

    # Up: the chain to the origin.
    chain_keys, relations, cycle = [key], [None], False
    seen = {key}
    cur = key
    while cur in up:
        parent, relation = up[cur]
        if parent in seen:
            cycle = True
            break
        relations[0] = relation
        chain_keys.insert(0, parent)
        relations.insert(0, None)
        seen.add(parent)
        cur = parent

    # Down: everything made beneath the key, breadth first.
    tree_rows: list[tuple[str, int, str, str]] = []
    visited = {key}
    queue = deque([(key, 0)])
    while queue:
        parent, depth = queue.popleft()
        for child, relation in down.get(parent, ()):
            if child in visited:
                cycle = True
                continue
            visited.add(child)
            tree_rows.append((child, depth + 1, relation, parent))
            queue.append((child, depth + 1))

    by_key = creds.with_row_index("_row")
    order = pl.DataFrame(
        {"access_key_id": chain_keys, "relation": relations, "_pos": range(len(chain_keys))},
        schema={"access_key_id": pl.String, "relation": pl.String, "_pos": pl.Int64},
    )
    chain = (
        order.join(by_key, on="access_key_id", how="left")
        .sort("_pos")
        .select(*creds.columns, "relation")
    )
    tree_spec = pl.DataFrame(
        tree_rows,
        schema={
            "access_key_id": pl.String,
            "depth": pl.Int64,
            "relation": pl.String,
            "from_access_key_id": pl.String,
        },
        orient="row",
    ).with_row_index("_pos")
    tree = (
        tree_spec.join(by_key, on="access_key_id", how="left")
        .sort("_pos")
        .select(*creds.columns, "depth", "relation", "from_access_key_id")
    )

    graph = nx.DiGraph(access_key_id=key)
    for frame in (chain, tree):
        for r in frame.select("access_key_id", *_NODE_ATTRS).iter_rows(named=True):
            node = r.pop("access_key_id")
            graph.add_node(node, **r)
    for parent_key, child_key, relation in zip(
        chain_keys[:-1], chain_keys[1:], relations[1:], strict=True
    ):
        graph.add_edge(parent_key, child_key, relation=relation)
    for child, _depth, relation, parent in tree_rows:
        graph.add_edge(parent, child, relation=relation)
    return Lineage(key, chain, tree, graph, cycle)
