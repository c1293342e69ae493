"""The ticket's findings section: the kit's Sigma rules over the ticket's events.

One row per rule that fired: level, rule, ATT&CK, hits, events, first/last, and the rule's
author (the attribution the Detection Rule License asks for when rules are shared).
"""

from __future__ import annotations

import polars as pl

from forensics.export._summary_md import md_table

__all__ = ["findings_markdown"]


def findings_markdown(events: pl.DataFrame, *, budget: int | None = None) -> str:
    """The ``## Findings`` section (Markdown, every value escaped) for these events.

    ``budget``: the bytes the section may take in a ticket body; the worst rules are kept and
    the rest counted (``fx.detect`` on the same events lists them all).

    >>> from forensics._schema import empty_events
    >>> findings_markdown(empty_events()).splitlines()[0]
    '## Findings'
    """
    from forensics.detect import detect  # a view calling an analysis

    found = detect(events)
    lines = ["## Findings", ""]
    summary = found.summary()
    if summary.height == 0:
        lines += ["No rule of the kit fired on these events (`fx.detect`).", ""]
        return "\n".join(lines) + "\n"
    table = summary.select(
        "level",
        "title",
        pl.col("techniques").cast(pl.List(pl.String)).list.join(", "),
        "hits",
        "events",
        "first",
        "last",
        "rule_author",
    )
    head = [
        f"{len(found):,} hits of {summary.height} of the kit's Sigma rules (`fx.detect`), "
        "worst first:",
        "",
    ]
    columns = ["level", "rule", "ATT&CK", "hits", "events", "first", "last", "author"]
    text = ""
    for rows in (table.height, 10, 5, 3, 1, 0):
        shown = min(rows, table.height)
        body = [md_table(table.head(shown), columns), ""] if shown else []
        if shown < table.height:
            body.append(f"{table.height - shown} more rule(s): `fx.detect` on the same events "
                         "lists them all.")
            body.append("")
        text = "\n".join(lines + head + body) + "\n"
        if budget is None or len(text.encode("utf-8")) <= budget:
            break
    return text
