"""The merged table of a trail too big for memory, built from the cache parts in bounded memory.

A small trail is merged in memory (``_loader``): every row in one frame, de-duplicated, sorted,
then written. A trail whose table would not fit the memory budget is merged here instead, and
the parent process never holds more than one time bucket of rows:

1. the workers have written every row into Parquet parts (chunks of files in delivery order,
   each sorted by time: a part covers a time range of its own);
2. one streamed pass over the parts reads two narrow columns (``event_time`` and a 64-bit hash of
   ``event_id``, 16 bytes a row): the time histogram, the window counts, and which ids may repeat;
3. rows whose id repeats (rare) are collected and settled exactly as in memory
   (:func:`forensics.ingest._loader._confirm_duplicates`): copies to drop, collisions to keep;
4. the time axis is cut into buckets of at most ``bucket_rows`` rows; each bucket is read from
   the parts whose time span overlaps it (row-group statistics skip the rest), put in order by
   (time, file, index) moving only the rows where those parts overlap, and written as
   one segment of the merged table (row groups of ``row_group_rows`` rows) -- so the segments
   in order are the table sorted by time, and a time filter prunes segments and row groups when
   the trail is re-opened;
5. a key index lists, per segment, the principals and access keys it holds: a trail selected by
   principal or key (``where``, ``for_principal``) scans only the segments that hold them.

The result is the same table the in-memory merge builds, row for row (tested with tiny budgets).

>>> estimate_table_bytes([])  # bytes an events table of these files takes in memory
0
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics._progress import progress_bar
from forensics._schema import EVENTS_SCHEMA, empty_events, in_window
from forensics._trail import INDEXED_COLUMNS
from forensics.ingest._order import sort_frame

__all__ = [
    "MergePlan",
    "available_memory",
    "estimate_table_bytes",
    "memory_budget",
    "merge_parts",
]

#: Parent peak per byte of trail file, measured on the generator's trails (1M events: 181 MB
#: gzipped, 1.67 GB peak when merged in memory): gzipped files expand ~10x, plain JSON ~1.5x.
_GZ_FACTOR = 10.0
_PLAIN_FACTOR = 1.5
#: The default memory budget of a load's parent process: tables estimated above it stream.
DEFAULT_BUDGET = 2 * 1024**3
#: Memory a bucket costs per row while it is read, sorted and written (measured at 3M events:
#: 250k-row buckets raised the peak by 1.27 GB, two in flight).
_BYTES_PER_ROW = 5 * 1024
#: Column names used while merging (not in the events schema).
_HASH = "__forensics_id_hash"
_PART = "__forensics_part"


def estimate_table_bytes(files: Sequence[Any]) -> int:
    """The parent's peak (bytes) to merge these files in memory: a guess from their sizes on
    disk (``FileRef.size``; a gzipped file expands about ten times).

    >>> from types import SimpleNamespace as F
    >>> estimate_table_bytes([F(path="a.json.gz", size=100), F(path="b.json", size=100)])
    1150
    """
    total = 0.0
    for ref in files:
        gz = str(ref.path).endswith((".gz", ".gzip"))
        total += ref.size * (_GZ_FACTOR if gz else _PLAIN_FACTOR)
    return int(total)


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def memory_budget(value: int | str | None = None) -> int:
    """The memory budget of a load (bytes): ``value``, else ``FORENSICS_MEMORY_BUDGET``, else
    2 GiB, never more than the memory available now. Accepts ``"512M"``, ``"2G"``, ``"1.5GB"``.

    >>> memory_budget("512M")
    536870912
    """
    raw: int | str | None = (
        value if value is not None else os.environ.get("FORENSICS_MEMORY_BUDGET")
    )
    if raw is None or raw == "":
        budget = DEFAULT_BUDGET
    elif isinstance(raw, int):
        budget = raw
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(raw).lower())
        if match is None:
            raise ValueError(
                f"memory budget {raw!r} is not a size: give bytes or e.g. '512M', '2G' "
                "(load(memory_budget=...) or FORENSICS_MEMORY_BUDGET)"
            )
        budget = int(float(match.group(1)) * _UNITS[match.group(2)])
    if budget <= 0:
        raise ValueError(f"memory budget must be positive, got {raw!r}")
    free = available_memory()
    return min(budget, free) if free else budget


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable``; cgroup limit when lower), or None."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            found.append(int(text))
    return min(found) if found else None


@dataclass
class MergePlan:
    """How to merge: rows per sorted bucket and per row group (small in tests)."""

    bucket_rows: int = 1_000_000
    row_group_rows: int = 128 * 1024

    @classmethod
    def for_budget(cls, budget: int) -> MergePlan:
        """Buckets that fit the budget: two in memory (one sorted, one being written) take 60%
        of it; the rest is the narrow columns, the reading of the parts and the interpreter."""
        rows = max(100, int(budget * 0.3) // _BYTES_PER_ROW)
        return cls(bucket_rows=rows, row_group_rows=min(128 * 1024, max(16, rows // 4)))


@dataclass
class MergeStats:
    """What the merge counted, for the load report."""

    rows: int = 0
    outside_window: int = 0
    unparsed_event_time: int = 0
    time_min: datetime | None = None
    time_max: datetime | None = None
    buckets: int = 0
    segments: list[Path] = field(default_factory=list)
    keys: Path | None = None  # the key index: which segments hold which principal / key


def merge_parts(
    parts: Sequence[pl.LazyFrame],
    segment: Callable[[int], Path],
    *,
    lo: datetime | None,
    hi: datetime | None,
    plan: MergePlan,
    settle: Callable[[pl.DataFrame], tuple[set[int], int, list[str]]],
    report: Any,
    progress: bool | None = None,
    link: Callable[[pl.LazyFrame], Callable[[pl.DataFrame], pl.DataFrame]] | None = None,
) -> MergeStats:
    """Write the rows of ``parts`` (lazy scans of the cache parts, events schema, each sorted
    by time) de-duplicated, in the window and sorted, as segments ``segment(0)``,
    ``segment(1)``, ... (one a time bucket), holding at most one bucket in memory. A bucket
    reads only the parts whose time range overlaps it (files are read in delivery order, so a
    part covers a time range of its own: one or two parts a bucket). ``settle`` is the
    loader's duplicate check (rows sharing an event id -> rows to drop, unverified, examples). ``link``: the attribution rules that need
    other records: given the de-duplicated rows in the window (as in memory), what to apply to
    each bucket.

    Returns the counts the load report needs and the segments; sets the report's duplicate
    fields.
    """
    stats = MergeStats()
    parts = list(parts) or [empty_events().lazy()]
    rows = pl.concat(parts, how="vertical")
    # 1. one streamed pass over two narrow columns (and the part of each row)
    narrow = pl.concat(
        [
            part.select(
                pl.col("event_time"),
                pl.col("event_id").hash(seed=7).alias(_HASH),
                pl.col("event_id").is_null().alias("_no_id"),
                pl.lit(i, dtype=pl.UInt32).alias(_PART),
            )
            for i, part in enumerate(parts)
        ],
        how="vertical",
    ).collect(engine="streaming")
    spans = narrow.group_by(_PART).agg(
        pl.col("event_time").min().alias("lo"),
        pl.col("event_time").max().alias("hi"),
        pl.col("event_time").null_count().alias("nulls"),
    )
    times = narrow.get_column("event_time")
    # 2. ids that may repeat (hash first; the exact check compares the ids themselves)
    hashes = narrow.filter(~pl.col("_no_id")).get_column(_HASH)
    maybe = hashes.filter(hashes.is_duplicated()).unique()
    del narrow, hashes
    drop = _duplicates(rows, maybe, settle, report)
    # 3. the window, as the in-memory merge applies it (null times leave with a window)
    keep = in_window(lo, hi)

    def settled(lazy: pl.LazyFrame) -> pl.LazyFrame:
        """Rows without the copies to drop, in the window."""
        if drop is not None:
            lazy = lazy.join(drop.lazy(), on=["source_file", "source_index"], how="anti")
        return lazy if keep is None else lazy.filter(keep)

    rows = settled(rows)
    relink = link(rows) if link is not None else None
    kept = times if keep is None else times.to_frame().filter(keep).get_column("event_time")
    # outside = rows out of the window once the duplicates are gone (as the in-memory merge
    # counts them); ``times`` still holds the dropped copies
    stats.outside_window = times.len() - kept.len()
    if drop is not None and keep is not None:
        stats.outside_window -= drop.height - drop.filter(keep).height
    stats.unparsed_event_time = times.null_count()
    del times
    # 4. buckets of whole time values, nulls last
    bounds = _bucket_bounds(kept, plan.bucket_rows)
    has_nulls = kept.null_count() > 0
    stats.time_min, stats.time_max = kept.min(), kept.max()  # type: ignore[assignment]
    del kept
    # each bucket: its rows' condition and the parts that may hold them
    windows: list[tuple[pl.Expr, list[int]]] = []
    for i, start in enumerate(bounds):
        cond = pl.col("event_time") >= start
        near = pl.col("hi") >= start
        if i + 1 < len(bounds):
            cond = cond & (pl.col("event_time") < bounds[i + 1])
            near = near & (pl.col("lo") < bounds[i + 1])
        windows.append((cond, _parts_where(spans, near)))
    if has_nulls:
        windows.append((pl.col("event_time").is_null(), _parts_where(spans, pl.col("nulls") > 0)))
    del spans
    bar = progress_bar(
        len(windows), "merging the trail (sorted by time)", unit="bucket", enabled=progress
    )
    # a segment is written in a thread while the next bucket is read and sorted (two buckets
    # in memory at most: the plan's bucket size allows for it)
    pool = ThreadPoolExecutor(1, thread_name_prefix="forensics-segment")
    keys: list[pl.DataFrame] = []
    writing: Future[None] | None = None
    try:
        for cond, near in windows:
            # collected, then sorted: the parts' rows come sorted, so only the rows where two
            # parts overlap in time move (sort_frame)
            if near:
                source = settled(pl.concat([parts[i] for i in near], how="vertical"))
                bucket = sort_frame(source.filter(cond).collect())
            else:
                bucket = pl.DataFrame(schema=EVENTS_SCHEMA)
            if relink is not None:
                bucket = relink(bucket)
            bar.update(1)
            if bucket.height == 0 and stats.segments:
                continue
            if writing is not None:
                writing.result()
            path = segment(len(stats.segments))
            keys.append(_segment_keys(bucket, len(stats.segments)))
            stats.segments.append(path)
            stats.rows += bucket.height
            writing = pool.submit(_write_segment, bucket, path, plan.row_group_rows)
            del bucket
        if writing is not None:
            writing.result()
        if not stats.segments:  # no rows at all: one empty segment of the schema
            _write_segment(pl.DataFrame(schema=EVENTS_SCHEMA), segment(0), plan.row_group_rows)
            stats.segments.append(segment(0))
        if keys:
            stats.keys = segment(-1)
            _write_key_index(pl.concat(keys), stats.keys)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        for path in stats.segments:
            path.unlink(missing_ok=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
    stats.buckets = len(windows)
    return stats


def _parts_where(spans: pl.DataFrame, near: pl.Expr) -> list[int]:
    """The parts (numbers) whose span of times meets ``near``, earliest first: put end to end,
    their rows are then sorted but where two of them overlap in time."""
    return spans.filter(near).sort("lo", _PART, nulls_last=True).get_column(_PART).to_list()


def _segment_keys(bucket: pl.DataFrame, number: int) -> pl.DataFrame:
    """The distinct values of the indexed columns in one segment."""
    return pl.concat(
        [
            bucket.select(
                pl.lit(column).alias("column"), pl.col(column).cast(pl.String).alias("value")
            )
            .drop_nulls("value")
            .unique()
            for column in INDEXED_COLUMNS
        ]
    ).with_columns(pl.lit(number, dtype=pl.UInt32).alias("segment"))


def _write_key_index(keys: pl.DataFrame, path: Path) -> None:
    """The key index, sorted by (column, value) in small row groups: a lookup reads a few."""
    _write_segment(keys.sort("column", "value", "segment"), path, 16 * 1024)


def _write_segment(frame: pl.DataFrame, path: Path, row_group_rows: int) -> None:
    """One segment, written whole or not at all (a temporary name, then renamed)."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        # lz4: re-opening (the common case) decompresses 1.6x faster than zstd
        frame.write_parquet(tmp, compression="lz4", statistics=True, row_group_size=row_group_rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _duplicates(
    rows: pl.LazyFrame,
    maybe: pl.Series,
    settle: Callable[[pl.DataFrame], tuple[set[int], int, list[str]]],
    report: Any,
) -> pl.DataFrame | None:
    """The (source_file, source_index, event_time) of copies to drop, or None; sets the
    report's duplicate and collision fields as the in-memory merge does."""
    report.duplicates_dropped = 0
    report.id_collisions = 0
    report.id_collision_examples = []
    if maybe.len() == 0:
        return None
    shared = (
        rows.filter(pl.col("event_id").hash(seed=7).is_in(maybe.implode()))
        .filter(pl.col("event_id").is_not_null() & (pl.len().over("event_id") > 1))
        .collect(engine="streaming")
        .sort(pl.col("source_file").cast(pl.String), "source_index")
        .with_row_index("_row")
    )
    if shared.height == 0:
        return None
    files = shared.get_column("source_file").cast(pl.String).unique()
    per_file = (
        rows.filter(pl.col("source_file").cast(pl.String).is_in(files.implode()))
        .group_by(pl.col("source_file").cast(pl.String))
        .len()
        .collect(engine="streaming")
    )
    drop, unverified, examples = settle(shared, dict(per_file.iter_rows()))
    report_duplicates(
        report, shared.filter(~pl.col("_row").is_in(sorted(drop))), len(drop), unverified, examples
    )
    if not drop:
        return None
    return shared.filter(pl.col("_row").is_in(sorted(drop))).select(
        "source_file", "source_index", "event_time"
    )


def report_duplicates(
    report: Any, kept: pl.DataFrame, dropped: int, unverified: int, examples: list[str]
) -> None:
    """The load report's duplicate fields and notes, from the rows that shared an event id and
    were kept (``kept``), the copies dropped, and the rows that could not be compared."""
    if unverified:
        report.notes.append(
            f"{unverified:,} record(s) share an eventID but their files could not be re-read "
            "to compare contents; they were kept"
        )
    if dropped:
        report.duplicates_dropped = dropped
        report.notes.append(
            f"{dropped:,} duplicate record(s) dropped: the same eventID with the same content, "
            "read more than once, e.g. " + "; ".join(examples)
        )
    collided = kept.filter(pl.col("event_id").is_not_null() & (pl.len().over("event_id") > 1))
    report.id_collisions = collided.height
    report.id_collision_examples = collided.get_column("event_id").unique().sort().head(5).to_list()


def _bucket_bounds(times: pl.Series, bucket_rows: int) -> list[Any]:
    """Start times of buckets of about ``bucket_rows`` rows each (a bucket may pass it by the
    rows of one time value: a time value is never split).

    >>> from datetime import datetime as d
    >>> _bucket_bounds(pl.Series([d(2024, 1, 1), d(2024, 1, 2), d(2024, 1, 2), d(2024, 1, 3)]), 2)
    [datetime.datetime(2024, 1, 1, 0, 0), datetime.datetime(2024, 1, 3, 0, 0)]
    """
    present = times.drop_nulls()
    if present.len() == 0:
        return []
    counts = present.to_frame("t").group_by("t").len().sort("t")
    # a bucket starts where the rows before it pass a multiple of bucket_rows
    starts = counts.select(
        pl.col("t"),
        ((pl.col("len").cum_sum() - pl.col("len")) // bucket_rows).alias("b"),
    ).filter(pl.col("b") != pl.col("b").shift(1).fill_null(-1))
    return starts.get_column("t").to_list()
