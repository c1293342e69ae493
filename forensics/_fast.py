"""The fast path for S3-delivered ``{"Records": [...]}`` files: typed decoding with msgspec.

Only the fields the events table needs are declared; ``requestParameters``, ``responseElements``,
``additionalEventData`` and the known extra fields are kept as ``msgspec.Raw`` (their original text
goes straight into a column, never parsed). ``userIdentity`` is read as raw text too and turned
into the identity columns by :func:`forensics._normalize.identity_row`, memoised on that text:
the same caller makes many calls, so each distinct identity is parsed once.

Anything the typed decoder does not accept (an unknown top-level field, a field of the wrong
type, a pretty-printed file) raises :class:`FastPathUnsupported`, and the caller reads that file
with the reference normalizer instead. Both produce the same rows (a test checks it on every
external sample).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from msgspec import Raw, Struct

from forensics._normalize import (
    IDENTITY_COLUMNS,
    TOP_FLAGS,
    TOP_JSON,
    TOP_TEXT,
    identity_row,
    parse_time_series,
)
from forensics._schema import EVENTS_SCHEMA, conform

__all__ = [
    "FastPathUnsupported",
    "decode_records",
    "decode_records_file",
    "records_frame",
]

_ABSENT = Raw(b"")


class FastPathUnsupported(ValueError):
    """This file needs the reference normalizer (the message says why)."""


class _Resource(Struct, forbid_unknown_fields=True, gc=False):
    ARN: str | None = None
    accountId: str | None = None
    type: str | None = None


class _Record(Struct, forbid_unknown_fields=True, gc=False):
    eventTime: str | None = None
    eventID: str | None = None
    requestID: str | None = None
    sharedEventID: str | None = None
    eventName: str | None = None
    eventSource: str | None = None
    awsRegion: str | None = None
    eventType: str | None = None
    eventCategory: str | None = None
    eventVersion: str | None = None
    readOnly: bool | None = None
    managementEvent: bool | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    recipientAccountId: str | None = None
    vpcEndpointId: str | None = None
    userIdentity: Raw = _ABSENT
    requestParameters: Raw = _ABSENT
    responseElements: Raw = _ABSENT
    additionalEventData: Raw = _ABSENT
    resources: list[_Resource] | None = None
    # top-level fields that are not columns: kept, in sorted order, in `extra`
    addendum: Raw = _ABSENT
    annotation: Raw = _ABSENT
    apiVersion: Raw = _ABSENT
    edgeDeviceDetails: Raw = _ABSENT
    eventContext: Raw = _ABSENT
    insightDetails: Raw = _ABSENT
    serviceEventDetails: Raw = _ABSENT
    sessionCredentialFromConsole: Raw = _ABSENT
    tlsDetails: Raw = _ABSENT
    vpcEndpointAccountId: Raw = _ABSENT


class _File(Struct, gc=False):
    Records: list[_Record]


_DECODER = msgspec.json.Decoder(_File)
_EXTRA_FIELDS = tuple(
    sorted(
        f
        for f in _Record.__struct_fields__
        if f
        in {
            "addendum",
            "annotation",
            "apiVersion",
            "edgeDeviceDetails",
            "eventContext",
            "insightDetails",
            "serviceEventDetails",
            "sessionCredentialFromConsole",
            "tlsDetails",
            "vpcEndpointAccountId",
        }
    )
)
# the same record fields -> columns as the reference normalizer (one definition)
_TEXT_FIELDS = (*TOP_TEXT, *TOP_FLAGS)
_JSON_FIELDS = TOP_JSON




def _looks_pretty(head: bytes) -> bool:
    # S3-delivered files are one line; indentation means the Raw text would keep line breaks
    return b"\n" in head


def decode_records(data: bytes) -> list[_Record]:
    """The typed records of one compact ``{"Records": [...]}`` file.

    Raises :class:`FastPathUnsupported` when the reference normalizer must read the file.
    """
    head = data[:64].lstrip()
    if not head.startswith(b'{"Records"') or _looks_pretty(head):
        raise FastPathUnsupported("not a compact Records file")
    try:
        records = _DECODER.decode(data).Records
    except msgspec.ValidationError as exc:
        raise FastPathUnsupported(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise FastPathUnsupported(f"invalid JSON: {exc}") from exc
    if any(r.eventTime is None for r in records):
        raise FastPathUnsupported("records without eventTime (the fallback fields are counted)")
    return records


def decode_records_file(data: bytes, source_file: str) -> pl.DataFrame:
    """Rows of the events table for one ``{"Records": [...]}`` file (unsorted).

    Raises :class:`FastPathUnsupported` when the reference normalizer must read the file.
    """
    frame = records_frame([(decode_records(data), source_file)])
    if frame.get_column("event_time").null_count():
        raise FastPathUnsupported("eventTime values in an unusual format")
    return frame


def records_frame(batches: Sequence[tuple[list[_Record], str]]) -> pl.DataFrame:
    """Rows of the events table for the decoded records of several files at once.

    Building columns once for many files amortises Polars' per-operation cost. Rows whose
    ``event_time`` could not be parsed come out null: the caller re-reads those files with the
    reference normalizer (see :func:`forensics._parallel.read_chunk`).
    """
    records = [r for recs, _ in batches for r in recs]
    enabled = gc.isenabled()
    gc.disable()
    try:
        frame = _columns(records)
    finally:
        if enabled:
            gc.enable()
    files = pl.Series([f for _, f in batches], dtype=pl.String)
    counts = pl.Series([len(recs) for recs, _ in batches], dtype=pl.Int64)
    return frame.with_columns(
        files.repeat_by(counts).explode().alias("source_file").cast(EVENTS_SCHEMA["source_file"]),
        pl.int_ranges(0, counts).explode().alias("source_index").cast(pl.Int64),
    )


_IDENTITY_SCHEMA = {
    c: (pl.String if c == "_session_created_text" else EVENTS_SCHEMA[c]) for c in IDENTITY_COLUMNS
}


_POS = {name: i for i, name in enumerate(_Record.__struct_fields__)}




def _raw_column(values: list[Raw]) -> pl.Series:
    """A JSON-text column from Raw values (absent and ``null`` -> null)."""
    out = [
        None if (size := len(v)) == 0 or (size == 4 and bytes(v) == b"null") else bytes(v)
        for v in values
    ]
    return pl.Series(out, dtype=pl.Binary).cast(pl.String)


def _resources_column(values: tuple[list[_Resource] | None, ...]) -> pl.Series:
    """``resources`` (list of structs; null where the record had none) built in Polars.

    Only the records that have resources are touched in Python; the lists are assembled by a
    group-by on the record's position (no per-row Series construction, no pyarrow: its first
    conversion in a process costs about a second).
    """
    rows: list[int] = []
    arns: list[str | None] = []
    accounts: list[str | None] = []
    types: list[str | None] = []
    empty: list[int] = []
    for i, res in enumerate(values):
        if res is None:
            continue
        if not res:
            empty.append(i)
        for x in res:
            rows.append(i)
            arns.append(x.ARN)
            accounts.append(x.accountId)
            types.append(x.type)
    dtype = EVENTS_SCHEMA["resources"]
    n = len(values)
    if not rows and not empty:
        return pl.Series("resources", [None] * n, dtype=dtype)
    lists = (
        pl.DataFrame(
            {"row": rows, "arn": arns, "account_id": accounts, "type": types},
            schema={"row": pl.UInt32, "arn": pl.String, "account_id": pl.String, "type": pl.String},
        )
        .group_by("row", maintain_order=True)
        .agg(pl.struct("arn", "account_id", "type").alias("resources"))
    )
    if empty:
        lists = pl.concat(
            [lists, pl.DataFrame({"row": empty, "resources": [[]] * len(empty)},
                                 schema={"row": pl.UInt32, "resources": dtype})]
        )
    return (
        pl.DataFrame({"row": pl.arange(0, n, dtype=pl.UInt32, eager=True)})
        .join(lists, on="row", how="left", maintain_order="left")
        .get_column("resources")
        .cast(dtype)
    )


def _extra_expr(columns: list[tuple[Any, ...]]) -> tuple[dict[str, pl.Series], pl.Expr]:
    """``extra``: the known unmapped fields of each record as one JSON object (sorted keys)."""
    present: dict[str, pl.Series] = {}
    for name in _EXTRA_FIELDS:
        values = columns[_POS[name]]
        if values.count(_ABSENT) != len(values):
            # a field present with the value null stays in `extra` as null (as the reference
            # normalizer keeps it); only an absent field is left out
            text = [bytes(v) if len(v) else None for v in values]
            present[f"_x_{name}"] = pl.Series(text, dtype=pl.Binary).cast(pl.String)
    if not present:
        return present, pl.lit(None, dtype=pl.String)
    pieces = [
        pl.when(pl.col(col).is_not_null()).then(pl.lit(f'"{col[3:]}":') + pl.col(col))
        for col in present
    ]
    joined = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    expr = pl.when(joined != "").then(pl.lit("{") + joined + pl.lit("}"))
    return present, expr


#: Identities parsed so far in this process (raw ``userIdentity`` text -> row in _IDENT_ROWS):
#: the same callers recur across files and batches, so each is parsed once. Bounded: cleared
#: when it passes _IDENT_MAX entries (a trail of millions of distinct sessions).
_IDENT_MEMO: dict[bytes, int] = {}
_IDENT_ROWS: list[tuple[Any, ...]] = []
_IDENT_TABLE: list[pl.DataFrame] = []  # the rows above as a frame (rebuilt when they grow)
_IDENT_MAX = 100_000


def _identities(values: tuple[Raw, ...]) -> tuple[pl.DataFrame, pl.Series]:
    """The identities parsed so far in this process and, per record, the index of its own."""
    if len(_IDENT_MEMO) > _IDENT_MAX:
        _IDENT_MEMO.clear()
        _IDENT_ROWS.clear()
        _IDENT_TABLE.clear()
    memo, rows = _IDENT_MEMO, _IDENT_ROWS
    index = []
    for raw in values:
        key = bytes(raw)
        i = memo.get(key)
        if i is None:
            i = memo[key] = len(rows)
            rows.append(identity_row(msgspec.json.decode(key) if key else None))
        index.append(i)
    if not _IDENT_TABLE or _IDENT_TABLE[0].height < len(rows):
        _IDENT_TABLE[:] = [pl.DataFrame(rows, schema=_IDENTITY_SCHEMA, orient="row")]
    return _IDENT_TABLE[0], pl.Series("_ident", index, dtype=pl.UInt32)


def _columns(records: list[_Record]) -> pl.DataFrame:
    # one C-level pass turns the structs into columns (tuples), field order as declared
    if records:
        columns = list(zip(*map(msgspec.structs.astuple, records), strict=True))
    else:
        columns = [()] * len(_POS)
    data: dict[str, Any] = {col: columns[_POS[field]] for col, field in _TEXT_FIELDS}
    for col, field in _JSON_FIELDS:
        values = columns[_POS[field]]
        data[col] = (
            _raw_column(values)
            if values.count(_ABSENT) != len(values)
            else pl.Series(col, [None] * len(values), dtype=pl.String)
        )
    data["resources"] = _resources_column(columns[_POS["resources"]])
    extra_cols, extra = _extra_expr(columns)
    data.update(extra_cols)
    data["_event_time_text"] = pl.Series(columns[_POS["eventTime"]], dtype=pl.String)
    schema = {c: EVENTS_SCHEMA.get(c, pl.String) for c in data}
    frame = pl.DataFrame(data, schema=schema)

    idents, index = _identities(columns[_POS["userIdentity"]])
    del columns
    frame = pl.concat([frame, idents[index]], how="horizontal").with_columns(
        extra.alias("extra"),
        parse_time_series(frame.get_column("_event_time_text")).alias("event_time"),
    )
    frame = frame.with_columns(
        parse_time_series(frame.get_column("_session_created_text")).alias("session_created")
    )
    return conform(frame)  # type: ignore[return-value]
