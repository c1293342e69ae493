"""The Parquet cache: the first load writes it, later loads re-read only what changed.

Layout (under ``.forensics-cache/`` next to the data, or the ``cache_dir`` given)::

    index.json              file -> {size, mtime_ns, part, outcome}; merged tables and reports
    parts/<id>.parquet      rows of a chunk of files, as read (before de-duplication)
    merged/<key>.parquet    the finished events table for one exact set of files + options

A file is identified by its path as loaded, its size and its modification time: a changed or
added file is read again and nothing else is. Re-opening an unchanged set of files is a lazy
scan of one merged Parquet file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from forensics._schema import EVENTS_SCHEMA
from forensics.sources._files import FileRef

__all__ = ["CACHE_DIRNAME", "Cache", "default_cache_root"]

CACHE_DIRNAME = ".forensics-cache"
#: Bump when the table or the way it is built changes: old caches are then ignored.
FORMAT = "1:" + hashlib.sha256(repr(list(EVENTS_SCHEMA.items())).encode()).hexdigest()[:16]
_MAX_MERGED = 4


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
    """One cache folder. Not safe for two processes writing the same folder at once."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index_path = self.root / "index.json"
        self.index: dict[str, Any] = {"format": FORMAT, "files": {}, "merged": {}}
        if self.index_path.exists():
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(self.index_path.read_text())
                if loaded.get("format") == FORMAT:
                    self.index = loaded

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
        # keep the few most recently used merged tables
        entries = sorted(self.index["merged"].items(), key=lambda kv: -kv[1].get("used", 0))
        for old_key, old in entries[_MAX_MERGED:]:
            with contextlib.suppress(OSError):
                (self.root / old["path"]).unlink()
            del self.index["merged"][old_key]

    # -- per-file outcomes ----------------------------------------------------------------------
    def lookup(self, ref: FileRef) -> dict[str, Any] | None:
        """The stored outcome of a file, if it is unchanged and its part still exists."""
        entry = self.index["files"].get(ref.path)
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
        outcome = asdict(part)
        outcome.pop("frame", None)
        outcome.pop("fast_records", None)
        outcome["skipped"] = dict(part.skipped)
        self.index["files"][ref.path] = {
            **self.file_entry(ref),
            "part": os.path.relpath(parquet, self.root) if parquet else None,
            "outcome": outcome,
        }

    def prune_parts(self) -> None:
        """Delete parts no file refers to any more."""
        used = {e.get("part") for e in self.index["files"].values()}
        parts = self.root / "parts"
        if parts.exists():
            for p in parts.glob("*.parquet"):
                if f"parts/{p.name}" not in used:
                    with contextlib.suppress(OSError):
                        p.unlink()

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.index_path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.index, default=str))
        os.replace(tmp, self.index_path)
