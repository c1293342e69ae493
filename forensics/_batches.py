"""Reading a lazy events table in batches of rows, with bounded memory.

A trail of tens of millions of events does not fit in memory whole; an analysis that needs
every row reads it ``rows`` at a time. Each batch is one ``slice`` of the lazy plan collected
by Polars' streaming engine: over a Parquet cache the slice reaches the file (only the row
groups of the batch are read), and nothing is read ahead of the caller (unlike
``collect_batches``, whose producer runs ahead of a slow consumer and buffers batches).

>>> import polars as pl
>>> lf = pl.LazyFrame({"x": range(5)})
>>> [(start, b["x"].to_list()) for start, b in batches(lf, 2)]
[(0, [0, 1]), (2, [2, 3]), (4, [4])]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import polars as pl

from forensics._progress import progress

__all__ = ["batches"]


def batches(
    lazy: pl.LazyFrame, rows: int, *, desc: str | None = None
) -> Iterator[tuple[int, pl.DataFrame]]:
    """``(first row number, frame)`` for each batch of ``rows`` rows of ``lazy``, in order.

    A table of at most ``rows`` rows is one batch (collected once). ``desc`` names a progress
    bar (see :mod:`forensics._progress`) shown when there are several batches.
    """
    total = lazy.select(pl.len()).collect(engine="streaming").item()
    if total <= rows:
        yield 0, lazy.collect(engine="streaming")
        return
    if total > 2 * rows and _rescans(lazy):
        # a slice of a filtered (or joined, sorted, ...) plan is found by running the plan
        # from its first row: batch k would cost k batches, the whole read quadratic. The
        # rows are written once to a temporary Parquet file (streamed), then sliced there.
        with tempfile.TemporaryDirectory(prefix="forensics-batches-") as tmp:
            path = os.path.join(tmp, "rows.parquet")
            lazy.sink_parquet(path, compression="lz4", row_group_size=min(rows, 64 * 1024))
            yield from _sliced(pl.scan_parquet(path), total, rows, desc)
        return
    yield from _sliced(lazy, total, rows, desc)


#: Plan nodes a slice cannot be pushed through to the file (see :func:`_rescans`).
_RESCANNING = ("FILTER", "SELECTION:", "JOIN", "SORT", "UNIQUE", "AGGREGATE", "UNION", "SLICE")


def _rescans(lazy: pl.LazyFrame) -> bool:
    """Whether slicing this plan re-runs it from the first row (a filter, join, sort, ...).

    >>> _rescans(pl.LazyFrame({"x": [1]}).filter(pl.col("x") > 0))
    True
    >>> _rescans(pl.LazyFrame({"x": [1]}).with_columns(y=1))
    False
    """
    try:
        plan = lazy.explain()
    except Exception:  # a plan polars cannot print: slice it as it is
        return False
    return any(node in plan for node in _RESCANNING)


def _sliced(
    lazy: pl.LazyFrame, total: int, rows: int, desc: str | None
) -> Iterator[tuple[int, pl.DataFrame]]:
    starts = range(0, total, rows)
    if desc is not None:
        starts = progress(starts, desc, total=len(starts))  # type: ignore[assignment]
    for start in starts:
        yield start, lazy.slice(start, rows).collect(engine="streaming")
