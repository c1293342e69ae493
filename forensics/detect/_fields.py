"""Sigma's CloudTrail field names -> expressions over the events table.

Sigma rules for ``product: aws, service: cloudtrail`` name fields by their path in the CloudTrail
record (``eventName``, ``userIdentity.arn``, ``requestParameters.bucketName``). This module is the
one table that says where each lives in the events table (see ``docs/detections.md``):

* a **column** (``eventName`` -> ``event_name``): cheap, evaluated first;
* **derived** from columns (``userIdentity.sessionContext.sessionIssuer.userName`` is the last
  segment of the issuer ARN): cheap;
* a path inside a **JSON text** column (``requestParameters.*``, ``responseElements.*``,
  ``additionalEventData.*``, and any top-level record field the table keeps in ``extra``, e.g.
  ``tlsDetails.tlsVersion``): read only on rows that passed the cheap predicates. Values inside
  JSON arrays are all candidates: ``requestParameters.ipPermissions.items.ipRanges.items.cidrIp``
  matches when any element matches (Sigma's list semantics).

A field that names something the table does not keep (e.g. ``userIdentity.identityProvider``) is
an :class:`UnsupportedField`; the rule using it is reported, never silently run as "no match".

>>> field_access("eventName").expr.meta.output_name()
'event_name'
>>> field_access("requestParameters.userName").kind
'list'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import polars as pl

from forensics._schema import RECORD_FIELDS

__all__ = ["COLUMN_FIELDS", "DERIVED_FIELDS", "Access", "UnsupportedField", "field_access"]

Kind = Literal["str", "list", "time", "bool"]

#: Sigma field -> column of the events table, one to one.
COLUMN_FIELDS: dict[str, str] = {
    "eventTime": "event_time",
    "eventID": "event_id",
    "requestID": "request_id",
    "sharedEventID": "shared_event_id",
    "eventName": "event_name",
    "eventSource": "event_source",
    "awsRegion": "aws_region",
    "eventType": "event_type",
    "eventCategory": "event_category",
    "eventVersion": "event_version",
    "readOnly": "read_only",
    "managementEvent": "management_event",
    "sourceIPAddress": "source_ip",
    "userAgent": "user_agent",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "recipientAccountId": "recipient_account_id",
    "vpcEndpointId": "vpc_endpoint_id",
    "userIdentity.type": "identity_type",
    "userIdentity.arn": "principal_arn",
    "userIdentity.principalId": "principal_id",
    "userIdentity.accountId": "account_id",
    "userIdentity.accessKeyId": "access_key_id",
    "userIdentity.userName": "user_name",
    "userIdentity.invokedBy": "invoked_by",
    "userIdentity.sessionContext.sessionIssuer.arn": "session_issuer_arn",
    "userIdentity.sessionContext.sessionIssuer.type": "session_issuer_type",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": "mfa_authenticated",
    "userIdentity.sessionContext.attributes.creationDate": "session_created",
    "userIdentity.sessionContext.sourceIdentity": "source_identity",
}

_ISSUER = pl.col("session_issuer_arn")
_ASSUMED = pl.col("identity_type") == "AssumedRole"

#: Sigma field -> expression derived from columns (documented in docs/detections.md).
DERIVED_FIELDS: dict[str, pl.Expr] = {
    # role/user name: the last segment of the issuer's ARN (role paths are dropped, as AWS does)
    "userIdentity.sessionContext.sessionIssuer.userName": _ISSUER.str.extract(r"/([^/]+)$", 1),
    "userIdentity.sessionContext.sessionIssuer.accountId": _ISSUER.str.extract(
        r"^arn:[^:]*:[^:]*:[^:]*:([^:]*):", 1
    ),
    # an assumed-role session's principalId is "<role id>:<session name>"
    "userIdentity.sessionContext.sessionIssuer.principalId": pl.when(_ASSUMED).then(
        pl.col("principal_id").str.extract(r"^([^:]+):", 1)
    ),
    "userIdentity.sessionContext.attributes.sessionName": pl.when(_ASSUMED).then(
        pl.col("principal_arn").str.extract(r"/([^/]+)$", 1)
    ),
}

#: Top-level record objects kept as JSON text, and their column.
JSON_FIELDS: dict[str, str] = {
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "additionalEventData": "additional_event_data",
}

_RESOURCE_KEYS = {"arn": "arn", "accountid": "account_id", "type": "type"}

#: Top-level fields CloudTrail documents for a record that the table keeps inside ``extra``.
EXTRA_FIELDS: frozenset[str] = frozenset(
    {
        "apiVersion",
        "serviceEventDetails",
        "sessionCredentialFromConsole",
        "tlsDetails",
        "addendum",
        "edgeDeviceDetails",
        "insightDetails",
        "vpcEndpointAccountId",
        "eventContext",
    }
)


class UnsupportedField(ValueError):
    """A rule names a field the events table does not keep (the message says which and why)."""


@dataclass(frozen=True)
class Access:
    """How to read one Sigma field.

    ``kind``: ``str`` (a String expression), ``bool`` (a Boolean column), ``time`` (a Datetime),
    ``list`` (List(String): every value found at a JSON path; empty when the path is absent).
    ``cost``: 0 a column, 1 derived from columns, 2 read out of JSON text.
    """

    field: str
    expr: pl.Expr
    kind: Kind
    cost: int
    columns: tuple[str, ...]


def _values_at(doc: Any, keys: list[str], out: list[str]) -> None:
    """Every value at ``keys`` below ``doc``, descending into lists at any level."""
    if isinstance(doc, list):
        for item in doc:
            _values_at(item, keys, out)
        return
    if not keys:
        if doc is None:
            return
        if isinstance(doc, str):
            out.append(doc)
        elif isinstance(doc, bool):
            out.append("true" if doc else "false")
        elif isinstance(doc, (int, float)):
            out.append(orjson.dumps(doc).decode())
        else:
            out.append(orjson.dumps(doc).decode())
        return
    if isinstance(doc, dict):
        head = keys[0]
        if head in doc:
            _values_at(doc[head], keys[1:], out)
            return
        # CloudTrail's own keys are camelCase but a few services vary the case: match it loosely
        lowered = head.lower()
        for k, v in doc.items():
            if k.lower() == lowered:
                _values_at(v, keys[1:], out)
                return


def _decode_values(texts: list[str | None], keys: list[str]) -> list[list[str]]:
    result: list[list[str]] = []
    for text in texts:
        if text is None:
            result.append([])
            continue
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            result.append([])
            continue
        out: list[str] = []
        _values_at(doc, keys, out)
        result.append(out)
    return result


def _json_values(series: pl.Series, keys: tuple[str, ...]) -> pl.Series:
    """Every value at ``keys`` in each JSON text: Polars' JSONPath first, Python where needed.

    ``json_path_match`` (native) answers a path through objects only; the rows where it finds
    nothing but the text mentions the last key (the path may cross an array, or differ in case),
    or where it finds an array, are decoded in Python and walked with Sigma's list semantics.
    """
    path = "$" + "".join(f"[{orjson.dumps(k).decode()}]" for k in keys)
    native = series.str.json_path_match(path)
    mentions = series.str.contains("(?i)" + re.escape(orjson.dumps(keys[-1]).decode()))
    redo = (native.is_null() & mentions.fill_null(False)) | native.str.starts_with("[").fill_null(
        False
    )
    values = (
        native.to_frame("v")
        .select(
            pl.when(pl.col("v").is_null())
            .then(pl.lit([], pl.List(pl.String)))
            .otherwise(pl.concat_list(pl.col("v")))
        )
        .to_series()
    )
    if redo.any():
        idx = redo.arg_true()
        full: list[list[str] | None] = [None] * series.len()
        decoded = _decode_values(series.gather(idx).to_list(), list(keys))
        for i, d in zip(idx.to_list(), decoded, strict=True):
            full[i] = d
        patch = pl.Series(full, dtype=pl.List(pl.String))
        values = pl.select(pl.when(redo).then(patch).otherwise(values)).to_series()
    return values.alias(series.name)


def json_path(column: str, keys: tuple[str, ...]) -> pl.Expr:
    """All values at ``keys`` inside the JSON text of ``column``, as List(String).

    >>> df = pl.DataFrame({"request_parameters": ['{"a": [{"b": "x"}, {"b": 2}]}', None]})
    >>> df.select(json_path("request_parameters", ("a", "b"))).to_series().to_list()
    [['x', '2'], []]
    """
    return pl.col(column).map_batches(
        lambda s: _json_values_once(s, keys), return_dtype=pl.List(pl.String)
    )


#: Decoded paths while :func:`decoding_once` is active: (column, keys, rows) -> values.
_decoded: dict[tuple[str, tuple[str, ...], int], pl.Series] | None = None
_DECODING = threading.RLock()


@contextmanager
def decoding_once() -> Iterator[None]:
    """Within the block, each JSON path of a column is decoded once, however many times the
    expressions name it (a rule's ``field: [a, b, c]`` reads the path once per value, and
    Polars does not merge Python functions as common sub-expressions).

    The block must evaluate expressions over ONE frame: values are known by column name, path
    and row count. Polars calls the decoder from its own threads, so the memo is process-wide:
    one block runs at a time (a lock), whichever thread opened it.

    >>> df = pl.DataFrame({"request_parameters": ['{"a": "x"}', '{"a": "y"}']})
    >>> a = json_path("request_parameters", ("a",))
    >>> with decoding_once():
    ...     df.filter(a.list.contains("x") | a.list.contains("y")).height
    2
    """
    global _decoded
    with _DECODING:
        outer, _decoded = _decoded, {}
        try:
            yield
        finally:
            _decoded = outer


def _json_values_once(series: pl.Series, keys: tuple[str, ...]) -> pl.Series:
    memo = _decoded
    if memo is None:
        return _json_values(series, keys)
    key = (series.name, keys, series.len())
    found = memo.get(key)
    if found is None:
        found = memo[key] = _json_values(series, keys)
    return found


def field_access(field: str) -> Access:
    """Where a Sigma CloudTrail field lives; raises :class:`UnsupportedField`.

    >>> field_access("userIdentity.sessionContext.sessionIssuer.userName").cost
    1
    >>> field_access("userIdentity.identityProvider")
    Traceback (most recent call last):
    ...
    forensics.detect._fields.UnsupportedField: field 'userIdentity.identityProvider' is not kept in the events table (userIdentity keeps: type, arn, principalId, accountId, accessKeyId, userName, invokedBy, sessionContext.sessionIssuer.*, sessionContext.attributes.*, sessionContext.sourceIdentity)
    """
    col = _lookup(COLUMN_FIELDS, field)
    if col is not None:
        dtype_kind: Kind = (
            "bool"
            if col in ("read_only", "management_event", "mfa_authenticated")
            else "time"
            if col in ("event_time", "session_created")
            else "str"
        )
        return Access(field, pl.col(col), dtype_kind, 0, (col,))
    derived = _lookup(DERIVED_FIELDS, field)
    if derived is not None:
        cols = tuple(derived.meta.root_names())
        return Access(field, derived, "str", 1, cols)
    head, _, rest = field.partition(".")
    json_col = _lookup(JSON_FIELDS, head)
    if json_col is not None:
        if not rest:  # the whole object, as its JSON text
            return Access(field, pl.col(json_col), "str", 0, (json_col,))
        return Access(field, json_path(json_col, tuple(rest.split("."))), "list", 2, (json_col,))
    if head.lower() == "resources":
        key = _RESOURCE_KEYS.get(rest.lower())
        if key is None:
            raise UnsupportedField(
                f"field {field!r}: resources[] keeps only ARN, accountId and type"
            )
        expr = pl.col("resources").list.eval(pl.element().struct.field(key).drop_nulls())
        return Access(field, expr, "list", 1, ("resources",))
    if head.lower() == "useridentity":
        raise UnsupportedField(
            f"field {field!r} is not kept in the events table (userIdentity keeps: type, arn, "
            "principalId, accountId, accessKeyId, userName, invokedBy, "
            "sessionContext.sessionIssuer.*, sessionContext.attributes.*, "
            "sessionContext.sourceIdentity)"
        )
    if head in RECORD_FIELDS:  # a mapped field spelled with a path the table does not keep
        raise UnsupportedField(f"field {field!r} is not kept in the events table")
    if _lookup({k: k for k in EXTRA_FIELDS}, head) is None:
        raise UnsupportedField(f"field {field!r} is not a CloudTrail record field")
    # the other top-level record fields live in `extra` (tlsDetails, serviceEventDetails, ...)
    return Access(field, json_path("extra", tuple(field.split("."))), "list", 2, ("extra",))


def _lookup(table: dict[str, Any], field: str) -> Any:
    if field in table:
        return table[field]
    lowered = field.lower()
    for k, v in table.items():
        if k.lower() == lowered:
            return v
    return None


def value_expr(field: str) -> pl.Expr:
    """One value per row for grouping (correlation ``group-by``): a string, the first JSON value.

    >>> df = pl.DataFrame({"source_ip": ["1.2.3.4"]})
    >>> df.select(value_expr("sourceIPAddress")).item()
    '1.2.3.4'
    """
    access = field_access(field)
    if access.kind == "list":
        return access.expr.list.first()
    return access.expr.cast(pl.String)
