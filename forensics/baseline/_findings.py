"""The findings table: one row per finding, the shape every producer of findings shares.

Baselines (Insights, first-seen) and the Sigma detections (``forensics.detect``) emit rows of
exactly :data:`FINDINGS_SCHEMA`, so the two can be concatenated, filtered and charted as one.

>>> from forensics.baseline._findings import FINDINGS_SCHEMA, empty_findings
>>> empty_findings().columns[:3]
['rule_id', 'title', 'level']
"""

from __future__ import annotations

import polars as pl

from forensics._schema import TIME_DTYPE

__all__ = ["FINDINGS_SCHEMA", "LEVELS", "conform_findings", "empty_findings", "level_rank"]

#: Levels, lowest first (Sigma's vocabulary).
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

#: column -> dtype, in table order. ``details`` is a JSON object as text.
FINDINGS_SCHEMA: pl.Schema = pl.Schema(
    {
        "rule_id": pl.String,
        "title": pl.String,
        "level": pl.String,
        "tags": pl.List(pl.String),
        "event_ids": pl.List(pl.String),
        "time": TIME_DTYPE,
        "end_time": TIME_DTYPE,
        "principal": pl.String,
        "actor": pl.String,
        "access_key_id": pl.String,
        "account_id": pl.String,
        "aws_region": pl.String,
        "details": pl.String,
    }
)


def empty_findings() -> pl.DataFrame:
    """A findings table with no rows.

    >>> empty_findings().height
    0
    """
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


def conform_findings(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Select the findings columns in order, cast; a missing column becomes null.

    >>> conform_findings(pl.DataFrame({"rule_id": ["x"]})).columns == list(FINDINGS_SCHEMA)
    True
    """
    names = set(frame.collect_schema().names())
    return frame.select(
        (pl.col(c) if c in names else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in FINDINGS_SCHEMA.items()
    )


def level_rank(level: pl.Expr) -> pl.Expr:
    """0 (informational) .. 4 (critical); null for an unknown level, to sort and compare levels.

    >>> pl.select(level_rank(pl.lit("high"))).item()
    3
    """
    return level.replace_strict(
        {name: rank for rank, name in enumerate(LEVELS)}, default=None, return_dtype=pl.Int8
    )
