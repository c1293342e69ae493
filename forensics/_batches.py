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
    starts = range(0, total, rows)
    if desc is not None:
        starts = progress(starts, desc, total=len(starts))  # type: ignore[assignment]
    for start in starts:
        yield start, lazy.slice(start, rows).collect(engine="streaming")
