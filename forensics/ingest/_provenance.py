"""Getting an event's original record back from the file it was read from.

Each row of the events table keeps ``source_file`` and ``source_index`` (the record's position
among the records :func:`~forensics.sources._formats.extract_records` finds in that file, in file
order); reading the file again and taking that position gives the record exactly as written: the
same keys, values and types, nothing normalised.

>>> canonical({"b": 1, "a": [True, None]}) == canonical({"a": [True, None], "b": 1})
True
>>> canonical({"a": 1}) == canonical({"a": "1"})
False
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import orjson

from forensics._errors import LoadError
from forensics.sources._formats import (
    DEFAULT_MAX_FILE_BYTES,
    FileProblem,
    extract_records,
    read_bytes,
)

__all__ = ["canonical", "fingerprints", "raw_digests", "read_originals"]


def canonical(record: Any) -> bytes:
    """A record's content as bytes that are equal exactly when the content is equal.

    Object key order and whitespace do not matter (JSON objects are unordered); types do
    (``1`` and ``"1"`` differ).
    """
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson's 255 levels
        pass
    try:
        return json.dumps(record, sort_keys=True, separators=(",", ":"), default=repr).encode()
    except (TypeError, ValueError, RecursionError):
        return repr(record).encode(errors="replace")


def fingerprints(locations: Sequence[tuple[str, int]]) -> list[bytes | None]:
    """A 128-bit digest of the :func:`canonical` content of each record at the locations.

    Each file is read once and only the digests are kept (memory stays small however many
    locations are asked for). A location whose file cannot be read, or no longer holds that
    record, gives ``None``.
    """
    by_file: dict[str, list[int]] = defaultdict(list)
    for position, (source_file, _) in enumerate(locations):
        by_file[source_file].append(position)
    out: list[bytes | None] = [None] * len(locations)
    for path, positions in by_file.items():
        try:
            records = extract_records(read_bytes(path, DEFAULT_MAX_FILE_BYTES), path).records
        except FileProblem:
            continue
        for position in positions:
            index = locations[position][1]
            if 0 <= index < len(records):
                out[position] = hashlib.blake2b(canonical(records[index]), digest_size=16).digest()
    return out


class _RawRecords(msgspec.Struct):
    Records: list[msgspec.Raw]


_RAW_DECODER = msgspec.json.Decoder(_RawRecords)


def raw_digests(path: str, rows: int) -> list[bytes] | None:
    """Digests of the exact bytes of each item of a ``{"Records": [...]}`` file, or None.

    Only when the file holds exactly ``rows`` items (every item became a row, so item ``i`` is
    the record at ``source_index`` ``i``). Byte-identical records are identical; differing bytes
    prove nothing (key order, spacing), so callers compare :func:`fingerprints` then.
    """
    try:
        items = _RAW_DECODER.decode(read_bytes(path, DEFAULT_MAX_FILE_BYTES)).Records
    except (FileProblem, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if len(items) != rows:
        return None
    return [hashlib.blake2b(bytes(item), digest_size=16).digest() for item in items]


def read_originals(
    locations: Iterable[tuple[str, int]],
    resolver: Callable[[str], str] | Any = None,
    *,
    missing_ok: bool = False,
) -> list[Any]:
    """The records at ``(source_file, source_index)`` locations, exactly as they were written.

    ``resolver`` (optional) maps a ``source_file`` to the local path to read (remote sources).
    Raises :class:`~forensics.LoadError` naming the file when it can no longer be read or no
    longer holds the record (it changed since it was loaded); with ``missing_ok=True`` such
    locations give ``None`` instead.
    """
    out: list[Any] = []
    cache: dict[str, list[dict[str, Any]] | str] = {}
    for source_file, index in locations:
        path = resolver(source_file) if callable(resolver) else source_file
        if path not in cache:
            try:
                cache[path] = extract_records(
                    read_bytes(path, DEFAULT_MAX_FILE_BYTES), path
                ).records
            except FileProblem as exc:
                cache[path] = str(exc)
        records = cache[path]
        if isinstance(records, str) or not 0 <= index < len(records):
            if missing_ok:
                out.append(None)
                continue
            why = (
                records
                if isinstance(records, str)
                else (f"it now holds {len(records):,} records, not the #{index} it was loaded with")
            )
            raise LoadError(
                f"cannot get the original record back from {path}: {why}; the file changed or "
                "moved since it was loaded (load it again)"
            )
        out.append(records[index])
    return out
