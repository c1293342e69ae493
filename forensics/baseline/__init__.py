"""Baselines: CloudTrail Insights (read and computed), first-seen findings, ATT&CK tags.

>>> from forensics._schema import empty_events
>>> from forensics.baseline import insights
>>> insights(empty_events()).columns[0]
'insight_id'
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.baseline._attack import ATTACK_SOURCE, attack_tags, tag_events
from forensics.baseline._findings import (
    FINDINGS_SCHEMA,
    LEVELS,
    conform_findings,
    empty_findings,
    level_rank,
)
from forensics.baseline._first_seen import FIRST_SEEN_PAIRS, first_seen, ua_family
from forensics.baseline._insights_compute import (
    InsightSettings,
    _lazy,
    compute_insights,
    rate_series,
)
from forensics.baseline._insights_read import (
    ATTRIBUTIONS_SCHEMA,
    INSIGHTS_SCHEMA,
    insight_attributions,
    read_insights,
    with_insight_names,
)

__all__ = [
    "ATTACK_SOURCE",
    "ATTRIBUTIONS_SCHEMA",
    "FINDINGS_SCHEMA",
    "FIRST_SEEN_PAIRS",
    "INSIGHTS_SCHEMA",
    "LEVELS",
    "InsightSettings",
    "attack_tags",
    "baseline_findings",
    "compute_insights",
    "conform_findings",
    "empty_findings",
    "first_seen",
    "insight_attributions",
    "insight_findings",
    "insights",
    "level_rank",
    "rate_series",
    "read_insights",
    "tag_events",
    "ua_family",
    "with_insight_names",
]


def _with_computed(trail: Any, compute: bool | None, options: dict[str, Any]) -> pl.LazyFrame:
    lf = _lazy(trail)
    if compute is False:
        return lf
    if compute is None and (
        lf.filter(pl.col("event_category") == "Insight")
        .select(pl.len())
        .collect(engine="streaming")
        .item()
        > 0
    ):
        return lf  # the trail has CloudTrail's own Insights: read them, compute nothing
    computed = compute_insights(lf, **options)
    return pl.concat([lf, computed.lazy()], how="vertical_relaxed")


def insights(trail: Any, *, compute: bool | None = None, **options: Any) -> pl.DataFrame:
    """One table of Insights (:data:`INSIGHTS_SCHEMA`): read from the trail, computed, or both.

    ``compute=None`` (default) computes Insights only when the trail holds none of CloudTrail's
    own; ``True`` always adds computed ones (``origin == "computed"``), ``False`` never.
    ``options`` go to :func:`compute_insights` (``baseline="7d"``, ``ratio``, ``min_count``, ...).

    >>> from forensics._schema import empty_events
    >>> insights(empty_events()).height
    0
    """
    return read_insights(_with_computed(trail, compute, options))


def insight_findings(trail: Any, *, compute: bool | None = None, **options: Any) -> pl.DataFrame:
    """Each Insight as a finding (:data:`FINDINGS_SCHEMA`): level ``medium`` for a call-rate
    Insight, ``high`` when the error rate of a denied-access code spikes; tagged by API.

    >>> from forensics._schema import empty_events
    >>> insight_findings(empty_events()).columns == list(FINDINGS_SCHEMA)
    True
    """
    lf = _with_computed(trail, compute, options)
    table = read_insights(lf)
    if table.height == 0:
        return empty_findings()
    from forensics._schema import is_denied

    tags = attack_tags().select("event_name", "tags")
    # the identity that made most of the unusual activity (an assumed-role session is
    # attributed to its role, as the events table's ``principal`` does)
    top = (
        insight_attributions(lf)
        .filter((pl.col("attribute") == "userIdentityArn") & (pl.col("period") == "insight"))
        .sort("state", "average", descending=[False, True])  # End (whole Insight) first
        .group_by("insight_id", maintain_order=True)
        .first()
        .select(
            "insight_id",
            pl.col("value")
            .str.replace(r"^arn:(aws[a-z-]*):sts::(\d+):assumed-role/([^/]+)/.*$",
                         "arn:$1:iam::$2:role/$3")
            .alias("_top"),
        )
    )  # fmt: skip
    table = table.join(top, on="insight_id", how="left", maintain_order="left")
    detail_cols = [
        "insight_id", "origin", "insight_type", "event_source", "event_name", "error_code",
        "baseline_average", "insight_average", "start_insight_average", "insight_duration_min",
        "baseline_duration_min",
    ]  # fmt: skip
    out = table.join(tags, on="event_name", how="left", maintain_order="left").select(
        pl.concat_str(pl.lit("insight."), pl.col("insight_type")).alias("rule_id"),
        pl.format(
            "{} of {} ({}): {} per minute against a baseline of {}",
            pl.when(pl.col("insight_type") == "ApiErrorRateInsight")
            .then(pl.concat_str(pl.lit("error rate "), pl.col("error_code").fill_null("")))
            .otherwise(pl.lit("call rate")),
            pl.col("event_name"),
            pl.col("origin"),
            pl.col("insight_average").round(2),
            pl.col("baseline_average").round(4),
        ).alias("title"),
        pl.when(is_denied(pl.col("error_code")).fill_null(False))
        .then(pl.lit("high"))
        .otherwise(pl.lit("medium"))
        .alias("level"),
        pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.concat_list(pl.col("start_event_id"), pl.col("end_event_id"))
        .list.drop_nulls()
        .alias("event_ids"),
        pl.col("start").alias("time"),
        pl.coalesce("end", "start").alias("end_time"),
        pl.col("_top").alias("principal"),
        pl.col("_top").alias("actor"),
        pl.lit(None, pl.String).alias("access_key_id"),
        "account_id",
        "aws_region",
        pl.struct(detail_cols).struct.json_encode().alias("details"),
        pl.lit("insight").alias("kind"),
        pl.when(pl.col("origin") == "cloudtrail")
        .then(pl.lit("AWS CloudTrail Insights"))
        .otherwise(pl.lit("forensics.baseline (computed Insight)"))
        .alias("rule_source"),
        pl.when(pl.col("origin") == "cloudtrail")
        .then(pl.lit("AWS"))
        .otherwise(pl.lit("trail forensics"))
        .alias("rule_author"),
    )
    return conform_findings(out)


def baseline_findings(
    trail: Any,
    *,
    until: Any = None,
    learning: Any = None,
    pairs: Any = None,
    compute: bool | None = None,
    **insight_options: Any,
) -> pl.DataFrame:
    """Every baseline finding of a trail in one table: Insights and first-seen pairs.

    What ``fx.detect(trail, baselines=True)`` adds to the Sigma findings (the same
    :data:`FINDINGS_SCHEMA`; ``fx.Findings(table)`` wraps this table), sorted by time.
    ``until`` / ``learning`` / ``pairs`` go to :func:`first_seen`, ``compute`` and the other
    options to :func:`insight_findings`.

    >>> from forensics._schema import empty_events
    >>> baseline_findings(empty_events()).height
    0
    """
    parts = [
        insight_findings(trail, compute=compute, **insight_options),
        first_seen(trail, until=until, learning=learning, pairs=pairs),
    ]
    return pl.concat([conform_findings(p) for p in parts]).sort("time", "rule_id", "title")
