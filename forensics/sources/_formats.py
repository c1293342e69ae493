"""Turning one file's bytes into CloudTrail records, whatever shape it was written in.

Shapes read (any of them gzipped, recognised by magic bytes, never by name):

* S3-delivered ``{"Records": [...]}``; JSON arrays of records; single-record files;
* NDJSON/JSONL (one JSON value a line) and concatenated JSON values (``{...}{...}``, what
  Kinesis Data Firehose writes when it joins CloudWatch Logs payloads);
* ``aws cloudtrail lookup-events`` output: ``{"Events": [...]}`` and items whose
  ``CloudTrailEvent`` is the record as a JSON string;
* EventBridge / CloudWatch Events envelopes ``{"detail-type": ..., "detail": {record}}``;
* CloudWatch Logs subscription payloads ``{"logEvents": [{"message": "<record>"}]}``, also the
  Lambda form ``{"awslogs": {"data": "<base64 of the gzipped payload>"}}``;
* records nested in wrappers this module does not know (test-case files such as Panther's
  ``{"Tests": [{"Log": record}]}`` or StreamAlert's ``[{"data": ..., "trigger_rules": ...}]``),
  found by a bounded search (:data:`NEST_MAX_DEPTH`, :data:`NEST_MAX_NODES`) and counted
  (:attr:`Extracted.nested`).

CloudTrail-Digest files are recognised by shape and reported as digests, never parsed as events.
Everything that is not a record where a record was expected is counted in
:attr:`Extracted.skipped` with its reason; a file that holds no records at all raises
:class:`NotCloudTrail` (a non-CloudTrail JSON such as an AWS Config snapshot is a failure, never a
silent empty result).

>>> ext = extract_records(b'{"Records": [{"eventName": "A", "eventTime": "t"}]}', "f.json")
>>> [r["eventName"] for r in ext.records], ext.kind
(['A'], 'records')
>>> ext = extract_records(b'{"Tests": [{"Log": {"eventName": "B", "eventID": "1"}}]}', "t.json")
>>> [r["eventName"] for r in ext.records], ext.nested
(['B'], 1)
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import os
import stat
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "NEST_MAX_DEPTH",
    "NEST_MAX_NODES",
    "Extracted",
    "FileProblem",
    "InvalidJSON",
    "NotCloudTrail",
    "Unreadable",
    "extract_records",
    "is_digest_document",
    "looks_like_record",
    "read_bytes",
    "repeated_keys",
]

#: Decompressed size above which a file is refused (a decompression-bomb guard), 2 GiB.
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3

#: How deep (JSON containers below the top of the file) records are looked for inside wrappers
#: this module does not recognise. Panther tests sit at depth 3, StreamAlert tests at depth 4.
NEST_MAX_DEPTH = 12
#: How many JSON containers at most are visited while searching unrecognised wrappers, per file.
NEST_MAX_NODES = 200_000

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class FileProblem(Exception):
    """A file that cannot be read as CloudTrail; ``str(exc)`` is the reason shown in the report."""


class Unreadable(FileProblem):
    """The bytes could not be read: permissions, a truncated or corrupt gzip, the size cap."""


class InvalidJSON(FileProblem, ValueError):
    """The content is neither JSON, nor JSON lines, nor concatenated JSON values."""


class NotCloudTrail(FileProblem, ValueError):
    """The file is readable JSON but holds no CloudTrail records (the message says what it is)."""


@dataclass
class Extracted:
    """The records found in one file, and what was passed over (with reasons).

    ``nested`` counts the records found inside wrappers that are not a known CloudTrail
    container (``nested_at`` is the JSON path of the first one, e.g. ``$.Tests[0].Log``).
    """

    records: list[dict[str, Any]]
    kind: str
    skipped: Counter[str] = field(default_factory=Counter)
    is_digest: bool = False
    nested: int = 0
    nested_at: str | None = None
    notes: list[str] = field(default_factory=list)


# -- bytes ------------------------------------------------------------------------------------


def read_bytes(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The file's content, gunzipped when it is gzip (by magic bytes, not by name).

    Raises :class:`Unreadable` (a :class:`FileProblem`) with a reason a responder can act on:
    permission denied, truncated or corrupt gzip, or a decompressed size above ``max_bytes``.
    """
    try:
        with _open_regular(path) as fh:
            head = fh.read(2)
            fh.seek(0)
            if head != _GZIP_MAGIC:
                data = fh.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise Unreadable(
                        f"file is larger than the {max_bytes:,}-byte cap (max_file_bytes); "
                        "raise max_file_bytes to read it"
                    )
                return data
            compressed = fh.read(_ONE_SHOT_GZIP + 1)
            if len(compressed) <= _ONE_SHOT_GZIP:  # the usual CloudTrail file: one call
                return gunzip_bytes_capped(compressed, max_bytes)
            fh.seek(0)
            return gunzip_capped(fh, max_bytes)
    except PermissionError as exc:
        raise Unreadable(
            f"permission denied ({exc.strerror or exc}); check the file's permissions"
        ) from exc
    except IsADirectoryError as exc:
        raise Unreadable("is a folder, not a file") from exc
    except FileNotFoundError as exc:
        raise Unreadable("file disappeared while loading (no such file)") from exc
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from exc


def _open_regular(path: str) -> io.BufferedReader:
    """Open a file for reading only if it is a regular file: a FIFO (or a device) would block
    the load forever. Opened without blocking, then checked on the open descriptor (no race
    between the check and the read)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise Unreadable("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise Unreadable(NOT_REGULAR)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: The reason a FIFO, socket or device file is not read.
NOT_REGULAR = "not a regular file (a FIFO, socket or device); not read"

#: Compressed files up to this size are decompressed in one call (no stream objects).
_ONE_SHOT_GZIP = 4 * 1024 * 1024


def gunzip_bytes_capped(data: bytes, max_bytes: int) -> bytes:
    """Decompress gzip bytes (all members) in memory, refusing to produce more than ``max_bytes``.

    The same guarantees as :func:`gunzip_capped` with much less per-file overhead: CloudTrail
    writes many small files.
    """
    try:
        from isal import isal_zlib as zmod  # ~1.7x faster than zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        zmod = zlib  # type: ignore[assignment]
    out: list[bytes] = []
    produced = 0
    rest = data
    try:
        while rest:
            d = zmod.decompressobj(31)
            chunk = d.decompress(rest, max_bytes - produced + 1)
            produced += len(chunk)
            out.append(chunk)
            if produced > max_bytes:
                raise Unreadable(
                    f"decompressed size passes the {max_bytes:,}-byte cap (max_file_bytes); "
                    "a decompression bomb or a file far larger than CloudTrail writes"
                )
            if not d.eof:
                raise Unreadable(
                    "truncated gzip: compressed file ended before the "
                    "end-of-stream marker was reached"
                )
            rest = d.unused_data.lstrip(b"\x00")  # members may be padded with zeros
            if rest and not rest.startswith(_GZIP_MAGIC):
                raise Unreadable("corrupt gzip: trailing data after the last member")
    except Unreadable:
        raise
    except Exception as exc:  # zlib.error, isal's IsalError
        raise Unreadable(f"corrupt gzip: {exc}") from exc
    return out[0] if len(out) == 1 else b"".join(out)


def gunzip_capped(fh: io.BufferedIOBase, max_bytes: int) -> bytes:
    """Decompress a gzip stream (all members), refusing to produce more than ``max_bytes``."""
    try:
        from isal import igzip as gz  # ~1.7x faster than zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        gz = gzip  # type: ignore[assignment]
    out = io.BytesIO()
    try:
        with gz.GzipFile(fileobj=fh) as stream:  # type: ignore[arg-type]
            while True:
                chunk = stream.read(8 * 1024 * 1024)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > max_bytes:
                    raise Unreadable(
                        f"decompressed size passes the {max_bytes:,}-byte cap (max_file_bytes); "
                        "a decompression bomb or a file far larger than CloudTrail writes"
                    )
    except EOFError as exc:
        raise Unreadable(f"truncated gzip: {exc}") from exc
    except (OSError, zlib.error) as exc:
        raise Unreadable(f"corrupt gzip: {exc}") from exc
    except Exception as exc:  # isal.igzip_lib.IsalError derives from Exception only
        if type(exc).__name__ != "IsalError":
            raise
        raise Unreadable(f"corrupt gzip: {exc}") from exc
    return out.getvalue()


# -- what a record is -------------------------------------------------------------------------

_EVENT_KEYS = frozenset({"eventName", "eventSource"})
_CONTEXT_KEYS = frozenset(
    {
        "eventTime",
        "userIdentity",
        "eventVersion",
        "eventID",
        "awsRegion",
        "eventType",
        "eventCategory",
        "recipientAccountId",
        "requestParameters",
        "responseElements",
        "requestID",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "readOnly",
        "managementEvent",
        "sharedEventID",
    }
)
_DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Bucket"})


def looks_like_record(obj: Any) -> bool:
    """A JSON object that is a CloudTrail record (and not an envelope or something else).

    A record names its event (``eventName`` or ``eventSource``) and has at least one other
    CloudTrail field (``eventTime``, ``userIdentity``, ``eventID``, ``requestParameters``, ...,
    see ``_CONTEXT_KEYS``); an Insights record (``insightDetails`` / ``eventCategory: Insight``)
    names no API call but has such a field.

    >>> looks_like_record({"eventName": "GetObject", "eventTime": "2024-01-01T00:00:00Z"})
    True
    >>> looks_like_record({"eventName": "GetObject", "eventSource": "s3", "mitre": "T1530"})
    False
    """
    if not isinstance(obj, dict) or _is_notification(obj) or _is_pattern(obj):
        return False
    keys = obj.keys()
    if not _CONTEXT_KEYS.isdisjoint(keys):
        if not _EVENT_KEYS.isdisjoint(keys):
            return True
        if "insightDetails" in keys or obj.get("eventCategory") == "Insight":
            return True
    return False


def _is_pattern(obj: dict[str, Any]) -> bool:
    """An EventBridge rule pattern (or anything else) whose ``eventName``/``eventSource`` is
    not text: a list of names to match, never an event that happened."""
    return any(
        (value := obj.get(key)) is not None and not isinstance(value, str)
        for key in ("eventName", "eventSource")
    )


def _has_cloudtrail_field(obj: Any) -> bool:
    """Any CloudTrail field at all: enough for an item of a ``Records`` array to be a record
    (one that lost ``eventName`` is damaged, not foreign)."""
    return (
        isinstance(obj, dict)
        and not _is_notification(obj)
        and not _is_pattern(obj)
        and not (_CONTEXT_KEYS.isdisjoint(obj) and _EVENT_KEYS.isdisjoint(obj))
    )


def _is_notification(obj: dict[str, Any]) -> bool:
    """An AWS event notification record (S3, SQS, SNS, Kinesis, DynamoDB: ``eventSource`` is
    ``aws:<service>``), which looks like CloudTrail but is not (CloudTrail's is a host name)."""
    source = obj.get("eventSource", obj.get("EventSource"))
    return isinstance(source, str) and source.startswith("aws:")


def is_digest_document(obj: Any) -> bool:
    """A CloudTrail-Digest file's JSON (``digestStartTime``, ``digestEndTime``, ...)."""
    return isinstance(obj, dict) and len(_DIGEST_KEYS.intersection(obj.keys())) >= 2


# -- walking JSON -----------------------------------------------------------------------------


@dataclass
class _Walk:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    nested: int = 0
    nested_at: str | None = None
    nodes: int = 0
    truncated_search: bool = False
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    cap: int = DEFAULT_MAX_FILE_BYTES

    inflated: int = 0  # bytes inflated from payloads inside the file so far

    def add(self, record: dict[str, Any], path: str, nested: bool) -> None:
        self.records.append(record)
        if nested:
            self.nested += 1
            if self.nested_at is None:
                self.nested_at = path


def _keys(obj: dict[str, Any], n: int = 6) -> str:
    if not obj:
        return "none"
    names = sorted(str(k)[:40] for k in obj)
    more = f", ... ({len(names)} keys)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


#: orjson errors that the standard library's parser may get past.
_LENIENT_ERRORS = ("surrogate", "UTF-8", "infinity", "number")


def _loads(data: bytes | str, notes: list[str] | None = None) -> Any:
    """Parse JSON with orjson; what orjson refuses but is still JSON (lone surrogate escapes,
    numbers beyond a double) or almost (invalid UTF-8 bytes, replaced by U+FFFD) is parsed by
    the standard library instead. Raises ``orjson.JSONDecodeError`` when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not any(word in str(exc) for word in _LENIENT_ERRORS):
            raise  # e.g. "unexpected content after document": JSON lines, not one document
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            if notes is not None and isinstance(data, bytes) and "\ufffd" in text:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    notes.append("invalid UTF-8 bytes were read as U+FFFD (replacement character)")
            return value
        raise


def _collect(obj: Any, w: _Walk, path: str, depth: int, nested: bool, expect: str) -> int:
    """Add the records in ``obj`` to ``w``; return how many were found.

    ``expect`` says what position ``obj`` is in (``"record"``: where a record belongs, so a
    non-record there is skipped with a reason; ``"in-records"``: an item of a ``Records`` array,
    a record if it has any CloudTrail field; ``"search"``: inside an unknown wrapper, where
    non-records are ignored).
    """
    if isinstance(obj, dict) and isinstance(obj.get("kinesis"), dict):
        data = obj["kinesis"].get("data")
        if isinstance(data, str):  # a Kinesis record (Lambda event): its data is the payload
            return _collect_blob(data, "kinesis.data", w, path, depth, nested)
    if looks_like_record(obj) or (expect == "in-records" and _has_cloudtrail_field(obj)):
        w.add(obj, path, nested)
        return 1
    if depth > NEST_MAX_DEPTH and isinstance(obj, (dict, list)):
        w.truncated_search = True
        return 0
    if isinstance(obj, list):
        found = 0
        for i, item in enumerate(obj):
            found += _collect(item, w, f"{path}[{i}]", depth + 1, nested, expect)
        return found
    if not isinstance(obj, dict):
        if expect != "search":
            w.skipped[f"not a JSON object ({type(obj).__name__}) where a record was expected"] += 1
        return 0

    # Known containers and envelopes.
    records = obj.get("Records")
    if isinstance(records, list):  # CloudTrail's own container: a damaged record is still one
        return _collect(records, w, f"{path}.Records", depth + 1, nested, "in-records")
    events = obj.get("Events")
    if isinstance(events, list):  # aws cloudtrail lookup-events output
        return _collect(events, w, f"{path}.Events", depth + 1, nested, "record")
    if "CloudTrailEvent" in obj:  # one lookup-events item
        inner = obj["CloudTrailEvent"]
        if isinstance(inner, str):
            try:
                inner = _loads(inner)
            except orjson.JSONDecodeError:
                w.skipped["lookup-events item whose CloudTrailEvent is not valid JSON"] += 1
                return 0
        if looks_like_record(inner):
            w.add(inner, f"{path}.CloudTrailEvent", nested)
            return 1
        w.skipped["lookup-events item whose CloudTrailEvent is not a CloudTrail record"] += 1
        return 0
    if "detail" in obj and "detail-type" in obj:  # EventBridge / CloudWatch Events
        detail = obj["detail"]
        if looks_like_record(detail):
            w.add(detail, f"{path}.detail", nested)
            return 1
        kind = obj.get("detail-type")
        w.skipped[f"EventBridge event that is not a CloudTrail record (detail-type {kind!r})"] += 1
        return 0
    log_events = obj.get("logEvents")
    if isinstance(log_events, list):  # CloudWatch Logs subscription payload
        return _collect_log_events(obj, log_events, w, path, depth, nested)
    awslogs = obj.get("awslogs")
    if isinstance(awslogs, dict) and isinstance(awslogs.get("data"), str):  # Lambda form
        return _collect_blob(awslogs["data"], "awslogs.data", w, path, depth, nested)
    if _is_notification(obj):
        source = obj.get("eventSource", obj.get("EventSource"))
        w.skipped[f"{str(source)[:40]} event notification (not a CloudTrail record)"] += 1
        return 0
    if _is_pattern(obj):
        w.skipped[
            "eventName/eventSource that is not text: an EventBridge rule pattern or "
            "similar, not a CloudTrail record"
        ] += 1
        return 0
    return _collect_unknown(obj, w, path, depth, expect)


def _decode_blob(data: str, w: _Walk) -> Any:
    """base64 text of (possibly gzipped) JSON, decoded; raises ValueError when it is not, and
    :class:`Unreadable` when the file's payloads together inflate past its cap (the same bomb
    guard as files: ``max_bytes`` is for the whole file, never per payload)."""
    try:
        raw = base64.b64decode(data, validate=False)
        left = w.max_bytes - w.inflated
        if raw[:2] == _GZIP_MAGIC:
            try:
                raw = gunzip_capped(io.BytesIO(raw), max(left, 0))
            except Unreadable:
                w.inflated = w.max_bytes
                raise Unreadable(
                    f"the file's payloads inflate past the {w.cap:,}-byte cap "
                    "(max_file_bytes, for the whole file)"
                ) from None
        w.inflated += len(raw)
        if w.inflated > w.max_bytes:
            raise Unreadable(
                f"the file's payloads inflate past the {w.cap:,}-byte cap "
                "(max_file_bytes, for the whole file)"
            )
        return _loads(raw)
    except (binascii.Error, orjson.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc


def _collect_blob(data: str, name: str, w: _Walk, path: str, depth: int, nested: bool) -> int:
    try:
        inner = _decode_blob(data, w)
    except ValueError:
        w.skipped[f"{name} that is not base64 of (gzipped) JSON"] += 1
        return 0
    except Unreadable as exc:
        w.skipped[f"{name} that cannot be read: {exc}"] += 1
        return 0
    return _collect(inner, w, f"{path}.{name}", depth + 1, nested, "record")


#: Keys under which log shippers keep the original event as a JSON string (Splunk/Cribl
#: ``_raw``, Cribl/Fluent Bit/Logstash ``message``/``log``/``event``).
_STRING_KEYS = ("_raw", "message", "Message", "log", "event", "raw", "body")


def _collect_strings(obj: dict[str, Any], w: _Walk, path: str, depth: int) -> int:
    """Records kept as JSON text in a shipper's field: parsed when the text looks like one."""
    found = 0
    for key in _STRING_KEYS:
        text = obj.get(key)
        if not isinstance(text, str) or not text.lstrip().startswith("{"):
            continue
        if '"eventName"' not in text and '"Records"' not in text and '"eventTime"' not in text:
            continue
        try:
            inner = _loads(text)
        except orjson.JSONDecodeError:
            w.skipped[f"{key} text that looks like a record but is not valid JSON"] += 1
            continue
        found += _collect(inner, w, f"{path}.{key}", depth + 1, True, "search")
    return found


def _collect_unknown(obj: dict[str, Any], w: _Walk, path: str, depth: int, expect: str) -> int:
    """An object we do not know: a record kept as JSON text, or look inside it (bounded)."""
    found = _collect_strings(obj, w, path, depth)
    if found:
        return found
    found = _search(obj, w, path, depth)
    if not found and expect != "search":
        w.skipped[f"JSON object that is not a CloudTrail record (keys: {_keys(obj)})"] += 1
    return found


def _collect_log_events(
    envelope: dict[str, Any],
    log_events: list[Any],
    w: _Walk,
    path: str,
    depth: int,
    nested: bool,
) -> int:
    if envelope.get("messageType") == "CONTROL_MESSAGE":
        w.skipped["CloudWatch Logs control message (a health check, not an event)"] += len(
            log_events
        )
        return 0
    found = 0
    for i, item in enumerate(log_events):
        message = item.get("message") if isinstance(item, dict) else None
        if isinstance(message, str):
            try:
                message = _loads(message)
            except orjson.JSONDecodeError:
                w.skipped["CloudWatch Logs message that is not JSON"] += 1
                continue
        if looks_like_record(message):
            w.add(message, f"{path}.logEvents[{i}].message", nested)
            found += 1
        else:
            w.skipped["CloudWatch Logs message that is not a CloudTrail record"] += 1
    return found


def _search(obj: dict[str, Any] | list[Any], w: _Walk, path: str, depth: int) -> int:
    """Look for records inside an unrecognised wrapper, depth- and size-bounded."""
    if depth >= NEST_MAX_DEPTH or w.nodes >= NEST_MAX_NODES:
        w.truncated_search = True
        return 0
    w.nodes += 1
    found = 0
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        if not isinstance(value, (dict, list)):
            continue
        sub = f"{path}.{key}" if isinstance(obj, dict) else f"{path}[{key}]"
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    found += _collect(item, w, f"{sub}[{i}]", depth + 2, True, "search")
        else:
            found += _collect(value, w, sub, depth + 1, True, "search")
    return found


# -- documents --------------------------------------------------------------------------------


def _documents(data: bytes, notes: list[str]) -> tuple[list[Any], str, Counter[str]]:
    """The JSON values in a file: one document, JSON lines, or concatenated values."""
    skipped: Counter[str] = Counter()
    try:
        return [_loads(data, notes)], "document", skipped
    except orjson.JSONDecodeError as exc:
        first_error = exc
    lines = data.splitlines()
    docs: list[Any] = []
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line.startswith(_BOM):  # a BOM on every line (some Windows exporters)
            line = line[len(_BOM) :].strip()
        if not line:
            continue
        try:
            docs.append(_loads(line, notes))
        except orjson.JSONDecodeError:
            bad.append(number)
    if docs and len(docs) >= len(bad):
        for number in bad:
            last = number == len(lines)
            skipped[
                "JSON-lines line that is not valid JSON"
                + (" (the last line: a truncated write?)" if last else "")
            ] += 1
        return docs, "ndjson", skipped
    concatenated = _concatenated(data)
    if concatenated is not None:
        return concatenated, "concatenated", skipped
    raise InvalidJSON(f"invalid JSON ({first_error})")


def _concatenated(data: bytes) -> list[Any] | None:
    """``{...}{...}`` (values back to back, no separator), or None if it is not that."""
    text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    out: list[Any] = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return None
        out.append(value)
    return out if len(out) > 1 else None


def _repeats_scan(data: bytes) -> tuple[Any, Counter[str]] | None:
    """The document parsed with every repeated key counted; repeated ``Records`` arrays are
    joined (a record is never dropped for a repeated key), other repeated keys keep their last
    value, as any JSON reader does. None when the text cannot be parsed this way."""
    repeats: Counter[str] = Counter()

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                repeats[key] += 1
                if key == "Records" and isinstance(out[key], list) and isinstance(value, list):
                    out[key] = out[key] + value
                    continue
            out[key] = value
        return out

    try:
        doc = json.loads(data.decode("utf-8", errors="replace"), object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return doc, repeats


def repeated_keys(data: bytes) -> Counter[str]:
    """Keys given twice in one JSON object anywhere in ``data``, counted (empty: none, or
    not parseable this way).

    >>> repeated_keys(b'{"a": 1, "a": 2}')
    Counter({'a': 1})
    """
    scanned = _repeats_scan(data)
    return scanned[1] if scanned is not None else Counter()


def _repeats_note(repeats: Counter[str]) -> list[str]:
    notes = []
    if repeats.get("Records"):
        notes.append(
            f'{repeats["Records"] + 1} "Records" arrays in one file (CloudTrail writes one): '
            "the records of all of them were read"
        )
    others = [(k, n) for k, n in repeats.most_common() if k != "Records"]
    if others:
        listed = ", ".join(f"{k[:40]} x{n}" for k, n in others[:8])
        notes.append(
            f"duplicate keys inside JSON objects ({listed}): the last value of each was kept "
            "(as JSON readers do); the original file shows both"
        )
    return notes


def extract_records(
    data: bytes,
    path: str,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    check_repeats: bool = False,
) -> Extracted:
    """All CloudTrail records in one (decompressed) file, in file order.

    Raises :class:`NotCloudTrail` when the file holds no records (an empty file, an AWS Config
    snapshot, any other JSON) and :class:`InvalidJSON` when it is not JSON at all. A file that
    is an empty container (``[]``, ``{"Records": []}``) is valid and yields no records.
    ``max_bytes`` caps what the file and the gzipped payloads inside it may inflate to, in all.
    ``check_repeats`` looks for keys given twice (a fast reader found one); a second
    ``Records`` array is always looked for. Both are reported in ``notes``.
    """
    stripped = data.strip()
    if stripped.startswith(_BOM):
        stripped = stripped[len(_BOM) :].strip()
    if not stripped:
        raise NotCloudTrail("empty file (0 bytes of content)")
    notes: list[str] = []
    docs, kind, line_skips = _documents(stripped, notes)
    if kind == "document" and (check_repeats or stripped.count(b'"Records"') > 1):
        scanned = _repeats_scan(stripped)  # a repeated key is reported, never silently lost
        if scanned is not None and scanned[1]:
            docs = [scanned[0]]
            notes.extend(_repeats_note(scanned[1]))
    if kind == "document" and is_digest_document(docs[0]):
        return Extracted([], "digest", is_digest=True)
    # payloads inside the file share one budget with the file's own bytes
    w = _Walk(skipped=line_skips, max_bytes=max(max_bytes - len(data), 0), cap=max_bytes)
    for doc in docs:
        _collect(doc, w, "$", 0, False, "record")
    if kind == "document":
        doc = docs[0]
        if isinstance(doc, list):
            kind = "array"
        elif isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            kind = "records"
        elif isinstance(doc, dict) and isinstance(doc.get("Events"), list):
            kind = "lookup-events"
        else:
            kind = "object"
    notes = sorted(set(notes))
    if w.truncated_search:
        notes.append(
            f"the search for nested records stopped at its bounds (depth {NEST_MAX_DEPTH}, "
            f"{NEST_MAX_NODES:,} objects); records deeper in the file were not looked for"
        )
    only_foreign = all("not a CloudTrail record" in reason for reason in w.skipped)
    if not w.records and not _is_empty_container(docs) and only_foreign:
        specific = [
            (n, r)
            for r, n in w.skipped.most_common()
            if not r.startswith(("JSON object that is not", "not a JSON object"))
        ]
        if specific:  # what the file holds instead, e.g. "aws:s3 event notification"
            count, reason = specific[0]
            raise NotCloudTrail(f"not CloudTrail: {count:,} x {reason}")
        raise NotCloudTrail(_describe_non_cloudtrail(docs[0] if len(docs) == 1 else docs))
    return Extracted(w.records, kind, w.skipped, False, w.nested, w.nested_at, notes)


def _is_empty_container(docs: list[Any]) -> bool:
    if len(docs) != 1:
        return False
    doc = docs[0]
    if isinstance(doc, list):
        return not doc
    if isinstance(doc, dict):
        for key in ("Records", "Events", "logEvents"):
            if isinstance(doc.get(key), list) and not doc[key] and len(doc) <= 6:
                return True
    return False


def _describe_non_cloudtrail(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = _keys(doc)
        if "configurationItems" in doc or "configSnapshotId" in doc:
            return f"not CloudTrail: looks like an AWS Config snapshot (keys: {keys})"
        return f"not CloudTrail: a JSON object with no CloudTrail records (keys: {keys})"
    if isinstance(doc, list):
        return f"not CloudTrail: a JSON array of {len(doc):,} values, none a CloudTrail record"
    return f"not CloudTrail: a JSON {type(doc).__name__}"
