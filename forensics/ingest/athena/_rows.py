"""Rows of the CloudTrail table (as the query returns them) -> the events table.

Each row is turned back into the CloudTrail record it came from (field names as CloudTrail
spells them; JSON-text columns parsed; struct columns read from their JSON) and goes through
the same normalizer and principal rule as every file the loader reads
(:func:`forensics.ingest._normalize.normalize_records`), so the same record gives the same row by
either path. What the table does not declare is not returned by Athena and so is missing from
``extra``; ``source_file`` is the S3 object Athena read the row from and ``source_index`` is
null (Athena does not say where in the object a record was).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
import polars as pl

from forensics._schema import EVENTS_SCHEMA, conform
from forensics.ingest._normalize import normalize_records
from forensics.ingest.athena._query import Filters
from forensics.ingest.athena._table import CLOUDTRAIL_COLUMNS, field_names

__all__ = ["exact", "records", "to_events"]

_NAMES = field_names()
#: STRING columns that hold a JSON document (objects come back as their JSON text).
_JSON_TEXT = frozenset(
    {
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "serviceEventDetails",
        "edgeDeviceDetails",
        "insightDetails",
    }
)


_EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")


def _restore(value: Any) -> Any:
    """A struct's JSON (Hive's lower-case names) with CloudTrail's names; null fields dropped
    (the table gives every declared field, the record had only some)."""
    if isinstance(value, dict):
        return {_NAMES.get(k.lower(), k): _restore(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # a string value is returned as its text, not quoted


def records(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The CloudTrail records the rows were read from (as far as the table carries them).

    >>> rows = pl.DataFrame({"eventname": ["GetObject"], "useridentity": ['{"type":"Root",'
    ...     '"accountid":"1","arn":null}'], "requestparameters": ['{"bucketName":"b"}']})
    >>> records(rows)[0]["userIdentity"]
    {'type': 'Root', 'accountId': '1'}
    """
    present = [
        (name, name.lower()) for name, _ in CLOUDTRAIL_COLUMNS if name.lower() in rows.columns
    ]
    structs = {name for name, kind in CLOUDTRAIL_COLUMNS if not isinstance(kind, str)}
    out: list[dict[str, Any]] = []
    for row in rows.select([low for _, low in present]).iter_rows():
        rec: dict[str, Any] = {}
        for (name, _low), value in zip(present, row, strict=True):
            if value is None:
                continue
            if name in structs:
                parsed = _restore(_json(value))
                if parsed is None:
                    continue
                rec[name] = parsed
            elif name in _JSON_TEXT:
                rec[name] = _json(value)
            elif name == "eventTime" and _EPOCH.match(value):
                rec[name] = float(value)  # a number in the record (epoch), text in the table
            else:
                rec[name] = value
        out.append(rec)
    return out


def exact(frame: pl.DataFrame | pl.LazyFrame, f: Filters) -> Any:
    """The filters whose exact rule is in Python (window, principals), on events rows."""
    keep: list[pl.Expr] = []
    if f.start is not None:
        keep.append(pl.col("event_time") >= f.start)
    if f.end is not None:
        keep.append(pl.col("event_time") < f.end)
    if f.principals is not None:
        p = list(f.principals)
        keep.append(pl.col("principal").is_in(p) | pl.col("principal_arn").is_in(p))
    return frame.filter(*keep) if keep else frame


def to_events(
    rows: pl.DataFrame, f: Filters | None = None, *, source: Iterable[str] | None = None
) -> pl.DataFrame:
    """The events table of query rows: normalized, exactly filtered, de-duplicated, sorted.

    A record delivered twice (the same event, the same content, read from two objects) is kept
    once, the copy from the first object in name order, as the loader does.
    """
    if rows.height == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    frame = normalize_records(records(rows), "")
    paths = rows.get_column("source_object") if "source_object" in rows.columns else None
    if paths is None and source is not None:
        paths = pl.Series(list(source), dtype=pl.String)
    frame = frame.with_columns(
        (paths.cast(pl.String) if paths is not None else pl.lit(None, pl.String)).alias(
            "source_file"
        ),
        pl.lit(None, pl.Int64).alias("source_index"),
    )
    if f is not None:
        frame = exact(frame, f)
    content = [c for c in frame.columns if c not in ("source_file", "source_index")]
    # a record delivered in two objects is one event (as the loader drops an identical copy);
    # rows alike within one object are kept: the table cannot show how their records differ
    frame = (
        frame.sort(pl.col("source_file").cast(pl.String), nulls_last=True, maintain_order=True)
        .with_columns(pl.struct(content).hash().alias("_same"))
        .filter(
            pl.col("event_id").is_null()
            | (pl.col("source_file") == pl.col("source_file").first().over("_same"))
            | pl.col("source_file").is_null()
        )
        .drop("_same")
        .sort(
            "event_time",
            pl.col("source_file").cast(pl.String),
            nulls_last=True,
            maintain_order=True,
        )
    )
    return conform(frame)  # type: ignore[return-value]
