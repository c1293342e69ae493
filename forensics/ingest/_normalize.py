"""Records (parsed JSON objects) -> the events table.

This is the reference normalizer: every record shape goes through it, and any faster decoder must
produce exactly what it produces. It never raises on a record: a field of the wrong type becomes
text (scalars) or JSON text (containers) or null, and the record is kept.

>>> frame = normalize_records([{"eventTime": "2024-01-02T03:04:05Z", "eventName": "GetObject",
...     "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}}], "f.json")
>>> frame.select("event_name", "principal").row(0)
('GetObject', 'arn:aws:iam::1:user/a')
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from forensics._schema import EVENTS_SCHEMA, RECORD_FIELDS, TIME_DTYPE, conform
from forensics.ingest._identity_keys import (
    DETAIL_COLUMNS,
    identity_details,
    principal_key,
    refine_identity,
)

__all__ = [
    "IDENTITY_COLUMNS",
    "TIME_FALLBACKS",
    "TIME_FORMAT",
    "TIME_FORMATS",
    "TOP_FLAGS",
    "TOP_JSON",
    "TOP_TEXT",
    "identity_row",
    "json_text",
    "normalize_records",
    "parse_time_series",
    "parse_times",
    "text",
]

#: eventTime shapes read (CloudTrail, Lake, Logstash, lookup-events, hand-made): a date, ``T`` or
#: a space, a time with optional fraction (any digits; kept to the microsecond), then ``Z``, an
#: offset (``+11:00`` or ``+1100``) or nothing (taken as UTC). Offsets are converted to UTC.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
#: Kept for callers that list formats; every one of them is read by :func:`parse_times`.
TIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
)

# Columns filled straight from a top-level string field.
TOP_TEXT: tuple[tuple[str, str], ...] = (
    ("event_id", "eventID"),
    ("request_id", "requestID"),
    ("shared_event_id", "sharedEventID"),
    ("event_name", "eventName"),
    ("event_source", "eventSource"),
    ("aws_region", "awsRegion"),
    ("event_type", "eventType"),
    ("event_category", "eventCategory"),
    ("event_version", "eventVersion"),
    ("source_ip", "sourceIPAddress"),
    ("user_agent", "userAgent"),
    ("error_code", "errorCode"),
    ("error_message", "errorMessage"),
    ("recipient_account_id", "recipientAccountId"),
    ("vpc_endpoint_id", "vpcEndpointId"),
)
#: Columns filled from a top-level boolean flag.
TOP_FLAGS: tuple[tuple[str, str], ...] = (
    ("read_only", "readOnly"),
    ("management_event", "managementEvent"),
)
#: Columns holding a top-level object's JSON text.
TOP_JSON: tuple[tuple[str, str], ...] = (
    ("request_parameters", "requestParameters"),
    ("response_elements", "responseElements"),
    ("additional_event_data", "additionalEventData"),
)
#: Fallbacks for a missing eventTime, in order (Logstash / OpenSearch exports, lookup-events).
TIME_FALLBACKS: tuple[str, ...] = ("@timestamp", "EventTime", "timestamp")


def text(value: Any) -> str | None:
    """A column's text: strings as they are, other scalars stringified, containers as JSON.

    >>> text(3), text(True), text({"a": 1}), text(None)
    ('3', 'true', '{"a":1}', None)
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json_text(value)


def json_text(value: Any) -> str | None:
    """Compact JSON text of a value (None stays None). Never raises.

    >>> json_text({"b": [1, "x"]})
    '{"b":[1,"x"]}'
    """
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson's 255 levels, ...
        pass
    try:
        return json.dumps(value, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        return '"<value that cannot be written as JSON>"'


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    if isinstance(value, int):
        return bool(value)
    return None


def _resources(value: Any) -> list[dict[str, str | None]] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append(
                {
                    "arn": text(item.get("ARN", item.get("arn"))),
                    "account_id": text(item.get("accountId", item.get("account_id"))),
                    "type": text(item.get("type")),
                }
            )
        elif item is not None:
            out.append({"arn": text(item), "account_id": None, "type": None})
    return out


def _get(d: Any, key: str) -> Any:
    return d.get(key) if isinstance(d, dict) else None


def _parse_any(raw: pl.Expr) -> pl.Expr:
    """Every accepted shape (see :data:`TIME_FORMAT`), rewritten to one format and parsed."""
    text = (
        raw.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    text = pl.when(text.str.contains(r"[+-]\d{2}:\d{2}$")).then(text).otherwise(text + "+00:00")
    return text.str.strptime(TIME_DTYPE, TIME_FORMAT, strict=False)


def parse_times(expr: pl.Expr | pl.Series) -> pl.Expr:
    """Parse CloudTrail time text to ``Datetime(us, UTC)``; text that is not a time is null.

    >>> pl.select(parse_times(pl.lit("2020-09-14T01:00:38.123Z"))).item().isoformat()
    '2020-09-14T01:00:38.123000+00:00'
    >>> pl.select(parse_times(pl.lit("2022-02-08 09:23:37+11:00"))).item().isoformat()
    '2022-02-07T22:23:37+00:00'
    """
    if isinstance(expr, pl.Series):
        return pl.lit(parse_time_series(expr))
    raw = expr.cast(pl.String)
    common = raw.str.strptime(TIME_DTYPE, "%Y-%m-%dT%H:%M:%SZ", strict=False)
    return pl.coalesce(common, _parse_any(raw))


def parse_time_series(series: pl.Series) -> pl.Series:
    """:func:`parse_times` for a Series, fast when (as usual) every time has CloudTrail's shape:
    the general rewrite runs only on the values the common format did not read."""
    raw = series.cast(pl.String)
    fast = raw.str.strptime(TIME_DTYPE, "%Y-%m-%dT%H:%M:%SZ", strict=False)
    need = fast.is_null() & raw.is_not_null()
    if not need.any():
        return fast
    where = need.arg_true()
    slow = pl.select(_parse_any(pl.lit(raw.gather(where)))).to_series()
    return fast.scatter(where, slow)


def _time_text(value: Any) -> str | None:
    """eventTime as text; numbers are taken as epoch seconds (or milliseconds, when large)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return text(value)


def normalize_records(
    records: Iterable[Any],
    source_file: str,
    indices: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Turn parsed CloudTrail records into rows of the events table (unsorted, not de-duplicated).

    ``indices`` gives each record's position in its file (``source_index``); by default 0, 1, ...
    A record that is not a JSON object is kept as an event with every field null and its value in
    ``extra`` (the loader decides before this whether such values count as records at all).
    """
    cols: dict[str, list[Any]] = {name: [] for name in EVENTS_SCHEMA.names()}
    cols["_event_time_text"] = []
    cols["_session_created_text"] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # growing many small lists re-triggers the collector for nothing
    try:
        for record in records:
            _append(cols, record if isinstance(record, dict) else {"_value": record})
    finally:
        if gc_was_enabled:
            gc.enable()
    n = len(cols["event_id"])
    cols["source_index"] = list(indices) if indices is not None else list(range(n))
    cols["source_file"] = [source_file] * n
    time_text = cols.pop("_event_time_text")
    del cols["event_time"]
    del cols["session_created"]
    session_text = cols.pop("_session_created_text")
    schema = {c: (pl.String if c in ("source_file",) else d) for c, d in EVENTS_SCHEMA.items()}
    schema.pop("event_time")
    schema.pop("session_created")
    try:
        frame = pl.DataFrame(cols, schema={c: schema[c] for c in cols}, strict=False)
    except UnicodeEncodeError:  # lone surrogates (from \\udXXX escapes) are not UTF-8
        cols = {c: [_clean(v) for v in values] for c, values in cols.items()}
        time_text = [_clean(v) for v in time_text]
        session_text = [_clean(v) for v in session_text]
        frame = pl.DataFrame(cols, schema={c: schema[c] for c in cols}, strict=False)
    frame = frame.with_columns(
        parse_time_series(pl.Series(time_text, dtype=pl.String)).alias("event_time"),
        parse_time_series(pl.Series(session_text, dtype=pl.String)).alias("session_created"),
    )
    return fill_insight_names(conform(refine_identity(frame)))  # type: ignore[arg-type]


def fill_insight_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Insights records name no API call of their own: ``event_name``/``event_source`` come
    from ``insightDetails`` (the call whose rate or error rate was unusual). Every reader
    (C, msgspec, reference) ends here, so the three agree.

    >>> import polars as pl
    >>> f = pl.DataFrame({"event_name": [None], "event_source": [None],
    ...     "extra": ['{"insightDetails":{"eventName":"RunInstances","eventSource":"ec2"}}']})
    >>> fill_insight_names(f).row(0)[:2]
    ('RunInstances', 'ec2')
    """
    if "extra" not in frame.columns or frame.height == 0:
        return frame
    has = pl.col("extra").str.contains('"insightDetails"', literal=True).fill_null(False)
    missing = pl.col("event_name").is_null() | pl.col("event_source").is_null()
    if not frame.select((missing & has).any()).item():
        return frame
    fills = []
    for column, key in (("event_name", "eventName"), ("event_source", "eventSource")):
        found = pl.col("extra").str.json_path_match(f"$.insightDetails.{key}")
        fills.append(
            pl.when(pl.col(column).is_null() & has)
            .then(found)
            .otherwise(pl.col(column))
            .alias(column)
        )
    return frame.with_columns(fills)


def _clean(value: Any) -> Any:
    """Strings (also inside resources structs) made valid UTF-8: lone surrogates escaped."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


#: The columns taken from ``userIdentity``, in the order :func:`identity_row` returns them.
#: ``_session_created_text`` is parsed to ``session_created`` with the other times.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "identity_type",
    "principal_arn",
    "principal_id",
    "account_id",
    "access_key_id",
    "user_name",
    "session_issuer_arn",
    "session_issuer_type",
    "mfa_authenticated",
    "_session_created_text",
    "source_identity",
    "invoked_by",
    "principal",
    *DETAIL_COLUMNS,
)


def identity_row(ui: Any) -> tuple[Any, ...]:
    """The identity columns of one ``userIdentity`` value (any JSON value; never raises).

    >>> identity_row({"type": "Root", "accountId": "1"})[IDENTITY_COLUMNS.index("principal")]
    'arn:aws:iam::1:root'
    """
    ctx = _get(ui, "sessionContext")
    issuer = _get(ctx, "sessionIssuer")
    attrs = _get(ctx, "attributes")
    return (
        text(_get(ui, "type")),
        text(_get(ui, "arn")),
        text(_get(ui, "principalId")),
        text(_get(ui, "accountId")),
        text(_get(ui, "accessKeyId")),
        text(_get(ui, "userName")),
        text(_get(issuer, "arn")),
        text(_get(issuer, "type")),
        _flag(_get(attrs, "mfaAuthenticated")),
        text(_get(attrs, "creationDate")),
        text(_get(ctx, "sourceIdentity")),
        text(_get(ui, "invokedBy")),
        principal_key(ui),
        *identity_details(ui, json_text),
    )


def _append(cols: dict[str, list[Any]], r: dict[str, Any]) -> None:
    for col, field in TOP_TEXT:
        cols[col].append(text(r.get(field)))
    for col, field in TOP_JSON:
        cols[col].append(json_text(r.get(field)))
    for col, field in TOP_FLAGS:
        cols[col].append(_flag(r.get(field)))

    when = r.get("eventTime")
    if when is None:
        for fallback in TIME_FALLBACKS:
            when = r.get(fallback)
            if when is not None:
                break
    cols["_event_time_text"].append(_time_text(when))

    ident = identity_row(r.get("userIdentity"))
    for col, value in zip(IDENTITY_COLUMNS, ident, strict=True):
        cols[col].append(value)

    res = r.get("resources")
    parsed = _resources(res)
    cols["resources"].append(parsed)
    # sorted keys: the same record gives the same text whichever decoder read it
    extra = {k: r[k] for k in sorted(r) if k not in RECORD_FIELDS}
    if res is not None and parsed is None:
        extra["resources"] = res  # a resources field we could not read as a list is kept, not lost
    cols["extra"].append(json_text(extra) if extra else None)
