"""The load report: what was read, what was not (and why), what was de-duplicated.

Nothing is silently lost: every file the loader saw is read, failed (with a reason), or counted
as a digest; every record that is not a row of the events table is counted with its reason.

>>> r = LoadReport(files_seen=2, files_read=1, records_loaded=10)
>>> r.add_failure("a.json.gz", "truncated gzip")
>>> r.to_dict()["files_failed"][0]["reason"]
'truncated gzip'
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FileFailure", "LoadReport"]


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be read (its records are not in the table)."""

    path: str
    reason: str


@dataclass
class LoadReport:
    """Counts and reasons for one :func:`forensics.load` call."""

    sources: list[str] = field(default_factory=list)
    files_seen: int = 0
    files_read: int = 0
    files_from_cache: int = 0
    files_pruned: int = 0
    files_failed: list[FileFailure] = field(default_factory=list)
    digests: int = 0
    records_loaded: int = 0
    records_skipped: Counter[str] = field(default_factory=Counter)
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

    def skip(self, reason: str, count: int = 1) -> None:
        """Record ``count`` records that are not in the table, with why."""
        if count:
            self.records_skipped[reason] += count

    # -- reading --------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when no file failed and no record was skipped."""
        return not self.files_failed and not sum(self.records_skipped.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-serialisable apart from the two datetimes)."""
        out = asdict(self)
        out["records_skipped"] = dict(self.records_skipped)
        out["files_failed"] = [asdict(f) for f in self.files_failed]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadReport:
        """Rebuild a report from :meth:`to_dict` output (e.g. stored next to a cache)."""
        values = dict(data)
        values["files_failed"] = [FileFailure(**f) for f in values.get("files_failed", [])]
        values["records_skipped"] = Counter(values.get("records_skipped", {}))
        for name in ("time_min", "time_max"):
            if isinstance(values.get(name), str):
                values[name] = datetime.fromisoformat(values[name])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})

    def lines(self) -> list[str]:
        """The report as lines of text."""
        rng = (
            f"{self.time_min:%Y-%m-%d %H:%M:%S} UTC .. {self.time_max:%Y-%m-%d %H:%M:%S} UTC"
            if self.time_min and self.time_max
            else "-"
        )
        out = [
            f"files: {self.files_seen:,} seen, {self.files_read:,} read"
            + (f" ({self.files_from_cache:,} from cache)" if self.files_from_cache else "")
            + f", {len(self.files_failed):,} failed, {self.digests:,} digests"
            + (f", {self.files_pruned:,} outside the requested window" if self.files_pruned else ""),
            f"records: {self.records_loaded:,} loaded, "
            f"{sum(self.records_skipped.values()):,} skipped, "
            f"{self.duplicates_dropped:,} duplicates dropped, "
            f"{self.id_collisions:,} eventID collisions kept",
            f"time range: {rng}",
        ]
        if self.missing_event_time or self.unparsed_event_time:
            out.append(
                f"event time: {self.missing_event_time:,} records had no eventTime "
                f"({self.event_time_fallback:,} took it from a fallback field), "
                f"{self.unparsed_event_time:,} have no usable time (kept, event_time is null)"
            )
        if self.outside_window:
            out.append(f"filtered out by start/end: {self.outside_window:,} records")
        for reason, count in sorted(self.records_skipped.items(), key=lambda kv: -kv[1]):
            out.append(f"  skipped {count:,}: {reason}")
        for failure in self.files_failed:
            out.append(f"  FAILED {failure.path}: {failure.reason}")
        if self.id_collision_examples:
            out.append("  eventID collisions, e.g.: " + ", ".join(self.id_collision_examples[:5]))
        out.extend(f"  note: {n}" for n in self.notes)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{html.escape(line.strip())}</li>" for line in self.lines())
        status = "ok" if self.ok else "with problems"
        return f"<div class='fx-load-report'><b>Load report ({status})</b><ul>{rows}</ul></div>"
