"""``Findings``: what the rules found, one row per hit, as a Polars frame.

A detection rule's hit is one event; a correlation's hit is a group of events (``event_ids``
lists them all, ``time``/``last_time`` span them, and the who/where columns are the first
member's). ``actor`` is the events table's ``actor`` column where the table has one, else
``principal``.

>>> import polars as pl
>>> f = Findings(empty_findings())
>>> len(f), f.summary().height
(0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from forensics._schema import (
    FINDINGS_SCHEMA,
    TIME_DTYPE,
    conform_findings,
    empty_findings,
    to_utc,
)
from forensics.detect._rules import LEVELS, RuleProblem, RuleSet

__all__ = ["FINDINGS_SCHEMA", "Findings", "as_findings", "concat_findings", "empty_findings",
           "level_rank"]  # fmt: skip

_CAT = pl.Categorical()


def level_rank(level: str) -> int:
    """Sigma level -> 0 (informational) .. 4 (critical); raises ValueError naming the levels.

    >>> level_rank("high")
    3
    """
    try:
        return LEVELS.index(level.lower())
    except ValueError:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}") from None


_RANK = pl.col("level").replace_strict(
    {lv: i for i, lv in enumerate(LEVELS)}, default=0, return_dtype=pl.Int8
)


@dataclass(frozen=True)
class Findings:
    """Hits of Sigma rules over a trail (``.frame``), and the rules that did not load.

    Filters return new ``Findings``: :meth:`for_principal`, :meth:`between`, :meth:`at_least`.
    """

    frame: pl.DataFrame
    problems: tuple[RuleProblem, ...] = ()
    rules: RuleSet | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = self.frame
        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(
                f"Findings wraps a findings table (a polars DataFrame), not {type(frame).__name__}"
            )
        if frame.schema != FINDINGS_SCHEMA:  # e.g. a baseline table: one shape for all
            frame = conform_findings(frame)
        object.__setattr__(self, "frame", frame)

    def __or__(self, other: Findings | pl.DataFrame | pl.LazyFrame) -> Findings:
        """Both sets of findings in one (``sigma | fx.first_seen(trail)``), in time order."""
        return concat_findings(self, other)

    __ror__ = __or__

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return f"Findings({self.frame.height} hits of {self.frame['rule_id'].n_unique()} rules)"

    def _with(self, frame: pl.DataFrame) -> Findings:
        return Findings(frame, self.problems, self.rules)

    def for_principal(self, who: str) -> Findings:
        """Hits whose principal, actor, access key or session ARN is ``who`` (or ends ``/who``).

        >>> Findings(empty_findings()).for_principal("alice").frame.height
        0
        """
        cols = ("principal", "actor", "access_key_id")
        text = [pl.col(c).cast(pl.String) for c in cols]
        hit = pl.any_horizontal([(t == who) | t.str.ends_with("/" + who) for t in text]).fill_null(
            False
        )
        return self._with(self.frame.filter(hit))

    def between(
        self, start: datetime | date | str | None = None, end: datetime | date | str | None = None
    ) -> Findings:
        """Hits whose time span overlaps ``[start, end)`` (UTC; either may be None).

        >>> Findings(empty_findings()).between("2026-03-04", "2026-03-05").frame.height
        0
        """
        lo, hi = to_utc(start), to_utc(end)
        cond = pl.lit(True)
        if lo is not None:
            cond = cond & (pl.col("last_time") >= lo)
        if hi is not None:
            cond = cond & (pl.col("time") < hi)
        return self._with(self.frame.filter(cond))

    def for_events(self, events: Any) -> Findings:
        """Hits naming at least one of ``events`` (a Trail, a blast radius or an events frame).

        Findings computed once over a whole trail, cut to a principal's events, a blast
        radius's closure or a ticket's (a semi join on the event ids).

        >>> import polars as pl
        >>> f = Findings(pl.DataFrame({"rule_id": ["r"], "event_ids": [["e1", "e2"]]}))
        >>> len(f.for_events(pl.DataFrame({"event_id": ["e2"]}))), len(f.for_events(
        ...     pl.DataFrame({"event_id": ["e3"]})))
        (1, 0)
        """
        if isinstance(events, pl.DataFrame | pl.LazyFrame):
            lazy = events.lazy()
        else:  # a Trail (a lazy plan), or a result holding an events frame
            lazy = getattr(events, "lazy", None)
        if not isinstance(lazy, pl.LazyFrame):
            frame = getattr(events, "events", None)
            if not isinstance(frame, pl.DataFrame):
                raise TypeError(
                    f"for_events() takes a Trail, a blast radius or an events frame, not "
                    f"{type(events).__name__}"
                )
            lazy = frame.lazy()
        hits = (
            self.frame.lazy()
            .select(pl.col("event_ids"))
            .with_row_index("__i")
            .explode("event_ids")
            .join(lazy.select("event_id"), left_on="event_ids", right_on="event_id", how="semi")
            .select(pl.col("__i").unique().sort())
            .collect()
            .to_series()
        )
        return self._with(self.frame[hits])

    def at_least(self, level: str) -> Findings:
        """Hits of rules at ``level`` or above (``informational`` .. ``critical``)."""
        rank = level_rank(level)
        return self._with(self.frame.filter(rank <= _RANK))

    def summary(self) -> pl.DataFrame:
        """One row per rule: level, ATT&CK, hits, events, first/last, principals; worst first."""
        if self.frame.height == 0:
            return pl.DataFrame(
                schema={
                    "rule_id": _CAT,
                    "title": _CAT,
                    "level": _CAT,
                    "tactics": pl.List(_CAT),
                    "techniques": pl.List(_CAT),
                    "hits": pl.UInt32,
                    "events": pl.UInt32,
                    "first": TIME_DTYPE,
                    "last": TIME_DTYPE,
                    "principals": pl.List(pl.String),
                    "rule_author": _CAT,
                }
            )
        return (
            self.frame.group_by("rule_id")
            .agg(
                pl.col("title").first(),
                pl.col("level").first(),
                pl.col("tactics").first(),
                pl.col("techniques").first(),
                pl.len().cast(pl.UInt32).alias("hits"),
                pl.col("event_ids")
                .list.explode(keep_nulls=False, empty_as_null=False)
                .n_unique()
                .cast(pl.UInt32)
                .alias("events"),
                pl.col("time").min().alias("first"),
                pl.col("last_time").max().alias("last"),
                pl.col("principal")
                .cast(pl.String)
                .drop_nulls()
                .unique()
                .sort()
                .alias("principals"),
                pl.col("rule_author").first(),
            )
            .with_columns(_RANK.alias("__rank"))
            .sort(["__rank", "hits", "title"], descending=[True, True, False])
            .drop("__rank")
        )

    def by_principal(self) -> pl.DataFrame:
        """One row per principal: hits, rules, the highest level and when; worst first.

        >>> Findings(empty_findings()).by_principal().height
        0
        """
        return (
            self.frame.with_columns(_RANK.alias("__rank"))
            .group_by(pl.col("principal").cast(pl.String))
            .agg(
                pl.len().cast(pl.UInt32).alias("findings"),
                pl.col("rule_id").n_unique().cast(pl.UInt32).alias("rules"),
                pl.col("__rank").max().alias("__rank"),
                pl.col("time").min().alias("first"),
                pl.col("last_time").max().alias("last"),
            )
            .with_columns(
                pl.col("__rank")
                .replace_strict(dict(enumerate(LEVELS)), return_dtype=pl.String)
                .alias("highest_level")
            )
            .sort(["__rank", "findings"], descending=True)
            .drop("__rank")
        )

    def event_ids(self) -> list[str]:
        """Every event id any hit names, each once, in time order of the hits."""
        return (
            self.frame.sort("time")
            .select(
                pl.col("event_ids")
                .list.explode(keep_nulls=False, empty_as_null=False)
                .unique(maintain_order=True)
            )
            .to_series()
            .drop_nulls()
            .to_list()
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def as_findings(value: Any, *, what: str = "findings") -> Findings:
    """``value`` as :class:`Findings`: ``Findings`` as is, a findings table wrapped.

    A findings table is any frame of :data:`FINDINGS_SCHEMA` (or the first baseline shape,
    with ``tags`` / ``end_time``): ``fx.first_seen(trail)``, ``fx.baseline.baseline_findings``,
    ``fx.baseline.insight_findings``.

    >>> len(as_findings(empty_findings()))
    0
    """
    if isinstance(value, Findings):
        return value
    if isinstance(value, pl.DataFrame | pl.LazyFrame):
        return Findings(value)
    raise TypeError(
        f"{what}= takes the Findings of fx.detect(trail) or a findings table "
        f"(fx.first_seen(trail), fx.baseline.baseline_findings(trail)), "
        f"not {type(value).__name__}"
    )


def concat_findings(*parts: Findings | pl.DataFrame | pl.LazyFrame) -> Findings:
    """One :class:`Findings` from several (Sigma hits, Insights, first-seen pairs...).

    Rows are in time order, the worst level first at equal times; the rule problems and rule
    sets of the parts are kept. ``a | b`` is ``concat_findings(a, b)``.

    >>> len(concat_findings(Findings(empty_findings()), empty_findings()))
    0
    """
    found = [as_findings(p) for p in parts]
    if not found:
        return Findings(empty_findings())
    frame = pl.concat([f.frame for f in found], how="vertical")
    if frame.height:
        frame = (
            frame.with_columns(_RANK.alias("__rank"))
            .sort(["time", "__rank", "rule_id"], descending=[False, True, False],
                  nulls_last=True, maintain_order=True)
            .drop("__rank")
        )  # fmt: skip
    problems = tuple(dict.fromkeys(p for f in found for p in f.problems))
    rulesets = [f.rules for f in found if f.rules is not None]
    rules = None
    for rs in rulesets:
        rules = rs if rules is None or rules is rs else rules + rs
    return Findings(frame, problems, rules)


def build(
    frame: pl.DataFrame, ruleset: RuleSet, matches: dict[str, pl.Series], min_level: int = 0
) -> pl.DataFrame:
    """The findings frame from each rule's matched rows (detections) or hits (correlations).

    Rules below ``min_level`` (a :func:`level_rank`) are left out before any row is gathered.
    """
    actor = "actor" if "actor" in frame.columns else "principal"
    account = pl.coalesce(pl.col("recipient_account_id"), pl.col("account_id")).alias("account_id")
    details = frame.select(
        pl.col("event_time"),
        pl.col("event_id"),
        pl.col("principal").cast(_CAT),
        pl.col(actor).cast(_CAT).alias("actor"),
        pl.col("access_key_id").cast(_CAT),
        account.cast(_CAT),
        pl.col("aws_region").cast(_CAT),
        pl.col("source_ip").cast(_CAT),
    )
    meta_rows: list[dict[str, Any]] = []
    singles_rule: list[int] = []
    singles_row: list[pl.Series] = []
    multi_rule: list[int] = []
    multi_hits: list[pl.Series] = []
    for i, rule in enumerate(ruleset.rules):
        meta_rows.append(
            {
                "__r": i,
                "rule_id": rule.id,
                "title": rule.title,
                "level": rule.level,
                "tactics": list(rule.tactics),
                "techniques": list(rule.techniques),
                "kind": "correlation" if rule.correlation is not None else "event",
                "rule_source": rule.source,
                "rule_author": rule.author,
            }
        )
        got = matches.get(rule.key)
        if not rule.output or got is None or got.len() == 0 or level_rank(rule.level) < min_level:
            continue
        if rule.correlation is not None:
            multi_rule.append(i)
            multi_hits.append(got)
        else:
            singles_rule.append(i)
            singles_row.append(got.cast(pl.UInt32))
    if not meta_rows:  # no rule loaded
        return empty_findings()
    meta = pl.DataFrame(
        meta_rows,
        schema={
            "__r": pl.Int64,
            "rule_id": pl.String,
            "title": pl.String,
            "level": pl.String,
            "tactics": pl.List(pl.String),
            "techniques": pl.List(pl.String),
            "kind": pl.String,
            "rule_source": pl.String,
            "rule_author": pl.String,
        },
    ).cast({c: FINDINGS_SCHEMA[c] for c in FINDINGS_SCHEMA.names() if c in meta_rows[0]})
    parts = []
    if singles_row:
        rows = pl.concat(singles_row)
        owner = pl.Series("__r", singles_rule, dtype=pl.Int64).gather(
            pl.Series([s.len() for s in singles_row], dtype=pl.Int64)
            .to_frame("n")
            .with_row_index("i")
            .select(pl.col("i").repeat_by("n").explode())
            .to_series()
        )
        ev = details[rows].with_columns(owner)
        parts.append(
            ev.select(
                "__r",
                pl.col("event_time").alias("time"),
                pl.col("event_time").alias("last_time"),
                pl.concat_list([pl.col("event_id")]).alias("event_ids"),
                pl.lit(1, pl.UInt32).alias("event_count"),
                "principal",
                "actor",
                "access_key_id",
                "account_id",
                "aws_region",
                "source_ip",
            )
        )
    if multi_hits:
        hits = pl.DataFrame(
            {
                "__r": pl.Series(
                    [
                        i
                        for i, h in zip(multi_rule, multi_hits, strict=True)
                        for _ in range(h.len())
                    ],
                    dtype=pl.Int64,
                ),
                "__members": pl.concat(multi_hits),
            }
        ).with_row_index("__hit")
        exploded = hits.explode("__members")
        ev = details[exploded["__members"]].with_columns(exploded["__hit"], exploded["__r"])
        parts.append(
            ev.sort(["__hit", "event_time"])
            .group_by("__hit", maintain_order=True)
            .agg(
                pl.col("__r").first(),
                pl.col("event_time").min().alias("time"),
                pl.col("event_time").max().alias("last_time"),
                pl.col("event_id").alias("event_ids"),
                pl.len().cast(pl.UInt32).alias("event_count"),
                *(
                    pl.col(c).drop_nulls().first().alias(c)
                    for c in (
                        "principal",
                        "actor",
                        "access_key_id",
                        "account_id",
                        "aws_region",
                        "source_ip",
                    )
                ),
            )
            .drop("__hit")
        )
    if not parts:
        return empty_findings()
    # order: time, then worst level first; sorting integers before the rule's text is attached
    meta = meta.with_columns(_RANK.alias("__rank"))
    order = (
        meta.select("__r", "__rank", "rule_id")
        .sort(["__rank", "rule_id"], descending=[True, False])
        .with_row_index("__o")
    )
    out = (
        pl.concat(parts)
        .join(order.select("__r", "__o"), on="__r", how="left")
        .sort(["time", "__o"], nulls_last=True)
        .join(meta.drop("__rank"), on="__r", how="left", maintain_order="left")
    )
    out = out.with_columns(pl.lit(None, pl.String).alias("details"))
    return out.select(FINDINGS_SCHEMA.names()).cast(dict(FINDINGS_SCHEMA))
