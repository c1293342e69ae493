"""``report.html``: one self-contained page that opens offline and runs nothing.

No script, no external reference: charts are SVG embedded as ``data:`` images (an SVG shown
through ``<img>`` cannot run script, whatever text it carries), the style is inline, and a
Content-Security-Policy forbids loading anything else. Every value is HTML-escaped.
"""

from __future__ import annotations

import base64
from datetime import datetime

import polars as pl

from forensics.export._escape import html_text
from forensics.export._facts import INDICATOR_TITLES, PRINCIPAL_COLUMNS, Facts
from forensics.export._findings_md import FINDINGS_HEADERS, findings_rows
from forensics.export._summary_md import time_text

__all__ = ["CSP", "render_html"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

#: Events shown in the page (every event is in events.csv), in collapsed pages of
#: ``HTML_PAGE_ROWS``; side tables and indicator lists show at most ``HTML_TABLE_ROWS`` rows.
HTML_EVENT_ROWS = 1000
HTML_PAGE_ROWS = 100
HTML_TABLE_ROWS = 500
#: Longer cells are cut (the whole value is in the CSV files): no row taller than a few lines.
_CELL_LIMIT = 240
#: Sections with more rows than this start collapsed.
_OPEN_ROWS = 12

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}
h1{font-size:1.6em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
div.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5em 0;font-size:12.5px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;max-width:32em;overflow-wrap:break-word;word-break:normal}
td{max-height:6em}
details>summary{cursor:pointer}details>summary>h2,details>summary>h3{display:inline}
th{background:#f6f8fa;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;padding:.8em;overflow:auto;white-space:pre-wrap}
.note{color:#57606a}.warn{color:#b35900;font-weight:600}
img.chart{max-width:100%;height:auto;border:1px solid #eee;margin:.5em 0}
code{background:#f6f8fa;padding:0 .2em}
"""


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return f"<td>{html_text(time_text(value))}</td>"
    if isinstance(value, bool):
        return f"<td>{'true' if value else 'false'}</td>"
    if isinstance(value, int | float):
        return f'<td class="n">{value:,}</td>'
    if value is None:
        return "<td></td>"
    text = str(value)
    if len(text) > _CELL_LIMIT:
        text = text[:_CELL_LIMIT] + "…"
    return f"<td>{html_text(text)}</td>"


def html_table(frame: pl.DataFrame, headers: list[str] | None = None) -> str:
    """An HTML table of ``frame`` in a sideways-scrolling box; values escaped, cut if long."""
    names = headers or frame.columns
    head = "".join(f"<th>{html_text(n)}</th>" for n in names)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.iter_rows())
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _section(title: str, body: str, rows: int, *, level: str = "h2") -> str:
    """A titled section, collapsed (``<details>``) when it holds more than a screen of rows."""
    head = f"<{level}>{title}</{level}>"
    if rows <= _OPEN_ROWS:
        return head + body
    return f"<details><summary>{head}</summary>{body}</details>"


def _capped(frame: pl.DataFrame, headers: list[str] | None = None, what: str = "") -> str:
    shown = frame.head(HTML_TABLE_ROWS)
    note = (
        f'<p class="note">first {shown.height:,} of {frame.height:,}; all in {html_text(what)}</p>'
        if shown.height < frame.height and what
        else ""
    )
    return html_table(shown, headers) + note


def _svg_img(svg: bytes, alt: str) -> str:
    data = base64.b64encode(svg).decode("ascii")
    return f'<img class="chart" alt="{html_text(alt)}" src="data:image/svg+xml;base64,{data}">'


def _findings_section(found: object, given: bool) -> str:
    """Findings: one row per rule, worst first (the rows summary.md shows, all of them)."""
    table = findings_rows(found)
    source = "the findings given" if given else "the kit's Sigma rules (fx.detect)"
    if table.height == 0:
        text = "No finding given names these events." if given else (
            "No rule of the kit fired on these events (fx.detect).")  # fmt: skip
        return f"<h2>Findings</h2><p>{html_text(text)}</p>"
    note = (
        f'<p class="note">{len(found):,} hits of {table.height:,} rule(s) from '  # type: ignore[arg-type]
        f"{html_text(source)}, worst first; the author and rule set of each rule are its "
        "attribution.</p>"
    )
    return _section(
        f"Findings ({table.height:,} rules)",
        note + _capped(table, FINDINGS_HEADERS, "fx.detect"),
        table.height,
    )


def render_html(
    facts: Facts,
    charts_svg: dict[str, bytes],
    files: list[str],
    inputs: list[dict],
    findings: object = None,
    *,
    findings_given: bool = False,
) -> str:
    """The whole ``report.html`` (with a findings section when ``findings`` are given)."""
    e = html_text
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(facts.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(facts.title)}</h1>",
        "<h2>What</h2><ul>",
        f"<li>Result: {e('Blast radius of ' + str(facts.seed)) if facts.kind == 'blast radius' else 'Trail'}"
        f" — {facts.events.height:,} CloudTrail events.</li>",
        "<li>Secrets in request parameters and response elements: "
        + (
            "<b>redacted</b>.</li>"
            if facts.redacted
            else '<span class="warn">NOT redacted</span>.</li>'
        ),
    ]
    if facts.generated_at is not None:
        parts.append(f"<li>Generated: {e(time_text(facts.generated_at))}</li>")
    parts += [
        "</ul><h2>When</h2><ul>",
        f"<li>Observed: <b>{e(time_text(facts.first))}</b> to <b>{e(time_text(facts.last))}</b></li>",
    ]
    if facts.since is not None or facts.until is not None:
        parts.append(
            f"<li>Requested window: {e(time_text(facts.since) if facts.since else 'start of trail')}"
            f" to {e(time_text(facts.until) if facts.until else 'end of trail')}</li>"
        )
    parts.append("</ul><h2>Filters</h2><ul>")
    if facts.kind == "blast radius":
        parts.append(f"<li>blast radius seed = <code>{e(facts.seed)}</code></li>")
    parts += [f"<li><code>{e(f)}</code></li>" for f in facts.filters]
    if facts.kind != "blast radius" and not facts.filters:
        parts.append("<li>(none: the whole trail)</li>")
    parts.append("</ul>")
    if charts_svg:
        parts.append("<h2>Charts</h2>")
        order = ["timeline", "blast_radius", "actions"]
        names = sorted(charts_svg, key=lambda n: (order.index(n) if n in order else 99, n))
        parts += [_svg_img(charts_svg[name], name) for name in names]
    if facts.principals is not None:
        parts.append(
            _section(
                f"Who ({facts.principals.height:,})",
                _capped(facts.principals, PRINCIPAL_COLUMNS, "events.csv"),
                facts.principals.height,
            )
        )
    if facts.summary_text:
        lines = facts.summary_text.count("\n") + 1
        parts.append(_section("Blast radius", f"<pre>{e(facts.summary_text)}</pre>", lines // 3))
    if facts.not_logged:
        parts += [
            "<h2>Not in the trail (could not have been logged)</h2>",
            "<pre>" + e("\n".join(facts.not_logged)) + "</pre>",
        ]
    if findings is not None:
        parts.append(_findings_section(findings, findings_given))
    parts.append("<h2>Indicators</h2>")
    for kind, table in facts.indicators.items():
        headers = ["value", "events", "first seen", "last seen"]
        if "about" in table.columns:  # enrichment of the source IPs, when asked for
            headers.append("what (enrichment)")
        parts.append(
            _section(
                f"{e(INDICATOR_TITLES[kind])} ({table.height:,})",
                _capped(table, headers, "indicators.csv") if table.height else "<p>None.</p>",
                table.height,
                level="h3",
            )
        )
    parts.append('<h2>Counts</h2><div class="scroll"><table><tbody>')
    parts += [f'<tr><th>{e(n)}</th><td class="n">{v:,}</td></tr>' for n, v in facts.counts]
    parts.append("</tbody></table></div>")
    if facts.actions is not None and facts.actions.height:
        parts += [
            "<h3>Most frequent API calls</h3>",
            html_table(
                facts.actions,
                ["event source", "event name", "events", "errors", "denied", "first seen"],
            ),
        ]
    for name, table in sorted(facts.tables.items()):
        if name == "denied":
            table = table.select(
                "event_time",
                "principal_arn",
                "event_name",
                "error_code",
                "error_message",
                "source_ip",
            )
        parts.append(
            _section(
                f"{e(name.capitalize())} ({table.height:,})",
                _capped(table, None, f"{name}.csv"),
                table.height,
            )
        )
    from forensics.export._events import ticket_frame

    shown = ticket_frame(facts.events.head(HTML_EVENT_ROWS))
    parts.append(
        f"<h2>Events ({shown.height:,} of {facts.events.height:,}; all in events.csv)</h2>"
    )
    for start in range(0, shown.height, HTML_PAGE_ROWS):
        page = shown.slice(start, HTML_PAGE_ROWS)
        first_page = " open" if start == 0 and shown.height <= _OPEN_ROWS else ""
        parts.append(
            f"<details{first_page}><summary>events {start + 1:,}–{start + page.height:,}"
            f"</summary>{html_table(page)}</details>"
        )
    parts += [
        "<h2>Input log files</h2>",
        html_table(
            pl.DataFrame(
                inputs,
                schema={
                    "path": pl.String,
                    "sha256": pl.String,
                    "bytes": pl.Int64,
                    "events": pl.Int64,
                },
            )
            if inputs
            else pl.DataFrame(
                schema={
                    "path": pl.String,
                    "sha256": pl.String,
                    "bytes": pl.Int64,
                    "events": pl.Int64,
                }
            ),
        ),
        "<h2>Files</h2><ul>",
        *[f"<li>{e(name)}</li>" for name in files],
        '</ul><p class="note">SHA-256 of every file: manifest.json.</p>',
        "</body></html>",
        "",
    ]
    return "\n".join(parts)
