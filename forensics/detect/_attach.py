"""Findings joined onto a table of principals, actors, keys...: counts and the worst level.

``trail.principals(findings=...)`` and ``trail.actors(findings=...)`` call :func:`with_findings`
(the identity tables are computed below ``detect`` in the layers, so the join happens here).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.detect._findings import Findings, as_findings
from forensics.detect._rules import LEVELS

__all__ = ["FINDING_COLUMNS", "with_findings"]

#: The columns :func:`with_findings` adds, in order.
FINDING_COLUMNS = (
    "findings",
    "high_findings",
    "finding_rules",
    "highest_level",
    "first_finding",
    "last_finding",
)

_KEYS = ("principal", "actor", "access_key_id", "account_id", "source_ip", "aws_region")


def _resolve(findings: Any, trail: Any) -> Findings:
    if findings is True:
        if trail is None:
            raise ValueError("findings=True needs the trail to run fx.detect on; pass Findings")
        from forensics.detect import detect  # the package's function (rules shipped with the kit)

        return detect(trail)
    return as_findings(findings)


def with_findings(
    table: pl.DataFrame,
    findings: Findings | pl.DataFrame | bool,
    *,
    key: str = "principal",
    on: str | None = None,
    trail: Any = None,
) -> pl.DataFrame:
    """``table`` with the findings of each of its rows: counts, rules, the highest level.

    ``key`` is the findings column to count by (``principal``, ``actor``, ``access_key_id``,
    ``account_id``, ``source_ip``, ``aws_region``), ``on`` the column of ``table`` holding the
    same values (default: ``key``). ``findings``: the :class:`Findings` of ``fx.detect`` (or any
    findings table: first-seen, Insights), or ``True`` to run ``fx.detect(trail)`` with the
    kit's rules. Added columns (:data:`FINDING_COLUMNS`): ``findings`` (hits), ``high_findings``
    (hits at high or critical), ``finding_rules`` (distinct rules), ``highest_level`` (null
    where none), ``first_finding`` / ``last_finding`` (UTC). Rows are ordered worst level
    first, then most findings, then as ``table`` was (a stable sort).

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> f = pl.DataFrame({"rule_id": ["r1", "r2"], "level": ["low", "high"],
    ...     "principal": ["bob", "bob"], "time": [datetime(2026, 3, 4, tzinfo=UTC)] * 2})
    >>> t = pl.DataFrame({"principal": ["alice", "bob"]})
    >>> with_findings(t, f).select("principal", "findings", "highest_level").rows()
    [('bob', 2, 'high'), ('alice', 0, None)]
    """
    if key not in _KEYS:
        raise ValueError(f"cannot count findings by {key!r}; choose one of {', '.join(_KEYS)}")
    on = on or key
    if on not in table.columns:
        raise ValueError(f"the table has no column {on!r} to join findings on")
    frame = _resolve(findings, trail).frame
    rank = (
        pl.col("level")
        .cast(pl.String)
        .replace_strict({lv: i for i, lv in enumerate(LEVELS)}, default=0, return_dtype=pl.Int8)
    )
    # two steps: (who, rule, level) on the Categorical columns first (a million hits fold into
    # a few thousand rows), then the level's rank and the per-row sums on those
    per = (
        frame.lazy()
        .group_by(pl.col(key).alias("__k"), "rule_id", "level")
        .agg(
            pl.len().alias("__n"),
            pl.col("time").min().alias("first_finding"),
            pl.col("last_time").max().alias("last_finding"),
        )
        .with_columns(rank.alias("__rank"))
        .group_by("__k")
        .agg(
            pl.col("__n").sum().cast(pl.UInt32).alias("findings"),
            pl.col("__n")
            .filter(pl.col("__rank") >= LEVELS.index("high"))
            .sum()
            .cast(pl.UInt32)
            .alias("high_findings"),
            pl.col("rule_id").n_unique().cast(pl.UInt32).alias("finding_rules"),
            pl.col("__rank").max().alias("__rank"),
            pl.col("first_finding").min(),
            pl.col("last_finding").max(),
        )
        .with_columns(pl.col("__k").cast(pl.String))
        .collect()
    )
    kept = table.drop([c for c in FINDING_COLUMNS if c in table.columns])
    joined = kept.with_columns(pl.col(on).cast(pl.String).alias("__k")).join(
        per, on="__k", how="left", maintain_order="left"
    )
    return (
        joined.with_columns(
            pl.col("findings", "high_findings", "finding_rules").fill_null(0),
            pl.col("__rank")
            .replace_strict(dict(enumerate(LEVELS)), default=None, return_dtype=pl.String)
            .alias("highest_level"),
        )
        .sort(
            [pl.col("__rank").fill_null(-1), "findings"],
            descending=True,
            maintain_order=True,
        )
        .drop("__k", "__rank")
        .select(*kept.columns, *FINDING_COLUMNS)
    )
