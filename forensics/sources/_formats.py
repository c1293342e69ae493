"""Turning one file's bytes into CloudTrail records, whatever shape it was written in.

Shapes read: S3-delivered ``{"Records": [...]}``; JSON arrays of records; single-record files;
NDJSON/JSONL; ``lookup-events`` output (``{"Events": [...]}`` and items whose ``CloudTrailEvent``
is the record as a JSON string); EventBridge envelopes (``{"detail-type", "detail"}``); CloudWatch
Logs subscription payloads (``{"logEvents": [{"message": ...}]}``). Digest files are recognised
and never parsed as events.

>>> ext = extract_records(b'{"Records": [{"eventName": "A"}, {"eventName": "B"}]}', "f.json")
>>> [r["eventName"] for r in ext.records], ext.kind
(['A', 'B'], 'records')
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "Extracted",
    "NotCloudTrail",
    "extract_records",
    "looks_like_record",
    "read_bytes",
]

#: Decompressed size above which a file is refused (a decompression-bomb guard), 2 GiB.
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3


class NotCloudTrail(ValueError):
    """The file is readable JSON but holds no CloudTrail records (the message says what it is)."""


@dataclass
class Extracted:
    """The records found in one file, and what was passed over (with reasons)."""

    records: list[dict[str, Any]]
    kind: str
    skipped: Counter[str] = field(default_factory=Counter)
    is_digest: bool = False
    # how many records took their time from a fallback field is decided by the normalizer


def read_bytes(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The file's content, gunzipped when it is gzip (by magic bytes, not by name).

    Raises ``OSError``/``EOFError``/``zlib.error`` for unreadable or truncated files and
    ``ValueError`` when the decompressed size passes ``max_bytes``.
    """
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != b"\x1f\x8b":
            data = fh.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"file is larger than the {max_bytes:,}-byte cap (max_file_bytes)")
            return data
        return _gunzip_capped(fh, max_bytes)


def _gunzip_capped(fh: io.BufferedReader, max_bytes: int) -> bytes:
    try:
        from isal import igzip as gz  # ~1.7x faster than zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        gz = gzip
    out = io.BytesIO()
    with gz.GzipFile(fileobj=fh) as stream:
        while True:
            chunk = stream.read(8 * 1024 * 1024)
            if not chunk:
                break
            out.write(chunk)
            if out.tell() > max_bytes:
                raise ValueError(
                    f"decompressed size passes the {max_bytes:,}-byte cap (max_file_bytes); "
                    "a decompression bomb or a file far larger than CloudTrail writes"
                )
    return out.getvalue()


def looks_like_record(obj: Any) -> bool:
    """A JSON object that is a CloudTrail record (and not an envelope or something else)."""
    if not isinstance(obj, dict):
        return False
    keys = obj.keys()
    has_event = "eventName" in keys or "eventSource" in keys
    has_context = (
        "eventTime" in keys
        or "userIdentity" in keys
        or "eventVersion" in keys
        or "eventID" in keys
        or "awsRegion" in keys
    )
    return has_event and has_context


def _is_digest(obj: Any) -> bool:
    return isinstance(obj, dict) and "digestStartTime" in obj and "digestEndTime" in obj


def _unwrap(obj: Any, skipped: Counter[str]) -> list[dict[str, Any]]:
    """Records inside one JSON value (a record, an envelope, or a lookup-events item)."""
    if looks_like_record(obj):
        return [obj]
    if not isinstance(obj, dict):
        skipped[f"not a JSON object ({type(obj).__name__})"] += 1
        return []
    if "Records" in obj and isinstance(obj["Records"], list):
        out: list[dict[str, Any]] = []
        for item in obj["Records"]:
            out.extend(_unwrap(item, skipped))
        return out
    if "CloudTrailEvent" in obj:  # a lookup-events item
        inner = obj["CloudTrailEvent"]
        if isinstance(inner, str):
            try:
                inner = orjson.loads(inner)
            except orjson.JSONDecodeError:
                skipped["lookup-events item whose CloudTrailEvent is not valid JSON"] += 1
                return []
        return _unwrap(inner, skipped)
    if "Events" in obj and isinstance(obj["Events"], list):
        out = []
        for item in obj["Events"]:
            out.extend(_unwrap(item, skipped))
        return out
    if "detail" in obj and ("detail-type" in obj or "source" in obj):  # EventBridge
        return _unwrap(obj["detail"], skipped)
    if "logEvents" in obj and isinstance(obj["logEvents"], list):  # CloudWatch Logs subscription
        out = []
        for item in obj["logEvents"]:
            message = item.get("message") if isinstance(item, dict) else None
            if isinstance(message, str):
                try:
                    message = orjson.loads(message)
                except orjson.JSONDecodeError:
                    skipped["CloudWatch Logs message that is not JSON"] += 1
                    continue
            out.extend(_unwrap(message, skipped))
        return out
    skipped["JSON object that is not a CloudTrail record"] += 1
    return []


def extract_records(data: bytes, path: str) -> Extracted:
    """All CloudTrail records in one (decompressed) file, in file order.

    Raises :class:`NotCloudTrail` when the file is JSON but holds no records, and
    ``orjson.JSONDecodeError`` (a ``ValueError``) when it is not JSON at all.
    """
    stripped = data.strip()
    if not stripped:
        raise NotCloudTrail("empty file")
    skipped: Counter[str] = Counter()
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        if b"\n" not in stripped:
            raise
        return _extract_lines(stripped, skipped)
    if _is_digest(doc):
        return Extracted([], "digest", skipped, is_digest=True)
    if isinstance(doc, list):
        records: list[dict[str, Any]] = []
        for item in doc:
            records.extend(_unwrap(item, skipped))
        kind = "array"
    else:
        records = _unwrap(doc, skipped)
        kind = "records" if isinstance(doc, dict) and "Records" in doc else "object"
    only_foreign = bool(skipped) and set(skipped) == {"JSON object that is not a CloudTrail record"}
    if not records and only_foreign:
        raise NotCloudTrail(_describe_non_cloudtrail(doc))
    return Extracted(records, kind, skipped)


def _extract_lines(data: bytes, skipped: Counter[str]) -> Extracted:
    records: list[dict[str, Any]] = []
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            skipped["NDJSON line that is not valid JSON"] += 1
            continue
        records.extend(_unwrap(obj, skipped))
    if not records and not skipped:
        raise NotCloudTrail("no records")
    return Extracted(records, "ndjson", skipped)


def _describe_non_cloudtrail(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(sorted(doc)[:6])
        if "configurationItems" in doc or "fileVersion" in doc:
            return f"not CloudTrail: looks like an AWS Config snapshot (keys: {keys})"
        return f"not CloudTrail: a JSON object with keys {keys}"
    return f"not CloudTrail: a JSON {type(doc).__name__}"

