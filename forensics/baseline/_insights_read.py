"""Read CloudTrail Insights events out of the events table: one row per Insight, Start paired
with End.

The loader keeps an Insight record's ``insightDetails`` in the ``extra`` column (JSON text); this
module decodes it with one typed ``json_decode`` over the Insight rows only (a handful of rows in
any trail), pairs ``Start`` and ``End`` by ``sharedEventID``, and lays the attributions (user
identity ARNs, user agents, error codes; baseline vs insight averages) out as a table.

Rows computed by :mod:`forensics.baseline._insights_compute` have the same shape (plus a
``forensicsComputed`` marker in ``extra``), so both go through the same reader.

>>> import polars as pl
>>> from forensics._schema import conform
>>> extra = ('{"insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com",'
...          '"eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":'
...          '{"statistics":{"baseline":{"average":0.5},"insight":{"average":30.0}}}}}')
>>> ev = conform(pl.DataFrame({"event_category": ["Insight"], "shared_event_id": ["s1"],
...                            "extra": [extra]}))
>>> read_insights(ev.lazy())["insight_average"].item()
30.0
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

from forensics._schema import TIME_DTYPE

__all__ = [
    "ATTRIBUTIONS_SCHEMA",
    "INSIGHTS_SCHEMA",
    "insight_attributions",
    "insight_rows",
    "read_insights",
    "with_insight_names",
]

_VALUES = pl.List(pl.Struct({"value": pl.String, "average": pl.Float64}))
_ATTRIBUTION = pl.Struct(
    {
        "attribute": pl.String,
        "insight": _VALUES,
        "baseline": _VALUES,
        # CloudTrail Lake's flat form (being deprecated by AWS from June 2025)
        "insightValue": pl.String,
        "insightAverage": pl.Float64,
        "baselineValue": pl.String,
        "baselineAverage": pl.Float64,
    }
)
_STATISTICS = pl.Struct(
    {
        "baseline": pl.Struct({"average": pl.Float64}),
        "insight": pl.Struct({"average": pl.Float64}),
        "insightDuration": pl.Float64,
        "baselineDuration": pl.Float64,
    }
)
_DETAILS = pl.Struct(
    {
        "state": pl.String,
        "eventSource": pl.String,
        "eventName": pl.String,
        "insightType": pl.String,
        "errorCode": pl.String,
        "insightContext": pl.Struct(
            {"statistics": _STATISTICS, "attributions": pl.List(_ATTRIBUTION)}
        ),
    }
)
_EXTRA = pl.Struct(
    {"insightDetails": _DETAILS, "forensicsComputed": pl.Struct({"method": pl.String})}
)

#: One row per Insight (Start and End paired). ``origin`` is ``cloudtrail`` (read from the trail)
#: or ``computed`` (by :func:`forensics.baseline.compute_insights`). ``end`` is null while an
#: Insight has no End record in the trail. Averages are per minute.
INSIGHTS_SCHEMA = pl.Schema(
    {
        "insight_id": pl.String,
        "origin": pl.String,
        "insight_type": pl.String,
        "account_id": pl.String,
        "aws_region": pl.String,
        "event_source": pl.String,
        "event_name": pl.String,
        "error_code": pl.String,
        "start": TIME_DTYPE,
        "end": TIME_DTYPE,
        "baseline_average": pl.Float64,
        "insight_average": pl.Float64,
        "start_insight_average": pl.Float64,
        "insight_duration_min": pl.Float64,
        "baseline_duration_min": pl.Float64,
        "start_event_id": pl.String,
        "end_event_id": pl.String,
    }
)

#: One row per (Insight, state, attribute, period, value): who/what made up the unusual activity.
ATTRIBUTIONS_SCHEMA = pl.Schema(
    {
        "insight_id": pl.String,
        "state": pl.String,
        "attribute": pl.String,
        "period": pl.String,
        "value": pl.String,
        "average": pl.Float64,
    }
)


def _is_insight() -> pl.Expr:
    return (
        (pl.col("event_category") == "Insight")
        | (pl.col("event_type") == "AwsCloudTrailInsight")
        | pl.col("extra").str.contains('"insightDetails"', literal=True)
    ).fill_null(False)


def _coerce(value: Any, dtype: Any) -> Any:
    """``value`` shaped to ``dtype``: a part of the wrong type becomes null, not an error."""
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            return None
        return {f.name: _coerce(value.get(f.name), f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            return None
        return [_coerce(v, dtype.inner) for v in value]
    if dtype == pl.Float64:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(value) if isinstance(value, str) else None
        except ValueError:
            return None
    if isinstance(value, str):
        return value
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _clean(text: str) -> str | None:
    """An Insight record's ``extra`` with every part of the documented shape typed as documented
    (Insight rows are few: this runs on them alone, before the typed ``json_decode``)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(_coerce(doc, _EXTRA)).decode()


def insight_rows(events: pl.LazyFrame) -> pl.LazyFrame:
    """The Insight records of an events table, with ``extra`` decoded into ``_d`` (a struct).

    >>> from forensics._schema import empty_events
    >>> insight_rows(empty_events().lazy()).collect().height
    0
    """
    return (
        events.filter(_is_insight())
        .with_columns(
            pl.col("extra")
            .map_elements(_clean, return_dtype=pl.String, skip_nulls=True)
            .str.json_decode(_EXTRA)
            .alias("_x")
        )
        .with_columns(
            pl.col("_x").struct.field("insightDetails").alias("_d"),
            pl.when(pl.col("_x").struct.field("forensicsComputed").is_not_null())
            .then(pl.lit("computed"))
            .otherwise(pl.lit("cloudtrail"))
            .alias("_origin"),
        )
    )


def with_insight_names(events: pl.LazyFrame) -> pl.LazyFrame:
    """Fill ``event_name`` / ``event_source`` of Insight rows from their ``insightDetails``.

    CloudTrail puts the API an Insight is about inside ``insightDetails``, so the loader leaves
    the top-level columns null; this fills them (other rows are untouched).

    >>> from forensics._schema import conform
    >>> ev = conform(pl.DataFrame({"event_category": ["Insight", None],
    ...     "event_name": [None, "GetObject"],
    ...     "extra": ['{"insightDetails":{"eventName":"RunInstances"}}', None]}))
    >>> with_insight_names(ev.lazy()).collect()["event_name"].to_list()
    ['RunInstances', 'GetObject']
    """
    ins = _is_insight()
    return events.with_columns(
        pl.when(ins & pl.col("event_name").is_null())
        .then(pl.col("extra").str.json_path_match("$.insightDetails.eventName"))
        .otherwise(pl.col("event_name"))
        .alias("event_name"),
        pl.when(ins & pl.col("event_source").is_null())
        .then(pl.col("extra").str.json_path_match("$.insightDetails.eventSource"))
        .otherwise(pl.col("event_source"))
        .alias("event_source"),
    )


def read_insights(events: pl.LazyFrame) -> pl.DataFrame:
    """One row per Insight in ``events`` (:data:`INSIGHTS_SCHEMA`), Start paired with End.

    Pairing is by ``shared_event_id`` (CloudTrail's id of the whole Insight); a Start without an
    End (the Insight was still going when the trail ends) has a null ``end``; an End without its
    Start (the Start is before the trail) keeps its own numbers and a null ``start_event_id``.
    ``baseline_average`` and ``baseline_duration_min`` come from the Start (the End's where there
    is no Start), ``insight_average`` is the End's average over the whole Insight (the Start's
    first-minute average where there is no End).
    """
    d = pl.col("_d")
    stats = d.struct.field("insightContext").struct.field("statistics")
    rows = insight_rows(events).select(
        pl.coalesce("shared_event_id", "event_id").alias("insight_id"),
        pl.col("_origin").alias("origin"),
        d.struct.field("state").alias("state"),
        d.struct.field("insightType").alias("insight_type"),
        pl.coalesce("recipient_account_id", "account_id").alias("account_id"),
        "aws_region",
        pl.coalesce(d.struct.field("eventSource"), pl.col("event_source")).alias("event_source"),
        pl.coalesce(d.struct.field("eventName"), pl.col("event_name")).alias("event_name"),
        d.struct.field("errorCode").alias("error_code"),
        "event_time",
        "event_id",
        stats.struct.field("baseline").struct.field("average").alias("baseline_average"),
        stats.struct.field("insight").struct.field("average").alias("insight_average"),
        stats.struct.field("insightDuration").alias("insight_duration_min"),
        stats.struct.field("baselineDuration").alias("baseline_duration_min"),
    )
    keys = [
        "insight_id", "origin", "insight_type", "account_id", "aws_region", "event_source",
        "event_name", "error_code",
    ]  # fmt: skip
    # a record whose state is unreadable counts as a Start (kept, never dropped)
    starts = rows.filter((pl.col("state") != "End").fill_null(True)).unique(
        "insight_id", keep="first"
    )
    ends = rows.filter(pl.col("state") == "End").unique("insight_id", keep="first")
    e = {c: f"{c}_end" for c in rows.collect_schema().names() if c != "insight_id"}
    paired = starts.join(ends.rename(e), on="insight_id", how="full", coalesce=True)

    def both(col: str, prefer_end: bool = False) -> pl.Expr:
        first, second = (f"{col}_end", col) if prefer_end else (col, f"{col}_end")
        return pl.coalesce(first, second).alias(col)

    out = paired.select(
        "insight_id",
        *(both(k) for k in keys[1:]),
        pl.col("event_time").alias("start"),
        pl.col("event_time_end").alias("end"),
        both("baseline_average"),
        both("insight_average", prefer_end=True),
        pl.col("insight_average").alias("start_insight_average"),
        both("insight_duration_min", prefer_end=True),
        both("baseline_duration_min"),
        pl.col("event_id").alias("start_event_id"),
        pl.col("event_id_end").alias("end_event_id"),
    ).with_columns(
        # an End whose Start is outside the trail: its start is end - duration, when known
        pl.coalesce(
            "start",
            pl.col("end") - pl.duration(minutes=pl.col("insight_duration_min").cast(pl.Int64)),
        ).alias("start")
    )
    return (
        out.select(pl.col(c).cast(t) for c, t in INSIGHTS_SCHEMA.items())
        .sort("start", "insight_id", nulls_last=True)
        .collect(engine="streaming")
    )


def insight_attributions(events: pl.LazyFrame) -> pl.DataFrame:
    """The attributions of every Insight record as a table (:data:`ATTRIBUTIONS_SCHEMA`).

    One row per (Insight, ``Start``/``End``, attribute, ``insight``/``baseline`` period, value),
    e.g. which user identity ARNs, user agents and error codes made the unusual activity, with
    their per-minute averages. Both the nested form of trails and CloudTrail Lake's flat form
    (``insightValue``/``insightAverage``/...) are read.
    """
    att = pl.col("_a")
    base = (
        insight_rows(events)
        .select(
            pl.coalesce("shared_event_id", "event_id").alias("insight_id"),
            pl.col("_d").struct.field("state").alias("state"),
            pl.col("_d").struct.field("insightContext").struct.field("attributions").alias("_a"),
        )
        .explode("_a")
        .filter(att.is_not_null())
        .with_columns(att.struct.field("attribute").alias("attribute"))
    )
    parts = []
    for period in ("insight", "baseline"):
        parts.append(
            base.select(
                "insight_id",
                "state",
                "attribute",
                pl.lit(period).alias("period"),
                att.struct.field(period).alias("_v"),
            )
            .explode("_v")
            .filter(pl.col("_v").is_not_null())
            .select(
                "insight_id",
                "state",
                "attribute",
                "period",
                pl.col("_v").struct.field("value").alias("value"),
                pl.col("_v").struct.field("average").alias("average"),
            )
        )
        parts.append(
            base.filter(att.struct.field(f"{period}Value").is_not_null()).select(
                "insight_id",
                "state",
                "attribute",
                pl.lit(period).alias("period"),
                att.struct.field(f"{period}Value").alias("value"),
                att.struct.field(f"{period}Average").alias("average"),
            )
        )
    return (
        pl.concat(parts)
        .select(pl.col(c).cast(t) for c, t in ATTRIBUTIONS_SCHEMA.items())
        .unique(maintain_order=True)
        .collect(engine="streaming")
    )
