"""The load report: what was read, what was not (and why), what was de-duplicated.

Nothing is silently lost: every file the loader saw is read, failed (with a reason), pruned by
the requested window, or counted as a digest; every record read is loaded, dropped as an exact
duplicate, or filtered out by ``start``/``end``; everything that was not a record where one was
expected is counted with its reason (``records_skipped``, per file in ``skipped_by_file``).

Readable three ways: ``str(report)`` (text), ``report._repr_html_()`` (a notebook; every value is
escaped, paths and reasons can be hostile), ``report.to_dict()`` (JSON-serialisable data).

>>> r = LoadReport(files_seen=2, files_read=1, records_loaded=10)
>>> r.add_failure("a.json.gz", "truncated gzip")
>>> r.to_dict()["files_failed"][0]["reason"]
'truncated gzip'
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FileCount", "FileFailure", "LoadReport"]

#: How many per-file lines the text and HTML views show before summarising the rest.
SHOW_FILES = 20


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be read (its records are not in the table)."""

    path: str
    reason: str


@dataclass(frozen=True)
class FileCount:
    """Something counted in one file: records skipped for a reason, or found nested."""

    path: str
    count: int
    detail: str


@dataclass
class LoadReport:
    """Counts and reasons for one :func:`forensics.load` call.

    Records: ``records_read`` (found in files) = ``records_loaded`` + ``duplicates_dropped``
    + ``outside_window``. Records found inside unrecognised JSON wrappers are part of
    ``records_read`` and listed per file in ``nested_by_file``.
    """

    sources: list[str] = field(default_factory=list)
    files_seen: int = 0
    files_read: int = 0
    files_from_cache: int = 0
    files_pruned: int = 0
    files_failed: list[FileFailure] = field(default_factory=list)
    files_without_records: int = 0
    digests: int = 0
    records_read: int = 0
    records_loaded: int = 0
    records_skipped: Counter[str] = field(default_factory=Counter)
    skipped_by_file: list[FileCount] = field(default_factory=list)
    records_nested: int = 0
    nested_by_file: list[FileCount] = field(default_factory=list)
    duplicates_dropped: int = 0
    id_collisions: int = 0
    id_collision_examples: list[str] = field(default_factory=list)
    missing_event_time: int = 0
    event_time_fallback: int = 0
    unparsed_event_time: int = 0
    outside_window: int = 0
    notes: list[str] = field(default_factory=list)
    time_min: datetime | None = None
    time_max: datetime | None = None
    seconds: float = 0.0
    worker_peak_rss_mb: float = 0.0

    # -- recording ------------------------------------------------------------------------------
    def add_failure(self, path: str, reason: str) -> None:
        """Record a file that could not be read."""
        self.files_failed.append(FileFailure(str(path), reason))

    def skip(self, reason: str, count: int = 1, path: str | None = None) -> None:
        """Record ``count`` records that are not in the table, with why (and where)."""
        if count:
            self.records_skipped[reason] += count
            if path is not None:
                self.skipped_by_file.append(FileCount(str(path), count, reason))

    def add_file(self, part: Any) -> None:
        """Take in what reading one file produced (a :class:`forensics.ingest._loader.FilePart`)."""
        if part.is_digest:
            self.digests += 1
            return
        if part.failure is not None:
            self.add_failure(part.path, part.failure)
            return
        self.files_read += 1
        for reason, count in part.skipped.items():
            self.skip(reason, count, part.path)
        self.missing_event_time += part.missing_time
        self.event_time_fallback += part.time_fallback
        rows = getattr(part, "records", 0) or (part.frame.height if part.frame is not None else 0)
        self.records_read += rows
        if not rows:
            self.files_without_records += 1
        nested = getattr(part, "nested", 0)
        if nested:
            self.records_nested += nested
            where = getattr(part, "nested_at", None)
            self.nested_by_file.append(
                FileCount(part.path, nested, f"first at {where}" if where else "")
            )
        self.notes.extend(f"{part.path}: {note}" for note in getattr(part, "notes", ()))

    # -- reading --------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when no file failed and no record was skipped."""
        return not self.files_failed and not sum(self.records_skipped.values())

    @property
    def time_range(self) -> str:
        """``"<min> UTC .. <max> UTC"`` of the loaded events, or ``"-"``."""
        if self.time_min is None or self.time_max is None:
            return "-"
        return f"{self.time_min:%Y-%m-%d %H:%M:%S} UTC .. {self.time_max:%Y-%m-%d %H:%M:%S} UTC"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain, JSON-serialisable data (times as ISO 8601 text in UTC)."""
        return {
            "sources": list(self.sources),
            "files_seen": self.files_seen,
            "files_read": self.files_read,
            "files_from_cache": self.files_from_cache,
            "files_pruned": self.files_pruned,
            "files_failed": [{"path": f.path, "reason": f.reason} for f in self.files_failed],
            "files_without_records": self.files_without_records,
            "digests": self.digests,
            "records_read": self.records_read,
            "records_loaded": self.records_loaded,
            "records_skipped": dict(self.records_skipped),
            "skipped_by_file": [
                {"path": s.path, "count": s.count, "reason": s.detail} for s in self.skipped_by_file
            ],
            "records_nested": self.records_nested,
            "nested_by_file": [
                {"path": s.path, "count": s.count, "where": s.detail} for s in self.nested_by_file
            ],
            "duplicates_dropped": self.duplicates_dropped,
            "id_collisions": self.id_collisions,
            "id_collision_examples": list(self.id_collision_examples),
            "missing_event_time": self.missing_event_time,
            "event_time_fallback": self.event_time_fallback,
            "unparsed_event_time": self.unparsed_event_time,
            "outside_window": self.outside_window,
            "notes": list(self.notes),
            "time_min": self.time_min.isoformat() if self.time_min else None,
            "time_max": self.time_max.isoformat() if self.time_max else None,
            "seconds": self.seconds,
            "worker_peak_rss_mb": self.worker_peak_rss_mb,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadReport:
        """Rebuild a report from :meth:`to_dict` output (e.g. stored next to a cache)."""
        values = dict(data)
        values["files_failed"] = [
            FileFailure(f["path"], f["reason"]) for f in values.get("files_failed", [])
        ]
        values["records_skipped"] = Counter(values.get("records_skipped", {}))
        values["skipped_by_file"] = [
            FileCount(f["path"], f["count"], f.get("reason", ""))
            for f in values.get("skipped_by_file", [])
        ]
        values["nested_by_file"] = [
            FileCount(f["path"], f["count"], f.get("where", ""))
            for f in values.get("nested_by_file", [])
        ]
        for name in ("time_min", "time_max"):
            if isinstance(values.get(name), str):
                values[name] = datetime.fromisoformat(values[name])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def _summary_lines(self) -> list[str]:
        skipped = sum(self.records_skipped.values())
        out = [
            f"files: {self.files_seen:,} seen, {self.files_read:,} read"
            + (f" ({self.files_from_cache:,} from cache)" if self.files_from_cache else "")
            + f", {len(self.files_failed):,} failed, {self.digests:,} digests"
            + (f", {self.files_pruned:,} outside the requested window" if self.files_pruned else "")
            + (
                f", {self.files_without_records:,} held no records"
                if self.files_without_records
                else ""
            ),
            f"records: {self.records_loaded:,} loaded, {skipped:,} skipped, "
            f"{self.duplicates_dropped:,} duplicates dropped, "
            f"{self.id_collisions:,} kept despite sharing an eventID (collisions)",
            f"time range: {self.time_range}",
        ]
        if self.missing_event_time or self.unparsed_event_time:
            out.append(
                f"event time: {self.missing_event_time:,} records had no eventTime "
                f"({self.event_time_fallback:,} took it from a fallback field such as "
                f"@timestamp), {self.unparsed_event_time:,} have no usable time (kept, "
                "event_time is null)"
            )
        if self.outside_window:
            out.append(f"filtered out by start/end: {self.outside_window:,} records")
        if self.records_nested:
            out.append(
                f"nested: {self.records_nested:,} records were found inside JSON wrappers that "
                f"are not CloudTrail containers, in {len(self.nested_by_file):,} files"
            )
        return out

    def _detail_lines(self) -> list[tuple[str, str, str]]:
        """(kind, path-or-empty, text) for every per-file and per-reason detail."""
        out: list[tuple[str, str, str]] = []
        for failure in self.files_failed:
            out.append(("FAILED", failure.path, failure.reason))
        for reason, count in sorted(self.records_skipped.items(), key=lambda kv: -kv[1]):
            out.append(("skipped", "", f"{count:,}: {reason}"))
        for s in self.skipped_by_file[:SHOW_FILES]:
            out.append(("skipped in", s.path, f"{s.count:,}: {s.detail}"))
        if len(self.skipped_by_file) > SHOW_FILES:
            out.append(
                (
                    "skipped in",
                    "",
                    f"... and {len(self.skipped_by_file) - SHOW_FILES:,} "
                    "more files (see to_dict())",
                )
            )
        for s in self.nested_by_file[:SHOW_FILES]:
            out.append(
                ("nested", s.path, f"{s.count:,} record{'s' if s.count != 1 else ''}, {s.detail}")
            )
        if len(self.nested_by_file) > SHOW_FILES:
            out.append(
                (
                    "nested",
                    "",
                    f"... and {len(self.nested_by_file) - SHOW_FILES:,} more files (see to_dict())",
                )
            )
        if self.id_collision_examples:
            out.append(
                (
                    "collisions",
                    "",
                    "eventIDs shared by differing records, e.g. "
                    + ", ".join(self.id_collision_examples[:5]),
                )
            )
        out.extend(("note", "", n) for n in self.notes)
        return out

    def lines(self) -> list[str]:
        """The report as lines of text (control characters in paths and reasons, newlines
        included, are shown as ``\\xNN`` escapes: a file name cannot forge a report line)."""
        out = self._summary_lines()
        for kind, path, text in self._detail_lines():
            path, text = _printable(path), _printable(text)
            out.append(f"  {kind} {path}: {text}" if path else f"  {kind}: {text}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        esc = html.escape
        status = "ok" if self.ok else "with problems"
        summary = "".join(f"<li>{esc(line)}</li>" for line in self._summary_lines())
        rows = "".join(
            f"<tr><td>{esc(kind)}</td><td><code>{esc(path)}</code></td><td>{esc(text)}</td></tr>"
            for kind, path, text in self._detail_lines()
        )
        table = (
            "<table><thead><tr><th>what</th><th>file</th><th>detail</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        return (
            f"<div class='fx-load-report'><b>Load report ({esc(status)})</b>"
            f"<ul>{summary}</ul>{table}</div>"
        )
