"""Shared by the Athena tests: compare a local load with the Athena path's events."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from forensics._schema import COLUMNS, RESOURCE_DTYPE
from forensics.ingest.athena._table import CLOUDTRAIL_COLUMNS
from forensics.sources._files import layout_of

#: Top-level fields the Athena table declares (everything else cannot come back from Athena).
DECLARED = frozenset(name for name, _ in CLOUDTRAIL_COLUMNS)


#: Top-level fields the table declares as plain STRING (a scalar comes back as its text).
_STRING = frozenset(name for name, kind in CLOUDTRAIL_COLUMNS if kind == "STRING")


def _text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def _declared_extra(text: str | None) -> str | None:
    """``extra`` keeping only the fields the table declares, as JSON with sorted keys.

    What a table cannot carry is dropped or made the same: undeclared fields, null values (the
    table cannot tell a JSON null from an absent field), a scalar in a STRING column (``true``
    comes back as ``"true"``); struct fields come back in the table's order (keys sorted)."""
    if text is None:
        return None
    doc = orjson.loads(text)
    if not isinstance(doc, dict):
        return None
    kept = {
        k: _unwrap(_text(v) if k in _STRING else v)
        for k, v in doc.items()
        if k in DECLARED and v is not None
    }
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode() if kept else None


def _unwrap(value: object) -> object:
    """A string holding a JSON object or array, as that document."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _resources(items: list[dict] | None) -> list[dict] | None:
    """Entries that were objects in the record: a bare value in ``resources[]`` cannot be
    held by the table's ``ARRAY<STRUCT<...>>`` and comes back as nothing."""
    if items is None:
        return None
    return [
        r
        for r in items
        if r["account_id"] is not None
        or r["type"] is not None
        or (r["arn"] or "").startswith("arn:")
    ]


def _json_value(text: str | None) -> str | None:
    """A JSON text column compared as JSON (escapes and spacing aside); a JSON string that
    holds a JSON document reads as that document (a STRING column cannot tell them apart)."""
    if text is None:
        return None
    value = orjson.loads(text)
    if isinstance(value, str):
        value = _unwrap(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column but ``source_index`` (Athena cannot say where in a file a record was),
    ``source_file`` as text, ``extra`` restricted to the declared fields, JSON text compared as JSON (``user_identity``
    is rebuilt from the table's struct, not the record's bytes), in a stable order."""
    return (
        frame.select([c for c in COLUMNS if c != "source_index"])
        .with_columns(
            pl.col("source_file").cast(pl.String),
            pl.col("extra").map_elements(_declared_extra, return_dtype=pl.String),
            pl.col("resources").map_elements(_resources, return_dtype=RESOURCE_DTYPE),
            *(
                pl.col(c).map_elements(_json_value, return_dtype=pl.String)
                for c in (
                    "request_parameters",
                    "response_elements",
                    "additional_event_data",
                    "user_identity",
                )
            ),
        )
        .sort("event_id", "source_file", "event_time", "request_parameters", nulls_last=True)
    )


def assert_same_events(
    local: pl.DataFrame, athena: pl.DataFrame, *, repeated_ids_as_sets: bool = False
) -> None:
    """The same events, column for column (``source_index`` aside).

    ``repeated_ids_as_sets``: rows whose eventID occurs more than once are compared as sets of
    distinct (eventID, time, principal, name, request) rows. The loader tells such records apart by their original bytes; the table
    shows only its columns, so hand-made data that reuses an eventID for records differing
    only outside the table can keep a different number of look-alike rows, in other files.
    """
    assert athena.columns == list(COLUMNS)
    assert athena.schema == local.schema
    a, b = comparable(local), comparable(athena)
    if repeated_ids_as_sets:
        repeated = (
            pl.concat([a, b])
            .filter(pl.col("event_id").is_not_null() & (pl.len().over("event_id") > 2))["event_id"]
            .unique()
            .implode()
        )

        def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
            many = pl.col("event_id").is_in(repeated)
            return frame.filter(~many), frame.filter(many)

        (a, a_many), (b, b_many) = split(a), split(b)
        key = ["event_id", "event_time", "principal", "event_name", "request_parameters"]
        assert_frame_equal(
            a_many.select(key).unique().sort(key, nulls_last=True),
            b_many.select(key).unique().sort(key, nulls_last=True),
        )
    assert_frame_equal(a, b, check_row_order=True)


def relay_as_records(files: list[Path], out: Path) -> int:
    """Write the records of ``files`` (any format the loader reads) as S3-delivered
    ``{"Records": [...]}`` files in the CloudTrail layout under ``out`` (by record account and
    day), so that a local load and an Athena-style table read the same files. Returns the
    number of files written."""
    from forensics.ingest._normalize import TIME_FALLBACKS
    from forensics.sources._formats import FileProblem, extract_records, read_bytes

    written = 0
    for n, path in enumerate(files):
        try:
            found = extract_records(read_bytes(str(path)), str(path))
        except FileProblem:
            continue
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for rec in found.records:
            if not isinstance(rec, dict):
                continue
            if rec.get("eventTime") is None:  # S3-delivered records always carry eventTime
                when = next((rec[k] for k in TIME_FALLBACKS if rec.get(k) is not None), None)
                rec = {**rec, "eventTime": when} if when is not None else rec
            account = str(rec.get("recipientAccountId") or "000000000000")
            if not account.isdigit() or len(account) != 12:
                account = "000000000000"
            when = str(rec.get("eventTime") or "2020-01-01")[:10]
            day = when.replace("-", "/") if len(when) == 10 and when[4] == "-" else "2020/01/01"
            region = str(rec.get("awsRegion") or "us-east-1")
            region = (
                region if region.replace("-", "").isalnum() and region.islower() else "us-east-1"
            )
            groups.setdefault((account, region, day), []).append(rec)
        for (account, region, day), recs in sorted(groups.items()):
            folder = out / "AWSLogs" / account / "CloudTrail" / region / day
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{account}_CloudTrail_{region}_{day.replace('/', '')}T0000Z_{n:05d}.json.gz"
            (folder / name).write_bytes(
                gzip.compress(json.dumps({"Records": recs}, separators=(",", ":")).encode())
            )
            assert layout_of(os.fspath(folder / name)) is not None
            written += 1
    return written
