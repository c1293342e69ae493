"""Reading one file into rows of the events table: :func:`read_file` and its :class:`FilePart`.

This sits below the orchestrator (:mod:`forensics.ingest._loader`) and the worker processes
(:mod:`forensics.ingest._parallel`), which both call it; neither imports the other for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from forensics.ingest._fast import (
    FastBatch,
    FastPathUnsupported,
    RepeatedKeys,
    decode_records_file,
)
from forensics.ingest._normalize import TIME_FALLBACKS, normalize_records
from forensics.sources._files import FileRef
from forensics.sources._formats import (
    DEFAULT_MAX_FILE_BYTES,
    FileProblem,
    extract_records,
    read_bytes,
)

__all__ = ["FilePart", "read_file"]


@dataclass
class FilePart:
    """What reading one file produced: rows, or the reason there are none.

    ``nested`` counts records found inside JSON wrappers that are not a CloudTrail container
    (test-case files and the like; ``nested_at`` is the JSON path of the first one).
    """

    path: str
    frame: pl.DataFrame | None = None
    failure: str | None = None
    is_digest: bool = False
    skipped: Counter[str] = field(default_factory=Counter)
    missing_time: int = 0
    time_fallback: int = 0
    records: int = 0
    nested: int = 0
    nested_at: str | None = None
    notes: list[str] = field(default_factory=list)


def read_file(
    ref: FileRef,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    fast: bool = True,
    batch: FastBatch | None = None,
) -> FilePart:
    """Read one file into rows of the events table; never raises for a bad file.

    Every problem becomes ``FilePart.failure`` (a reason naming what is wrong): unreadable
    bytes, truncated/corrupt gzip, the size cap, invalid JSON, JSON that holds no CloudTrail.

    ``fast=False`` forces the reference normalizer. With a ``batch``, a file the fast path
    accepts goes into it (``frame`` stays None, ``records`` is counted) so that the caller can
    build the rows of many files at once (:meth:`forensics.ingest._fast.FastBatch.frame`).
    """
    part = FilePart(ref.path)
    repeated = False
    if ref.is_digest:
        part.is_digest = True
        return part
    try:
        data = read_bytes(ref.path, max_file_bytes)
    except FileProblem as exc:
        part.failure = str(exc)
        return part
    if fast:
        try:
            if batch is not None:
                part.records = batch.add(data, ref.path)  # rows are built per batch of files
            else:
                part.frame = decode_records_file(data, ref.path)
                part.records = part.frame.height
            return part
        except FastPathUnsupported as exc:
            repeated = isinstance(exc, RepeatedKeys)
        except RecursionError:  # nested past a reader's limit: the reference reader decides
            pass
    try:
        found = extract_records(data, ref.path, max_bytes=max_file_bytes, check_repeats=repeated)
    except FileProblem as exc:
        part.failure = str(exc)
        return part
    except Exception as exc:  # a reader bug must not sink the whole load: report it
        part.failure = f"unexpected error while reading ({type(exc).__name__}: {exc})"
        return part
    if found.is_digest:
        part.is_digest = True
        return part
    part.skipped = found.skipped
    part.nested, part.nested_at, part.notes = found.nested, found.nested_at, found.notes
    records = found.records
    for r in records:
        if r.get("eventTime") is None:
            part.missing_time += 1
            if any(r.get(f) is not None for f in TIME_FALLBACKS):
                part.time_fallback += 1
    part.frame = normalize_records(records, ref.path)
    part.records = part.frame.height
    return part
