"""Escaped HTML for the widgets: tables of events and original records.

Every value that comes from an event is attacker-controlled (user agents, request parameters,
error messages, even ARNs): it is always passed through :func:`html.escape` before it reaches
an HTML widget.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

import polars as pl

from forensics.safety._redaction import redact_record

__all__ = ["STYLE", "cell_text", "esc", "html_table", "record_html"]

#: CSS for the kit's widgets (scoped to ``fx-`` classes), shown once per widget tree.
STYLE = """<style>
.fx-root { font-size: 13px; }
.fx-root table.fx-grid { border-collapse: collapse; font-size: 12px; width: 100%; }
.fx-root table.fx-grid th { text-align: left; background: #f3f3f3; position: sticky; top: 0; }
.fx-root div.fx-scroll { overflow-x: auto; max-width: 100%; }
.fx-root .fx-tabs div.fx-scroll { max-height: 480px; overflow-y: auto; }
.fx-root table.fx-grid th, .fx-root table.fx-grid td { padding: 2px 6px; border-bottom: 1px solid #e5e5e5;
    vertical-align: top; white-space: nowrap; max-width: 420px; overflow: hidden;
    text-overflow: ellipsis; }
.fx-root table.fx-grid td.fx-err { color: #b00020; }
.fx-root pre.fx-pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px;
    background: #fafafa; border: 1px solid #e5e5e5; padding: 6px; max-height: 420px; overflow: auto; }
.fx-root .fx-event select { font-family: monospace; font-size: 12px; }
.fx-root .fx-status, .fx-root .fx-note { color: #555; }
.fx-root .fx-problem { color: #b00020; }
</style>"""


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too).

    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(cell_text(value), quote=True)


def cell_text(value: Any, limit: int | None = None) -> str:
    """A cell as plain text: times in ISO UTC with ``Z``, lists joined, nulls empty.

    >>> from datetime import datetime, UTC
    >>> cell_text(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    '2024-01-02 03:04:05Z'
    >>> cell_text(["a", "b"])
    'a; b'
    """
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.utcoffset() is not None else "")
    elif isinstance(value, list | tuple):
        text = "; ".join(cell_text(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def html_table(
    frame: pl.DataFrame,
    columns: list[str] | None = None,
    *,
    titles: dict[str, str] | None = None,
    limit: int = 160,
    first_index: int | None = None,
    empty: str = "nothing to show",
) -> str:
    """An escaped HTML table of ``frame`` (class ``fx-grid``); cells are cut at ``limit`` chars.

    ``first_index`` adds a ``#`` column numbering the rows from that value.

    >>> import polars as pl
    >>> "&lt;script&gt;" in html_table(pl.DataFrame({"user_agent": ["<script>"]}))
    True
    """
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    titles = titles or {}
    if frame.height == 0:
        return f'<p class="fx-note">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(titles.get(c, c))}</th>" for c in cols)
    if first_index is not None:
        head = "<th>#</th>" + head
    body = []
    for i, row in enumerate(frame.select(cols).iter_rows()):
        cells = []
        if first_index is not None:
            cells.append(f"<td>{first_index + i}</td>")
        for col, value in zip(cols, row, strict=True):
            full = cell_text(value)
            shown = cell_text(value, limit)
            klass = ' class="fx-err"' if col == "error_code" and value else ""
            tip = f' title="{esc(full)}"' if shown != full else ""
            cells.append(f"<td{klass}{tip}>{html.escape(shown, quote=True)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="fx-scroll"><table class="fx-grid"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


def record_html(record: Any, *, note: str = "", redact: bool = True) -> str:
    """An original CloudTrail record (or several) as escaped, indented JSON in a ``<pre>``.

    Secrets are redacted by the kit's one mechanism (:func:`forensics.safety._redaction.redact_record`)
    unless ``redact=False``.

    >>> "&lt;b&gt;" in record_html({"userAgent": "<b>"})
    True
    """
    if redact:
        record = redact_record(record)
    text = json.dumps(record, indent=2, sort_keys=False, ensure_ascii=False, default=str)
    prefix = f'<p class="fx-note">{esc(note)}</p>' if note else ""
    return prefix + f'<pre class="fx-pre">{html.escape(text, quote=True)}</pre>'
