"""The Parquet cache: the first load writes it, later loads re-read only what changed.

Layout (under ``.forensics-cache/`` next to the data, or the ``cache_dir`` given)::

    index.json              merged tables and their reports (small: read on every open)
    files.json              file -> {size, mtime_ns, part, outcome} (read only on a miss)
    parts/<id>.parquet      rows of a chunk of files, as read (before de-duplication)
    merged/<key>.parquet    the finished events table for one exact set of files + options

A file is identified by its path as loaded, its size and its modification time: a changed or
added file is read again and nothing else is. Re-opening an unchanged set of files is a lazy
scan of one merged Parquet file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
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
FORMAT = "2:" + hashlib.sha256(repr(list(EVENTS_SCHEMA.items())).encode()).hexdigest()[:16]
_MAX_MERGED = 4
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
        self._relative: dict[str, str] = {}  # part path -> its path in the index

    @property
    def files(self) -> dict[str, Any]:
        """Per-file outcomes (read from ``files.json`` on first use)."""
        if self._files is None:
            self._files = (_read_json(self.files_path) or {}).get("files", {})
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
        return {"size": ref.size, "mtime_ns": ref.mtime_ns}

    def key(self, refs: list[FileRef], options: dict[str, Any]) -> str:
        """A key for the merged table of exactly these files (as they are now) and options."""
        h = hashlib.sha256(FORMAT.encode())
        for ref in sorted(refs, key=lambda r: r.path):
            h.update(f"{ref.path}\0{ref.size}\0{ref.mtime_ns}\n".encode())
        h.update(json.dumps(options, sort_keys=True, default=str).encode())
        return h.hexdigest()[:32]

    # -- merged tables --------------------------------------------------------------------------
    def merged(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        """The merged table and stored report for a key, if present."""
        entry = self.index["merged"].get(key)
        if not entry:
            return None
        path = self.root / entry["path"]
        if not path.exists():
            return None
        entry["used"] = time.time()
        return path, entry["report"]

    def merged_path(self, key: str) -> Path:
        (self.root / "merged").mkdir(parents=True, exist_ok=True)
        return self.root / "merged" / f"{key}.parquet"

    def add_merged(self, key: str, report: dict[str, Any]) -> None:
        self.index["merged"][key] = {
            "path": f"merged/{key}.parquet",
            "report": report,
            "used": time.time(),
        }
        # keep the few most recently used merged tables, and any used in the last day
        entries = sorted(self.index["merged"].items(), key=lambda kv: -kv[1].get("used", 0))
        now = time.time()
        for old_key, old in entries[_MAX_MERGED:]:
            if now - old.get("used", 0) < _KEEP_RECENT_S:
                continue
            with contextlib.suppress(OSError):
                (self.root / old["path"]).unlink()
            del self.index["merged"][old_key]

    # -- per-file outcomes ----------------------------------------------------------------------
    def lookup(self, ref: FileRef) -> dict[str, Any] | None:
        """The stored outcome of a file, if it is unchanged and its part still exists."""
        entry = self.files.get(ref.path)
        if not entry or entry["size"] != ref.size or entry["mtime_ns"] != ref.mtime_ns:
            return None
        part = entry.get("part")
        if part and not (self.root / part).exists():
            return None
        return entry

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
        self.files[ref.path] = {
            **self.file_entry(ref),
            "part": self._relative[parquet] if parquet else None,
            "outcome": outcome,
        }

    def prune_merged(self) -> None:
        """Delete merged tables the index no longer names (an older format's, say) once they
        have not been touched for a day (a notebook may still be scanning one)."""
        named = {entry["path"] for entry in self.index["merged"].values()}
        folder = self.root / "merged"
        if folder.exists():
            now = time.time()
            for p in [*folder.glob("*.parquet"), *folder.glob("*.tmp-*")]:  # + interrupted writes
                with contextlib.suppress(OSError):
                    if f"merged/{p.name}" not in named and now - p.stat().st_mtime > _KEEP_RECENT_S:
                        p.unlink()

    def prune_parts(self) -> None:
        """Delete parts no file refers to any more."""
        used = {e.get("part") for e in self.files.values()}
        parts = self.root / "parts"
        if parts.exists():
            for p in parts.glob("*.parquet"):
                if f"parts/{p.name}" not in used:
                    with contextlib.suppress(OSError):
                        p.unlink()

    def save(self) -> None:
        """Write what changed (files.json first: index.json names tables built from it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._files is not None:
            _write_json(self.files_path, {"format": FORMAT, "files": self._files})
        _write_json(self.index_path, {**self.index, "format": FORMAT})


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
