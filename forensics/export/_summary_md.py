"""``summary.md``: the ticket's text, every value from an event escaped."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from forensics.export._escape import md_cell, md_fence, md_text
from forensics.export._facts import INDICATOR_TITLES, PRINCIPAL_COLUMNS, Facts

__all__ = ["render_summary", "time_text"]

#: How many events summary.md lists inline (all of them are in events.csv).
SUMMARY_EVENT_ROWS = 25


def time_text(value: datetime | None) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM:SS UTC`` (``—`` when unknown)."""
    if value is None:
        return "—"
    return (
        value.strftime("%Y-%m-%d %H:%M:%S UTC")
        if value.microsecond == 0
        else value.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    )


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return time_text(value)
    return md_cell(value, limit=300)


def md_table(frame: pl.DataFrame, headers: list[str] | None = None) -> str:
    """A Markdown table of ``frame`` (headers are ours, values escaped)."""
    names = headers or frame.columns
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join(" --- " for _ in names) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


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


def render_summary(facts: Facts, files: list[str]) -> str:
    """The whole ``summary.md`` text."""
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
        out.append(
            md_table(
                facts.principals,
                PRINCIPAL_COLUMNS,
            )
        )
    else:
        out.append("No events.")
    if facts.summary_text:
        out += ["", "## Blast radius", "", md_fence(facts.summary_text)]
    if facts.not_logged:
        out += ["", "## Not in the trail (could not have been logged)", ""]
        out += [f"- {md_text(note)}" for note in facts.not_logged]
    out += ["", "## Indicators", ""]
    for kind, table in facts.indicators.items():
        out += [f"### {INDICATOR_TITLES[kind]} ({table.height})", ""]
        if table.height:
            out.append(md_table(table, ["value", "events", "first seen", "last seen"]))
        else:
            out.append("None.")
        out.append("")
    out += ["## Counts", "", "| what | count |", "| --- | --- |"]
    out += [f"| {name} | {value:,} |" for name, value in facts.counts]
    if facts.actions is not None and facts.actions.height:
        out += [
            "",
            "### Most frequent API calls",
            "",
            md_table(
                facts.actions,
                ["event source", "event name", "events", "errors", "denied", "first seen"],
            ),
        ]
    shown = facts.events.head(SUMMARY_EVENT_ROWS).select(
        "event_time", "principal_arn", "event_name", "source_ip", "error_code"
    )
    out += [
        "",
        f"## First {shown.height} of {facts.events.height:,} events (all in events.csv)",
        "",
        md_table(shown, ["time", "principal ARN", "event", "source IP", "error"])
        if shown.height
        else "No events.",
        "",
        "## Files",
        "",
        *[f"- {md_text(name)}" for name in files],
        "",
        "SHA-256 of every file above and of every input log file: `manifest.json`.",
        "",
    ]
    return "\n".join(out)
