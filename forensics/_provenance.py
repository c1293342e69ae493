"""Getting an event's original record back from the file it was read from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from forensics.sources._formats import DEFAULT_MAX_FILE_BYTES, extract_records, read_bytes

__all__ = ["read_originals"]


def read_originals(
    locations: Iterable[tuple[str, int]], resolver: Any = None
) -> list[dict[str, Any]]:
    """The records at ``(source_file, source_index)`` locations, exactly as they were written.

    ``resolver`` (optional) maps a ``source_file`` to the local path to read (remote sources).
    """
    out = []
    cache: dict[str, list[dict[str, Any]]] = {}
    for source_file, index in locations:
        path = resolver(source_file) if callable(resolver) else source_file
        if path not in cache:
            cache[path] = extract_records(read_bytes(path, DEFAULT_MAX_FILE_BYTES), path).records
        out.append(cache[path][index])
    return out
