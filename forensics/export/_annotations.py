"""Annotations a responder adds to events (a star, tags, a note), kept in a small JSON file.

The file sits beside the notebook (``annotations.json`` in the working directory by default)
so that it travels with the investigation, and :func:`forensics.export.ticket` puts it into
the ticket (``annotations.md``). Only event ids and the responder's own text are stored.

>>> import tempfile, pathlib
>>> notes = Annotations(pathlib.Path(tempfile.mkdtemp()) / "annotations.json")
>>> notes.set("ev-1", starred=True, tags=["exfil"], note="first GetObject")
>>> Annotations(notes.path).get("ev-1")["tags"]
['exfil']
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_FILE", "Annotations"]

#: Where annotations are kept when no path is given: beside the notebook.
DEFAULT_FILE = "annotations.json"


class Annotations:
    """Stars, tags and notes per event id, read from and written to one JSON file.

    The file is only created once something is annotated; it is rewritten whole (through a
    temporary file and a rename) so a crash never leaves half a file.
    """

    def __init__(self, path: str | Path = DEFAULT_FILE) -> None:
        self.path = Path(path)
        self.events: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"cannot read the annotations file {self.path} ({exc}); fix or move it away"
                ) from None
            events = data.get("events", {}) if isinstance(data, dict) else {}
            self.events = {str(k): dict(v) for k, v in events.items() if isinstance(v, dict)}

    def get(self, event_id: str) -> dict[str, Any]:
        """The annotation of ``event_id`` (``starred``, ``tags``, ``note``), empty if none."""
        found = self.events.get(event_id, {})
        return {
            "starred": bool(found.get("starred", False)),
            "tags": list(found.get("tags", [])),
            "note": str(found.get("note", "")),
        }

    def set(
        self,
        event_id: str,
        *,
        starred: bool | None = None,
        tags: list[str] | None = None,
        note: str | None = None,
        **context: Any,
    ) -> None:
        """Change what is given for ``event_id`` and save; ``context`` (time, name...) is kept."""
        current = {**self.events.get(event_id, {}), **self.get(event_id)}
        if starred is not None:
            current["starred"] = bool(starred)
        if tags is not None:
            current["tags"] = sorted({t.strip() for t in tags if t and t.strip()})
        if note is not None:
            current["note"] = note
        current.update({k: v for k, v in context.items() if v is not None})
        current["updated"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if current["starred"] or current["tags"] or current["note"]:
            self.events[event_id] = current
        else:
            self.events.pop(event_id, None)
        self.save()

    def save(self) -> Path:
        """Write the file (atomically) and return its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "events": self.events}, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".annotations-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, self.path)
        return self.path

    def __len__(self) -> int:
        return len(self.events)


def annotations_markdown(path: str | Path | None, events: Any) -> str:
    """The annotations of the ticket's events as a Markdown table ('' when there are none).

    ``events`` is the ticket's events frame: only annotations of events in it are written, so
    a note on another incident never leaks into this ticket. Every cell is escaped.

    >>> import polars as pl
    >>> annotations_markdown(None, pl.DataFrame({"event_id": ["a"]}))
    ''
    """
    if path is None or not Path(path).is_file():
        return ""
    from forensics.export._escape import md_cell

    notes = Annotations(path)
    ids = set(events.get_column("event_id").drop_nulls().to_list()) if events.height else set()
    rows = [(k, v) for k, v in sorted(notes.events.items()) if k in ids]
    if not rows:
        return ""
    times = {
        i: (t, n)
        for i, t, n in events.filter(events.get_column("event_id").is_in(list(dict(rows))))
        .select("event_id", "event_time", "event_name")
        .rows()
    }
    lines = [
        "# Annotations",
        "",
        f"{len(rows)} events annotated by the responder (from `{Path(path).name}`).",
        "",
        "| time (UTC) | event | event id | starred | tags | note |",
        "|---|---|---|---|---|---|",
    ]
    for event_id, a in sorted(rows, key=lambda kv: str(times.get(kv[0], ("", ""))[0])):
        when, name = times.get(event_id, (None, None))
        stamp = when.strftime("%Y-%m-%d %H:%M:%SZ") if when is not None else ""
        lines.append(
            "| "
            + " | ".join(
                md_cell(x)
                for x in (
                    stamp,
                    name or "",
                    event_id,
                    "★" if a.get("starred") else "",
                    ", ".join(a.get("tags", [])),
                    a.get("note", ""),
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
