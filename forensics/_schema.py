"""The events table: the one definition of its columns and dtypes.

Every other module imports :data:`EVENTS_SCHEMA` (or :func:`empty_events`) from here; nothing else
spells out a column's dtype. One row per CloudTrail record, sorted by ``event_time``.

>>> from forensics._schema import EVENTS_SCHEMA, COLUMNS
>>> COLUMNS[0], str(EVENTS_SCHEMA["event_time"])
('event_time', "Datetime(time_unit='us', time_zone='UTC')")
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

__all__ = [
    "COLUMNS",
    "DENIED_CODES",
    "EVENTS_SCHEMA",
    "FINDINGS_SCHEMA",
    "FINDING_LEVELS",
    "JSON_TEXT_COLUMNS",
    "RECORD_FIELDS",
    "RESOURCE_DTYPE",
    "TIME_DTYPE",
    "conform",
    "conform_findings",
    "empty_events",
    "empty_findings",
    "in_window",
    "is_denied",
    "to_utc",
]

TIME_DTYPE = pl.Datetime("us", "UTC")
RESOURCE_DTYPE = pl.List(pl.Struct({"arn": pl.String, "account_id": pl.String, "type": pl.String}))

#: column -> dtype, in table order.
EVENTS_SCHEMA: pl.Schema = pl.Schema(
    {
        "event_time": TIME_DTYPE,
        "event_id": pl.String,
        "request_id": pl.String,
        "shared_event_id": pl.String,
        "event_name": pl.String,
        "event_source": pl.String,
        "aws_region": pl.String,
        "event_type": pl.String,
        "event_category": pl.String,
        "event_version": pl.String,
        "read_only": pl.Boolean,
        "management_event": pl.Boolean,
        "source_ip": pl.String,
        "user_agent": pl.String,
        "error_code": pl.String,
        "error_message": pl.String,
        "recipient_account_id": pl.String,
        "vpc_endpoint_id": pl.String,
        "identity_type": pl.String,
        "principal_arn": pl.String,
        "principal_id": pl.String,
        "account_id": pl.String,
        "access_key_id": pl.String,
        "user_name": pl.String,
        "session_issuer_arn": pl.String,
        "session_issuer_type": pl.String,
        "mfa_authenticated": pl.Boolean,
        "session_created": TIME_DTYPE,
        "source_identity": pl.String,
        "invoked_by": pl.String,
        "principal": pl.String,
        "actor": pl.String,
        "on_behalf_of_user_id": pl.String,
        "identity_store_arn": pl.String,
        "credential_id": pl.String,
        "in_scope_of": pl.String,
        "assumed_root": pl.Boolean,
        # the whole userIdentity as JSON text; categorical: a trail has few distinct identities
        "user_identity": pl.Categorical(),
        # userIdentity.sessionContext.signInSessionArn: the AWS Sign-In session of the call
        "sign_in_session_arn": pl.String,
        "request_parameters": pl.String,
        "response_elements": pl.String,
        "additional_event_data": pl.String,
        "resources": RESOURCE_DTYPE,
        "extra": pl.String,
        "source_file": pl.Categorical(),
        "source_index": pl.Int64,
    }
)

COLUMNS: tuple[str, ...] = tuple(EVENTS_SCHEMA.names())

#: Columns that hold a JSON document as text (``null`` when the record had none).
JSON_TEXT_COLUMNS: tuple[str, ...] = (
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "extra",
    "user_identity",
)

#: Top-level record fields that are mapped to a column (everything else lands in ``extra``).
RECORD_FIELDS: frozenset[str] = frozenset(
    {
        "eventTime",
        "eventID",
        "requestID",
        "sharedEventID",
        "eventName",
        "eventSource",
        "awsRegion",
        "eventType",
        "eventCategory",
        "eventVersion",
        "readOnly",
        "managementEvent",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "recipientAccountId",
        "vpcEndpointId",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "resources",
    }
)


def empty_events() -> pl.DataFrame:
    """An events table with no rows and the exact schema.

    >>> empty_events().height
    0
    """
    return pl.DataFrame(schema=EVENTS_SCHEMA)


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Select the events columns in table order, cast to the schema; missing columns become null.

    >>> conform(pl.DataFrame({"event_name": ["GetObject"]})).columns == list(COLUMNS)
    True
    """
    names = set(frame.collect_schema().names())
    return frame.select(
        (pl.col(c) if c in names else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in EVENTS_SCHEMA.items()
    )


# -- values: how a bound given by a user and an error code are read ---------------------------
def to_utc(value: datetime | date | str | None) -> datetime | None:
    """A bound given by a user, as an aware UTC datetime (naive values are taken as UTC).

    >>> to_utc("2024-01-02T03:04:05Z").isoformat()
    '2024-01-02T03:04:05+00:00'
    >>> to_utc("2024-01-02").isoformat()
    '2024-01-02T00:00:00+00:00'
    """
    if value is None:
        return None
    if isinstance(value, str):
        raw = value.strip()
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError(
                f"cannot read {value!r} as a time; use ISO 8601, e.g. '2024-01-02T03:04:05Z'"
            ) from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"expected a datetime, date or ISO string, got {type(value).__name__}")


def in_window(lo: datetime | None, hi: datetime | None) -> pl.Expr | None:
    """The predicate ``lo <= event_time < hi`` (either bound may be None; None: no window).
    A row without a time is outside any window.

    >>> in_window(None, None) is None
    True
    """
    preds = []
    if lo is not None:
        preds.append(pl.col("event_time") >= lo)
    if hi is not None:
        preds.append(pl.col("event_time") < hi)
    return pl.all_horizontal(preds) if preds else None


DENIED_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "Unauthorized",
    "UnauthorizedAccess",
    "Forbidden",
    "NotAuthorized",
    "AuthorizationError",
    "AuthFailure",
)


def is_denied(error_code: pl.Expr) -> pl.Expr:
    """True where an error code means the call was refused for lack of permission.

    >>> import polars as pl
    >>> pl.select(is_denied(pl.lit("Client.UnauthorizedOperation"))).item()
    True
    """
    return error_code.is_in(DENIED_CODES) | error_code.str.contains(
        r"(?i)accessdenied|unauthorized|forbidden"
    )


# -- the findings table: one shape for every producer of findings -----------------------------
#: Levels of a finding, lowest first (Sigma's vocabulary).
FINDING_LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

_CAT = pl.Categorical()

#: One row per finding, whoever found it: a Sigma rule's hit (``forensics.detect``), a
#: correlation (``event_ids`` lists its members), a CloudTrail Insight or a first-seen pair
#: (``forensics.baseline``). Text repeated on every hit of a rule is Categorical. ``time`` /
#: ``last_time`` span the finding's events (UTC); ``kind`` says who made it (``event``,
#: ``correlation``, ``insight``, ``first_seen``); ``details`` is a JSON object as text (the
#: baselines' numbers; null for Sigma hits).
FINDINGS_SCHEMA: pl.Schema = pl.Schema(
    {
        "rule_id": _CAT,
        "title": _CAT,
        "level": _CAT,
        "tactics": pl.List(_CAT),
        "techniques": pl.List(_CAT),
        "time": TIME_DTYPE,
        "last_time": TIME_DTYPE,
        "event_ids": pl.List(pl.String),
        "event_count": pl.UInt32,
        "principal": _CAT,
        "actor": _CAT,
        "access_key_id": _CAT,
        "account_id": _CAT,
        "aws_region": _CAT,
        "source_ip": _CAT,
        "kind": _CAT,
        "rule_source": _CAT,
        "rule_author": _CAT,
        "details": pl.String,
    }
)


def empty_findings() -> pl.DataFrame:
    """A findings table with no rows and the exact schema.

    >>> empty_findings().columns[:3]
    ['rule_id', 'title', 'level']
    """
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


_TECHNIQUE = r"(?i)^attack\.t\d{4}(\.\d{3})?$"
_GROUP_OR_SOFTWARE = r"(?i)^attack\.[gs]\d{4}$"


def _from_tags(tags: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(tactics, techniques) from Sigma-style tags, as ``forensics.detect`` reads a rule's tags:
    ``attack.t1098.003`` -> ``T1098.003``, ``attack.defense_evasion`` -> ``defense-evasion``."""
    el = pl.element()
    techniques = tags.list.eval(
        el.filter(el.str.contains(_TECHNIQUE)).str.slice(7).str.to_uppercase()
    )
    tactics = tags.list.eval(
        el.filter(
            el.str.starts_with("attack.")
            & ~el.str.contains(_TECHNIQUE)
            & ~el.str.contains(_GROUP_OR_SOFTWARE)
        )
        .str.slice(7)
        .str.replace_all("_", "-")
    )
    return tactics, techniques


def conform_findings(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Select the findings columns in order, cast; a missing column becomes null.

    The first shape of the baseline findings is read too: ``tags`` (Sigma-style ATT&CK tags)
    become ``tactics`` / ``techniques``, ``end_time`` becomes ``last_time``; ``event_count`` is
    the number of ``event_ids`` when not given.

    >>> conform_findings(pl.DataFrame({"rule_id": ["x"]})).columns == list(FINDINGS_SCHEMA)
    True
    >>> old = pl.DataFrame({"rule_id": ["x"], "tags": [["attack.t1098.003", "attack.persistence"]]})
    >>> conform_findings(old).select("tactics", "techniques").cast(pl.List(pl.String)).row(0)
    (['persistence'], ['T1098.003'])
    """
    names = set(frame.collect_schema().names())
    derived: dict[str, pl.Expr] = {}
    if "tags" in names:
        tags = pl.col("tags").cast(pl.List(pl.String))
        tactics, techniques = _from_tags(tags)
        derived.setdefault("tactics", tactics)
        derived.setdefault("techniques", techniques)
    if "end_time" in names:
        derived["last_time"] = pl.col("end_time")
    if "event_ids" in names:
        derived["event_count"] = pl.col("event_ids").list.len()
    if "time" in names:
        derived["last_time"] = pl.coalesce(derived.get("last_time", pl.lit(None)), pl.col("time"))
    empty_list = {"tactics", "techniques", "event_ids"}

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        if name in names:
            expr = pl.col(name)
        elif name in derived:
            expr = derived[name]
        elif name in empty_list:
            expr = pl.lit([], dtype=pl.List(pl.String))
        else:
            expr = pl.lit(None)
        return expr.cast(dtype).alias(name)

    # with_columns, not select: a literal column keeps the frame's height (0 rows stay 0)
    return frame.with_columns(column(c, dtype) for c, dtype in FINDINGS_SCHEMA.items()).select(
        FINDINGS_SCHEMA.names()
    )
