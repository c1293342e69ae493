"""``summary.md``: the ticket's text, every value from an event escaped."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from forensics.export._escape import md_cell, md_fence, md_text
from forensics.export._facts import INDICATOR_TITLES, PRINCIPAL_COLUMNS, Facts

__all__ = ["SUMMARY_LIMIT", "blast_excerpt", "render_summary", "time_text"]

#: How many events summary.md lists inline at most (all of them are in events.csv).
SUMMARY_EVENT_ROWS = 25
#: The default size of summary.md: a ticket body (the long lists are attachments).
SUMMARY_LIMIT = 4096

# From the fullest to the tightest: the first that fits the limit is written. Each says how
# many rows of each list go inline (``None``: all) and how many bytes of the blast-radius text.
_FULL = {"ind": None, "blast": None, "actions": 25, "events": SUMMARY_EVENT_ROWS, "who": None}
_LEVELS = (
    {"ind": 10, "blast": 1600, "actions": 10, "events": 10, "who": 8, "cell": 120},
    {"ind": 6, "blast": 1100, "actions": 5, "events": 5, "who": 5, "cell": 90},
    {"ind": 5, "blast": 900, "actions": 3, "events": 0, "who": 3, "cell": 70, "times": False},
    {"ind": 4, "blast": 500, "actions": 0, "events": 0, "who": 2, "cell": 60, "times": False},
    {"ind": 3, "blast": 0, "actions": 0, "events": 0, "who": 1, "cell": 50, "times": False},
    {"ind": 2, "blast": 0, "actions": 0, "events": 0, "who": 1, "cell": 40, "times": False},
)


def time_text(value: datetime | None) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM:SS UTC`` (``—`` when unknown)."""
    if value is None:
        return "—"
    return (
        value.strftime("%Y-%m-%d %H:%M:%S UTC")
        if value.microsecond == 0
        else value.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    )


def _cell(value: object, limit: int = 300) -> str:
    if isinstance(value, datetime):
        return time_text(value)
    return md_cell(value, limit=limit)


def md_table(frame: pl.DataFrame, headers: list[str] | None = None, *, limit: int = 300) -> str:
    """A Markdown table of ``frame`` (headers are ours, values escaped, cut at ``limit``)."""
    names = headers or frame.columns
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join(" --- " for _ in names) + "|"]
    lines += ["| " + " | ".join(_cell(v, limit) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def blast_excerpt(text: str, budget: int | None) -> str:
    """A blast-radius account cut to about ``budget`` bytes, what matters most kept.

    Always kept: the ``Activity:`` line, the ``Note:`` lines (the seed's owner also active through other
    credentials) and what was left behind (the "Left behind (created)" block, up to 10 lines);
    then the other lines in order while they fit. What is cut is counted and points to
    ``blast_radius.txt``.

    >>> print(blast_excerpt("a\\nb\\nLeft behind (created):\\n  - user x\\nc\\nNote: y", 45))
    a
    Left behind (created):
      - user x
    Note: y
    ... 2 more lines in blast_radius.txt
    """
    if budget is None:
        return text
    lines = text.splitlines()
    must: set[int] = set()
    block = False
    for i, line in enumerate(lines):
        if line.startswith("Left behind"):
            block, taken = True, 0
            must.add(i)
        elif block and line.startswith("  - ") and taken < 10:
            must.add(i)
            taken += 1
        else:
            block = False
        if line.startswith(("Note:", "Activity:")):
            must.add(i)
    used = sum(len(lines[i].encode()) + 1 for i in must)
    keep = set(must)
    for i, line in enumerate(lines):
        if i in keep:
            continue
        size = len(line.encode()) + 1
        if used + size > budget:
            break
        keep.add(i)
        used += size
    left = len(lines) - len(keep)
    tail = [f"... {left} more lines in blast_radius.txt"] if left > 0 else []
    return "\n".join([line for i, line in enumerate(lines) if i in keep] + tail)


def _window(facts: Facts) -> list[str]:
    lines = [
        f"- Observed: **{time_text(facts.first)}** to **{time_text(facts.last)}**"
        f" ({facts.events.height:,} events)"
    ]
    if facts.since is not None or facts.until is not None:
        lines.append(
            f"- Requested window: {time_text(facts.since) if facts.since else 'start of trail'}"
            f" to {time_text(facts.until) if facts.until else 'end of trail'}"
        )
    return lines


def render_summary(facts: Facts, files: list[str], *, limit: int | None = SUMMARY_LIMIT) -> str:
    """The whole ``summary.md`` text, at most ``limit`` bytes when it can (``None``: no limit).

    The lists are cut to their first rows (most events first) level by level until the text
    fits; everything cut is in the attachments (``indicators.csv``, ``blast_radius.txt``,
    ``events.csv``), which the text names.
    """
    if limit is None:
        return _render(facts, files, _FULL)
    text = ""
    for level in _LEVELS:
        text = _render(facts, files, level)
        if len(text.encode("utf-8")) <= limit:
            break
    return text


def _render(facts: Facts, files: list[str], level: dict) -> str:
    cell = level.get("cell", 300)
    out: list[str] = [f"# {md_text(facts.title)}", ""]
    what = f"Blast radius of {md_text(facts.seed)}" if facts.kind == "blast radius" else "Trail"
    out += [
        "## What",
        "",
        f"- Result: {what} — {facts.events.height:,} CloudTrail events.",
        "- Secrets in request parameters and response elements: "
        + ("**redacted**." if facts.redacted else "**NOT redacted** (`--no-redact`)."),
    ]
    if facts.generated_at is not None:
        out.append(f"- Generated: {time_text(facts.generated_at)}")
    out += ["", "## When", "", *_window(facts), "", "## Filters", ""]
    if facts.kind == "blast radius":
        out.append(f"- blast radius seed = {md_text(facts.seed)}")
        if facts.since is not None:
            out.append(f"- since {time_text(facts.since)}")
        if facts.until is not None:
            out.append(f"- until {time_text(facts.until)}")
    out += [f"- {md_text(f)}" for f in facts.filters]
    if facts.kind != "blast radius" and not facts.filters:
        out.append("- (none: the whole trail)")
    out += ["", "## Who", ""]
    if facts.principals is not None and facts.principals.height:
        who = facts.principals if level["who"] is None else facts.principals.head(level["who"])
        if level.get("times", True):
            out.append(md_table(who, PRINCIPAL_COLUMNS, limit=cell))
        else:
            out.append(md_table(who.select(who.columns[:4]), PRINCIPAL_COLUMNS[:4], limit=cell))
        if who.height < facts.principals.height:
            out.append(
                f"\n... and {facts.principals.height - who.height:,} more principals "
                "(principals in report.html)"
            )
    else:
        out.append("No events.")
    if facts.summary_text and level["blast"] != 0:
        excerpt = blast_excerpt(facts.summary_text, level["blast"])
        out += ["", "## Blast radius", "", md_fence(excerpt)]
    elif facts.summary_text:
        notes = [x for x in facts.summary_text.splitlines() if x.startswith("Note:")]
        out += ["", "## Blast radius", "", *[f"- {md_text(x)}" for x in notes]]
        out.append("- The account of the closure is in blast_radius.txt.")
    if facts.not_logged:
        out += ["", "## Not in the trail (could not have been logged)", ""]
        out += [f"- {md_text(note)}" for note in facts.not_logged]
    out += ["", "## Indicators", ""]
    cut = False
    for kind, table in facts.indicators.items():
        out += [f"### {INDICATOR_TITLES[kind]} ({table.height})", ""]
        if table.height:
            rows = table if level["ind"] is None else table.head(level["ind"])
            about = ["about"] if "about" in rows.columns else []  # enrichment, when asked
            if level.get("times", True):
                headers = ["value", "events", "first seen", "last seen", *about]
                out.append(md_table(rows, headers, limit=cell))
            else:  # first / last seen of each value: indicators.csv
                out.append(md_table(rows.select("value", "events", *about), limit=cell))
            if rows.height < table.height:
                out.append(f"\n... and {table.height - rows.height:,} more")
                cut = True
        else:
            out.append("None.")
        out.append("")
    if cut:
        out += ["All indicators, with their counts: indicators.csv.", ""]
    out += ["## Counts", "", "| what | count |", "| --- | --- |"]
    out += [f"| {name} | {value:,} |" for name, value in facts.counts]
    if facts.actions is not None and facts.actions.height and level["actions"]:
        out += [
            "",
            "### Most frequent API calls",
            "",
            md_table(
                facts.actions.head(level["actions"]),
                ["event source", "event name", "events", "errors", "denied", "first seen"],
                limit=cell,
            ),
        ]
    shown = facts.events.head(level["events"]).select(
        "event_time", "principal_arn", "event_name", "source_ip", "error_code"
    )
    if shown.height or facts.events.height == 0:
        out += [
            "",
            f"## First {shown.height} of {facts.events.height:,} events (all in events.csv)",
            "",
            md_table(shown, ["time", "principal ARN", "event", "source IP", "error"], limit=cell)
            if shown.height
            else "No events.",
        ]
    else:
        out += ["", f"## Events: {facts.events.height:,}, all in events.csv"]
    out += [
        "",
        "## Files",
        "",
        ", ".join(md_text(name) for name in files),
        "",
        "SHA-256 of every file above and of every input log file: `manifest.json`.",
        "",
    ]
    return "\n".join(out)
