"""The Parquet cache: the first load writes it, later loads re-read only what changed.

Layout (under ``.forensics-cache/`` next to the data, or the ``cache_dir`` given)::

    index.json              merged tables and their reports (small: read on every open)
    files.json              file -> {size, mtime_ns, part, outcome} (read only on a miss)
    parts/<id>.parquet      rows of a chunk of files, as read (before de-duplication)
    merged/<key>.parquet    the finished events table for one exact set of files + options
    merged/<key>-<n>.parquet  ... or its time-sorted segments, when it was merged in bounded
                            memory (segment n holds a time range; together, the table in order)
    merged/<key>-keys.parquet which segments hold which principals and access keys

A file is identified by its absolute path (however it was spelled), size, modification time,
inode and status-change time: a changed or added file is read again and nothing else is, even
when a rewrite kept size and mtime. Re-opening an unchanged set of files is a lazy scan of one
merged Parquet file. Every table is checked before use (its size and footer, its schema, and
its CRC-32 when its mtime is not the one written): a damaged one is dropped, and the files whose
rows it held are read again (``damaged`` says what was dropped, for the report).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

try:  # POSIX; elsewhere the cache is not shared between processes safely
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from forensics._schema import EVENTS_SCHEMA
from forensics.sources._files import FileRef

__all__ = ["CACHE_DIRNAME", "Cache", "default_cache_root"]

CACHE_DIRNAME = ".forensics-cache"
#: Bump when the table or the way it is built changes: old caches are then ignored.
FORMAT = "3:" + hashlib.sha256(repr(list(EVENTS_SCHEMA.items())).encode()).hexdigest()[:16]
_MAX_MERGED = 4
#: What the cache names its tables: ``merged/<hex>.parquet`` and ``parts/<hex>.parquet``.
#: A table merged in bounded memory is several time-sorted segments, ``<hex>-<n>.parquet``.
_OWNED_NAME = re.compile(r"(?:merged|parts)/[0-9a-f]{16,64}(?:-[0-9]{4,6}|-keys)?\.parquet")
#: A merged table used this recently is never evicted: a notebook may still be scanning it.
_KEEP_RECENT_S = 24 * 3600


def default_cache_root(paths: list[str]) -> Path:
    """``.forensics-cache`` in the first path's folder (the folder itself, for a folder)."""
    first = Path(str(paths[0]))
    if first.is_dir():
        base = first
    else:
        base = first.parent
        while any(ch in str(base) for ch in "*?[") and base != base.parent:
            base = base.parent
    return base / CACHE_DIRNAME


class Cache:
    """One cache folder. Writers take :meth:`locked`, so processes sharing a folder are safe."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index_path = self.root / "index.json"
        self.files_path = self.root / "files.json"
        self.reload()

    def reload(self) -> None:
        """Re-read the index (another process may have saved it since)."""
        self.index: dict[str, Any] = _read_json(self.index_path) or {"merged": {}}
        self._files: dict[str, Any] | None = None  # files.json, read when first needed
        self._parts: dict[str, Any] | None = None  # part -> {size, mtime_ns, crc} (files.json)
        self._relative: dict[str, str] = {}  # part path -> its path in the index
        self._checked: dict[str, str | None] = {}  # part -> why it is damaged (None: sound)
        #: Why tables were dropped during this load (for the report).
        self.damaged: list[str] = getattr(self, "damaged", [])

    @property
    def files(self) -> dict[str, Any]:
        """Per-file outcomes (read from ``files.json`` on first use)."""
        if self._files is None:
            doc = _read_json(self.files_path) or {}
            self._files = doc.get("files", {})
            self._parts = doc.get("parts", {})
        return self._files

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's write lock (blocking) and work on the index as it is now.

        Everything that writes parts, merged tables or the index runs under it: a second
        process loading the same data waits, then finds what the first one wrote, and nobody
        prunes a part that another process is about to read.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                self.reload()
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- keys -----------------------------------------------------------------------------------
    @staticmethod
    def file_entry(ref: FileRef) -> dict[str, Any]:
        return {
            "size": ref.size,
            "mtime_ns": ref.mtime_ns,
            "inode": ref.inode,
            "ctime_ns": ref.ctime_ns,
            "as": ref.path,
        }

    @staticmethod
    def same_file(entry: dict[str, Any], ref: FileRef) -> bool:
        """The stored entry describes the file as it is now."""
        return (
            entry.get("size"),
            entry.get("mtime_ns"),
            entry.get("inode"),
            entry.get("ctime_ns"),
        ) == (ref.size, ref.mtime_ns, ref.inode, ref.ctime_ns)

    def key(self, refs: list[FileRef], options: dict[str, Any]) -> str:
        """A key for the merged table of exactly these files (as they are now) and options;
        the same whatever way the paths were spelled (``data``, ``./data``, ``/abs/data``)."""
        h = hashlib.sha256(FORMAT.encode())
        for path, ref in sorted((canonical(r.path), r) for r in refs):
            h.update(f"{path}\0{ref.size}\0{ref.mtime_ns}\0{ref.inode}\0{ref.ctime_ns}\n".encode())
        h.update(json.dumps(options, sort_keys=True, default=str).encode())
        return h.hexdigest()[:32]

    # -- merged tables --------------------------------------------------------------------------
    def merged(self, key: str) -> tuple[list[Path], dict[str, Any]] | None:
        """The merged table (its files: one, or its segments in time order) and the stored
        report for a key, if present and sound."""
        entry = self.index["merged"].get(key)
        if not entry:
            return None
        names = entry.get("segments") or [entry.get("path")]
        checks = entry.get("checks") or [entry.get("check")]
        paths = [self.owned(name, "merged") for name in names]
        if any(p is None or not p.exists() for p in paths) or len(checks) != len(paths):
            return None
        for path, check in zip(paths, checks, strict=True):
            damaged = table_damage(path, check)  # type: ignore[arg-type]
            if damaged is not None:
                self.damaged.append(f"{entry['path']} ({damaged})")
                del self.index["merged"][key]
                for p in paths:
                    with contextlib.suppress(OSError):
                        p.unlink()  # type: ignore[union-attr]
                return None
        entry["used"] = time.time()
        return paths, entry["report"]  # type: ignore[return-value]

    def key_index(self, key: str) -> Path | None:
        """The key index of a segmented merged table (None: none, or not readable)."""
        entry = self.index["merged"].get(key) or {}
        path = self.owned(entry.get("keys"), "merged")
        return path if path is not None and path.exists() else None

    def spelled(self, key: str) -> dict[str, Any] | None:
        """How the paths of a merged table's rows were spelled when it was written."""
        entry = self.index["merged"].get(key) or {}
        return entry.get("spelled")

    def owned(self, relative: Any, folder: str) -> Path | None:
        """The cache file an index entry names, if it is one this cache writes: a
        ``<folder>/<hex name>.parquet`` that resolves inside the root; None otherwise.

        The index is data on disk (it may have been planted, e.g. by a mirrored bucket): a
        path it names is never followed outside the cache, and never deleted unless owned.
        """
        if not isinstance(relative, str) or not _OWNED_NAME.fullmatch(relative):
            return None
        sub, _, name = relative.partition("/")
        if sub != folder:
            return None
        root = self.root.resolve()
        path = (root / sub / name).resolve()
        return path if path.parent == root / sub else None

    def merged_path(self, key: str, segment: int | None = None) -> Path:
        """Where the merged table of ``key`` is written (or its ``segment``-th segment)."""
        (self.root / "merged").mkdir(parents=True, exist_ok=True)
        suffix = "" if segment is None else "-keys" if segment < 0 else f"-{segment:04d}"
        return self.root / "merged" / f"{key}{suffix}.parquet"

    def add_merged(
        self,
        key: str,
        report: dict[str, Any],
        spelled: dict[str, Any] | None = None,
        segments: list[Path] | None = None,
        keys: Path | None = None,
    ) -> None:
        """Name a written merged table (one file, or its ``segments``) in the index."""
        path = self.root / "merged" / f"{key}.parquet"
        entry: dict[str, Any] = {
            "path": f"merged/{key}.parquet",
            "report": report,
            "used": time.time(),
            "spelled": spelled,
        }
        if segments is None:
            entry["check"] = table_check(path)
        else:
            entry["segments"] = [f"merged/{p.name}" for p in segments]
            entry["checks"] = [table_check(p) for p in segments]
            if keys is not None:
                entry["keys"] = f"merged/{keys.name}"
        self.index["merged"][key] = entry
        # keep the few most recently used merged tables, and any used in the last day
        entries = sorted(self.index["merged"].items(), key=lambda kv: -kv[1].get("used", 0))
        now = time.time()
        for old_key, old in entries[_MAX_MERGED:]:
            if now - old.get("used", 0) < _KEEP_RECENT_S:
                continue
            for name in [*(old.get("segments") or [old.get("path")]), old.get("keys")]:
                owned = self.owned(name, "merged")
                if owned is not None:  # only ever a file this cache wrote, inside its own root
                    with contextlib.suppress(OSError):
                        owned.unlink()
            del self.index["merged"][old_key]

    # -- per-file outcomes ----------------------------------------------------------------------
    def lookup(self, ref: FileRef) -> dict[str, Any] | None:
        """The stored outcome of a file, if it is unchanged and its part still exists."""
        entry = self.files.get(canonical(ref.path))
        if not entry or not self.same_file(entry, ref):
            return None
        part = entry.get("part")
        if part:
            owned = self.owned(part, "parts")
            if owned is None or not owned.exists() or self.part_damage(part) is not None:
                return None
        return entry

    def part_damage(self, part: str) -> str | None:
        """Why a part is damaged (checked once per load), or None."""
        if part not in self._checked:
            owned = self.owned(part, "parts")
            reason = (
                "not a cache file"
                if owned is None
                else table_damage(owned, (self._parts or {}).get(part))
            )
            self._checked[part] = reason
            if reason is not None:
                self.damaged.append(f"{part} ({reason})")
        return self._checked[part]

    def new_part_path(self) -> str:
        (self.root / "parts").mkdir(parents=True, exist_ok=True)
        return str(self.root / "parts" / f"{secrets.token_hex(8)}.parquet")

    def record(self, ref: FileRef, part: Any, parquet: str | None) -> None:
        """Store a file's outcome (a FilePart without its frame) and the part holding its rows."""
        names = _outcome_fields(type(part))
        outcome = {name: getattr(part, name) for name in names}
        outcome["skipped"] = dict(part.skipped)
        outcome["notes"] = list(part.notes)
        if parquet and parquet not in self._relative:  # a few parts serve thousands of files
            self._relative[parquet] = os.path.relpath(parquet, self.root)
            if self._parts is None:
                self._parts = {}
            self._parts[self._relative[parquet]] = table_check(Path(parquet))
        self.files[canonical(ref.path)] = {
            **self.file_entry(ref),
            "part": self._relative[parquet] if parquet else None,
            "outcome": outcome,
        }

    def prune_merged(self) -> None:
        """Delete merged tables the index no longer names (an older format's, say) once they
        have not been touched for a day (a notebook may still be scanning one)."""
        named = {
            name
            for entry in self.index["merged"].values()
            for name in [entry["path"], *entry.get("segments", []), entry.get("keys")]
        }
        folder = self.root / "merged"
        if folder.is_dir() and not folder.is_symlink():  # never follow a link out of the root
            now = time.time()
            for p in [*folder.glob("*.parquet"), *folder.glob("*.tmp-*")]:  # + interrupted writes
                with contextlib.suppress(OSError):
                    if f"merged/{p.name}" not in named and now - p.stat().st_mtime > _KEEP_RECENT_S:
                        p.unlink()

    def prune_parts(self) -> None:
        """Delete parts no file refers to any more."""
        used = {e.get("part") for e in self.files.values()}
        if self._parts is not None:
            self._parts = {k: v for k, v in self._parts.items() if k in used}
        parts = self.root / "parts"
        if parts.is_dir() and not parts.is_symlink():  # never follow a link out of the root
            for p in parts.glob("*.parquet"):
                if f"parts/{p.name}" not in used:
                    with contextlib.suppress(OSError):
                        p.unlink()

    def save(self) -> None:
        """Write what changed (files.json first: index.json names tables built from it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._files is not None:
            _write_json(
                self.files_path,
                {"format": FORMAT, "files": self._files, "parts": self._parts or {}},
            )
        _write_json(self.index_path, {**self.index, "format": FORMAT})


def canonical(path: str) -> str:
    """A file's path as the cache keys it: absolute and normalised (no file-system calls)."""
    return os.path.abspath(path)


def _crc(path: Path) -> int:
    try:
        from isal import isal_zlib as zmod  # 3x faster than zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        import zlib as zmod  # type: ignore[no-redef]
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            crc = zmod.crc32(chunk, crc)
    return crc


def table_check(path: Path) -> dict[str, int] | None:
    """What :func:`table_damage` compares a table with later: size, mtime, CRC-32."""
    try:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "crc": _crc(path)}
    except OSError:
        return None


def table_damage(path: Path, check: dict[str, int] | None) -> str | None:
    """Why a cache table cannot be used (None when it can): a size other than written, no
    Parquet footer, another schema, or (when its mtime is not the one written) other bytes."""
    import polars as pl

    try:
        st = path.stat()
        if check and st.st_size != check.get("size"):
            return f"{st.st_size:,} bytes, {check.get('size'):,} written"
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(st.st_size - 4, 0))
            tail = fh.read(4)
        if head != b"PAR1" or tail != b"PAR1" or st.st_size < 12:
            return "no Parquet header/footer: truncated or overwritten"
        schema = pl.read_parquet_schema(path)
        wrong = [
            name
            for name, dtype in EVENTS_SCHEMA.items()
            if name not in schema
            or (
                str(schema[name]) != str(dtype)
                and not (name == "source_file" and schema[name] in (pl.String, pl.Categorical))
            )
        ]
        if wrong:
            return f"another schema (columns {', '.join(wrong[:3])} missing or of another type)"
        if check and st.st_mtime_ns != check.get("mtime_ns") and _crc(path) != check.get("crc"):
            return "its bytes changed since it was written (CRC-32)"
    except Exception as exc:  # an unreadable footer: Polars raises its own errors
        return f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    return None


@functools.cache
def _outcome_fields(cls: type) -> tuple[str, ...]:
    """What of a FilePart the index keeps: every field but its rows."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "frame")


def _read_json(path: Path) -> dict[str, Any] | None:
    """A cache file's content, or None when it is missing, unreadable or of another format."""
    try:
        loaded = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) and loaded.get("format") == FORMAT else None


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_bytes(orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS))
    os.replace(tmp, path)
