"""Findings marked on the events timeline, and what a timeline's source IPs are.

:func:`finding_marks_data` aggregates findings per time bin of a timeline (one mark per bin, in
the colour of its worst level); :func:`ip_about` is the enrichment text a tooltip shows for an
address. Both work on the lazy plan and return a few hundred rows at most.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.charts._common import iso_utc

__all__ = ["LEVELS", "LEVEL_COLOURS", "finding_marks_data", "ip_about"]

LEVELS = ["informational", "low", "medium", "high", "critical"]
#: One colour per level, lowest first (the findings chart uses the same).
LEVEL_COLOURS = ["#9e9e9e", "#4c78a8", "#f2a900", "#e4572e", "#7b0000"]

#: Enrichment columns (``fx.enrich`` / ``add_ip_columns``) a tooltip shows, with their titles.
ENRICH_TOOLTIP = {
    "ip_kind": "IP kind",
    "aws_services": "AWS service",
    "aws_ip_region": "AWS region of the IP",
    "asn": "ASN",
    "as_org": "AS organisation",
    "country_code": "country",
    "city": "city",
}

_SCHEMA = {
    "bucket": pl.String, "level": pl.String, "hits": pl.UInt32, "rules": pl.String,
    "by_level": pl.String, "source_ips": pl.String,
}  # fmt: skip


def ip_about(ips: pl.Series, enrich: Any) -> pl.DataFrame:
    """``source_ip`` and ``about`` for each address, from an enrichment spec (``True``,
    ``fx.enrich`` options, a path of ``ip-ranges.json``, or an ``fx.enrich`` table).

    >>> ip_about(pl.Series(["10.0.0.1"]), True).rows()
    [('10.0.0.1', 'private')]
    """
    from forensics.enrichment import describe_ips, enrichment_table

    return describe_ips(enrichment_table(enrich, ips.cast(pl.String).drop_nulls().unique()))


def finding_marks_data(
    findings: Any,
    events: pl.LazyFrame,
    every: str,
    *,
    enrich: Any = None,
    max_rules: int = 3,
) -> pl.DataFrame:
    """One row per time bin holding findings on ``events``: the worst ``level``, ``hits``,
    ``by_level`` (``high 2, low 5``), the worst ``rules`` (titles), the findings' ``source_ips``
    (with what they are when ``enrich`` is given).

    Only hits naming an event of ``events`` count, so a timeline of one principal marks its
    own findings. ``findings``: ``Findings`` or any findings table.

    >>> from forensics._schema import empty_events, empty_findings
    >>> finding_marks_data(empty_findings(), empty_events().lazy(), "1h").height
    0
    """
    from forensics.detect import as_findings

    frame = as_findings(findings).frame
    empty = pl.DataFrame(schema=_SCHEMA)
    if frame.height == 0:
        return empty
    rank = (
        pl.col("level")
        .cast(pl.String)
        .replace_strict({lv: i for i, lv in enumerate(LEVELS)}, default=0, return_dtype=pl.Int8)
    )
    hits = (
        frame.lazy()
        .with_row_index("__hit")
        .select("__hit", "event_ids")
        .explode("event_ids")
        # a semi join, not is_in over the distinct ids: ~10x faster on a million events
        .join(events.select("event_id"), left_on="event_ids", right_on="event_id", how="semi")
        .select("__hit")
        .unique()
        .collect()
        .get_column("__hit")
    )
    if hits.len() == 0:
        return empty
    kept = frame[hits.sort()].select(
        pl.col("time").dt.truncate(every).alias("bucket"),
        pl.col("level").cast(pl.String),
        rank.alias("__rank"),
        pl.col("title").cast(pl.String),
        pl.col("source_ip").cast(pl.String),
    )
    ip_text = pl.col("source_ip")
    if enrich is not None and enrich is not False:
        about = ip_about(kept.get_column("source_ip"), enrich)
        kept = kept.join(about, on="source_ip", how="left", maintain_order="left")
        ip_text = (
            pl.when(pl.col("about").is_not_null())
            .then(pl.format("{} ({})", pl.col("source_ip"), pl.col("about")))
            .otherwise(pl.col("source_ip"))
        )
    kept = kept.with_columns(ip_text.alias("__ip"))
    per_level = (
        kept.group_by("bucket", "level", "__rank")
        .agg(pl.len().alias("n"))
        .sort(["bucket", "__rank"], descending=[False, True])
        .group_by("bucket", maintain_order=True)
        .agg(pl.format("{} {}", "level", "n").str.join(", ").alias("by_level"))
    )
    rules = (
        kept.group_by("bucket", "title")
        .agg(pl.col("__rank").max(), pl.len().alias("n"))
        .sort(["bucket", "__rank", "n", "title"], descending=[False, True, True, False])
        .group_by("bucket", maintain_order=True)
        .agg(pl.col("title").head(max_rules).str.join("; ").alias("rules"))
    )
    ips = (
        kept.filter(pl.col("__ip").is_not_null())
        .group_by("bucket", "__ip")
        .len()
        .sort(["bucket", "len", "__ip"], descending=[False, True, False])
        .group_by("bucket", maintain_order=True)
        .agg(pl.col("__ip").head(3).str.join("; ").alias("source_ips"))
    )
    return (
        kept.group_by("bucket")
        .agg(pl.col("__rank").max(), pl.len().cast(pl.UInt32).alias("hits"))
        .with_columns(
            pl.col("__rank")
            .replace_strict(dict(enumerate(LEVELS)), return_dtype=pl.String)
            .alias("level")
        )
        .join(per_level, on="bucket", how="left")
        .join(rules, on="bucket", how="left")
        .join(ips, on="bucket", how="left")
        .sort("bucket")
        .with_columns(iso_utc("bucket"))
        .select(list(_SCHEMA))
        .cast(_SCHEMA)
    )
