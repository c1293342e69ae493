"""The fast path for S3-delivered ``{"Records": [...]}`` files.

Two readers give the same rows. The C reader (:mod:`forensics.ingest._native`, built from
``_records_c.c`` when a compiler is there at install) turns whole files into column buffers.
msgspec is the pure-Python reader and the fallback: typed decoding that declares only the fields
the events table needs; ``requestParameters``, ``responseElements``, ``additionalEventData``
and the known extra fields are kept as ``msgspec.Raw`` (their original text goes straight into
a column, never parsed). Either way ``userIdentity`` is kept as raw text too and turned into the
identity columns by :func:`forensics.ingest._normalize.identity_row`, memoised on that text: the same
caller makes many calls, so each distinct identity is parsed once.

Anything the C reader does not accept goes to msgspec; anything msgspec does not accept (an
unknown top-level field, a field of the wrong type, a pretty-printed file) raises
:class:`FastPathUnsupported`, and the caller reads that file with the reference normalizer
instead. All three produce the same rows (tests check it on every external sample, and on
mutated records).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from msgspec import Raw, Struct

from forensics._gc import gc_paused
from forensics._schema import EVENTS_SCHEMA, RESOURCE_DTYPE, conform
from forensics.ingest import _native
from forensics.ingest._identity_keys import refine_identity
from forensics.ingest._normalize import (
    IDENTITY_COLUMNS,
    TOP_FLAGS,
    TOP_JSON,
    TOP_TEXT,
    fill_insight_names,
    identity_row,
    parse_time_series,
)

__all__ = [
    "FastBatch",
    "FastPathUnsupported",
    "RepeatedKeys",
    "decode_records",
    "decode_records_file",
    "records_frame",
]

_ABSENT = Raw(b"")


class FastPathUnsupported(ValueError):
    """This file needs the reference normalizer (the message says why)."""


class RepeatedKeys(FastPathUnsupported):
    """A key is given twice (a second ``Records``, a field twice in a record): the reference
    normalizer reads the file and reports it (JSON readers silently keep the last value)."""


#: Keys that occur once per record: more of them than records means a repeated key (or the
#: name nested somewhere, which an exact parse then tells apart). Only where the C reader is
#: not built (it finds every repeated key exactly itself, and declines those files): a
#: ``bytes.count`` costs a third of msgspec's decoding, so only the event's name is checked.
_ONCE_PER_RECORD = (b'"eventName":',)


def _repeats_keys(data: bytes, records: int) -> bool:
    """A key repeated in the file: a quick count first, an exact parse only when it hints."""
    if data.count(b'"Records":') <= 1 and all(
        data.count(key) <= records for key in _ONCE_PER_RECORD
    ):
        return False
    from forensics.sources._formats import repeated_keys

    return bool(repeated_keys(data))


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


def _check_head(data: bytes) -> None:
    """Raise :class:`FastPathUnsupported` unless ``data`` starts as a compact Records file."""
    head = data[:64].lstrip()
    if not head.startswith(b'{"Records"') or _looks_pretty(head):
        raise FastPathUnsupported("not a compact Records file")


def decode_records(data: bytes, *, check_repeats: bool = True) -> list[_Record]:
    """The typed records of one compact ``{"Records": [...]}`` file.

    Raises :class:`FastPathUnsupported` when the reference normalizer must read the file
    (:class:`RepeatedKeys` for a second ``Records`` or a repeated ``eventName``, with
    ``check_repeats``).
    """
    _check_head(data)
    try:
        records = _DECODER.decode(data).Records
    except msgspec.ValidationError as exc:
        raise FastPathUnsupported(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise FastPathUnsupported(f"invalid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:  # a text field that is not UTF-8 (msgspec raises this)
        raise FastPathUnsupported(f"not UTF-8: {exc}") from exc
    except RecursionError as exc:  # JSON nested past msgspec's limit: the reference reader
        raise FastPathUnsupported(f"nested too deep: {exc}") from exc  # reports it per record
    if any(r.eventTime is None for r in records):
        raise FastPathUnsupported("records without eventTime (the fallback fields are counted)")
    if check_repeats and _repeats_keys(data, len(records)):
        raise RepeatedKeys("a key may be repeated")
    return records


def decode_records_file(data: bytes, source_file: str) -> pl.DataFrame:
    """Rows of the events table for one ``{"Records": [...]}`` file (unsorted).

    Raises :class:`FastPathUnsupported` when the reference normalizer must read the file.
    """
    batch = FastBatch()
    batch.add(data, source_file)
    frame = batch.frame()
    if frame.get_column(REREAD).any():
        raise FastPathUnsupported("values the reference normalizer must read (see REREAD)")
    return frame.drop(REREAD)


class FastBatch:
    """Files the fast path accepted, waiting to become rows together (building columns once
    for many files amortises Polars' per-operation cost).

    Each file goes to the C reader when it is built (:mod:`forensics.ingest._native`), else, or if
    the C reader declines the file, to msgspec. Either way the rows are the same.

    >>> batch = FastBatch()
    >>> batch.add(b'{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventName":"X"}]}', "f")
    1
    >>> batch.frame().select("event_name", "source_index").row(0)
    ('X', 0)
    """

    def __init__(self, native: bool = True) -> None:
        """``native=False``: msgspec only, even where the C reader is built (comparisons)."""
        self._builder = _native.new_builder(*_NATIVE_FIELDS) if native else None
        self._native_files: list[str] = []
        self._native_counts: list[int] = []
        self._records: list[tuple[list[_Record], str]] = []
        #: rows added since the last :meth:`frame`
        self.rows = 0

    @property
    def files(self) -> int:
        """Files added since the last :meth:`frame`."""
        return len(self._native_files) + len(self._records)

    @property
    def native_files(self) -> int:
        """Of :attr:`files`, those the C reader took."""
        return len(self._native_files)

    def add(self, data: bytes, source_file: str) -> int:
        """Take one file's bytes; returns its record count. Raises
        :class:`FastPathUnsupported` (nothing taken) when the reference normalizer must read it.
        """
        _check_head(data)
        if self._builder is not None:
            n = self._builder.add(data)
            if n == -2:
                raise RepeatedKeys("a key is repeated (the C reader found it)")
            if n >= 0:
                self._native_files.append(source_file)
                self._native_counts.append(n)
                self.rows += n
                return int(n)
        # the C reader, when built, has already declined every file with a repeated key
        records = decode_records(data, check_repeats=self._builder is None)
        self._records.append((records, source_file))
        self.rows += len(records)
        return len(records)

    def frame(self) -> pl.DataFrame:
        """The rows of every file taken so far, plus the :data:`REREAD` column (see
        :func:`records_frame`); the batch starts anew."""
        frames = []
        if self._records or not self._native_files:
            frames.append(records_frame(self._records))
        if self._native_files:
            assert self._builder is not None
            with gc_paused():
                columns = _native.to_frame(self._builder.finish(), *_NATIVE_NAMES)
                frame = _assemble_native(columns)
            frames.append(_with_provenance(frame, self._native_files, self._native_counts))
        self._records, self._native_files, self._native_counts = [], [], []
        self.rows = 0
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


#: Boolean column of :func:`records_frame`: the row's file must be read again by the reference
#: normalizer (an ``eventTime`` in an unusual format, JSON text that is not valid UTF-8).
REREAD = "_reread"


def records_frame(batches: Sequence[tuple[list[_Record], str]]) -> pl.DataFrame:
    """Rows of the events table for the decoded records of several files at once, plus the
    :data:`REREAD` column.

    Building columns once for many files amortises Polars' per-operation cost. Rows marked in
    ``REREAD`` are not trustworthy: the caller re-reads their files with the reference
    normalizer (see :func:`forensics.ingest._parallel.read_chunk`).
    """
    records = [r for recs, _ in batches for r in recs]
    with gc_paused():
        frame = _columns(records)
    return _with_provenance(frame, [f for _, f in batches], [len(recs) for recs, _ in batches])


def _with_provenance(frame: pl.DataFrame, files: list[str], counts: list[int]) -> pl.DataFrame:
    """``source_file`` and ``source_index`` for rows that are ``counts[i]`` records of
    ``files[i]`` in turn."""
    # each file's name made categorical once, then repeated (not a million strings hashed)
    names = pl.Series(files, dtype=pl.String).cast(EVENTS_SCHEMA["source_file"])
    sizes = pl.Series(counts, dtype=pl.Int64)
    which = pl.int_range(0, names.len(), dtype=pl.UInt32, eager=True).repeat_by(sizes).explode()
    return frame.with_columns(
        names.gather(which).alias("source_file"),
        pl.int_ranges(0, sizes).explode().alias("source_index").cast(pl.Int64),
    )


_IDENTITY_SCHEMA = {
    c: (pl.String if c == "_session_created_text" else EVENTS_SCHEMA[c]) for c in IDENTITY_COLUMNS
}


_POS = {name: i for i, name in enumerate(_Record.__struct_fields__)}
#: the struct fields of a ``resources`` item, as the table names them (arn, account_id, type)
_RESOURCE_COLUMNS = tuple(f.name for f in RESOURCE_DTYPE.inner.fields)  # type: ignore[union-attr]


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
            [
                lists,
                pl.DataFrame(
                    {"row": empty, "resources": [[]] * len(empty)},
                    schema={"row": pl.UInt32, "resources": dtype},
                ),
            ]
        )
    return (
        pl.DataFrame({"row": pl.arange(0, n, dtype=pl.UInt32, eager=True)})
        .join(lists, on="row", how="left", maintain_order="left")
        .get_column("resources")
        .cast(dtype)
    )


def _raw_texts(values: Sequence[Raw]) -> pl.Series | None:
    """The text of Raw values as a String column: ``""`` where absent, null where the bytes are
    not valid UTF-8 (the file then goes to the reference normalizer); None if all are absent.

    The values are joined with NUL bytes into one buffer and cut apart by Polars: a NUL byte
    cannot occur in JSON text that msgspec accepted (control characters must be escaped), and
    one join is about half the cost of a ``bytes()`` per value.
    """
    if values.count(_ABSENT) == len(values):
        return None
    try:
        texts = (
            pl.Series([b"\x00".join(values)], dtype=pl.Binary)
            .cast(pl.String)
            .str.split("\x00")
            .explode()
        )
    except pl.exceptions.ComputeError:  # invalid UTF-8 somewhere: find it value by value
        return pl.Series([_utf8(bytes(v)) for v in values], dtype=pl.String)
    if texts.len() != len(values):  # pragma: no cover - msgspec lets no NUL byte through
        raise FastPathUnsupported("a NUL byte in JSON text")
    return texts


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_value(texts: pl.Expr) -> pl.Expr:
    """JSON text column: absent (``""``) and JSON ``null`` become null."""
    return pl.when((texts != "") & (texts != "null")).then(texts)


def _extra_expr(present: list[str]) -> pl.Expr:
    """``extra``: the known unmapped fields of each record as one JSON object (sorted keys).

    ``present`` are the ``_x_<field>`` text columns of the fields some record has; a field
    present with the value null stays in ``extra`` as null (as the reference normalizer keeps
    it); only an absent field (``""``) is left out.
    """
    if not present:
        return pl.lit(None, dtype=pl.String)
    pieces = [
        pl.when(pl.col(col) != "").then(pl.lit(f'"{col[3:]}":') + pl.col(col)) for col in present
    ]
    joined = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(joined != "").then(pl.lit("{") + joined + pl.lit("}"))


#: Identities parsed so far in this process (raw ``userIdentity`` text -> row in _IDENT_ROWS):
#: the same callers recur across files and batches, so each is parsed once. Bounded: cleared
#: when it passes _IDENT_MAX entries (a trail of millions of distinct sessions). Row 0 stands
#: for a text that cannot be parsed (invalid UTF-8): its records are re-read.
_IDENT_MEMO: dict[bytes, int] = {}
_UNREADABLE = (None,) * len(IDENTITY_COLUMNS)
_IDENT_ROWS: list[tuple[Any, ...]] = [_UNREADABLE]
_IDENT_TABLE: list[pl.DataFrame] = []  # the rows above as a frame (new rows appended)
_IDENT_MAX = 100_000


def _identity_memo() -> dict[bytes, int]:
    """The memo, emptied first (with its rows) when it has grown past _IDENT_MAX."""
    if len(_IDENT_MEMO) > _IDENT_MAX:
        _IDENT_MEMO.clear()
        _IDENT_ROWS[:] = [_UNREADABLE]
        _IDENT_TABLE.clear()
    return _IDENT_MEMO


def _identity_index(key: bytes) -> int:
    """Row of the identity whose ``userIdentity`` text is ``key`` (parsed once; 0 when it cannot
    be parsed); to be called after :func:`_identity_memo`."""
    i = _IDENT_MEMO.get(key)
    if i is None:
        try:
            row = identity_row(msgspec.json.decode(key) if key else None)
        except (msgspec.DecodeError, UnicodeDecodeError):
            i = _IDENT_MEMO[key] = 0
        else:
            i = _IDENT_MEMO[key] = len(_IDENT_ROWS)
            _IDENT_ROWS.append(row)
    return i


def _identity_frame() -> pl.DataFrame:
    """The identities parsed so far in this process as a frame (row i: index i)."""
    rows = _IDENT_ROWS
    have = _IDENT_TABLE[0].height if _IDENT_TABLE else 0
    if have < len(rows):  # only the rows parsed since are converted (was: all, each batch)
        new = pl.DataFrame(rows[have:], schema=_IDENTITY_SCHEMA, orient="row")
        _IDENT_TABLE[:] = [pl.concat([_IDENT_TABLE[0], new], rechunk=True) if _IDENT_TABLE else new]
    return _IDENT_TABLE[0]


def _identities(values: Sequence[Raw]) -> tuple[pl.DataFrame, pl.Series]:
    """The identities parsed so far in this process and, per record, the index of its own
    (0: unreadable)."""
    memo = _identity_memo()
    index = []
    for raw in values:
        key = bytes(raw)
        i = memo.get(key)
        index.append(_identity_index(key) if i is None else i)
    return _identity_frame(), pl.Series("_ident", index, dtype=pl.UInt32)


def _identities_of_texts(texts: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """:func:`_identities` for a column of ``userIdentity`` texts: each distinct text is looked
    up once."""
    _identity_memo()
    distinct = texts.unique()
    rows = [_identity_index(t.encode()) for t in distinct.to_list()]
    index = texts.replace_strict(distinct, pl.Series(rows, dtype=pl.UInt32), return_dtype=pl.UInt32)
    # (an empty column comes back as String whatever return_dtype says)
    return _identity_frame(), index.cast(pl.UInt32).alias("_ident")


def _columns(records: list[_Record]) -> pl.DataFrame:
    # one C-level pass turns the structs into columns (tuples), field order as declared
    n = len(records)
    if records:
        columns = list(zip(*map(msgspec.structs.astuple, records), strict=True))
    else:
        columns = [()] * len(_POS)
    data: dict[str, Any] = {col: columns[_POS[field]] for col, field in _TEXT_FIELDS}
    data["_event_time_text"] = columns[_POS["eventTime"]]
    schema = {c: EVENTS_SCHEMA.get(c, pl.String) for c in data}
    frame = pl.DataFrame(data, schema=schema)

    raw: dict[str, pl.Series] = {}  # text of the Raw fields ("" where absent)
    for col, field in _JSON_FIELDS:
        texts = _raw_texts(columns[_POS[field]])
        raw[col] = pl.repeat("", n, dtype=pl.String, eager=True) if texts is None else texts
    for field in _EXTRA_FIELDS:  # only the fields some record has
        texts = _raw_texts(columns[_POS[field]])
        if texts is not None:
            raw[f"_x_{field}"] = texts
    idents, index = _identities(columns[_POS["userIdentity"]])
    resources = _resources_column(columns[_POS["resources"]])
    del columns
    return _assemble(
        pl.concat([frame, pl.DataFrame(raw, height=n)], how="horizontal"),
        list(raw),
        idents,
        index,
        resources,
    )


# The C reader's fields (record field names, by kind) and the columns they become.
_KINDS = _Record.__annotations__  # field -> its type's text (annotations are not evaluated)
_STR_FIELDS = tuple(f for f, t in _KINDS.items() if t == "str | None")
_BOOL_FIELDS = tuple(f for f, t in _KINDS.items() if t == "bool | None")
_RAW_FIELDS = tuple(f for f, t in _KINDS.items() if t == "Raw")
assert len(_STR_FIELDS) + len(_BOOL_FIELDS) + len(_RAW_FIELDS) + 1 == len(_KINDS)  # +resources
_NATIVE_FIELDS = (
    _STR_FIELDS,
    _BOOL_FIELDS,
    _RAW_FIELDS,
    "resources",
    tuple(_Resource.__struct_fields__),
    "eventTime",
)
_COLUMN_OF = {
    **{field: col for col, field in (*_TEXT_FIELDS, *_JSON_FIELDS)},
    **{field: f"_x_{field}" for field in _EXTRA_FIELDS},
    "eventTime": "_event_time_text",
    "userIdentity": "_user_identity",
}
_NATIVE_NAMES = (
    [_COLUMN_OF[f] for f in _STR_FIELDS],
    [_COLUMN_OF[f] for f in _BOOL_FIELDS],
    [_COLUMN_OF[f] for f in _RAW_FIELDS],
    "resources",
    _RESOURCE_COLUMNS,
)


def _assemble_native(columns: pl.DataFrame) -> pl.DataFrame:
    """:func:`_columns` for the frame of the C reader (:func:`forensics.ingest._native.to_frame`)."""
    n = columns.height
    missing = [  # raw columns no record had ("" all along)
        pl.repeat("", n, dtype=pl.String, eager=True).alias(col)
        for col in ("_user_identity", *(col for col, _ in _JSON_FIELDS))
        if col not in columns.columns
    ]
    columns = columns.with_columns(missing)
    idents, index = _identities_of_texts(columns.get_column("_user_identity"))
    frame = columns.drop("_user_identity", "resources")
    raw = [col for col, _ in _JSON_FIELDS]
    raw += [f"_x_{f}" for f in _EXTRA_FIELDS if f"_x_{f}" in frame.columns]  # sorted, as keys
    return _assemble(frame, raw, idents, index, columns.get_column("resources"))


def _assemble(
    frame: pl.DataFrame,
    raw: list[str],
    idents: pl.DataFrame,
    index: pl.Series,
    resources: pl.Series,
) -> pl.DataFrame:
    """Rows of the events table plus :data:`REREAD`, from the record's text and boolean
    columns, ``_event_time_text``, the raw JSON text columns ``raw`` (``""`` where absent; the
    JSON fields' columns and the ``_x_<field>`` columns of the extra fields some record has),
    the identity table with each row's index into it, and ``resources``."""
    extras = [col for col in raw if col.startswith("_x_")]
    invalid = [pl.col(c).is_null() for c in raw]  # not UTF-8: re-read
    frame = pl.concat(
        [frame, idents[index], resources.to_frame()],
        how="horizontal",
    ).with_columns(
        *(_json_value(pl.col(col)).alias(col) for col, _ in _JSON_FIELDS),
        _extra_expr(extras).alias("extra"),
        parse_time_series(frame.get_column("_event_time_text")).alias("event_time"),
        pl.any_horizontal(index == 0, *invalid).alias(REREAD),
    )
    frame = frame.with_columns(
        parse_time_series(frame.get_column("_session_created_text")).alias("session_created"),
        (pl.col(REREAD) | pl.col("event_time").is_null()).alias(REREAD),
    )
    return pl.concat(
        [fill_insight_names(conform(refine_identity(frame))), frame.select(REREAD)],  # type: ignore[arg-type]
        how="horizontal",
    )
