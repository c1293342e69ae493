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

import itertools
from itertools import repeat
from typing import TYPE_CHECKING, Any

import networkx as nx
import polars as pl

from forensics._gc import gc_paused
from forensics._progress import progress
from forensics.resources import empty_resources
from forensics.resources._extract import compact_text, resource_parts

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
    minted_lazy = minted_credentials(lazy).with_columns(_iso("event_time"))
    principals_df, credentials_df, minted = pl.collect_all(
        [principals, credentials, minted_lazy], engine="streaming"
    )
    res_df, actions, created = _resource_aggregates(lazy, resources)

    with gc_paused():
        _bulk_nodes(g, principals_df)
        _bulk_nodes(g, credentials_df)
        shared: dict[str, list] = {}  # the aggregates' ARN / actor codes, read once
        _bulk_nodes(g, res_df, shared)

    # -- edges ----------------------------------------------------------------------------------
    with gc_paused():
        _bulk_edges(g, actions, "actor", "arn", "action", shared)
        del shared
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
    with gc_paused():
        _bulk_nodes(
            g,
            created.filter(pl.col("resource_type") == "AWS::IAM::AccessKey").select(
                pl.col("target").alias("node"), pl.lit("credential").alias("kind")
            ),
        )
        _bulk_edges(g, created, "actor", "target", "created")
    ids, facts = list(g._node), list(g._node.values())
    for start in range(0, len(ids), _LABEL_CHUNK):  # in chunks: a bounded peak of text
        chunk, chunk_facts = ids[start : start + _LABEL_CHUNK], facts[start : start + _LABEL_CHUNK]
        for node, data, label in zip(chunk, chunk_facts, _labels(chunk), strict=True):
            data.setdefault("kind", "resource")
            if "label" not in data:
                data["label"] = _label(node) if label is None else label
    return g


#: Nodes labelled at a time (see :func:`_labels`).
_LABEL_CHUNK = 100_000

#: Rows of partial aggregates held before they are folded together (bounds the memory of the
#: action edges of a large trail; a partial row is ~40 bytes: codes, counts and two times).
_FOLD_ROWS = 4_000_000


def _resource_aggregates(
    lazy: pl.LazyFrame, resources: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Resource nodes, action edges and created edges, aggregated batch by batch.

    The resource rows of a large trail are never held whole: each batch of
    :func:`forensics.resources._extract.resource_parts` is reduced to one row per resource and
    per (actor, resource) first, and the partial rows are folded together as they pile up.
    """
    if resources is not None:
        parts: Any = [("batch", resources.with_row_index("_row"), None)]
        dup_ids = None
    else:
        parts = progress(resource_parts(lazy), "graph: resources")
        dup_ids = _duplicate_ids(lazy)
    nodes: list[pl.DataFrame] = []
    edges: list[pl.DataFrame] = []
    made: list[pl.DataFrame] = []
    dup_pairs: list[pl.DataFrame] = []
    # The partial rows hold ARNs, actors and event names as codes of one private dictionary:
    # folds group small integers, and the partials never keep a batch's text buffers alive.
    code = pl.Categorical(pl.Categories.random())
    seen = False
    for _, part, _ in itertools.chain(parts, [(None, None, None)]):
        if part is None:  # after the last part: one empty part if there was none
            if seen:
                break
            part = empty_resources().with_row_index("_row")
        seen = True
        # an event counted once per resource, also when ID collisions span batches
        once = (
            pl.lit(True)
            if resources is not None
            else pl.col("event_id").is_not_null()
            & (pl.lit(True) if dup_ids is None else ~pl.col("event_id").is_in(dup_ids.implode()))
        )
        coded = part.with_columns(
            pl.col("arn").cast(code),
            pl.col("event_name").cast(code),
            pl.coalesce("access_key_id", "principal").cast(code).alias("actor"),
        )
        nodes.append(
            coded.group_by("arn").agg(
                pl.col("service").first(),
                pl.col("resource_type").drop_nulls().first(),
                pl.col("account_id").drop_nulls().first().alias("account"),
                pl.col("event_time").min().alias("first_seen"),
                pl.col("event_time").max().alias("last_seen"),
                # each (event, ARN) is one row, so without ID collisions a count is n_unique
                (
                    pl.col("event_id").filter(once).n_unique()
                    if resources is not None
                    else once.sum()
                ).alias("touched"),
            )
        )
        if resources is None:
            dup_pairs.append(compact_text(part.filter(~once).select("arn", "event_id").unique()))
        edges.append(
            coded.filter(pl.col("actor").is_not_null())
            .group_by("actor", "arn", "event_name")
            .agg(
                pl.len().alias("count"),
                (pl.col("access") == "read").sum().alias("reads"),
                (pl.col("access") == "write").sum().alias("writes"),
                (pl.col("access") == "denied").sum().alias("denied"),
                pl.col("event_time").min().alias("first_seen"),
                pl.col("event_time").max().alias("last_seen"),
            )
        )
        if _pile_up(edges):
            edges = [_fold_edges(edges)]
        if _pile_up(nodes):
            nodes = [_fold_nodes(nodes)]
        made.append(
            compact_text(
                part.filter(
                    pl.col("created")
                    & pl.col("error_code").is_null()
                    & ~pl.col("resource_type").is_in(
                        ["AWS::STS::AssumedRole", "AWS::STS::FederatedUser"]
                    )
                )
            )
        )
    node_df = _fold_nodes(nodes)
    if dup_pairs:
        dups = pl.concat(dup_pairs).unique().group_by("arn").agg(pl.len().alias("_dup"))
        node_df = (
            node_df.join(dups.with_columns(pl.col("arn").cast(code)), on="arn", how="left")
            .with_columns((pl.col("touched") + pl.col("_dup").fill_null(0)).cast(pl.UInt32))
            .drop("_dup")
        )
    node_df = node_df.rename({"arn": "node"}).with_columns(
        pl.lit("resource").alias("kind"), _iso("first_seen"), _iso("last_seen")
    )
    actions = _fold_edges(edges, final=True).with_columns(
        pl.when(pl.col("writes") > 0)
        .then(pl.lit("write"))
        .when(pl.col("reads") > 0)
        .then(pl.lit("read"))
        .otherwise(pl.lit("denied"))
        .alias("access"),
        _iso("first_seen"),
        _iso("last_seen"),
    )
    created = (
        pl.concat(made)
        .sort("_row", "arn")
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
    )
    return node_df, actions, created


def _pile_up(parts: list[pl.DataFrame]) -> bool:
    """Whether partial rows are worth folding: many, and as many again as the last fold's
    (so that each row is folded a bounded number of times)."""
    pending = sum(p.height for p in parts[1:])
    return len(parts) > 1 and pending > max(_FOLD_ROWS, parts[0].height)


def _fold_nodes(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Partial resource nodes (in trail order) folded into one row per ARN."""
    return (
        pl.concat(parts)
        .group_by("arn")
        .agg(
            pl.col("service").first(),
            pl.col("resource_type").drop_nulls().first(),
            pl.col("account").drop_nulls().first(),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("touched").sum().cast(pl.UInt32),
        )
    )


def _fold_edges(parts: list[pl.DataFrame], *, final: bool = False) -> pl.DataFrame:
    """Partial action edges (one row per actor, resource and event name) folded together;
    ``final``: one row per (actor, resource) with the names joined (sorted, ``"; "``)."""
    sums = [pl.col(c).sum().cast(pl.UInt32) for c in ("count", "reads", "writes", "denied")]
    times = [pl.col("first_seen").min(), pl.col("last_seen").max()]
    folded = pl.concat(parts).group_by("actor", "arn", "event_name").agg(*sums, *times)
    if not final:
        return folded
    names = pl.col("event_name").cast(pl.String).drop_nulls().sort().str.join("; ")
    names = names.alias("event_names")
    return folded.group_by("actor", "arn").agg(names, *sums, *times)


def _duplicate_ids(lazy: pl.LazyFrame) -> pl.Series | None:
    """Event ids held by more than one row (ID collisions the load kept), so that a resource's
    ``touched`` counts each event once even when its rows fall in different batches."""
    # candidates through a 64-bit hash first (a group_by on 10M ids as text holds ~2 GB)
    hashed = pl.col("event_id").hash(seed=0).alias("_h")
    candidates = (
        lazy.filter(pl.col("event_id").is_not_null())
        .select(hashed)
        .group_by("_h")
        .agg(pl.len().alias("_n"))
        .filter(pl.col("_n") > 1)
        .collect(engine="streaming")
        .get_column("_h")
    )
    if candidates.len() == 0:
        return None
    dups = (
        lazy.filter(pl.col("event_id").is_not_null())
        .select("event_id", hashed)
        .filter(pl.col("_h").is_in(candidates.implode()))
        .group_by("event_id")
        .agg(pl.len().alias("_n"))
        .filter(pl.col("_n") > 1)
        .collect(engine="streaming")
        .get_column("event_id")
    )
    return dups if dups.len() else None


def _pylist(column: pl.Series, shared: dict[str, list]) -> list:
    """The Python values of a column; repeated text shares one ``str`` object (less memory and
    time than one object per row). A categorical column (the aggregates' codes) is read through
    its dictionary (kept in ``shared`` for the other columns coded with it); a text column is
    coded first when a sample of it repeats a lot."""
    dtype = column.dtype
    if isinstance(dtype, pl.Categorical):
        name = dtype.categories.name
        if name not in shared:
            shared[name] = [*dtype.categories.to_series().to_list(), None]
        words = shared[name]
        codes = column.to_physical().fill_null(len(words) - 1).to_list()
        return list(map(words.__getitem__, codes))
    if dtype == pl.String and column.len() > 64:
        head = column.head(4096)
        if head.n_unique() * 4 <= head.len():
            return _pylist(column.cast(pl.Categorical(pl.Categories.random())), {})
    return column.to_list()


def _attr_dicts(
    frame: pl.DataFrame, names: list[str], extra: dict[str, Any], shared: dict[str, list]
) -> list[dict]:
    """One attribute dict per row: the non-null values of ``names``, then ``extra``."""
    keys = (*names, *extra)
    if not keys:
        return [{} for _ in range(frame.height)]
    columns = [_pylist(frame.get_column(c), shared) for c in names]
    rows = zip(*columns, *([v] * frame.height for v in extra.values()), strict=True)
    dicts = list(map(dict, map(zip, repeat(keys), rows)))  # built in C
    nullable = [c for c in names if frame.get_column(c).null_count()]
    if nullable:  # drop the null values (in place: the other keys keep their order)
        where = frame.select(pl.any_horizontal(pl.col(nullable).is_null()).arg_true())
        for i in where.to_series().to_list():
            d = dicts[i]
            for c in nullable:
                if d[c] is None:
                    del d[c]
    return dicts


def _ensure_nodes(
    g: nx.MultiDiGraph, frame: pl.DataFrame, columns: list[str], shared: dict[str, list]
) -> None:
    """Empty nodes for the distinct values of ``columns`` not in the graph yet."""
    nodes, succ, pred = g._node, g._succ, g._pred
    if all(isinstance(frame.schema[c], pl.Categorical) for c in columns):
        # the same dictionary: its codes are enough to find the distinct values
        values = pl.concat([frame.get_column(c) for c in columns])
    else:
        values = pl.concat([frame.get_column(c).cast(pl.String) for c in columns])
    for n in _pylist(values.unique(maintain_order=True), shared):
        if n not in nodes:
            nodes[n] = {}
            succ[n] = {}
            pred[n] = {}


def _bulk_nodes(
    g: nx.MultiDiGraph, frame: pl.DataFrame, shared: dict[str, list] | None = None
) -> None:
    """Add (or merge into) nodes from rows with a ``node`` column, without networkx's
    per-call overhead. An existing node keeps its ``kind`` (principal > credential > resource);
    first/last seen widen."""
    names = [c for c in frame.columns if c != "node"]
    nodes, succ, pred = g._node, g._succ, g._pred
    shared = {} if shared is None else shared
    ids = _pylist(frame.get_column("node"), shared)
    for node, attrs in zip(ids, _attr_dicts(frame, names, {}, shared), strict=True):
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


def _bulk_edges(
    g: nx.MultiDiGraph,
    frame: pl.DataFrame,
    u_col: str,
    v_col: str,
    key: str,
    shared: dict[str, list] | None = None,
) -> None:
    """Add one ``key`` edge per row (u -> v, the other columns as attributes), fast. A later
    row for the same (u, v) replaces an earlier one, as ``add_edge(u, v, key)`` would."""
    names = [c for c in frame.columns if c not in (u_col, v_col)]
    shared = {} if shared is None else shared
    _ensure_nodes(g, frame, [u_col, v_col], shared)
    succ, pred = g._succ, g._pred
    us, vs = (_pylist(frame.get_column(c), shared) for c in (u_col, v_col))
    attrs_list = _attr_dicts(frame, names, {"relation": key}, shared)
    for u, v, attrs in zip(us, vs, attrs_list, strict=True):
        out = succ[u]
        keydict = out.get(v)
        if keydict is None:
            out[v] = pred[v][u] = {key: attrs}
        else:
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


def _labels(nodes: list[Any]) -> list[str | None]:
    """:func:`_label` of many nodes at once (None where a node is not text)."""
    if not all(isinstance(n, str) for n in nodes):
        return [None] * len(nodes)
    text = pl.Series("n", nodes, dtype=pl.String)
    parts = pl.col("n").str.splitn(":", 6)
    tail = pl.coalesce(parts.struct.field(f"field_{i}") for i in range(5, -1, -1))
    last = tail.str.extract(r"([^/]*)$", 1)
    label = pl.when(pl.col("n").str.starts_with("arn:")).then(
        pl.when(last == "").then(tail).otherwise(last)
    )
    return text.to_frame().select(label.fill_null(pl.col("n"))).to_series().to_list()
