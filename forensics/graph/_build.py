"""``build_graph``: the actor -> resource graph, from aggregated polars rows.

Nodes (id = the ARN, access key id, or principal key; attribute ``kind``):

* ``principal``: a durable identity (the events table's ``principal``);
* ``credential``: an access key id (``key_kind`` long-term / temporary / unknown);
* ``resource``: a canonical ARN from :func:`forensics.resources.event_resources`
  (a role that is both assumed and acting is one node, of kind ``principal``).

Edges of a ``networkx.MultiDiGraph``, keyed by ``relation``:

* ``action``: actor -> resource, one edge per (actor, resource) with ``event_names``, ``count``,
  ``reads``, ``writes``, ``denied``, ``access`` (write / read / denied), ``first_seen``,
  ``last_seen``; the actor is the access key when the event has one, else the principal;
* ``acts_as``: credential -> its principal;
* ``assumed``: credential -> the role (or federated) session it opened;
* ``minted``: credential -> the temporary credential the call returned;
* ``created``: credential -> what it created (users, login profiles, roles, instances, ...;
  for a created access key, the key's own credential node).

Every attribute is a GraphML-safe scalar: lists are joined with ``"; "``, times are ISO-8601 UTC
text (sortable), absent values are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import networkx as nx
import polars as pl

from forensics._gc import gc_paused
from forensics.resources import event_resources

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["MINT_EVENTS", "build_graph", "minted_credentials"]

#: Calls whose response carries new temporary credentials (``credentials.accessKeyId``).
MINT_EVENTS = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
)

_ISO = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _iso(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("UTC").dt.strftime(_ISO).alias(col)


def minted_credentials(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """Successful STS calls that returned a temporary key: who minted what, and which session.

    Columns: ``event_id``, ``event_time``, ``event_name``, ``parent`` (the caller's key, or its
    principal when the call had none), ``access_key_id`` (the new key), ``session_arn``.
    """
    return (
        lazy.filter(
            pl.col("event_name").is_in(MINT_EVENTS)
            & pl.col("error_code").is_null()
            & pl.col("response_elements").is_not_null()
        )
        .select(
            "event_id",
            "event_time",
            "event_name",
            pl.coalesce("access_key_id", "principal").alias("parent"),
            pl.col("response_elements")
            .str.json_path_match("$.credentials.accessKeyId")
            .alias("access_key_id"),
            pl.coalesce(
                pl.col("response_elements").str.json_path_match("$.assumedRoleUser.arn"),
                pl.col("response_elements").str.json_path_match("$.federatedUser.arn"),
            ).alias("session_arn"),
        )
        .filter(pl.col("access_key_id").is_not_null())
    )


def _key_kind() -> pl.Expr:
    return (
        pl.when(pl.col("node").str.starts_with("AKIA"))
        .then(pl.lit("long-term"))
        .when(pl.col("node").str.starts_with("ASIA"))
        .then(pl.lit("temporary"))
        .otherwise(pl.lit("unknown"))
        .alias("key_kind")
    )


def _join(col: str) -> pl.Expr:
    return pl.col(col).list.unique().list.sort().list.join("; ").alias(col)


def build_graph(
    trail: Trail | pl.DataFrame | pl.LazyFrame, *, resources: pl.DataFrame | None = None
) -> nx.MultiDiGraph:
    """The actor -> resource graph of a trail (see the module docstring for its shape).

    Parameters
    ----------
    trail
        A :class:`~forensics.Trail` (or an events-table frame).
    resources
        :func:`forensics.resources.event_resources` of the same trail, if already computed.

    Examples
    --------
    >>> import forensics as fx, polars as pl
    >>> from forensics._schema import conform
    >>> ev = conform(pl.DataFrame({"event_id": ["e1"], "event_source": ["s3.amazonaws.com"],
    ...     "event_name": ["GetObject"], "read_only": [True], "access_key_id": ["AKIAEXAMPLE"],
    ...     "principal": ["arn:aws:iam::111122223333:user/alice"],
    ...     "request_parameters": ['{"bucketName":"b","key":"k"}']}))
    >>> g = build_graph(fx.Trail(ev))
    >>> sorted(k for _, _, k in g.out_edges("AKIAEXAMPLE", keys=True))
    ['action', 'action', 'acts_as']
    """
    lazy = trail.lazy() if isinstance(trail, pl.DataFrame | pl.LazyFrame) else trail.lazy
    if resources is None:
        resources = event_resources(lazy)
    events = lazy.select(
        "event_id",
        "event_time",
        "event_name",
        "principal",
        "access_key_id",
        "identity_type",
        "account_id",
        "recipient_account_id",
        "error_code",
        "response_elements",
    )
    g = nx.MultiDiGraph()

    # -- nodes ----------------------------------------------------------------------------------
    principals = (
        events.filter(pl.col("principal").is_not_null())
        .group_by("principal")
        .agg(
            pl.col("identity_type").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first().alias("account"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.len().alias("events"),
        )
        .rename({"principal": "node"})
        .with_columns(pl.lit("principal").alias("kind"), _iso("first_seen"), _iso("last_seen"))
    )
    credentials = (
        events.filter(pl.col("access_key_id").is_not_null() & (pl.col("access_key_id") != ""))
        .group_by("access_key_id")
        .agg(
            pl.col("principal").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first().alias("account"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.len().alias("events"),
        )
        .rename({"access_key_id": "node"})
        .with_columns(
            pl.lit("credential").alias("kind"), _key_kind(), _iso("first_seen"), _iso("last_seen")
        )
    )
    res_nodes = (
        resources.lazy()
        .group_by("arn")
        .agg(
            pl.col("service").first(),
            pl.col("resource_type").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first().alias("account"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.col("event_id").n_unique().alias("touched"),
        )
        .rename({"arn": "node"})
        .with_columns(pl.lit("resource").alias("kind"), _iso("first_seen"), _iso("last_seen"))
    )
    minted = minted_credentials(lazy).with_columns(_iso("event_time")).collect()
    principals_df, credentials_df, res_df = pl.collect_all([principals, credentials, res_nodes])

    with gc_paused():
        _bulk_nodes(g, principals_df)
        _bulk_nodes(g, credentials_df)
        _bulk_nodes(g, res_df)

    # -- edges ----------------------------------------------------------------------------------
    actions = (
        resources.lazy()
        .with_columns(pl.coalesce("access_key_id", "principal").alias("actor"))
        .filter(pl.col("actor").is_not_null())
        .group_by("actor", "arn")
        .agg(
            pl.col("event_name").unique().sort().str.join("; ").alias("event_names"),
            pl.len().alias("count"),
            (pl.col("access") == "read").sum().alias("reads"),
            (pl.col("access") == "write").sum().alias("writes"),
            (pl.col("access") == "denied").sum().alias("denied"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
        )
        .with_columns(
            pl.when(pl.col("writes") > 0)
            .then(pl.lit("write"))
            .when(pl.col("reads") > 0)
            .then(pl.lit("read"))
            .otherwise(pl.lit("denied"))
            .alias("access"),
            _iso("first_seen"),
            _iso("last_seen"),
        )
        .collect()
    )
    with gc_paused():
        _bulk_edges(g, actions, "actor", "arn", "action")
    _bulk_edges(
        g, credentials_df.select("node", "principal").drop_nulls(), "node", "principal", "acts_as"
    )
    minted = minted.rename({"event_time": "time"})
    with gc_paused():
        _bulk_nodes(
            g,
            minted.select(
                pl.col("access_key_id").alias("node"), pl.lit("credential").alias("kind")
            ),
        )
        _bulk_edges(
            g,
            minted.select("parent", "access_key_id", "event_id", "event_name", "time"),
            "parent",
            "access_key_id",
            "minted",
        )
        _bulk_edges(
            g,
            minted.filter(pl.col("session_arn").is_not_null()).select(
                "parent", "session_arn", "access_key_id", "event_id", "event_name", "time"
            ),
            "parent",
            "session_arn",
            "assumed",
        )

    created = (
        resources.lazy()
        .filter(
            pl.col("created")
            & pl.col("error_code").is_null()
            & ~pl.col("resource_type").is_in(["AWS::STS::AssumedRole", "AWS::STS::FederatedUser"])
        )
        .with_columns(
            pl.coalesce("access_key_id", "principal").alias("actor"),
            pl.when(pl.col("resource_type") == "AWS::IAM::AccessKey")
            .then(pl.col("arn").str.extract(r"access-key/(.+)$", 1))
            .otherwise(pl.col("arn"))
            .alias("target"),
        )
        .filter(pl.col("actor").is_not_null() & pl.col("target").is_not_null())
        .group_by("actor", "target")
        .agg(
            pl.col("resource_type").first(),
            pl.col("event_name").first(),
            pl.col("event_id").first(),
            pl.col("event_time").min().alias("time"),
        )
        .with_columns(_iso("time"))
        .collect()
    )
    with gc_paused():
        _bulk_nodes(
            g,
            created.filter(pl.col("resource_type") == "AWS::IAM::AccessKey").select(
                pl.col("target").alias("node"), pl.lit("credential").alias("kind")
            ),
        )
        _bulk_edges(g, created, "actor", "target", "created")
    for node, data in g.nodes(data=True):
        data.setdefault("kind", "resource")
        data.setdefault("label", _label(node))
    return g


def _tuples(frame: pl.DataFrame, names: list[str]) -> Iterator[tuple[Any, ...]]:
    """Row tuples of some columns (column lists zipped: ~3x faster than ``DataFrame.rows``)."""
    if not names:
        return iter([()] * frame.height)
    return zip(*(frame.get_column(c).to_list() for c in names), strict=True)


def _bulk_nodes(g: nx.MultiDiGraph, frame: pl.DataFrame) -> None:
    """Add (or merge into) nodes from rows with a ``node`` column, without networkx's
    per-call overhead. An existing node keeps its ``kind`` (principal > credential > resource);
    first/last seen widen."""
    names = [c for c in frame.columns if c != "node"]
    nodes, succ, pred = g._node, g._succ, g._pred
    for node, row in zip(frame["node"].to_list(), _tuples(frame, names), strict=True):
        attrs = {k: v for k, v in zip(names, row, strict=True) if v is not None}
        old = nodes.get(node)
        if old is None:
            nodes[node] = attrs
            succ[node] = {}
            pred[node] = {}
            continue
        if "first_seen" in attrs and "first_seen" in old:
            attrs["first_seen"] = min(attrs["first_seen"], old["first_seen"])
        if "last_seen" in attrs and "last_seen" in old:
            attrs["last_seen"] = max(attrs["last_seen"], old["last_seen"])
        attrs.pop("kind", None)
        old.update(attrs)
    _clear_cache(g)


def _bulk_edges(g: nx.MultiDiGraph, frame: pl.DataFrame, u_col: str, v_col: str, key: str) -> None:
    """Add one ``key`` edge per row (u -> v, the other columns as attributes), fast."""
    names = [c for c in frame.columns if c not in (u_col, v_col)]
    nodes, succ, pred = g._node, g._succ, g._pred
    rows = _tuples(frame, names)
    for u, v, row in zip(frame[u_col].to_list(), frame[v_col].to_list(), rows, strict=True):
        for n in (u, v):
            if n not in nodes:
                nodes[n] = {}
                succ[n] = {}
                pred[n] = {}
        keydict = succ[u].get(v)
        if keydict is None:
            keydict = succ[u][v] = {}
            pred[v][u] = keydict
        if None in row:
            attrs = {k: x for k, x in zip(names, row, strict=True) if x is not None}
        else:
            attrs = dict(zip(names, row, strict=True))
        attrs["relation"] = key
        keydict[key] = attrs
    _clear_cache(g)


def _clear_cache(g: nx.Graph) -> None:
    clear = getattr(nx, "_clear_cache", None)
    if clear is not None:
        clear(g)


def _label(node: Any) -> str:
    """A short display label: the last part of an ARN, or the id itself."""
    text = str(node)
    if text.startswith("arn:"):
        tail = text.split(":", 5)[-1]
        return tail.rsplit("/", 1)[-1] or tail
    return text
