"""The events table's row order: by (event_time, source_file, source_index), nulls last.

For a merge in time buckets (a trail bigger than memory), files are read in the order
CloudTrail delivered them (the time in their names), so each chunk of files a process reads
covers a time range of its own, and each process sorts its chunk (:func:`sort_frame`). Parts
put end to end are then sorted but where their time ranges overlap (CloudTrail writes an event
a few minutes after it happens), and :func:`reorder` moves only those rows: the rest is kept as
it is, not copied.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import polars as pl

__all__ = ["delivery_key", "reorder", "sort_frame", "sort_order"]

#: CloudTrail's object names: ``<account>_CloudTrail_<region>_<YYYYMMDD>T<HHMM>Z_<id>.json.gz``
#: (also ``CloudTrail-Insight``; digest files hold no events and sort first).
_DELIVERED = re.compile(r"_CloudTrail(?:-[A-Za-z]+)?_[^_/\\]+_(\d{8}T\d{4})Z_[^/\\]*$")

#: Rows kept in place must come in runs at least this long; shorter runs are moved with the
#: rows around them (a table of many small pieces is slower to use than one copy).
_MIN_KEPT_RUN = 4096
#: More pieces than this: the whole table is copied in order instead.
_MAX_PIECES = 256


def delivery_key(path: str) -> tuple[str, str]:
    """Sort key of a file in delivery order: the time in a CloudTrail object name, then the
    path (files named otherwise come first, in path order).

    >>> delivery_key("o/111122223333_CloudTrail_us-east-1_20260308T1805Z_abc.json.gz")[0]
    '20260308T1805'
    >>> delivery_key("export/events.json")
    ('', 'export/events.json')
    """
    match = _DELIVERED.search(path)
    return (match.group(1) if match else "", path)


def sort_order(frame: pl.DataFrame) -> pl.Series | None:
    """Row order by (event_time, source_file, source_index), nulls last; None if already so.

    Two single-key sorts instead of one on three keys (2-3x faster on a million rows read in
    path order): the rows in (file, index) order -- usually already so, as read -- then a
    stable sort by time. Files are ranked through their few distinct names rather than by
    comparing a million strings.

    >>> from datetime import datetime
    >>> f = pl.DataFrame({"event_time": [datetime(2026, 1, 2), datetime(2026, 1, 1)],
    ...                   "source_file": ["a", "a"], "source_index": [0, 1]},
    ...                  schema_overrides={"source_file": pl.Categorical})
    >>> sort_order(f).to_list()
    [1, 0]
    """
    files = frame.select(pl.col("source_file").unique()).to_series()
    names = files.cast(pl.String).to_list()
    physical = files.to_physical().to_list()
    rank_of = {code: i for i, (_, code) in enumerate(sorted(zip(names, physical, strict=True)))}
    file_rank = (
        frame.get_column("source_file")
        .to_physical()
        .replace_strict(rank_of, return_dtype=pl.UInt64)
    )
    position = frame.select(
        (file_rank * pl.lit(1 << 32, dtype=pl.UInt64)) + pl.col("source_index").cast(pl.UInt64)
    ).to_series()
    times = frame.get_column("event_time")
    first = None if position.is_sorted() else position.arg_sort()
    if first is not None:
        times = times.gather(first)
    order = (
        times.to_frame("t")
        .select(pl.arg_sort_by("t", nulls_last=True, maintain_order=True))
        .to_series()
    )
    if first is not None:
        order = first.gather(order)
    if order.len() == 0 or (order.is_sorted() and order[0] == 0):
        return None
    return order


def sort_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in the table's row order (see :func:`sort_order`).

    >>> from datetime import datetime
    >>> f = pl.DataFrame({"event_time": [datetime(2026, 1, 2), None, datetime(2026, 1, 1)],
    ...                   "source_file": ["b", "a", "a"], "source_index": [0, 0, 1]},
    ...                  schema_overrides={"source_file": pl.Categorical})
    >>> sort_frame(f).get_column("source_index").to_list()
    [1, 0, 0]
    """
    order = sort_order(frame)
    return frame if order is None else reorder(frame, order)


def reorder(frame: pl.DataFrame | dict[str, pl.Series], order: pl.Series) -> pl.DataFrame:
    """``frame``'s rows in ``order`` (a permutation of its row numbers).

    Long runs of rows already in place are kept as slices of ``frame`` (no copy); the rows
    between them are gathered. When the order moves rows everywhere, every column is gathered,
    two at a time (made contiguous first: gathering across many chunks is slow). Given the
    columns as a dict (name -> column, the caller holding no other reference), each column is
    taken out of it and released once copied: the peak is the table plus the columns in
    flight, where ``sort()`` would hold it twice.

    >>> f = pl.DataFrame({"x": list(range(10_000))})
    >>> order = pl.Series(list(range(9_000)) + [9_999] + list(range(9_000, 9_999)))
    >>> reorder(f, order).get_column("x").equals(order.alias("x"))
    True
    """
    pieces = _pieces(order)
    if pieces is None:
        return _gather_all(frame if isinstance(frame, dict) else _columns(frame), order)
    if isinstance(frame, dict):
        frame = pl.DataFrame(list(frame.values()))
    parts = [
        frame.slice(start, length) if kept else frame[order.slice(start, length)]
        for start, length, kept in pieces
    ]
    return pl.concat(parts, how="vertical", rechunk=False) if len(parts) > 1 else parts[0]


def _pieces(order: pl.Series) -> list[tuple[int, int, bool]] | None:
    """``order`` as (start, length, kept in place) pieces, or None when there would be too
    many (or too little is kept: then one gather is cheaper)."""
    n = order.len()
    in_place = (order == pl.int_range(0, n, dtype=order.dtype, eager=True)).rle()
    runs = in_place.struct.unnest()
    if runs.height > 4 * _MAX_PIECES:
        return None
    pieces: list[tuple[int, int, bool]] = []
    start = 0
    for length, kept in runs.iter_rows():
        kept = bool(kept) and length >= _MIN_KEPT_RUN
        if pieces and pieces[-1][2] == kept:
            s, n_, _ = pieces[-1]
            pieces[-1] = (s, n_ + length, kept)
        else:
            pieces.append((start, length, kept))
        start += length
    moved = sum(length for _, length, kept in pieces if not kept)
    if len(pieces) > _MAX_PIECES or moved > n // 2:
        return None
    return pieces


def _columns(frame: pl.DataFrame) -> dict[str, pl.Series]:
    return dict(zip(frame.columns, frame.get_columns(), strict=True))


def _gather_all(columns: dict[str, pl.Series], order: pl.Series) -> pl.DataFrame:
    """Every column gathered in ``order`` on two threads (each made contiguous first, taken
    out of ``columns`` and released once copied)."""

    def move(name: str) -> pl.Series:
        return columns.pop(name).rechunk().gather(order)

    with ThreadPoolExecutor(2, thread_name_prefix="forensics-gather") as pool:
        return pl.DataFrame(list(pool.map(move, list(columns))))
