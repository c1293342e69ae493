"""``load()``: files -> records -> events table -> ``Trail``, with a report of everything.

The steps, in one direction: discover files (pruning by the S3 layout), read each file into a
frame (:func:`read_file`), concatenate, apply the time window, drop exact duplicates, sort.

>>> import forensics as fx  # doctest: +SKIP
>>> trail = fx.load("data/sample", cache=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics._errors import CorruptFileError, LoadError
from forensics._schema import EVENTS_SCHEMA, empty_events, in_window, to_utc
from forensics._trail import Segments, Trail
from forensics.ingest import _stream
from forensics.ingest._cache import Cache, default_cache_root
from forensics.ingest._identity_keys import link_identities, linker
from forensics.ingest._order import reorder, sort_order
from forensics.ingest._parallel import read_files, start_workers
from forensics.ingest._provenance import read_originals
from forensics.ingest._read import FilePart, read_file
from forensics.ingest._report import LoadReport
from forensics.sources._files import FileRef, discover
from forensics.sources._formats import (
    DEFAULT_MAX_FILE_BYTES,
)

__all__ = ["FilePart", "load", "read_file"]  # FilePart, read_file: from ._read


def _dedupe(frame: pl.DataFrame, report: LoadReport) -> pl.DataFrame:
    """Drop rows that are the same event (same eventID and same content); keep collisions.

    Only rows whose eventID occurs more than once are examined, against their original records
    (re-read through ``source_file``/``source_index``): the table does not carry every byte of a
    record, so equal rows do not prove equal records. Content is compared as JSON (key order and
    whitespace do not matter, types do; see :func:`forensics.ingest._provenance.canonical`). The first
    copy in load order is kept. A row whose original cannot be re-read is kept.
    """
    report.duplicates_dropped = 0
    report.id_collisions = 0
    report.id_collision_examples = []
    if frame.height == 0:
        return frame
    indexed = frame.with_row_index("_row")
    shared = indexed.filter(
        pl.col("event_id").is_not_null() & (pl.len().over("event_id") > 1)
    ).sort(pl.col("source_file").cast(pl.String), "source_index")  # "first" = in path order
    if shared.height == 0:
        return frame
    rows_per_file = dict(frame.group_by(pl.col("source_file").cast(pl.String)).len().iter_rows())
    drop, unverified, examples = _confirm_duplicates(shared, rows_per_file)
    if drop:
        indexed = indexed.filter(~pl.col("_row").is_in(sorted(drop)))
    _stream.report_duplicates(report, indexed, len(drop), unverified, examples)
    return indexed.drop("_row")


def _confirm_duplicates(
    shared: pl.DataFrame, rows_per_file: dict[str, int]
) -> tuple[set[int], int, list[str]]:
    """Rows to drop (a later copy of an identical original), rows left unverified, examples.

    First the exact bytes of each record are compared where that is cheap (S3 ``Records``
    files: an eventID whose copies are byte-identical is settled without parsing); eventIDs
    whose copies differ in bytes are settled by comparing parsed content.
    """
    from forensics.ingest._provenance import fingerprints, raw_digests

    rows = shared.select(
        "_row", "event_id", pl.col("source_file").cast(pl.String), "source_index"
    ).rows()
    raw_by_file: dict[str, list[bytes] | None] = {}
    quick: list[bytes | None] = []
    for _, _, source_file, source_index in rows:
        if source_file not in raw_by_file:
            raw_by_file[source_file] = raw_digests(source_file, rows_per_file.get(source_file, -1))
        digests = raw_by_file[source_file]
        quick.append(digests[source_index] if digests is not None else None)
    groups: dict[str, list[int]] = {}
    for position, (_, event_id, _, _) in enumerate(rows):
        groups.setdefault(event_id, []).append(position)
    settled: list[bytes | None] = list(quick)
    unsettled = [
        p
        for members in groups.values()
        if any(quick[m] is None for m in members) or len({quick[m] for m in members}) > 1
        for p in members
    ]
    if unsettled:
        content = fingerprints([(rows[p][2], rows[p][3]) for p in unsettled])
        for p, digest in zip(unsettled, content, strict=True):
            settled[p] = digest
    drop: set[int] = set()
    unverified = 0
    examples: list[str] = []
    first_seen: dict[tuple[str, bytes], tuple[str, int]] = {}
    for (row, event_id, source_file, source_index), digest in zip(rows, settled, strict=True):
        if digest is None:
            unverified += 1
            continue
        key = (event_id, digest)
        if key not in first_seen:
            first_seen[key] = (source_file, source_index)
            continue
        drop.add(row)
        if len(examples) < 3:
            kept_file, kept_index = first_seen[key]
            examples.append(
                f"{event_id} in {kept_file} (#{kept_index}) and {source_file} (#{source_index})"
            )
    return drop, unverified, examples


def _resolve_remote(
    paths: tuple[str | os.PathLike[str], ...], **options: Any
) -> list[str | os.PathLike[str]]:
    """Replace ``s3://`` URLs by the local folders their objects were downloaded to."""
    if not any(str(p).startswith("s3://") for p in paths):
        return list(paths)
    from forensics.sources._s3 import fetch  # boto3 only when needed

    out: list[str | os.PathLike[str]] = []
    for p in paths:
        out.extend(fetch(str(p), **options) if str(p).startswith("s3://") else [p])
    return out


def _refresh_remote(cached: LoadReport, fresh: LoadReport) -> None:
    """On a cache hit, what this call's S3 fetch did (notes, failed objects) replaces the
    stored account of the previous fetch."""

    def remote(text: str) -> bool:
        return text.startswith("s3://")

    cached.notes = [
        *(n for n in fresh.notes if remote(n)),
        *(n for n in cached.notes if not remote(n)),
    ]
    cached.files_failed = [
        *(f for f in cached.files_failed if not remote(f.path)),
        *(f for f in fresh.files_failed if remote(f.path)),
    ]


def load(
    *paths: str | os.PathLike[str],
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int | None = None,
    session: Any = None,
    profile: str | None = None,
    remote: dict[str, Any] | None = None,
    memory_budget: int | str | None = None,
    progress: bool | None = None,
    **query: Any,
) -> Trail:
    """Load CloudTrail files, folders and globs into a :class:`~forensics.Trail`.

    Parameters
    ----------
    paths
        Files (``.json``, ``.json.gz``, ``.jsonl``/``.ndjson``/``.log``, gzipped or not),
        folders (read recursively) and glob patterns, in any mix.
    start, end
        Keep events with ``start <= event_time < end`` (UTC). Files in the S3 delivery layout
        outside the window are not opened.
    accounts, regions
        Only open files whose S3 layout path is in these accounts / regions.
    cache
        Write/reuse a Parquet cache (``.forensics-cache/`` next to the data, or ``cache_dir``).
        ``cache=False`` touches no cache at all.
    strict
        Raise :class:`~forensics.LoadError` on the first unreadable file instead of reporting it.
    max_file_bytes
        Refuse files whose (decompressed) size passes this cap.
    workers
        Processes to read files with (default: all cores).
    session, profile
        AWS credentials for ``s3://`` paths: a ``boto3.Session``, or a named profile; by
        default the standard boto3 chain. Never stored anywhere.
    remote
        More options for ``s3://`` paths (``cache_dir=``, ``workers=``, ``progress=``, ...),
        passed to :func:`forensics.sources._s3.fetch`.
    memory_budget
        Memory the merge may hold (bytes, or ``"2G"``; default ``FORENSICS_MEMORY_BUDGET`` or
        2 GiB, never more than is free). A trail whose table would need more is merged from the
        cache parts one time bucket at a time and the trail is a lazy scan of the cache: memory
        stays bounded at any size. Without a cache (``cache=False``) a trail too big for the
        memory free is refused before reading, naming a ``cache_dir`` to use instead.
    progress
        Progress bars (``tqdm.auto``) on the reading and merging of big trails; ``None``: the
        kit's setting (a terminal or notebook, ``FORENSICS_PROGRESS``, ``set_progress``, see
        :mod:`forensics._progress`), ``False``: never.
    query
        For an ``athena://DATABASE.TABLE`` source only: ``principals=``, ``access_keys=``,
        ``event_names=``, ``workgroup=``, ``output=`` (see :func:`forensics.ingest.athena.load`).

    Examples
    --------
    >>> import forensics as fx
    >>> trail = fx.load("data/sample", cache=False)  # doctest: +SKIP
    >>> print(trail.report)  # doctest: +SKIP
    """
    if not paths:
        raise LoadError("load() needs at least one path: a file, a folder or a glob pattern")
    if len(paths) == 1 and str(paths[0]).startswith("athena://"):
        from forensics.ingest.athena import load as load_athena  # the query builds its own Trail

        return load_athena(
            str(paths[0]),
            start=start,
            end=end,
            accounts=accounts,
            regions=regions,
            session=session,
            profile=profile,
            remote=remote,
            **query,
        )
    if query:
        raise TypeError(f"load() got options only an athena:// source takes: {sorted(query)}")
    began = time.perf_counter()
    if session is not None or profile is not None:
        remote = {**(remote or {}), "session": session, "profile": profile}
    lo, hi = to_utc(start), to_utc(end)
    report = LoadReport(sources=[os.fspath(p) for p in paths])
    if cache_dir is None and paths and all(str(p).startswith("s3://") for p in paths):
        from forensics.sources._s3 import mirror_root  # the Parquet cache beside the S3 mirror

        cache_dir = mirror_root(str(paths[0]), (remote or {}).get("cache_dir")) / ".forensics-cache"
    paths = _resolve_remote(
        paths, start=lo, end=hi, accounts=accounts, regions=regions, report=report, **(remote or {})
    )
    ignored: list[str] = []
    files, missing, pruned = discover(
        paths,
        start=lo,
        end=hi,
        accounts=accounts,
        regions=regions,
        ignored=ignored,
        on_listed=_prestart(workers, cache, cache_dir, paths),
    )
    if ignored:
        names = sorted({os.path.basename(p) for p in ignored})
        report.notes.append(
            f"{len(ignored):,} file(s) in the folders were not read: their names are not trail "
            f"files (.json, .json.gz, .jsonl, .ndjson, .log, ...), e.g. {', '.join(names[:5])}; "
            "pass a file's path to read it anyway"
        )
    report.files_pruned = pruned
    for path, reason in missing:
        if strict:
            raise LoadError(f"{path}: {reason}")
        report.add_failure(path, reason)
    report.files_seen = len(files) + len(missing) + pruned
    if not files and missing and len(missing) == len(report.sources):
        raise LoadError("nothing to load: " + "; ".join(f"{p}: {r}" for p, r in missing))

    try:
        budget = _stream.memory_budget(memory_budget)
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    store = _open_cache(cache, cache_dir, [str(p) for p in paths], report)
    if store is None:
        _refuse_too_big(files, cache, paths)
    merge = functools.partial(
        _read_and_merge,
        files,
        report=report,
        lo=lo,
        hi=hi,
        strict=strict,
        max_file_bytes=max_file_bytes,
        workers=workers,
        began=began,
        budget=budget,
        progress=progress,
    )
    key = None
    if store is not None:
        wait_for_cache(store.root)  # a table this process is still writing there
        key = store.key(
            files,
            {
                "sources": [_canonical_source(p) for p in report.sources],
                "start": lo,
                "end": hi,
                "max_file_bytes": max_file_bytes,
                "missing": [(_canonical_source(p), r) for p, r in missing],
            },
        )
        hit = _cache_hit(store, key, report, strict, began, files)
        if hit is not None:
            return hit
        # one writer per cache folder: a second process loading the same data waits here, then
        # finds the table the first one wrote (and never prunes the parts the first one reads)
        with store.locked():
            hit = _cache_hit(store, key, report, strict, began, files)
            if hit is not None:
                return hit
            return merge(store, key)
    return merge(None, None)


#: Reading this many bytes (on disk) or more shows a progress bar (~0.7M gzipped events).
_BAR_BYTES = 128 * 1024 * 1024
#: A walk that finds this many files starts the worker processes before examining them.
_PRESTART_FILES = 1000


def _prestart(
    workers: int | None, cache: bool, cache_dir: str | os.PathLike[str] | None, paths: Any
) -> Any:
    """``on_listed`` for :func:`discover`: start the worker processes while the files are
    examined, when there are many and no cache is likely to hold them (re-opening from a cache
    needs no workers)."""
    if workers == 1:
        return None
    if cache and (_cache_root(cache_dir, [str(p) for p in paths]) / "index.json").exists():
        return None

    def on_listed(n: int) -> None:
        if n >= _PRESTART_FILES:
            start_workers(workers)

    return on_listed


def _cache_hit(
    store: Cache,
    key: str,
    report: LoadReport,
    strict: bool,
    began: float,
    files: list[FileRef] | None = None,
) -> Trail | None:
    """The stored table for this exact set of files and options, if the cache holds it."""
    hit = store.merged(key)
    if hit is None:
        _note_damaged(store, report)
        return None
    path, stored = hit
    cached = LoadReport.from_dict(stored)
    cached.notes = [n for n in cached.notes if not n.startswith("cache table ")]  # that load's
    _note_damaged(store, cached)
    _refresh_remote(cached, report)
    cached.files_from_cache = cached.files_read
    cached.seconds = time.perf_counter() - began
    if strict and (cached.files_failed or cached.records_skipped):
        _raise_strict(cached)
    plain = _scan(path)
    scan = _respelled(plain, store.spelled(key), report.sources, files or [])
    keys = store.key_index(key)
    segments = (
        Segments(tuple(str(p) for p in path), str(keys))
        if keys is not None and scan is plain
        else None
    )  # respelled: scan them all
    return Trail(scan, cached, originals=_from_here(), segments=segments)


def _scan(paths: list[Path]) -> pl.LazyFrame:
    """A lazy scan of a merged table: one file, or its time-sorted segments in order."""
    return pl.scan_parquet(paths[0] if len(paths) == 1 else paths)


def _canonical_source(path: str) -> str:
    return path if path.startswith("s3://") else os.path.abspath(path)


def _note_damaged(store: Cache, report: LoadReport) -> None:
    """Say in the report which cache tables were damaged and dropped (their files re-read)."""
    for what in store.damaged:
        note = f"cache table {what} was damaged: dropped, its files read again from the trail"
        if note not in report.notes:
            report.notes.append(note)


def _respelled(
    scan: pl.LazyFrame, spelled: dict[str, Any] | None, sources: list[str], files: list[FileRef]
) -> pl.LazyFrame:
    """A merged table written by a load that spelled the paths otherwise (``data`` then
    ``/abs/data``, or another working folder): its ``source_file`` values as this load spells
    them, so that the rows name the files the way the caller does."""
    if not spelled or (spelled.get("sources") == sources and spelled.get("cwd") == os.getcwd()):
        return scan
    base = spelled.get("cwd") or os.getcwd()
    now = {os.path.abspath(ref.path): ref.path for ref in files}
    old = scan.select(pl.col("source_file").cast(pl.String).unique()).collect().to_series()
    mapping = {}
    for value in old.drop_nulls().to_list():
        new = now.get(os.path.normpath(os.path.join(base, value)))
        if new is not None and new != value:
            mapping[value] = new
    if not mapping:
        return scan
    return scan.with_columns(
        pl.col("source_file").cast(pl.String).replace(mapping).cast(EVENTS_SCHEMA["source_file"])
    )


def _read_and_merge(
    files: list[FileRef],
    store: Cache | None,
    key: str | None,
    report: LoadReport,
    lo: datetime | None,
    hi: datetime | None,
    *,
    strict: bool,
    max_file_bytes: int,
    workers: int | None,
    began: float,
    budget: int = _stream.DEFAULT_BUDGET,
    progress: bool | None = None,
    plan: _stream.MergePlan | None = None,
) -> Trail:
    """Read what the cache does not hold (everything, without a cache), then build the table:
    in memory, or (a table bigger than ``budget``, with a cache) from the cache parts one time
    bucket at a time (:mod:`forensics.ingest._stream`)."""
    stream = store is not None and _stream.estimate_table_bytes(files) > budget
    if stream and plan is None:
        plan = _stream.MergePlan.for_budget(budget)
    outcomes: list[FilePart] = []
    part_files: dict[str, list[str]] = {}  # Parquet part -> the files whose rows it serves
    spelled_as: dict[str, str] = {}  # file -> its path in a cached part's rows
    to_read: list[FileRef] = []
    for ref in files:
        entry = store.lookup(ref) if store is not None else None
        if entry is None:
            to_read.append(ref)
            continue
        outcome = {**entry["outcome"], "path": ref.path}  # as this load spells it
        outcomes.append(FilePart(**{**outcome, "skipped": Counter(outcome["skipped"])}))
        report.files_from_cache += 1
        if entry.get("part"):
            part = str(store.root / entry["part"])  # type: ignore[union-attr]
            part_files.setdefault(part, []).append(ref.path)
            spelled_as[ref.path] = entry.get("as", ref.path)
    if store is not None:
        _note_damaged(store, report)  # parts found damaged: their files are in to_read
    results = read_files(
        to_read,
        max_file_bytes=max_file_bytes,
        workers=workers,
        part_path=(lambda _i: store.new_part_path()) if store is not None else None,
        keep_frames=not stream,
        max_chunk_bytes=_chunk_cap(budget) if stream else None,
        sort_parts=stream,
        progress=progress
        if progress is not None or stream or sum(r.size for r in to_read) >= _BAR_BYTES
        else False,
    )
    by_path = {ref.path: ref for ref in to_read}
    frames: list[pl.DataFrame] = []
    for result in results:
        report.worker_peak_rss_mb = max(report.worker_peak_rss_mb, result.peak_rss_mb)
        parts = result.file_parts()
        outcomes.extend(parts)
        if result.frame is not None and result.frame.height and not stream:
            frames.append(result.frame)  # rows in memory (this process read them): no re-read
        elif result.parquet and result.rows:
            part_files[result.parquet] = [p.path for p in parts]
        result.frame = None  # the frames list holds the only reference (memory peak)
        if store is not None:
            for part in parts:
                store.record(by_path[part.path], part, result.parquet)

    if stream:
        return _merge_streaming(
            files,
            part_files,
            spelled_as,
            store,
            key,
            report,
            outcomes,
            lo,
            hi,
            strict=strict,
            began=began,
            plan=plan,
            progress=progress,
        )
    if part_files:
        # rows that only a cache part holds (read by a worker, or in an earlier load); a part
        # may also hold rows of files that changed since: take only its current files
        frames.extend(
            _part_rows(
                part_files,
                spelled_as,
                files,
                store,
                report,
                outcomes,
                max_file_bytes=max_file_bytes,
                workers=workers,
            )
        )
    _add_outcomes(outcomes, report, strict)

    if frames:
        frame = pl.concat(
            [f.cast(dict(EVENTS_SCHEMA)) for f in frames], how="vertical", rechunk=False
        )
        frames.clear()
    else:
        frame = empty_events()
    # any repeated eventID? (hashes: 10x cheaper than is_duplicated(); a hash collision only
    # sends the table through the exact check below, which compares the ids themselves)
    ids = frame.get_column("event_id")
    if frame.height and ids.hash().n_unique() < ids.len():
        frame = _dedupe(frame, report)
    del ids
    report.unparsed_event_time = frame.get_column("event_time").null_count()
    keep = in_window(lo, hi)
    if keep is not None:
        before = frame.height
        frame = frame.filter(keep)
        report.outside_window = before - frame.height
    frame = link_identities(frame)  # attribution that needs other files' records (identity)
    order = sort_order(frame)
    if order is not None:
        columns = dict(zip(frame.columns, frame.get_columns(), strict=True))
        del frame  # the columns dict holds the only reference: each is freed once copied
        frame = reorder(columns, order)
    report.records_loaded = frame.height
    if frame.height:
        report.time_min = frame.get_column("event_time").min()  # type: ignore[assignment]
        report.time_max = frame.get_column("event_time").max()  # type: ignore[assignment]
    report.seconds = time.perf_counter() - began
    if store is not None and key is not None:
        try:
            store.prune_parts()
            store.save()  # the files' outcomes; the merged table is named once it is written
        except OSError as exc:
            report.notes.append(f"could not write the cache in {store.root}: {exc}")
        else:
            _write_merged_in_background(
                store, key, frame, report.to_dict(), {"sources": report.sources, "cwd": os.getcwd()}
            )
    return Trail(frame, report, originals=_from_here())


#: Merged tables still being written, by cache folder (see _write_merged_in_background).
_PENDING: dict[str, threading.Thread] = {}


def wait_for_cache(root: str | os.PathLike[str] | None = None) -> None:
    """Wait until the merged tables this process is still writing are written (all of them,
    or those of the cache folder ``root``). A load waits for its own folder by itself."""
    for folder, thread in list(_PENDING.items()):
        if root is None or folder == str(Path(root).absolute()):
            thread.join()
            _PENDING.pop(folder, None)


def _write_merged_in_background(
    store: Cache,
    key: str,
    frame: pl.DataFrame,
    report: dict[str, Any],
    spelled: dict[str, Any] | None = None,
) -> None:
    """Write the finished table to the cache in a thread: the caller has its trail a second
    sooner (encoding 1M rows takes about that long). The thread is not a daemon, so a script
    that ends at once still completes the table; until it is named in the index, other
    processes build the table from the parts instead, and a failed write only costs that."""

    def finish() -> None:
        path = store.merged_path(key)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            # lz4: re-opening (the common case) decompresses 1.6x faster than zstd, for 1.6x
            # the bytes
            frame.write_parquet(tmp, compression="lz4", statistics=True)
            os.replace(tmp, path)
            with store.locked():
                store.add_merged(key, report, spelled)
                store.prune_merged()
                store.save()
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    thread = threading.Thread(target=finish, name="forensics-cache-write", daemon=False)
    _PENDING[str(store.root)] = thread
    thread.start()


def _add_outcomes(outcomes: list[FilePart], report: LoadReport, strict: bool) -> None:
    """Every file's outcome into the report (in path order); ``strict`` raises on the first
    file that failed or lost records."""
    for part in sorted(outcomes, key=lambda p: p.path):
        if strict and part.failure is not None:
            raise CorruptFileError(part.path, part.failure)
        if strict and part.skipped:
            reason, count = part.skipped.most_common(1)[0]
            raise LoadError(f"{part.path}: {count:,} record(s) skipped: {reason}")
        report.add_file(part)


def _chunk_cap(budget: int) -> int:
    """Bytes on disk per chunk of files when streaming: a chunk's rows are held whole by the
    process reading it (the parent reads chunks too), so a chunk's table stays a small share
    of the budget (gzipped files expand ~10x)."""
    return max(64 * 1024, budget // 60)


def _refuse_too_big(files: list[FileRef], cache: bool, paths: Any) -> None:
    """Without a cache the whole table is held in memory: refuse, before reading, a trail that
    would not fit the memory free now (it would swap, or the kernel would kill the process)."""
    need = _stream.estimate_table_bytes(files)
    free = _stream.available_memory()
    if free is None or need <= free * 0.8:
        return
    folder = _cache_root(None, [str(p) for p in paths])
    why = (
        "cache=False holds the whole table in memory"
        if not cache
        else ("the cache folder cannot be written, so the whole table would be held in memory")
    )
    raise LoadError(
        f"this trail is too big to load without a cache: about {need / 1024**3:.1f} GB of table "
        f"for {free / 1024**3:.1f} GB of memory free ({why}); load it with a cache folder, e.g. "
        f"fx.load(..., cache_dir={str(folder)!r}) (any writable folder with a few GB free): "
        "the table is then merged one time bucket at a time in bounded memory"
    )


def _merge_streaming(
    files: list[FileRef],
    part_files: dict[str, list[str]],
    spelled_as: dict[str, str],
    store: Cache,
    key: str,
    report: LoadReport,
    outcomes: list[FilePart],
    lo: datetime | None,
    hi: datetime | None,
    *,
    strict: bool,
    began: float,
    plan: _stream.MergePlan,
    progress: bool | None,
) -> Trail:
    """The merged table built from the parts in bounded memory, then a lazy scan of it."""
    # the parts were checked when their files were looked up (a damaged one is read again)
    scans = [_part_scan(part, paths, spelled_as) for part, paths in sorted(part_files.items())]
    _note_damaged(store, report)
    _add_outcomes(outcomes, report, strict)
    merging = time.perf_counter()
    stats = _stream.merge_parts(
        scans,
        functools.partial(store.merged_path, key),
        lo=lo,
        hi=hi,
        plan=plan,
        settle=_confirm_duplicates,
        report=report,
        progress=progress,
        link=linker,
    )
    report.unparsed_event_time = stats.unparsed_event_time
    if lo is not None or hi is not None:
        report.outside_window = stats.outside_window
    report.records_loaded = stats.rows
    if stats.rows:
        report.time_min = stats.time_min  # type: ignore[assignment]
        report.time_max = stats.time_max  # type: ignore[assignment]
    report.notes.append(
        f"merged in bounded memory: the table is bigger than the memory budget, so it was "
        f"sorted in {stats.buckets:,} time bucket(s) from the cache parts "
        f"({time.perf_counter() - merging:.1f} s of {time.perf_counter() - began:.1f} s) and the "
        "trail reads it lazily from the cache"
    )
    report.seconds = time.perf_counter() - began
    try:
        store.add_merged(
            key,
            report.to_dict(),
            {"sources": report.sources, "cwd": os.getcwd()},
            segments=stats.segments,
            keys=stats.keys,
        )
        store.prune_merged()
        store.prune_parts()
        store.save()
    except OSError as exc:
        report.notes.append(f"could not write the cache in {store.root}: {exc}")
    segments = (
        Segments(tuple(str(p) for p in stats.segments), str(stats.keys))
        if stats.keys is not None
        else None
    )
    return Trail(_scan(stats.segments), report, originals=_from_here(), segments=segments)


def _part_scan(part: str, paths: list[str], spelled_as: dict[str, str]) -> pl.LazyFrame:
    """The rows a cache part holds for these files (a part may also hold rows of files that
    changed since), their ``source_file`` as this load spells the paths."""
    stored = {spelled_as.get(p, p): p for p in paths}
    scan = pl.scan_parquet(part).filter(pl.col("source_file").cast(pl.String).is_in(list(stored)))
    if any(k != v for k, v in stored.items()):
        scan = scan.with_columns(
            pl.col("source_file").cast(pl.String).replace(stored).cast(EVENTS_SCHEMA["source_file"])
        )
    return scan


def _part_rows(
    part_files: dict[str, list[str]],
    spelled_as: dict[str, str],
    files: list[FileRef],
    store: Cache | None,
    report: LoadReport,
    outcomes: list[FilePart],
    *,
    max_file_bytes: int,
    workers: int | None,
) -> list[pl.DataFrame]:
    """The rows the parts hold for these files, renamed to this load's spelling; a part that
    cannot be read (damaged since its checks) is dropped and its files are read again."""
    frames: list[pl.DataFrame] = []
    again: list[str] = []
    for part, paths in sorted(part_files.items()):
        try:
            frame = _part_scan(part, paths, spelled_as).collect()
        except Exception as exc:  # a damaged part: Polars raises its own errors
            if store is not None:
                store.damaged.append(f"{os.path.relpath(part, store.root)} ({type(exc).__name__})")
            again.extend(paths)
            with contextlib.suppress(OSError):  # its files are read again next time too
                os.unlink(part)
            continue
        frames.append(frame)
    if again:
        redo = set(again)
        outcomes[:] = [o for o in outcomes if o.path not in redo]
        report.files_from_cache -= len(redo)
        for result in read_files(
            [r for r in files if r.path in redo], max_file_bytes=max_file_bytes, workers=workers
        ):
            parts = result.file_parts()
            outcomes.extend(parts)
            if result.frame is not None and result.frame.height:
                frames.append(result.frame)
    if store is not None:
        _note_damaged(store, report)
    return frames


def _from_here() -> Any:
    """The reader behind ``trail.original()``: it resolves the relative ``source_file`` paths of
    this load against today's folder, so that it still finds them after a change of folder."""
    return functools.partial(read_originals, resolver=functools.partial(_resolve_from, os.getcwd()))


def _resolve_from(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _raise_strict(report: LoadReport) -> None:
    if report.files_failed:
        failure = report.files_failed[0]
        raise CorruptFileError(failure.path, failure.reason)
    if report.skipped_by_file:
        first = report.skipped_by_file[0]
        raise LoadError(f"{first.path}: {first.count:,} record(s) skipped: {first.detail}")
    reason, count = report.records_skipped.most_common(1)[0]
    raise LoadError(f"{count} record(s) skipped: {reason}")


def _open_cache(
    cache: bool, cache_dir: str | os.PathLike[str] | None, paths: list[str], report: LoadReport
) -> Cache | None:
    """The cache to use, or None (``cache=False``, or a folder we cannot write: noted)."""
    if not cache:
        return None
    root = _cache_root(cache_dir, paths)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        report.notes.append(
            f"no cache: cannot write {root} ({exc.strerror or exc}); pass cache_dir= "
            "(--cache-dir on the command line) to use one"
        )
        return None
    return Cache(root)


def _cache_root(cache_dir: str | os.PathLike[str] | None, paths: list[str]) -> Path:
    """The cache folder of a load: ``cache_dir``, or the default one beside the data.

    Absolute: a lazy trail scans its table long after, maybe from another folder.
    """
    return (Path(cache_dir) if cache_dir is not None else default_cache_root(paths)).absolute()
