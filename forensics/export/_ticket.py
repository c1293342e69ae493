"""``ticket()``: a folder ready to attach to a ticket, with a manifest of hashes."""

from __future__ import annotations

import hashlib
import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from forensics.export._annotations import DEFAULT_FILE, annotations_markdown
from forensics.export._charts import chart_bytes
from forensics.export._events import ticket_frame, to_csv_bytes
from forensics.export._facts import Facts, _timeline, facts_of, file_digest, indicators_frame
from forensics.export._findings_md import findings_markdown, ticket_findings
from forensics.export._html import render_html
from forensics.export._summary_md import SUMMARY_LIMIT, render_summary

__all__ = ["EmptyResultWarning", "TicketFiles", "empty_reason", "ticket"]

MANIFEST = "manifest.json"
# Every name ticket() may write: a re-run into the same folder removes the ones it no longer
# writes, so the folder never mixes two results.
_KNOWN = (
    "summary.md",
    "report.html",
    "events.csv",
    "credentials.csv",
    "principals.csv",
    "resources.csv",
    "denied.csv",
    "annotations.md",
    "indicators.csv",
    "blast_radius.txt",
    *(
        f"{name}.{ext}"
        for name in ("timeline", "actions", "blast_radius")
        for ext in ("png", "svg")
    ),
    MANIFEST,
)


class TicketFiles(dict):
    """What :func:`ticket` wrote: file name -> path, plus ``.folder`` and ``.manifest``."""

    folder: Path
    manifest: dict[str, Any]

    def __repr__(self) -> str:
        return f"<ticket {str(self.folder)!r}: {', '.join(sorted(self))}>"


def _inputs(events: pl.DataFrame) -> list[dict[str, Any]]:
    """Each input log file the events came from: path, SHA-256, size, events from it."""
    counts = (
        events.select(pl.col("source_file").cast(pl.String))
        .drop_nulls()
        .group_by("source_file")
        .agg(pl.len().alias("events"))
        .sort("source_file")
    )
    out = []
    for path, n in counts.rows():
        entry: dict[str, Any] = {"path": path, "sha256": None, "bytes": None, "events": n}
        try:
            entry["sha256"], entry["bytes"] = file_digest(path)
        except OSError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
        out.append(entry)
    return out


class EmptyResultWarning(UserWarning):
    """A ticket (or an export) of a result that holds no events."""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def empty_reason(
    result: Any,
    trail: Any = None,
    *,
    since: Any = None,
    until: Any = None,
    who: str | None = None,
) -> str:
    """Why a result holds no events, as far as can be told: the window against the trail's
    time range, an inverted window, a principal or filter that matched nothing (filters
    compare exactly: case matters).

    >>> from forensics._schema import empty_events
    >>> from forensics._trail import Trail
    >>> empty_reason(Trail(empty_events()))
    'the trail itself holds no events'
    """
    from forensics._trail import to_utc

    filters = [str(f) for f in (getattr(result, "filters", None) or ())]
    if trail is None and filters:  # a filtered trail: its parent is not known here
        return (
            f"the filters matched no events ({'; '.join(filters)}); filters compare "
            "exactly, case included"
        )
    base = trail if trail is not None else result
    events = getattr(base, "events", None)
    if events is None or len(events) == 0:
        return "the trail itself holds no events"
    lo, hi = to_utc(since), to_utc(until)
    first = events.get_column("event_time").min()
    last = events.get_column("event_time").max()
    span = f"the trail runs from {_when(first)} to {_when(last)}"
    if lo is not None and hi is not None and lo >= hi:
        return f"the window is inverted (since {_when(lo)} is not before until {_when(hi)})"
    if lo is not None and last is not None and lo > last:
        return f"the window starts after the trail's last event ({span})"
    if hi is not None and first is not None and hi <= first:
        return f"the window ends before the trail's first event ({span})"
    what = f"{who!r} matched no events" if who else "the filters matched no events"
    if filters:
        what += f" (filters: {'; '.join(filters)})"
    return what + f"; {span}; filters compare exactly, case included"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _table_csv(name: str, table: pl.DataFrame) -> bytes:
    return to_csv_bytes(ticket_frame(table) if name == "denied" else table)


def ticket(
    result: Any,
    out_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    redact: bool = True,
    png_scale: float = 2.0,
    generated_at: datetime | str | None = None,
    integrity: Any = None,
    annotations: str | os.PathLike[str] | None = DEFAULT_FILE,
    summary_limit: int | None = SUMMARY_LIMIT,
    findings: Any = None,
    enrich: Any = None,
) -> TicketFiles:
    """Write a folder to attach to a ticket: summary, charts, events, report and manifest.

    Parameters
    ----------
    result
        A ``Trail`` (e.g. ``trail.for_principal(...)``, ``.between(...)``, ``.where(...)``) or a
        blast-radius result (``fx.blast_radius(...)``: anything with ``.events`` and callable
        ``.indicators()``, ``.summary()`` and ``.chart()``).
    out_dir
        The folder (created if needed). Files this function wrote there before and does not
        write this time are removed; other files are left alone.
    title
        The ticket's title (default: from the principal or the blast-radius seed).
    redact
        Redact session tokens, secret keys, passwords and other secrets in request parameters
        and response elements (default). ``False`` keeps them as logged.
    png_scale
        Pixel scale of the PNG charts.
    generated_at
        A time to record as "generated" (UTC). Omitted by default so that the same input
        gives the same bytes.
    integrity
        A :func:`forensics.verify` / ``trail.verify()`` result: its verdict and counts go
        into the manifest (``"integrity"``), so the ticket says whether the logs it rests on
        were shown to be whole and unaltered.
    annotations
        The responder's annotations file (stars, tags, notes from the explorer widget;
        default ``annotations.json`` beside the notebook). When it exists, the annotations of
        this ticket's events are written to ``annotations.md``. ``None``: leave them out.
    summary_limit
        Bytes ``summary.md`` may take (default 4 KB: a ticket body); its lists are cut to
        their first rows to fit, and are whole in ``indicators.csv`` / ``blast_radius.txt``.
        ``None``: everything inline.
    findings
        The findings section of ``summary.md`` and ``report.html``: by default the kit's own
        Sigma rules run over the ticket's events; given ``Findings`` (``fx.detect(trail,
        baselines=True, include_community=...)``, ``sigma | fx.first_seen(trail)``) are cut to
        the hits naming one of the ticket's events; ``False`` leaves the section out.
    enrich
        Say what each source IP indicator is (AWS service and region, private/bogon, ASN,
        country): ``True`` (no file needed: private, bogon and service names), a dict of
        ``fx.enrich`` options (``{"ip_ranges": "ip-ranges.json", "mmdb": ["GeoLite2-ASN.mmdb"]}``)
        or a table from ``fx.enrich``. Shown as ``about`` in both reports, every column in
        ``indicators.csv``.

    Returns
    -------
    TicketFiles
        File name -> path of every file written, with ``.folder`` and ``.manifest``.

    The folder holds:

    * ``summary.md``: what, when (observed and requested window), the exact filters, who
      (principals), indicators (source IPs, access keys, ARNs, user agents, regions, each with
      event counts and first/last seen), counts, the most frequent API calls;
    * ``timeline.svg/png`` and ``actions.svg/png`` (plus ``blast_radius.svg/png`` for a blast
      radius): charts, SVG byte-identical between runs;
    * ``events.csv``: the events (ticket columns, formula cells neutralised); for a blast
      radius also ``credentials.csv``, ``principals.csv``, ``resources.csv``, ``denied.csv``;
    * ``report.html``: everything above in one page that opens offline and runs no script;
    * ``manifest.json``: SHA-256 and size of every file above and of every input log file.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> trail = fx.load("data/sample")  # doctest: +SKIP
    >>> fx.export.ticket(trail.for_principal("alice"), "out/INC-123", title="INC-123")  # doctest: +SKIP
    """
    facts: Facts = facts_of(
        result, title=title, redact=redact, generated_at=generated_at, enrich=enrich
    )
    found = ticket_findings(findings, facts.events)  # one set for summary.md and report.html
    given = findings is not None and findings is not True
    if found is not None and len(found) and "timeline" in facts.charts:
        facts.charts["timeline"] = _timeline(facts.events, found)  # findings marked on it
    if facts.events.height == 0:  # written anyway (a record that nothing matched), but said
        warnings.warn(
            f"the ticket holds no events: {empty_reason(result)}", EmptyResultWarning, stacklevel=2
        )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)

    outputs: dict[str, bytes] = {}
    charts_svg: dict[str, bytes] = {}
    for name, chart in facts.charts.items():
        try:
            charts_svg[name] = chart_bytes(chart, "svg")
            png = chart_bytes(chart, "png", scale=png_scale)
        except Exception as exc:  # the renderer gave up (a chart too big): the ticket still
            # gets written, with a picture saying which chart is missing and why
            warnings.warn(
                f"the {name} chart could not be drawn ({type(exc).__name__}); the "
                "ticket has a placeholder instead",
                stacklevel=2,
            )
            placeholder = _not_drawn(name, exc)
            charts_svg[name] = chart_bytes(placeholder, "svg")
            png = chart_bytes(placeholder, "png", scale=png_scale)
        outputs[f"{name}.svg"] = charts_svg[name]
        outputs[f"{name}.png"] = png
    outputs["events.csv"] = to_csv_bytes(ticket_frame(facts.events))
    for name, table in facts.tables.items():
        outputs[f"{name}.csv"] = _table_csv(name, table)

    outputs["indicators.csv"] = to_csv_bytes(indicators_frame(facts))
    if facts.summary_text:
        outputs["blast_radius.txt"] = (facts.summary_text.rstrip("\n") + "\n").encode("utf-8")
    notes = annotations_markdown(annotations, facts.events)
    if notes:
        outputs["annotations.md"] = notes.encode("utf-8")

    inputs = _inputs(facts.events)
    listed = sorted([*outputs, "summary.md", "report.html", MANIFEST])
    # the findings go before the indicators; the rest is cut to fit the limit around them
    section = (
        ""
        if found is None
        else findings_markdown(
            facts.events,
            budget=None if summary_limit is None else summary_limit // 4,
            findings=found,
            given=given,
        )
    )
    limit = None if summary_limit is None else summary_limit - len(section.encode("utf-8"))
    summary = render_summary(facts, listed, limit=limit)
    summary = summary.replace("## Indicators", section + "## Indicators", 1)
    outputs["summary.md"] = summary.encode("utf-8")
    outputs["report.html"] = render_html(
        facts, charts_svg, listed, inputs, found, findings_given=given
    ).encode("utf-8")

    from importlib.metadata import version

    __version__ = version("trail-forensics")

    manifest: dict[str, Any] = {
        "title": facts.title,
        "kind": facts.kind,
        "tool": {"name": "trail-forensics", "version": __version__},
        "redacted": facts.redacted,
        "events": facts.events.height,
        "filters": facts.filters,
        "seed": facts.seed,
        "window": {
            "first_event": facts.first.isoformat() if facts.first else None,
            "last_event": facts.last.isoformat() if facts.last else None,
            "since": facts.since.isoformat() if facts.since else None,
            "until": facts.until.isoformat() if facts.until else None,
        },
        "outputs": [
            {"path": name, "sha256": _sha256(data), "bytes": len(data)}
            for name, data in sorted(outputs.items())
        ],
        "inputs": inputs,
    }
    if facts.generated_at is not None:
        manifest["generated_at"] = facts.generated_at.isoformat()
    if integrity is not None:
        manifest["integrity"] = integrity.to_dict()
    outputs[MANIFEST] = _dump_json(manifest)

    for stale in _KNOWN:
        if stale not in outputs and (folder / stale).is_file():
            (folder / stale).unlink()
    written = TicketFiles()
    for name, data in sorted(outputs.items()):
        path = folder / name
        path.write_bytes(data)
        written[name] = path
    written.folder = folder
    written.manifest = manifest
    return written


def _not_drawn(name: str, exc: BaseException) -> Any:
    """A small chart saying that the chart ``name`` could not be drawn, and why."""
    import altair as alt
    import polars as pl

    from forensics.safety._text import chart_text

    reason = chart_text(f"{type(exc).__name__}: {str(exc)[:120]}")
    return (
        alt.Chart(pl.DataFrame({"line": [f"The {name} chart could not be drawn.", reason]}))
        .mark_text(align="left", baseline="top")
        .encode(text="line:N", y=alt.Y("line:N", axis=None, sort=None))
        .properties(width=640, height=60)
    )
