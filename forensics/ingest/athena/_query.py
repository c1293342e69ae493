"""The one query: every filter of a load pushed into a single SELECT over the CloudTrail table.

Built once as a sqlglot AST (:func:`build`), emitted as Trino for Athena (:func:`trino`) and,
in tests and benchmarks, transpiled to DuckDB (:func:`duckdb`) and run over a view with the same
columns and types on the same files, so the SQL that reaches Athena is the SQL that was tested.

Filters become, in order of cost: the partition columns (``account``, ``region``, ``timestamp``
day folders: what Athena reads at all), then ``eventtime`` (text, with margin: a superset of the
window), event names, access keys, principals. Where the exact rule lives in Python (the
durable ``principal`` of a ``userIdentity``, the precise window), the SQL keeps a superset and
:func:`forensics.ingest.athena._rows.to_events` applies the exact filter to the rows that come back, so
both engines give the same answer.

>>> q = build("db.cloudtrail", accounts=["111122223333"], start="2026-03-04", end="2026-03-05")
>>> "\\"timestamp\\" >= '2026/03/03'" in trino(q), "\\"timestamp\\" <= '2026/03/06'" in trino(q)
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlglot
from sqlglot import exp

from forensics._schema import to_utc
from forensics.ingest.athena._table import CLOUDTRAIL_COLUMNS

__all__ = ["Filters", "build", "duckdb", "principal_condition", "trino"]

_ONE_DAY = timedelta(days=1)
_OFFSET = timedelta(hours=14)  # the largest UTC offset
#: Columns selected as JSON text (structs and arrays: their shape is read back in Python).
JSON_COLUMNS: tuple[str, ...] = tuple(
    name.lower() for name, kind in CLOUDTRAIL_COLUMNS if not isinstance(kind, str)
)
#: The column holding the S3 object a row was read from.
PATH_COLUMN = "$path"
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


@dataclass(frozen=True)
class Filters:
    """What a load asks for (each given filter narrows; ``any_of`` lists alternatives).

    ``start``/``end`` bound ``event_time`` (``start <= t < end``); ``accounts``/``regions`` are
    the S3 layout's (the partition columns, as the local loader prunes by path); ``principals``
    match the ``principal`` or ``principal_arn`` column; ``access_keys`` the ``access_key_id``.
    ``any_of`` (used by the closure) keeps rows matching at least one of its filters' keys /
    principals / shared event ids.
    """

    start: datetime | None = None
    end: datetime | None = None
    accounts: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    event_names: tuple[str, ...] | None = None
    access_keys: tuple[str, ...] | None = None
    principals: tuple[str, ...] | None = None
    shared_event_ids: tuple[str, ...] | None = None
    any_of: tuple[Filters, ...] = field(default=())

    @classmethod
    def of(cls, **kw: object) -> Filters:
        """Normalise user input: times to UTC, iterables to sorted tuples (None stays None)."""
        out: dict[str, object] = {}
        for key, value in kw.items():
            if key in ("start", "end"):
                out[key] = to_utc(value)  # type: ignore[arg-type]
            elif key == "any_of":
                out[key] = tuple(value or ())  # type: ignore[call-overload]
            elif value is None:
                out[key] = None
            else:
                if isinstance(value, str):
                    value = [value]
                out[key] = tuple(sorted({str(v) for v in value}))  # type: ignore[attr-defined]
        return cls(**out)  # type: ignore[arg-type]


def _col(path: str) -> exp.Expression:
    """``a.b.c`` as a column / struct-field reference."""
    parts = path.split(".")
    node: exp.Expression = exp.column(parts[0])
    for part in parts[1:]:
        node = exp.Dot(this=node, expression=exp.to_identifier(part))
    return node


def _s(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _in(path: str, values: Iterable[str]) -> exp.Expression:
    values = list(values)
    if not values:
        return exp.false()
    if len(values) == 1:
        return exp.EQ(this=_col(path), expression=_s(values[0]))
    return _col(path).isin(*[_s(v) for v in values])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(path: str, pattern: str) -> exp.Expression:
    return exp.Escape(this=exp.Like(this=_col(path), expression=_s(pattern)), expression=_s("\\"))


_ARN = re.compile(r"^arn:([^:]*):iam::([^:]*):(user|role)/(?:.*/)?([^/]+)$")
_ROOT = re.compile(r"^arn:([^:]*):iam::([^:]*):root$")


def principal_condition(principal: str) -> exp.Expression:
    """Rows whose ``principal`` (or ``principal_arn``) may be ``principal``: a superset of the
    exact rule in :func:`forensics.ingest._identity_keys.principal_key`, from the raw fields.

    >>> principal_condition("service:ec2.amazonaws.com").sql("trino")
    "useridentity.arn = 'service:ec2.amazonaws.com' OR useridentity.sessioncontext.sessionissuer.arn = 'service:ec2.amazonaws.com' OR useridentity.invokedby = 'ec2.amazonaws.com'"
    """
    p = principal
    ors: list[exp.Expression] = [
        exp.EQ(this=_col("useridentity.arn"), expression=_s(p)),
        exp.EQ(this=_col("useridentity.sessioncontext.sessionissuer.arn"), expression=_s(p)),
    ]
    typ = _col("useridentity.type")
    if m := _ARN.match(p):
        _part, account, kind, name = m.groups()
        if kind == "user":  # an IAM user without an ARN: account + userName
            ors.append(
                exp.and_(
                    exp.EQ(this=_col("useridentity.username"), expression=_s(name)),
                    exp.EQ(this=_col("useridentity.accountid"), expression=_s(account)),
                )
            )
        else:  # a role session without its issuer: the role name in the session ARN
            ors.append(
                _like(
                    "useridentity.arn",
                    f"arn:%:sts::{_like_escape(account)}:assumed-role/{_like_escape(name)}/%",
                )
            )
    elif m := _ROOT.match(p):
        account = m.group(2)
        ors.append(
            exp.and_(
                exp.EQ(this=typ, expression=_s("Root")),
                exp.or_(
                    exp.EQ(this=_col("useridentity.accountid"), expression=_s(account)),
                    _like("useridentity.arn", f"%:{_like_escape(account)}:%"),
                ),
            )
        )
    elif p.startswith("service:"):
        ors.append(exp.EQ(this=_col("useridentity.invokedby"), expression=_s(p[8:])))
    elif p.startswith("account:"):
        # account:<acct>, or account:<acct>/<caller unique id> (an owner's copy): the account's
        account = p[8:].partition("/")[0]
        ors.append(exp.EQ(this=_col("useridentity.accountid"), expression=_s(account)))
        ors.append(_like("useridentity.arn", f"%:{_like_escape(account)}:%"))
    elif p == "anonymous":
        ors.append(exp.EQ(this=typ, expression=_s("AWSAccount")))
    elif p == "unknown":
        ors.append(exp.Is(this=typ, expression=exp.null()))
    elif p.startswith(("saml:", "webidentity:", "identitycenter:")):
        kind = {
            "saml": "SAMLUser",
            "webidentity": "WebIdentityUser",
            "identitycenter": "IdentityCenterUser",
        }[p.split(":", 1)[0]]
        ors.append(exp.EQ(this=typ, expression=_s(kind)))
    elif ":" in p:  # "<type>:<detail>", a type without the fields its rule needs
        ors.append(exp.EQ(this=typ, expression=_s(p.split(":", 1)[0])))
    return exp.or_(*ors)


def _who(f: Filters) -> exp.Expression | None:
    """The key / principal / shared-id selectors of one filter set, OR-ed (None: no selector)."""
    parts: list[exp.Expression] = []
    if f.access_keys is not None:
        parts.append(_in("useridentity.accesskeyid", f.access_keys))
    if f.principals is not None:
        parts.extend(principal_condition(p) for p in f.principals)
        if not f.principals:
            parts.append(exp.false())
    if f.shared_event_ids is not None:
        parts.append(_in("sharedeventid", f.shared_event_ids))
    return exp.or_(*parts) if parts else None


def _day(value: datetime) -> str:
    return value.strftime("%Y/%m/%d")


def build(
    table: str,
    *,
    columns: Iterable[str] | None = None,
    filters: Filters | None = None,
    **kw: object,
) -> exp.Select:
    """The SELECT for ``table`` (``db.table``) under ``filters`` (or the same as keywords).

    ``columns`` are the table's column names when known (lower case); a CloudTrail column the
    table lacks is selected as NULL, so a table made from an older DDL still answers.
    """
    if not _TABLE.match(table):
        raise ValueError(f"{table!r} is not a table name; write database.table")
    f = filters if filters is not None else Filters.of(**kw)
    have = {c.lower() for c in columns} if columns is not None else None
    projections: list[exp.Expression] = []
    for name, _kind in CLOUDTRAIL_COLUMNS:
        low = name.lower()
        if have is not None and low not in have:
            value: exp.Expression = exp.cast(exp.null(), "VARCHAR")
        elif low in JSON_COLUMNS:
            value = exp.func("JSON_FORMAT", exp.cast(exp.column(low), "JSON"))
        else:
            value = exp.column(low)
        projections.append(exp.alias_(value, low))
    projections.append(exp.alias_(exp.column(PATH_COLUMN, quoted=True), "source_object"))
    where: list[exp.Expression] = []
    if f.accounts is not None:
        where.append(_in("account", f.accounts))
    if f.regions is not None:
        where.append(_in("region", f.regions))
    ts = exp.column("timestamp", quoted=True)
    # a day folder holds records of either neighbouring day (delivery lag): one day of margin,
    # as the local loader prunes. eventtime is text, compared as text with 14 h of margin for a
    # time written with a UTC offset: the lower bound by date (a "2026-03-04 13:00" form sorts
    # before "2026-03-04T..."), the upper one to the second ("T" sorts after " ")
    if f.start is not None:
        where.append(exp.GTE(this=ts, expression=_s(_day(f.start - _ONE_DAY))))
        where.append(
            exp.GTE(
                this=exp.column("eventtime"),
                expression=_s((f.start - _OFFSET).strftime("%Y-%m-%d")),
            )
        )
    if f.end is not None:
        where.append(exp.LTE(this=ts, expression=_s(_day(f.end + _ONE_DAY))))
        where.append(
            exp.LT(
                this=exp.column("eventtime"),
                expression=_s((f.end + _OFFSET).strftime("%Y-%m-%dT%H:%M:%S")),
            )
        )
    if f.event_names is not None:
        where.append(_in("eventname", f.event_names))
    if f.access_keys is not None:
        where.append(_in("useridentity.accesskeyid", f.access_keys))
    if f.principals is not None:
        where.append(
            exp.or_(*(principal_condition(p) for p in f.principals))
            if f.principals
            else exp.false()
        )
    if f.shared_event_ids is not None:
        where.append(_in("sharedeventid", f.shared_event_ids))
    alternatives = [w for w in (_who(a) for a in f.any_of) if w is not None]
    if f.any_of:
        where.append(exp.or_(*alternatives) if alternatives else exp.false())
    query = exp.select(*projections).from_(exp.to_table(table))
    if where:
        query = query.where(exp.and_(*where))
    return query


def trino(query: exp.Expression) -> str:
    """The query as Athena (Trino) SQL."""
    return query.sql(dialect="trino")


def duckdb(query: exp.Expression) -> str:
    """The same query as DuckDB SQL (for the local stand-in over the same files)."""
    return query.sql(dialect="duckdb")


def parse(sql: str) -> exp.Expression:
    """A Trino query back to its AST (to transpile a query logged from Athena)."""
    return sqlglot.parse_one(sql, read="trino")


def window_days(start: date | None, end: date | None) -> tuple[str | None, str | None]:
    """The ``timestamp`` partition bounds a window reads (with the one-day margin)."""
    lo = _day(start - _ONE_DAY) if isinstance(start, datetime) else None
    hi = _day(end + _ONE_DAY) if isinstance(end, datetime) else None
    return lo, hi
