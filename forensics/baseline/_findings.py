"""The findings table: one row per finding, the shape every producer of findings shares.

The shape is defined once, in :mod:`forensics._schema` (:data:`FINDINGS_SCHEMA`): baselines
(Insights, first-seen) and the Sigma detections (``forensics.detect``) emit exactly those
columns, so their tables concatenate, filter and chart as one (``fx.Findings(frame)`` wraps a
baseline table; ``sigma | baseline`` joins two ``Findings``).

>>> from forensics.baseline._findings import FINDINGS_SCHEMA, empty_findings
>>> empty_findings().columns[:3]
['rule_id', 'title', 'level']
"""

from __future__ import annotations

import polars as pl

from forensics._schema import FINDING_LEVELS, FINDINGS_SCHEMA, conform_findings, empty_findings

__all__ = ["FINDINGS_SCHEMA", "LEVELS", "conform_findings", "empty_findings", "level_rank"]

#: Levels, lowest first (Sigma's vocabulary).
LEVELS: tuple[str, ...] = FINDING_LEVELS


def level_rank(level: pl.Expr) -> pl.Expr:
    """0 (informational) .. 4 (critical); null for an unknown level, to sort and compare levels.

    >>> pl.select(level_rank(pl.lit("high"))).item()
    3
    """
    return level.cast(pl.String).replace_strict(
        {name: rank for rank, name in enumerate(LEVELS)}, default=None, return_dtype=pl.Int8
    )
