"""The ticket's findings section: what the rules found in the ticket's events.

One row per rule that fired: level, rule, ATT&CK, hits, events, first/last, and the rule's
author and rule set (the attribution the Detection Rule License asks for when rules are
shared). ``summary.md`` and ``report.html`` show the same rows (:func:`findings_rows`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.export._summary_md import md_table

__all__ = ["FINDINGS_HEADERS", "findings_markdown", "findings_rows", "ticket_findings"]

#: Column titles of the findings section (summary.md shows the first eight).
FINDINGS_HEADERS = [
    "level", "rule", "ATT&CK", "hits", "events", "first", "last", "author", "tactics",
    "rule set", "kind",
]  # fmt: skip


def ticket_findings(findings: Any, events: pl.DataFrame) -> Any:
    """The findings a ticket shows: ``None`` runs the kit's rules over ``events``; given
    ``Findings`` (or a findings table: first-seen, Insights) are cut to the hits naming one of
    ``events``; ``False``: no findings section.

    >>> from forensics._schema import empty_events
    >>> len(ticket_findings(None, empty_events()))
    0
    """
    if findings is False:
        return None
    from forensics.detect import as_findings, detect  # a view calling an analysis

    if findings is None or findings is True:
        return detect(events)
    return as_findings(findings).for_events(events)


def _set_name(source: pl.Expr) -> pl.Expr:
    """A rule's file without the folders it was read from (no local path in a ticket)."""
    return source.cast(pl.String).str.replace(r"^.*[/\\]", "")


def findings_rows(found: Any) -> pl.DataFrame:
    """One row per rule, worst first, in :data:`FINDINGS_HEADERS` order (values unescaped)."""
    summary = found.summary()
    extra = (
        found.frame.group_by(pl.col("rule_id"))
        .agg(pl.col("rule_source").first(), pl.col("kind").first())
        .with_columns(pl.col("rule_id").cast(pl.String))
    )
    return (
        summary.with_columns(pl.col("rule_id").cast(pl.String))
        .join(extra, on="rule_id", how="left", maintain_order="left")
        .select(
            pl.col("level").cast(pl.String),
            pl.col("title").cast(pl.String),
            pl.col("techniques").cast(pl.List(pl.String)).list.join(", "),
            "hits",
            "events",
            "first",
            "last",
            pl.col("rule_author").cast(pl.String),
            pl.col("tactics").cast(pl.List(pl.String)).list.join(", "),
            _set_name(pl.col("rule_source")).alias("rule_set"),
            pl.col("kind").cast(pl.String),
        )
    )


def findings_markdown(
    events: pl.DataFrame,
    *,
    budget: int | None = None,
    findings: Any = None,
    given: bool | None = None,
) -> str:
    """The ``## Findings`` section (Markdown, every value escaped) for these events.

    ``findings``: as :func:`ticket_findings` takes it (default: the kit's rules over
    ``events``), or the ``Findings`` :func:`ticket_findings` chose (``given``: whether the user
    gave them, for the wording). ``budget``: the bytes the section may take in a ticket body; the worst rules
    are kept and the rest counted (``fx.detect`` on the same events lists them all).

    >>> from forensics._schema import empty_events
    >>> findings_markdown(empty_events()).splitlines()[0]
    '## Findings'
    """
    found = findings if _is_findings(findings) else ticket_findings(findings, events)
    if found is None:
        return ""
    if given is None:
        given = findings is not None and findings is not True
    lines = ["## Findings", ""]
    table = findings_rows(found)
    if table.height == 0:
        what = "No finding given names these events." if given else (
            "No rule of the kit fired on these events (`fx.detect`).")  # fmt: skip
        lines += [what, ""]
        return "\n".join(lines) + "\n"
    source = "the findings given" if given else "the kit's Sigma rules (`fx.detect`)"
    head = [
        f"{len(found):,} hits of {table.height} rule(s) from {source}, worst first:",
        "",
    ]
    table = table.select(table.columns[:8])
    text = ""
    for rows in (table.height, 10, 5, 3, 1, 0):
        shown = min(rows, table.height)
        body = [md_table(table.head(shown), FINDINGS_HEADERS[:8]), ""] if shown else []
        if shown < table.height:
            body.append(f"{table.height - shown} more rule(s): all in report.html.")
            body.append("")
        text = "\n".join(lines + head + body) + "\n"
        if budget is None or len(text.encode("utf-8")) <= budget:
            break
    return text


def _is_findings(value: Any) -> bool:
    return hasattr(value, "frame") and hasattr(value, "summary")
