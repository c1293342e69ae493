"""Findings in the explorer: which events they name, the filter's choices, the table's column.

Built once per explorer: the hits are exploded to (event, hit) pairs restricted to the
explorer's events, so a filter change is a lookup, not a pass over the findings.
"""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["FindingIndex"]

_LEVELS = ("informational", "low", "medium", "high", "critical")
#: At most this many rules are offered in the filter (worst first; the rest by level).
MAX_RULES = 400


class FindingIndex:
    """The findings of an explorer's events, indexed by event id.

    >>> from forensics._schema import empty_events, empty_findings
    >>> FindingIndex(empty_findings(), empty_events()).options()[0]
    ('all events (findings: 0 hits)', '')
    """

    def __init__(self, findings: Any, events: pl.DataFrame) -> None:
        from forensics.detect import as_findings  # a view reading an analysis result

        self.found = as_findings(findings)
        frame = self.found.frame
        rank = (
            pl.col("level")
            .cast(pl.String)
            .replace_strict({lv: i for i, lv in enumerate(_LEVELS)}, default=0,
                            return_dtype=pl.Int8)
        )  # fmt: skip
        self.long = (
            frame.with_row_index("hit")
            .select(
                "hit",
                pl.col("event_ids"),
                pl.col("rule_id").cast(pl.String),
                pl.col("title").cast(pl.String),
                rank.alias("rank"),
            )
            .explode("event_ids")
            .rename({"event_ids": "event_id"})
            .join(events.select("event_id"), on="event_id", how="semi")
        )
        self.rules = (
            self.long.group_by("rule_id", "title")
            .agg(pl.col("rank").max(), pl.col("event_id").n_unique().alias("events"))
            .sort(["rank", "events", "title"], descending=[True, True, False])
        )
        self.per_event = (
            self.long.sort(["rank", "title"], descending=[True, False])
            .group_by("event_id", maintain_order=True)
            .agg(
                pl.col("rank").first(),
                pl.col("title").first(),
                pl.col("title").n_unique().alias("n"),
            )
            .select(
                "event_id",
                pl.format(
                    "{}: {}{}",
                    pl.col("rank").replace_strict(dict(enumerate(_LEVELS)),
                                                  return_dtype=pl.String),
                    "title",
                    pl.when(pl.col("n") > 1).then(pl.format(" (+{})", pl.col("n") - 1))
                    .otherwise(pl.lit("")),
                ).alias("finding"),
                "rank",
            )
        )  # fmt: skip
        self._cache: dict[str, tuple[pl.Series, str]] = {}

    def options(self, events: pl.DataFrame | None = None) -> list[tuple[str, str]]:
        """The filter's choices (label, value): all, any finding, a level or above, a rule.

        Counts are of ``events`` when given (the explorer's rows under its other filters),
        else of all its events; a rule keeps its value (its place in :attr:`rules`) either way.
        """
        long, per_event = self.long, self.per_event
        if events is not None:
            long = long.join(events.select("event_id"), on="event_id", how="semi")
            per_event = per_event.join(events.select("event_id"), on="event_id", how="semi")
        hits = long.get_column("hit").n_unique()
        out = [(f"all events (findings: {hits:,} hits)", "")]
        if self.long.height == 0:
            return out
        out.append((f"any finding ({per_event.height:,} events)", "any"))
        for i in range(len(_LEVELS) - 1, 0, -1):
            n = per_event.filter(pl.col("rank") >= i).height
            if n or events is not None:
                out.append((f"{_LEVELS[i]} or above ({n:,} events)", f"level:{i}"))
        counts = long.group_by("rule_id", "title").agg(pl.col("event_id").n_unique().alias("n"))
        shown = (
            self.rules.head(MAX_RULES)
            .with_row_index("i")
            .join(counts, on=["rule_id", "title"], how="left", maintain_order="left")
        )
        for i, title, rank, n in shown.select("i", "title", "rank", "n").iter_rows():
            out.append((f"{_LEVELS[rank]}: {title} ({n or 0:,})", f"rule:{i}"))
        return out

    def select(self, value: str) -> tuple[pl.Series, str]:
        """The event ids of a filter value, and its description."""
        if value not in self._cache:
            if value == "any":
                ids, label = self.per_event.get_column("event_id"), "any"
            elif value.startswith("level:"):
                rank = int(value[6:])
                rows = self.per_event.filter(pl.col("rank") >= rank)
                ids, label = rows.get_column("event_id"), f"{_LEVELS[rank]} or above"
            elif value.startswith("rule:"):
                rule_id, title, _rank, _n = self.rules.row(int(value[5:]))
                rows = self.long.filter((pl.col("rule_id") == rule_id) & (pl.col("title") == title))
                ids, label = rows.get_column("event_id").unique(), f"rule {title}"
            else:
                raise ValueError(f"unknown finding filter {value!r}")
            self._cache[value] = (ids, label)
        return self._cache[value]

    def on(self, events: pl.DataFrame) -> Any:
        """The findings naming one of ``events`` (for the timeline's marks)."""
        hits = (
            self.long.join(events.select("event_id"), on="event_id", how="semi")
            .get_column("hit")
            .unique()
            .sort()
        )
        found = self.found
        return type(found)(found.frame[hits], found.problems, found.rules)

    def label_rows(self, page: pl.DataFrame) -> pl.DataFrame:
        """``page`` with a ``finding`` column: the worst finding of each event (and how many)."""
        if "event_id" not in page.columns:
            return page
        return page.join(
            self.per_event.select("event_id", "finding"),
            on="event_id",
            how="left",
            maintain_order="left",
        )
