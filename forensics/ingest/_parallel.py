"""Reading many files on every core: chunks of files go to worker processes.

Each worker reads its chunk of files (fast decoder where it can, reference normalizer otherwise)
and either writes one Parquet part (when a cache is in use: the cache is the product of the load,
and nothing big crosses a process boundary) or sends its rows back as one frame.

Workers come from a ``forkserver`` context: a forked child of a process whose Polars thread pool
is already running can deadlock, and a notebook has always used Polars before it loads.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from forensics._gc import gc_paused
from forensics._progress import progress_bar
from forensics._schema import EVENTS_SCHEMA, empty_events
from forensics.ingest._heap import kept_heap
from forensics.ingest._order import delivery_key, sort_frame
from forensics.sources._files import FileRef

__all__ = ["ChunkResult", "default_workers", "read_chunk", "read_files", "start_workers"]

#: Rows per frame before a worker flushes what it holds (keeps lists short and RSS flat).
_FLUSH_ROWS = 50_000
#: Rows per row group of a cache part.
_PART_ROW_GROUP = 64 * 1024
#: ... of a part sorted by time for a merge in time buckets: tight time ranges, so that a
#: bucket reads only the row groups its range overlaps.
_SORTED_ROW_GROUP = 16 * 1024
#: Loads smaller than this (bytes on disk) are read in this process: not worth a process start.
_MIN_PARALLEL_BYTES = 8 * 1024 * 1024


@dataclass
class ChunkResult:
    """What one worker returns: per-file outcomes and its rows (a frame or a Parquet part)."""

    parts: list[Any] = field(default_factory=list)  # FilePart with frame=None
    frame: pl.DataFrame | None = None
    parquet: str | None = None
    rows: int = 0
    peak_rss_mb: float = 0.0  # the worker's own peak, for benchmarks and the report
    ipc: str | None = None
    pid: int = 0  # the process that read it
    #: files read without remark, as (paths, record counts): sent back instead of one FilePart
    #: each (unpickling 15,000 FileParts cost the parent ~0.1 s)
    plain: tuple[list[str], list[int]] = field(default_factory=lambda: ([], []))

    def file_parts(self) -> list[Any]:
        """Every file's outcome as a FilePart (``frame=None``)."""
        from forensics.ingest._read import FilePart

        paths, counts = self.plain
        return self.parts + [
            FilePart(path, records=n) for path, n in zip(paths, counts, strict=True)
        ]

    def compact(self) -> None:
        """Move the outcomes of files read without remark (every field but the path and the
        record count at its default) to ``plain``."""
        from forensics.ingest._read import FilePart

        keep = []
        paths, counts = self.plain
        for part in self.parts:
            if part == FilePart(part.path, records=part.records):
                paths.append(part.path)
                counts.append(part.records)
            else:
                keep.append(part)
        self.parts = keep


def default_workers() -> int:
    """Worker processes to use: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def read_chunk(
    refs: Sequence[FileRef],
    max_file_bytes: int,
    parquet_path: str | None = None,
    ipc_path: str | None = None,
    cwd: str | None = None,
    keep_frame: bool = False,
    sort_part: bool = False,
) -> ChunkResult:
    """Read files in order; rows go to ``parquet_path`` (a cache part) if given, else to
    ``ipc_path`` (an Arrow IPC file the parent reads: cheaper than pickling a frame), else into
    ``.frame``.

    ``keep_frame``: also return the rows written to ``parquet_path`` (this process's own
    chunks: the caller then need not read the part back).

    ``cwd``: the caller's working folder. A worker process lives as long as its pool and keeps
    the folder it started in; relative paths (files, cache parts) must resolve as the caller's.
    """
    if cwd is not None and cwd != os.getcwd():
        os.chdir(cwd)
    # gc: measured ~4% of a load's time otherwise; the heap: a third of the C reader's time
    # went to page faults of freed and re-allocated buffers
    with gc_paused(), kept_heap():
        return _read_chunk(refs, max_file_bytes, parquet_path, ipc_path, keep_frame, sort_part)


def _read_chunk(
    refs: Sequence[FileRef],
    max_file_bytes: int,
    parquet_path: str | None,
    ipc_path: str | None,
    keep_frame: bool,
    sort_part: bool = False,
) -> ChunkResult:
    from forensics.ingest._fast import REREAD, FastBatch
    from forensics.ingest._read import read_file

    result = ChunkResult(pid=os.getpid())
    frames: list[pl.DataFrame] = []
    batch = FastBatch()

    def flush() -> None:
        if not batch.files:
            return
        frame = batch.frame()
        bad = frame.filter(pl.col(REREAD)).get_column("source_file").unique()
        frame = frame.drop(REREAD)
        if bad.len():  # unusual times, invalid UTF-8: the reference normalizer reads those files
            bad_files = set(bad.cast(pl.String).to_list())
            frame = frame.filter(~pl.col("source_file").cast(pl.String).is_in(bad_files))
            for ref in refs:
                if ref.path in bad_files:
                    redo = read_file(ref, max_file_bytes=max_file_bytes, fast=False)
                    for i, part in enumerate(result.parts):
                        if part.path == ref.path:
                            result.parts[i] = redo
                    if redo.frame is not None:
                        frames.append(redo.frame)
                        redo.frame = None
        frames.append(frame)

    for ref in refs:
        part = read_file(ref, max_file_bytes=max_file_bytes, batch=batch)
        if part.frame is not None and part.frame.height:
            frames.append(part.frame)
        part.frame = None
        result.parts.append(part)
        if batch.rows >= _FLUSH_ROWS:
            flush()
    flush()
    frame = (
        pl.concat(frames, how="vertical", rechunk=False).cast(dict(EVENTS_SCHEMA))
        if frames
        else empty_events()
    )
    result.rows = frame.height
    result.compact()
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sort_part:  # a merge in time buckets then reads only the row groups it needs and
        # moves only the rows where parts overlap in time (in memory, sorting every chunk here
        # costs more than the parent's one sort: measured)
        frame = sort_frame(frame)
    if parquet_path is not None:
        tmp = f"{parquet_path}.tmp-{os.getpid()}"
        frame.write_parquet(
            tmp,
            compression="zstd",
            compression_level=1,
            statistics=True,
            row_group_size=_SORTED_ROW_GROUP if sort_part else _PART_ROW_GROUP,
        )
        os.replace(tmp, parquet_path)
        result.parquet = parquet_path
        if keep_frame:
            result.frame = frame
    elif ipc_path is not None:
        frame.write_ipc(ipc_path)
        result.ipc = ipc_path
    else:
        result.frame = frame
    return result


def _chunks(
    refs: Sequence[FileRef], workers: int, cap: int | None = None, *, delivered: bool = False
) -> list[list[FileRef]]:
    """Split files (in path order; ``delivered``: in delivery order, :func:`delivery_key`, so
    that each chunk covers a time range of its own) into chunks of shrinking size, biggest
    first.

    Guided scheduling: each chunk holds about ``remaining / (2 * workers)`` of the bytes, down
    to a floor, so the processes start on big chunks (little per-chunk overhead) and finish on
    small ones (little waiting for the last one). ``cap``: no chunk holds more bytes than this
    (a chunk's rows are held whole by the process reading it).
    """
    ordered = sorted(refs, key=lambda r: delivery_key(r.path) if delivered else r.path)
    if (workers <= 1 and cap is None) or len(ordered) < 2:
        return [ordered] if ordered else []
    remaining = sum(max(r.size, 1) for r in ordered)
    floor = remaining / (32 * workers)
    limit = float(cap) if cap is not None else float("inf")
    chunks: list[list[FileRef]] = []
    current: list[FileRef] = []
    size = 0
    target = min(max(remaining / (2 * workers), floor), limit)
    for ref in ordered:
        current.append(ref)
        size += max(ref.size, 1)
        if size >= target:
            chunks.append(current)
            remaining -= size
            current, size = [], 0
            target = min(max(remaining / (2 * workers), floor), limit)
    if current:
        chunks.append(current)
    return chunks


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


#: Held while a pool is created and its processes are started (by a load, or ahead of one).
_POOL_LOCK = threading.Lock()


def start_workers(workers: int | None = None) -> None:
    """Start the worker processes in the background, ahead of a big load (no-op when they
    run already). A process takes ~0.5 s to start: ``load()`` calls this as soon as its folder
    walk has found many files, so that the processes are ready when the reading begins."""
    workers = default_workers() if workers is None else max(1, workers)
    if workers <= 1 or (_POOL is not None and workers - 1 == _POOL_SIZE):
        return

    def run() -> None:
        try:
            with _POOL_LOCK, _main_hidden():
                pool = _pool(workers - 1)
                pool.submit(os.getpid)  # processes start on the first submit
        except Exception:  # the load itself starts the pool (and reports what fails)
            pass

    thread = threading.Thread(target=run, name="forensics-pool-prestart", daemon=True)
    _PRESTARTS.append(thread)
    thread.start()


#: Threads starting worker processes ahead of a load (joined before the interpreter exits).
_PRESTARTS: list[threading.Thread] = []


def _stop_workers_at_exit() -> None:
    """Before the interpreter exits: let processes that are still starting finish starting,
    then stop them. A process killed half-way through its start (its parent gone while it
    unpickles what the parent sent) prints forkserver ``FileNotFoundError`` tracebacks."""
    global _POOL
    for thread in list(_PRESTARTS):
        thread.join(timeout=60)
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        with contextlib.suppress(Exception):
            pool.shutdown(wait=True, cancel_futures=True)


# threading's exit hooks run before concurrent.futures' own (last registered, first run), and
# before multiprocessing's finalizers remove the forkserver's socket folder
_register_exit = getattr(threading, "_register_atexit", None)
if _register_exit is not None:
    _register_exit(_stop_workers_at_exit)
else:  # pragma: no cover
    import atexit

    atexit.register(_stop_workers_at_exit)


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the life of the process (a notebook loads many times)."""
    global _POOL, _POOL_SIZE
    if _POOL is None or workers != _POOL_SIZE:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        ctx = multiprocessing.get_context("forkserver")
        # pyarrow: the C reader's columns are converted with it (imported lazily elsewhere)
        ctx.set_forkserver_preload(["forensics.ingest._read", "pyarrow"])
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        _POOL_SIZE = workers
    return _POOL


def read_files(
    refs: Sequence[FileRef],
    *,
    max_file_bytes: int,
    workers: int | None = None,
    part_path: Callable[[int], str] | None = None,
    keep_frames: bool = True,
    max_chunk_bytes: int | None = None,
    progress: bool | None = False,
    sort_parts: bool = False,
) -> list[ChunkResult]:
    """Read files with ``workers`` processes (1: in this process). Results in chunk order.

    ``part_path(i)`` names the Parquet part of chunk ``i`` (cache in use); without it, rows come
    back as frames. ``keep_frames=False`` (with ``part_path``): the chunks this process reads
    are not kept in memory either, only in their parts. ``max_chunk_bytes`` caps a chunk's
    bytes on disk; ``progress`` shows a ``tqdm.auto`` bar over the bytes read (None: where a
    terminal or notebook shows it). ``sort_parts``: each chunk's rows are sorted by time and
    its part gets small row groups (for a merge in time buckets).
    """
    workers = default_workers() if workers is None else max(1, workers)
    total = sum(r.size for r in refs)
    keep = keep_frames or part_path is None
    bar = progress_bar(total, "reading the trail", unit="B", enabled=progress)
    # small loads are not worth a process start; big ones get chunks of shrinking size
    if workers == 1 or len(refs) < 2 or total < _MIN_PARALLEL_BYTES:
        chunks = _chunks(refs, 1, max_chunk_bytes, delivered=sort_parts)
        done = []
        for i, c in enumerate(chunks):
            done.append(
                read_chunk(
                    c,
                    max_file_bytes,
                    part_path(i) if part_path else None,
                    keep_frame=keep,
                    sort_part=sort_parts,
                )
            )
            bar.update(sum(r.size for r in c))
        bar.close()
        return done
    chunks = _chunks(refs, workers, max_chunk_bytes, delivered=sort_parts)
    results: list[ChunkResult | None] = [None] * len(chunks)
    with tempfile.TemporaryDirectory(
        prefix="forensics-",
        dir=_fast_tmp(),
        ignore_cleanup_errors=True,  # mapped (Windows)
    ) as tmp:

        def submit(i: int) -> Future[ChunkResult]:
            return pools[0].submit(
                read_chunk,
                chunks[i],
                max_file_bytes,
                part_path(i) if part_path else None,
                None if part_path else os.path.join(tmp, f"chunk-{i}.arrow"),
                os.getcwd(),
                False,
                sort_parts,
            )

        def read_here(i: int) -> None:
            mine = read_chunk(
                chunks[i],
                max_file_bytes,
                part_path(i) if part_path else None,
                keep_frame=keep,
                sort_part=sort_parts,
            )
            mine.peak_rss_mb = 0.0  # this process's peak, not a worker's
            results[i] = mine
            bar.update(sum(r.size for r in chunks[i]))

        def collect(future: Future[ChunkResult]) -> None:
            i = running.pop(future)
            result = future.result()
            if result.ipc is not None:
                result.frame = _map_ipc(result.ipc)
                os.unlink(result.ipc)  # the mapping keeps the pages until the frame is freed
                result.ipc = None
            results[i] = result
            bar.update(sum(r.size for r in chunks[i]))

        # This process reads chunks too (its rows need no transfer): the pool has one process
        # fewer, and chunks are handed out in order (biggest first) as processes free up. The
        # pool starts (and gets its first chunks) in a thread, so that this process reads from
        # the first moment instead of waiting for the worker processes to start (~0.5 s).
        todo = list(range(len(chunks)))
        running: dict[Future[ChunkResult], int] = {}
        ahead = 2 * (workers - 1)  # chunks queued in the pool at most
        mine_first = todo.pop(0)  # the biggest: this process starts half a second earlier
        first = [todo.pop(0) for _ in range(min(ahead, len(todo)))]
        pools: list[ProcessPoolExecutor] = []
        failed: list[BaseException] = []

        def start() -> None:
            try:
                with _POOL_LOCK, _main_hidden():  # processes start on submit
                    pools.append(_pool(workers - 1))
                    for i in first:
                        running[submit(i)] = i
            except BaseException as exc:  # re-raised in the caller's thread
                failed.append(exc)

        starter = threading.Thread(target=start, name="forensics-pool-start", daemon=True)
        starter.start()
        try:
            read_here(mine_first)
        finally:
            starter.join()
        if failed:
            raise failed[0]
        with _main_hidden():
            while todo or running:
                while todo and len(running) < ahead:
                    i = todo.pop(0)
                    running[submit(i)] = i
                if todo:
                    read_here(todo.pop(0))
                    for future in [f for f in running if f.done()]:
                        collect(future)
                else:
                    for future in list(running):
                        collect(future)
    bar.close()
    return [r for r in results if r is not None]


def _map_ipc(path: str) -> pl.DataFrame:
    """A worker's rows, memory-mapped from its Arrow IPC file (``pl.read_ipc`` copies every
    buffer: ~0.5 s of this process's time per million rows)."""
    try:
        import pyarrow as pa
        import pyarrow.ipc
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return pl.read_ipc(path)
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _fast_tmp() -> str | None:
    """A RAM-backed temporary folder when there is one (Linux ``/dev/shm``), else the default."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Keep new worker processes from re-running the caller's ``__main__`` script.

    multiprocessing re-imports ``__main__`` in every new process, which breaks (or re-runs)
    scripts without an ``if __name__ == "__main__"`` guard. The workers only need this package,
    so ``__main__``'s file and spec are hidden while they start.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)
