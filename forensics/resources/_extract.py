"""``event_resources``: the resources each event touched, as canonical ARNs, in polars.

How it runs (no per-row Python on the normal path):

1. the events are grouped by API (``event_source``, ``event_name``); each API with rules in
   :data:`~forensics.resources._mapping.RULES` decodes its ``requestParameters`` and
   ``responseElements`` once with ``str.json_decode`` and a schema holding only the fields its
   rules read; the values are exploded and formatted into ARNs;
2. every event also contributes its ``resources[]`` ARNs;
3. events that got nothing from 1 and 2 are scanned for ARN-looking values in their request
   parameters (and, when denied, for the ``on resource: arn:...`` of the error message);
4. short IAM / Secrets Manager / CloudFormation names are completed to the full ARN when the
   trail shows exactly one (``role/x`` -> ``role/service-role/x``).

A group whose JSON does not fit its schema (a field that is an object in one record and a string
in another) is decoded record by record instead: slower, never wrong, never a crash.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from forensics._batches import batches
from forensics._schema import TIME_DTYPE, is_denied
from forensics.resources._mapping import _PLACEHOLDER, RULES, Rule

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = [
    "BATCH_ROWS",
    "RESOURCE_COLUMNS",
    "access_kind",
    "empty_resources",
    "event_resources",
    "resource_parts",
]

#: Columns of :func:`event_resources`, in order.
RESOURCE_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "event_time": TIME_DTYPE,
    "principal": pl.String(),
    "access_key_id": pl.String(),
    "event_name": pl.String(),
    "event_source": pl.String(),
    "arn": pl.String(),
    "service": pl.String(),
    "resource_type": pl.String(),
    "account_id": pl.String(),
    "region": pl.String(),
    "access": pl.String(),
    "created": pl.Boolean(),
    "error_code": pl.String(),
    "found_in": pl.String(),
}

_NEEDED = (
    "event_id",
    "event_time",
    "principal",
    "access_key_id",
    "event_name",
    "event_source",
    "aws_region",
    "recipient_account_id",
    "account_id",
    "read_only",
    "error_code",
    "error_message",
    "request_parameters",
    "response_elements",
    "resources",
)

_READ_PREFIX = r"^(Get|List|Describe|Head|Lookup|Search|BatchGet|Scan|Query|Select|View|Check)"
_ARN_RE = r"arn:aws[a-z\-]*:[a-z0-9\-]+:[a-z0-9\-]*:(?:\d{12}|aws)?:[^\"\s,\\\]\}]+"
_DENIED_RESOURCE_RE = r"on resource:? (arn:aws[a-z\-]*:[^\"\s,\\]+)"


def access_kind() -> pl.Expr:
    """``"denied"`` / ``"read"`` / ``"write"`` for each event of the events table.

    Denied = an access-denied error code; read = ``read_only`` (or, when the record has no
    ``readOnly``, a Get/List/Describe/... event name); everything else is a write.

    >>> import polars as pl
    >>> df = pl.DataFrame({"error_code": [None, "AccessDenied", None],
    ...                    "read_only": [True, True, None], "event_name": ["A", "B", "PutX"]})
    >>> df.select(access_kind()).to_series().to_list()
    ['read', 'denied', 'write']
    """
    denied = is_denied(pl.col("error_code")).fill_null(False)
    readish = pl.col("read_only").fill_null(
        pl.col("event_name").fill_null("").str.contains(_READ_PREFIX)
    )
    return (
        pl.when(denied)
        .then(pl.lit("denied"))
        .when(readish)
        .then(pl.lit("read"))
        .otherwise(pl.lit("write"))
        .alias("access")
    )


# -- the plan: rules per API, JSON schemas per field ---------------------------------------------
_BY_SOURCE: dict[str, list[Rule]] = defaultdict(list)
for _rule in RULES:
    _BY_SOURCE[_rule.source].append(_rule)


def _segments(path: str) -> tuple[str, list[tuple[str, bool]]]:
    field, _, rest = path.partition(".")
    return field, [(s[:-2], True) if s.endswith("[]") else (s, False) for s in rest.split(".")]


class _Conflict(Exception):
    pass


def _merge(tree: dict, segs: list[tuple[str, bool]]) -> None:
    key, is_list = segs[0]
    node = tree.get(key)
    leaf = len(segs) == 1
    if node is None:
        node = tree[key] = {"list": is_list, "children": None if leaf else {}}
    if node["list"] != is_list or (node["children"] is None) != leaf:
        raise _Conflict(key)
    if not leaf:
        _merge(node["children"], segs[1:])


def _dtype(tree: dict) -> pl.DataType:
    fields = {}
    for key, node in tree.items():
        inner = pl.String() if node["children"] is None else _dtype(node["children"])
        fields[key] = pl.List(inner) if node["list"] else inner
    return pl.Struct(fields)


def _schemas(rules: list[Rule]) -> dict[str, pl.DataType] | None:
    """One decode schema per JSON field for these rules, or None if their paths conflict."""
    trees: dict[str, dict] = {}
    try:
        for rule in rules:
            for p in _rule_paths(rule):
                field, segs = _segments(p)
                _merge(trees.setdefault(field, {}), segs)
    except _Conflict:
        return None
    return {field: _dtype(tree) for field, tree in trees.items()}


def _rule_paths(rule: Rule) -> list[str]:
    return ([rule.path] if rule.path else []) + [p for _, p in rule.extra]


_FIELD_COLUMN = {"request": "request_parameters", "response": "response_elements"}


# -- evaluating a rule on a decoded group --------------------------------------------------------
def _path_frame(frame: pl.DataFrame, path: str, extras: list[tuple[str, str]]) -> pl.DataFrame:
    """``_row`` + ``_v`` (one row per value found at ``path``) + extra scalar columns."""
    field, segs = _segments(path)
    extra_exprs = []
    for name, p in extras:
        f, s = _segments(p)
        e = pl.col(f"_{f}")
        for key, _ in s:
            e = e.struct.field(key)
        extra_exprs.append(e.alias(f"_x_{name}"))
    carry = ["_row", "_partition", "_region", "_acct"]
    cur = frame.select(*carry, pl.col(f"_{field}").alias("_v"), *extra_exprs)
    for key, is_list in segs:
        cur = cur.with_columns(pl.col("_v").struct.field(key).alias("_v"))
        if is_list:
            cur = cur.explode("_v")
    return cur


def _apply(rule: Rule, frame: pl.DataFrame) -> pl.DataFrame:
    """ARNs of one rule over a decoded group (columns ``_row``, ``arn``, ...)."""
    if rule.path is None:
        cur = frame.select("_row", "_partition", "_region", "_acct").with_columns(
            pl.lit(None, pl.String).alias("_v")
        )
    else:
        cur = _path_frame(frame, rule.path, list(rule.extra))
        cur = cur.filter(pl.col("_v").is_not_null() & (pl.col("_v") != ""))
        for name, _ in rule.extra:
            cur = cur.filter(pl.col(f"_x_{name}").is_not_null() & (pl.col(f"_x_{name}") != ""))
    return _format(rule, cur)


def _format(rule: Rule, cur: pl.DataFrame) -> pl.DataFrame:
    if cur.height == 0:
        return _empty_hits()
    group_names: list[str] = []
    if rule.match:
        group_names = list(re.compile(rule.match).groupindex)
        cur = cur.with_columns(pl.col("_v").str.extract_groups(rule.match).alias("_m"))
        cur = cur.filter(pl.col("_m").struct.field(group_names[0]).is_not_null())
        cur = cur.with_columns(pl.col("_m").struct.field(g).alias(f"_g_{g}") for g in group_names)
    columns = {"partition": "_partition", "region": "_region", "account": "_acct", "value": "_v"}
    columns |= {name: f"_x_{name}" for name, _ in rule.extra}
    columns |= {g: f"_g_{g}" for g in group_names}
    if "account" in group_names:
        columns["account"] = "_g_account"
    parts: list[pl.Expr] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(rule.arn):
        if m.start() > pos:
            parts.append(pl.lit(rule.arn[pos : m.start()]))
        parts.append(pl.col(columns[m.group(1)]).fill_null(""))
        pos = m.end()
    if pos < len(rule.arn):
        parts.append(pl.lit(rule.arn[pos:]))
    arn = pl.concat_str(parts)
    if rule.arn == "{value}":
        cur = cur.filter(pl.col("_v").str.starts_with("arn:"))
    elif rule.passthrough:
        arn = pl.when(pl.col("_v").str.starts_with("arn:")).then(pl.col("_v")).otherwise(arn)
    return cur.select(
        "_row",
        arn.alias("arn"),
        pl.lit(rule.type).alias("resource_type"),
        pl.lit(rule.created).alias("created"),
        pl.lit(rule.access, pl.String).alias("_override"),
        pl.lit(_found_in(rule)).alias("found_in"),
    )


def _found_in(rule: Rule) -> str:
    """Where a rule reads: ``request`` / ``response``, or ``event`` (implicit resource)."""
    return "event" if rule.path is None else rule.path.split(".", 1)[0]


_HIT_SCHEMA = {
    "_row": pl.UInt32(),
    "arn": pl.String(),
    "resource_type": pl.String(),
    "created": pl.Boolean(),
    "_override": pl.String(),
    "found_in": pl.String(),
}


def _empty_hits() -> pl.DataFrame:
    return pl.DataFrame(schema=_HIT_SCHEMA)


def _decode(group: pl.DataFrame, schemas: dict[str, pl.DataType]) -> pl.DataFrame:
    """``group`` with its JSON fields decoded (``_request`` / ``_response``). Texts repeat a lot
    in a trail (the same Describe call every minute): when a sample of the group repeats, each
    distinct text is decoded once and joined back to its rows."""
    decode = [
        pl.col(_FIELD_COLUMN[f]).str.json_decode(t).alias(f"_{f}") for f, t in schemas.items()
    ]
    texts = [_FIELD_COLUMN[f] for f in schemas]
    sample = group.head(_SAMPLE).select(texts)
    if group.height < _SAMPLE or sample.n_unique() > sample.height // 2:
        return group.with_columns(decode)
    distinct = group.select(texts).unique().with_columns(decode)
    return group.join(distinct, on=texts, how="left", maintain_order="left", nulls_equal=True)


#: Rows looked at to guess whether a group's JSON texts repeat (see :func:`_decode`).
_SAMPLE = 512


def _walk(obj: Any, segs: list[tuple[str, bool]]) -> list[Any]:
    """Values at a path in a decoded JSON value (the slow, tolerant path)."""
    values = [obj]
    for key, is_list in segs:
        nxt = []
        for v in values:
            if isinstance(v, dict) and key in v:
                got = v[key]
                if is_list:
                    nxt.extend(got if isinstance(got, list) else [])
                else:
                    nxt.append(got)
        values = nxt
    return [v for v in values if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


def _apply_slow(rule: Rule, group: pl.DataFrame) -> pl.DataFrame:
    """The same as decode + :func:`_apply`, record by record (for groups with odd JSON)."""
    rows, values, extras = [], [], defaultdict(list)
    cache: dict[tuple[int, str], Any] = {}

    def doc(i: int, field: str, text: str | None) -> Any:
        key = (i, field)
        if key not in cache:
            try:
                cache[key] = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                cache[key] = None
        return cache[key]

    req = group["request_parameters"].to_list()
    resp = group["response_elements"].to_list()
    ids = group["_row"].to_list()
    for i, row in enumerate(ids):
        texts = {"request": req[i], "response": resp[i]}
        found = [None]
        if rule.path is not None:
            field, segs = _segments(rule.path)
            found = [str(v) for v in _walk(doc(i, field, texts[field]), segs)]
        got_extra = {}
        for name, p in rule.extra:
            field, segs = _segments(p)
            vals = _walk(doc(i, field, texts[field]), segs)
            got_extra[name] = str(vals[0]) if vals else None
        for v in found:
            rows.append(row)
            values.append(v)
            for name, _ in rule.extra:
                extras[name].append(got_extra[name])
    cur = pl.DataFrame(
        {"_row": rows, "_v": values, **{f"_x_{k}": v for k, v in extras.items()}},
        schema_overrides={"_row": pl.UInt32, "_v": pl.String}
        | {f"_x_{k}": pl.String for k in extras},
    )
    cur = cur.join(group.select("_row", "_partition", "_region", "_acct"), on="_row")
    if rule.path is not None:
        cur = cur.filter(pl.col("_v").is_not_null() & (pl.col("_v") != ""))
    for name, _ in rule.extra:
        cur = cur.filter(pl.col(f"_x_{name}").is_not_null() & (pl.col(f"_x_{name}") != ""))
    return _format(rule, cur)


def _present_keys(decoded: pl.DataFrame) -> set[str]:
    """``field.key`` for every top-level key that has a value in at least one row of a group."""
    found: set[str] = set()
    n = decoded.height
    for field in ("request", "response"):
        col = f"_{field}"
        if col not in decoded.columns:
            continue
        nulls = decoded.get_column(col).struct.unnest().null_count().row(0, named=True)
        found.update(f"{field}.{k}" for k, v in nulls.items() if v < n)
    return found


def _may_fire(rule: Rule, present: set[str]) -> bool:
    """False when a path the rule needs is empty in every row of the group (skip the work)."""
    for p in _rule_paths(rule):
        field, segs = _segments(p)
        if f"{field}.{segs[0][0]}" not in present:
            return False
    return True


def _leaf(path: str) -> tuple[str, str]:
    """The JSON text column a path reads and the name of its last key."""
    field, segs = _segments(path)
    return _FIELD_COLUMN[field], segs[-1][0]


def _candidates(rules: list[Rule], group: pl.DataFrame) -> pl.DataFrame:
    """The rows of a group (one API) on which one of its rules can fire.

    A value at ``a.b[].c`` exists only if the JSON text holds the key ``"c"``; a key can be
    spelled otherwise only with a ``\\u`` escape (the mapping's keys are ``[A-Za-z0-9_-]``),
    so rows holding neither cannot give a rule anything and are never decoded. This is one
    literal search per text column; the decode of the rows left gives the answer as before.
    """
    if any(rule.path is None for rule in rules):
        return group
    keys: dict[str, set[str]] = defaultdict(set)
    for rule in rules:
        column, key = _leaf(rule.path)  # type: ignore[arg-type]
        keys[column].add(key)
    found = [
        pl.col(column)
        .str.contains(r"\\u|" + "|".join(f'"{re.escape(k)}"' for k in sorted(names)))
        .fill_null(False)
        for column, names in keys.items()
    ]
    return group.filter(pl.any_horizontal(found))


def _mapped_hits(rows: pl.DataFrame) -> pl.DataFrame:
    """Resources from the mapping table, for every API that has rules."""
    apis = rows.select("event_source", "event_name").unique().drop_nulls()
    plans: list[tuple[str, str, list[Rule]]] = []
    for source, name in apis.iter_rows():
        rules = [r for r in _BY_SOURCE.get(source, ()) if r.applies_to(name)]
        if rules:
            plans.append((source, name, rules))
    if not plans:
        return _empty_hits()
    keys = pl.DataFrame(
        {
            "event_source": [p[0] for p in plans],
            "event_name": [p[1] for p in plans],
            "_g": list(range(len(plans))),
        },
        schema={"event_source": pl.String, "event_name": pl.String, "_g": pl.UInt32},
    )
    # Tag each row with its API's plan (a join of the two small key columns only), then split
    # the rows by plan in one pass: the JSON text is copied once, never sorted or joined.
    plan = (
        rows.select("event_source", "event_name")
        .join(keys, on=["event_source", "event_name"], how="left", maintain_order="left")
        .get_column("_g")
    )
    mapped = (
        rows.select(
            "_row", "_partition", "_region", "_acct", "request_parameters", "response_elements"
        )
        .with_columns(plan)
        .filter(pl.col("_g").is_not_null())
    )
    out: list[pl.DataFrame] = []
    for (g,), group in mapped.partition_by("_g", as_dict=True).items():
        rules = plans[g][2]
        group = _candidates(rules, group)
        if not group.height:
            continue
        schemas = _schemas(rules)
        decoded = None
        if schemas is not None:
            try:
                decoded = _decode(group, schemas)
            except pl.exceptions.PolarsError:
                decoded = None
        present = _present_keys(decoded) if decoded is not None else None
        for rule in rules:
            if decoded is not None:
                if present is not None and not _may_fire(rule, present):
                    continue
                out.append(_apply(rule, decoded))
                continue
            one = _schemas([rule])
            try:
                out.append(_apply(rule, _decode(group, one)))  # type: ignore[arg-type]
            except pl.exceptions.PolarsError:
                out.append(_apply_slow(rule, group))
    return pl.concat(out) if out else _empty_hits()


def _listed_hits(rows: pl.DataFrame) -> pl.DataFrame:
    """Resources from the record's own ``resources[]``."""
    listed = (
        rows.select("_row", "resources")
        .filter(pl.col("resources").list.len() > 0)
        .explode("resources")
        .unnest("resources")
        .filter(pl.col("arn").is_not_null() & pl.col("arn").str.starts_with("arn:"))
    )
    return listed.select(
        "_row",
        "arn",
        pl.col("type").alias("resource_type"),
        pl.lit(False).alias("created"),
        pl.lit(None, pl.String).alias("_override"),
        pl.lit("resources").alias("found_in"),
    )


def _scanned_hits(rows: pl.DataFrame) -> pl.DataFrame:
    """ARN-looking values in request parameters, and the resource of a denial message."""
    scan = rows.select(
        "_row",
        pl.col("request_parameters").str.extract_all(_ARN_RE).alias("_a"),
        pl.when(is_denied(pl.col("error_code")).fill_null(False))
        .then(pl.col("error_message").str.extract(_DENIED_RESOURCE_RE, 1))
        .alias("_d"),
    )
    found = pl.concat(
        [
            scan.select(
                "_row", pl.col("_a").alias("arn"), pl.lit("request").alias("found_in")
            ).explode("arn"),
            scan.select("_row", pl.col("_d").alias("arn"), pl.lit("error").alias("found_in")),
        ]
    ).filter(pl.col("arn").is_not_null() & ~pl.col("arn").str.contains("*", literal=True))
    return found.select(
        "_row",
        pl.col("arn").str.strip_chars_end(".;)"),
        pl.lit(None, pl.String).alias("resource_type"),
        pl.lit(False).alias("created"),
        pl.lit(None, pl.String).alias("_override"),
        "found_in",
    )


# -- canonical ARNs ------------------------------------------------------------------------------
_IAM_NAMED = re.compile(
    r"^arn:([^:]*):iam::(\d{12}):(user|role|group|policy|instance-profile)/(.+)$"
)
_SECRET = re.compile(r"^arn:([^:]*):secretsmanager:([^:]*):(\d{12}):secret:(.+)$")
_STACK = re.compile(r"^arn:([^:]*):cloudformation:([^:]*):(\d{12}):stack/([^/]+)(/.*)?$")


def _completions(arns: list[str]) -> dict[str, str]:
    """Short ARN -> full ARN where the set holds exactly one full form for the same name."""
    full: dict[tuple, set[str]] = defaultdict(set)
    short: dict[tuple, list[str]] = defaultdict(list)
    for a in arns:
        m = _IAM_NAMED.match(a)
        if m:
            part, acct, kind, rest = m.groups()
            name = rest.rsplit("/", 1)[-1]
            key = ("iam", part, acct, kind, name)
            (full[key].add(a) if "/" in rest else short[key].append(a))
            continue
        m = _SECRET.match(a)
        if m:
            part, region, acct, name = m.groups()
            if re.search(r"-[A-Za-z0-9]{6}$", name):
                full[("secret", part, region, acct, name[:-7])].add(a)
            short[("secret", part, region, acct, name)].append(a)
            continue
        m = _STACK.match(a)
        if m:
            part, region, acct, name, tail = m.groups()
            key = ("stack", part, region, acct, name)
            (full[key].add(a) if tail else short[key].append(a))
    out = {}
    for key, shorts in short.items():
        fulls = full.get(key)
        if fulls and len(fulls) == 1:
            (target,) = fulls
            for s in shorts:
                if s != target:
                    out[s] = target
    return out


_TYPE_BY_PREFIX: dict[tuple[str, str], str] = {}


def _resource_prefix(arn: str) -> tuple[str, str] | None:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    return parts[2], re.split(r"[/:]", parts[5], maxsplit=1)[0]


def _build_type_table() -> None:
    fill = {"partition": "aws", "region": "r", "account": "1", "value": "v"}
    for rule in RULES:
        names = dict(fill)
        names.update({n: "v" for n in rule.placeholders if n not in names})
        text = _PLACEHOLDER.sub(lambda m, names=names: names[m.group(1)], rule.arn)
        key = _resource_prefix(text)
        if key and key[1] != "v":
            _TYPE_BY_PREFIX.setdefault(key, rule.type)
    _TYPE_BY_PREFIX.setdefault(("s3", "v"), "AWS::S3::Bucket")
    _TYPE_BY_PREFIX.setdefault(("sts", "assumed-role"), "AWS::STS::AssumedRole")


_build_type_table()


def _type_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "service": [k[0] for k in _TYPE_BY_PREFIX],
            "_prefix": [k[1] for k in _TYPE_BY_PREFIX],
            "_type_guess": list(_TYPE_BY_PREFIX.values()),
        }
    )


def empty_resources() -> pl.DataFrame:
    """An :func:`event_resources` frame with no rows."""
    return pl.DataFrame(schema=RESOURCE_COLUMNS)


def event_resources(trail: Trail | pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per (event, resource touched), with canonical ARNs.

    Parameters
    ----------
    trail
        A :class:`~forensics.Trail` (or an events-table frame).

    Returns
    -------
    polars.DataFrame
        Columns ``event_id``, ``event_time``, ``principal``, ``access_key_id``, ``event_name``,
        ``event_source`` (as in the events table), ``arn`` (canonical), ``service`` and
        ``account_id`` / ``region`` (from the ARN), ``resource_type`` (CloudFormation style,
        e.g. ``AWS::S3::Bucket``), ``access`` (``read`` / ``write`` / ``denied``), ``created``
        (the call created it), ``error_code``, ``found_in`` (``request``, ``response``,
        ``resources``, ``error`` or ``event`` for a call's implicit resource). Time order;
        an event may have several rows.

    The events are read in batches of :data:`BATCH_ROWS` rows (Polars' streaming engine): only
    one batch's JSON text is in memory at a time; the result holds the resource rows only.

    Examples
    --------
    >>> import forensics as fx, polars as pl
    >>> from forensics._schema import conform
    >>> ev = conform(pl.DataFrame({"event_id": ["e1"], "event_source": ["s3.amazonaws.com"],
    ...     "event_name": ["GetObject"], "read_only": [True],
    ...     "request_parameters": ['{"bucketName":"b","key":"k.txt"}']}))
    >>> event_resources(fx.Trail(ev))["arn"].sort().to_list()
    ['arn:aws:s3:::b', 'arn:aws:s3:::b/k.txt']
    """
    frames: list[pl.DataFrame] = []
    where: dict[tuple[int, int], int] = {}
    for kind, part, bounds in resource_parts(trail):
        if kind == "batch":
            where[bounds] = len(frames)
            frames.append(part)
        else:  # the completed rows of a batch back into it, sorted like the rest
            i = where[bounds]
            frames[i] = pl.concat([frames[i], part], how="vertical").sort("_row", "arn")
    if not frames:
        return empty_resources()
    out = pl.concat(frames, how="vertical", rechunk=False)
    return out.select(pl.col(name).cast(dtype) for name, dtype in RESOURCE_COLUMNS.items())


#: Events read per batch by :func:`event_resources` (and the graph): bounds the memory held
#: by the JSON text of the events to one batch.
BATCH_ROWS = 250_000

#: The events-table columns kept with each resource row (joined from the event).
_ROW_INFO = (
    "_row",
    "event_id",
    "event_time",
    "principal",
    "access_key_id",
    "event_name",
    "event_source",
    "error_code",
    "read_only",
)


def _prepared(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """The columns the extraction reads."""
    extra_cols = ["principal_arn", "session_issuer_arn"]
    return lazy.select(*_NEEDED, *extra_cols).with_columns(
        pl.coalesce(pl.col("recipient_account_id"), pl.col("account_id"))
        .fill_null("")
        .alias("_acct"),
        pl.col("aws_region").fill_null("").alias("_region"),
        pl.when(pl.col("aws_region").str.starts_with("cn-"))
        .then(pl.lit("aws-cn"))
        .when(pl.col("aws_region").str.starts_with("us-gov-"))
        .then(pl.lit("aws-us-gov"))
        .otherwise(pl.lit("aws"))
        .alias("_partition"),
        pl.col("principal_arn").alias("_principal_arn"),
        pl.col("session_issuer_arn").alias("_issuer"),
    )


def _batches(
    trail: Trail | pl.DataFrame | pl.LazyFrame, batch_rows: int | None = None
) -> Iterator[pl.DataFrame]:
    """The prepared rows of a trail, ``batch_rows`` at a time, with ``_row`` (the row number
    in the whole trail)."""
    lazy = trail.lazy() if isinstance(trail, pl.DataFrame | pl.LazyFrame) else trail.lazy
    size = batch_rows or BATCH_ROWS
    for start, batch in batches(_prepared(lazy), size, desc="resources"):
        if batch.height:
            yield batch.with_row_index("_row", offset=start)


def _completable(col: str) -> pl.Expr:
    """ARNs whose short form may be completed from the trail (see :func:`_completions`)."""
    c = pl.col(col)
    return (
        c.str.contains(":iam::", literal=True)
        | c.str.contains(":secretsmanager:", literal=True)
        | c.str.contains(":cloudformation:", literal=True)
    ).fill_null(False)


def _raw_hits(rows: pl.DataFrame) -> pl.DataFrame:
    """Every resource found in a batch of prepared rows, before canonical ARNs."""
    hits = pl.concat([_mapped_hits(rows), _listed_hits(rows)])
    # Only events with an ARN-looking text can gain anything from the scan; find those with a
    # cheap literal search first, then keep the ones nothing else resolved.
    scannable = rows.select("_row", "request_parameters", "error_code", "error_message").filter(
        pl.col("request_parameters").str.contains("arn:aws", literal=True).fill_null(False)
        | pl.col("error_message").str.contains("on resource", literal=True).fill_null(False)
    )
    if scannable.height:
        missing = scannable.filter(~pl.col("_row").is_in(hits.get_column("_row").implode()))
        if missing.height:
            hits = pl.concat([hits, _scanned_hits(missing)])
    return hits


def _one_per_pair(hits: pl.DataFrame) -> pl.DataFrame:
    """One hit per (event, ARN), sorted by ``_row`` and ``arn``: the first non-null type, created
    if any hit says so, the access override only when every hit has one (the first), the first
    place found. "First" is in the order the hits were found (mapping, ``resources[]``, scan).

    Most pairs are found once: the hits are sorted (stably) and only the pairs found several
    times are aggregated.
    """
    ordered = hits.sort("_row", "arn", maintain_order=True)
    same = (pl.col("_row") == pl.col("_row").shift(1)) & (pl.col("arn") == pl.col("arn").shift(1))
    repeated = ordered.select(same.fill_null(False).alias("_same")).get_column("_same")
    if not repeated.any():
        return ordered
    # a pair is in a group when it repeats the row before it, or the row after repeats it
    grouped = repeated | repeated.shift(-1, fill_value=False)
    multi = (
        ordered.filter(grouped)
        .with_columns((~repeated.filter(grouped)).cum_sum().alias("_pair"))
        .group_by("_pair", maintain_order=True)
        .agg(
            pl.col("_row").first(),
            pl.col("arn").first(),
            pl.col("resource_type").drop_nulls().first(),
            pl.col("created").any(),
            pl.when(pl.col("_override").is_null().any())
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col("_override").first())
            .alias("_override"),
            pl.col("found_in").first(),
        )
        .drop("_pair")
    )
    return pl.concat([ordered.filter(~grouped), multi.cast(ordered.schema)]).sort(
        "_row", "arn", maintain_order=True
    )


def _with_info(hits: pl.DataFrame, info: pl.DataFrame) -> pl.DataFrame:
    """Each hit with its event's ``info`` columns (hits of events not in ``info`` dropped)."""
    rows = info.get_column("_row")
    if info.height and rows[-1] - rows[0] + 1 == info.height:
        # a whole batch: event k is at position k - first (a gather, not a join)
        inside = hits.filter(pl.col("_row").is_between(rows[0], rows[-1]))
        picked = info.drop("_row").select(pl.all().gather(inside.get_column("_row") - rows[0]))
        return pl.concat([inside, picked], how="horizontal")
    return hits.join(info, on="_row", how="inner", maintain_order="left")


def _finish(hits: pl.DataFrame, info: pl.DataFrame) -> pl.DataFrame:
    """Resource rows (``_row`` + :data:`RESOURCE_COLUMNS`) from canonical hits and their
    events' ``info``, sorted by row and ARN."""
    hits = _one_per_pair(hits)
    # Facts read from the ARN itself, computed once per distinct ARN.
    parts = pl.col("arn").str.split(":")
    arn_info = (
        hits.select("arn")
        .unique()
        .with_columns(
            parts.list.get(2, null_on_oob=True).alias("service"),
            parts.list.get(3, null_on_oob=True).replace("", None).alias("region"),
            parts.list.get(4, null_on_oob=True).replace("", None).alias("account_id"),
            pl.col("arn")
            .str.split_exact(":", 5)
            .struct.field("field_5")
            .str.extract(r"^([^/:]*)", 1)
            .alias("_prefix"),
        )
        .join(_type_table(), on=["service", "_prefix"], how="left")
        .drop("_prefix")
    )
    out = (
        _with_info(hits, info)
        .join(arn_info, on="arn", how="left", maintain_order="left")
        .with_columns(
            access_kind().alias("_event_access"),
        )
        .with_columns(
            pl.coalesce("resource_type", "_type_guess").alias("resource_type"),
            pl.when(pl.col("_event_access") == "denied")
            .then(pl.lit("denied"))
            .otherwise(pl.coalesce("_override", "_event_access"))
            .alias("access"),
        )
    )
    return out.select(
        "_row", *(pl.col(name).cast(dtype) for name, dtype in RESOURCE_COLUMNS.items())
    )


def compact_text(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy holding only its own text: a few rows kept from a batch would otherwise keep the
    whole batch's string buffers alive (Polars' string views share them; a filter, gather or
    join keeps them, an expression that computes new strings does not)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns((pl.col(name) + "").alias(name) for name in text)


def resource_parts(
    trail: Trail | pl.DataFrame | pl.LazyFrame, *, batch_rows: int | None = None
) -> Iterator[tuple[str, pl.DataFrame, tuple[int, int]]]:
    """:func:`event_resources` in parts, for callers that aggregate as they go (the graph).

    Yields ``("batch", frame, (first, last))`` per batch of events (``first`` / ``last``: the
    range of ``_row`` it read), then ``("completed", frame, (first, last))`` per batch: the
    rows whose ARN is an IAM / Secrets Manager / CloudFormation one, held back until the whole
    trail is read, because a short name (``role/x``) is completed to the full ARN only when the
    trail shows exactly one (see the module docstring). Frames have the
    :data:`RESOURCE_COLUMNS` plus ``_row`` (the event's position in the trail), sorted by
    ``_row`` and ``arn``. Every (event, ARN) pair is in exactly one frame.
    """
    held: list[tuple[pl.DataFrame, pl.DataFrame, tuple[int, int]]] = []
    known: list[pl.Series] = []
    for rows in _batches(trail, batch_rows):
        hits = _raw_hits(rows)
        later_mask = hits.select(_completable("arn")).to_series()
        later = hits.filter(later_mask)
        principals = pl.concat([rows.get_column(c).unique() for c in ("_principal_arn", "_issuer")])
        known.append(
            compact_text(
                pl.concat([later.get_column("arn"), principals.alias("arn")])
                .unique()
                .to_frame("arn")
                .filter(_completable("arn"))
            ).get_column("arn")
        )
        info = rows.select(*_ROW_INFO)
        bounds = (rows["_row"][0], rows["_row"][-1])
        if later.height:
            mine = pl.col("_row").is_in(later.get_column("_row").implode())
            held.append((compact_text(later), compact_text(info.filter(mine)), bounds))
        yield "batch", _finish(hits.filter(~later_mask), info), bounds
    if not held:
        return
    arns = pl.concat(known).unique() if known else pl.Series("arn", [], pl.String)
    mapping = _completions(arns.to_list())
    held.reverse()
    while held:  # batch by batch (each let go once finished): never all of them at once
        hits, info, bounds = held.pop()
        if mapping:
            hits = hits.with_columns(pl.col("arn").replace(mapping))
        yield "completed", _finish(hits, info), bounds
