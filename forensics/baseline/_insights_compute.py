"""Compute Insights where the trail has none: API call rate and API error rate per minute against
a trailing baseline, the way CloudTrail Insights documents it.

For every (account, region, event source, event name) the per-minute count of write calls
(``ApiCallRateInsight``; CloudTrail's call-rate Insights look at write management calls only,
``write_only=False`` counts every call) and, per error code, of failed calls
(``ApiErrorRateInsight``) is compared with its *baseline*: the average per minute over the
trailing window before that minute (seven days by default, CloudTrail's own; shorter where the
trail is younger, and nothing is flagged before ``min_history`` of trail has been seen). A minute
deviates when its count is at least ``min_count`` and at least ``ratio`` times the baseline;
deviating minutes no more than ``gap`` apart form one Insight, from its first minute to the end
of its last, and the Insight is kept when its busiest minute is more than ``peak_factor`` times
the busiest minute of its baseline window (a workload with a daily rhythm has office-hour
minutes far above its round-the-clock average: those are not deviations).

Each Insight becomes two events-table rows shaped like CloudTrail's own Insight records
(``eventCategory: Insight``, ``insightDetails`` in ``extra`` with the baseline average, the
insight average, the durations and the attributions), marked ``forensicsComputed``, so read and
computed Insights share one table (:func:`forensics.baseline.read_insights`) and one chart.

Everything up to the flagged windows is one lazy Polars plan over sparse per-minute counts
(``group_by`` + ``rolling``); only the Insights themselves (a handful of rows) are built in Python.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import polars as pl

from forensics._schema import EVENTS_SCHEMA, conform

__all__ = ["InsightSettings", "compute_insights", "rate_series"]

_KEYS = ["insight_type", "account_id", "aws_region", "event_source", "event_name", "error_code"]
_NS = uuid.UUID("6f1c2d4e-6b8a-4c1e-9a57-4f1d8e2b9c30")
_TOP = 5  # attributions kept per attribute and period, like CloudTrail's short lists


@dataclass(frozen=True)
class InsightSettings:
    """How deviations are flagged (all keyword options of :func:`compute_insights`).

    >>> InsightSettings(baseline="1d").baseline_minutes
    1440
    """

    baseline: str | timedelta = "7d"
    min_history: str | timedelta = "1d"
    ratio: float = 5.0
    min_count: int = 10
    peak_factor: float = 1.5
    gap: str | timedelta = "2m"
    write_only: bool = True
    call_rate: bool = True
    error_rate: bool = True

    def __post_init__(self) -> None:
        for name in ("baseline", "min_history", "gap"):
            _minutes(getattr(self, name), name)  # validates early, with the option's name
        if self.ratio <= 1:
            raise ValueError(f"ratio={self.ratio}: must be > 1 (times the baseline average)")
        if self.peak_factor < 1:
            raise ValueError(
                f"peak_factor={self.peak_factor}: must be >= 1 (times the busiest baseline minute)"
            )
        if self.min_count < 1:
            raise ValueError(f"min_count={self.min_count}: must be at least 1 call per minute")

    @property
    def baseline_minutes(self) -> int:
        return _minutes(self.baseline, "baseline")

    @property
    def history_minutes(self) -> int:
        return _minutes(self.min_history, "min_history")

    @property
    def gap_minutes(self) -> int:
        return _minutes(self.gap, "gap")


_UNITS = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def _minutes(value: str | timedelta, name: str) -> int:
    if isinstance(value, timedelta):
        minutes = int(value.total_seconds() // 60)
    else:
        text = str(value).strip().lower()
        try:
            minutes = int(float(text[:-1]) * _UNITS[text[-1]])
        except (KeyError, ValueError, IndexError):
            raise ValueError(
                f"{name}={value!r}: give a duration like '7d', '12h', '30m' or a timedelta"
            ) from None
    if minutes < 1:
        raise ValueError(f"{name}={value!r}: must be at least one minute")
    return minutes


def _lazy(trail: Any) -> pl.LazyFrame:
    """The events of a Trail, a LazyFrame or a DataFrame, as a LazyFrame."""
    if isinstance(trail, pl.LazyFrame):
        return trail
    if isinstance(trail, pl.DataFrame):
        return trail.lazy()
    return trail.lazy


def _not_insight() -> pl.Expr:
    return ~(
        (pl.col("event_category") == "Insight") | (pl.col("event_type") == "AwsCloudTrailInsight")
    ).fill_null(False)


def _minute_counts(ev: pl.LazyFrame, s: InsightSettings) -> pl.LazyFrame:
    """Sparse per-minute counts, one row per (insight type, API, error code, minute)."""
    ev = ev.filter(_not_insight()).select(
        pl.coalesce("recipient_account_id", "account_id").fill_null("").alias("account_id"),
        pl.col("aws_region").fill_null(""),
        pl.col("event_source").fill_null(""),
        pl.col("event_name").fill_null(""),
        "error_code",
        "read_only",
        pl.col("event_time").dt.truncate("1m").alias("minute"),
    )
    parts = []
    if s.call_rate:
        calls = ev.filter(pl.col("read_only").ne(True)) if s.write_only else ev
        parts.append(
            calls.group_by("account_id", "aws_region", "event_source", "event_name", "minute")
            .agg(pl.len().alias("n"))
            .with_columns(
                pl.lit("ApiCallRateInsight").alias("insight_type"), pl.lit("").alias("error_code")
            )
        )
    if s.error_rate:
        parts.append(
            ev.filter(pl.col("error_code").is_not_null())
            .group_by(
                "account_id", "aws_region", "event_source", "event_name", "error_code", "minute"
            )
            .agg(pl.len().alias("n"))
            .with_columns(pl.lit("ApiErrorRateInsight").alias("insight_type"))
        )
    if not parts:
        raise ValueError("call_rate and error_rate are both off: nothing to compute")
    return pl.concat([p.select(*_KEYS, "minute", pl.col("n").cast(pl.Int64)) for p in parts]).sort(
        *_KEYS, "minute"
    )


def _scored(counts: pl.LazyFrame, origin: Any, s: InsightSettings) -> pl.LazyFrame:
    """Each minute with its trailing baseline average and threshold, and whether it deviates."""
    w = s.baseline_minutes
    hist = counts.rolling(
        index_column="minute", period=f"{w}m", closed="right", group_by=_KEYS
    ).agg(pl.col("n").sum().alias("_sum"), pl.col("n").last().alias("n"))
    age = ((pl.col("minute") - pl.lit(origin)).dt.total_minutes()).cast(pl.Float64)
    eff = pl.min_horizontal(age, pl.lit(float(w)))
    base = pl.when(eff > 0).then((pl.col("_sum") - pl.col("n")) / eff).otherwise(0.0)
    return (
        hist.with_columns(base.alias("baseline_average"), eff.alias("baseline_minutes"))
        .with_columns(
            pl.max_horizontal(
                pl.lit(float(s.min_count)), pl.col("baseline_average") * s.ratio
            ).alias("threshold")
        )
        .with_columns(
            ((age >= s.history_minutes) & (pl.col("n") >= pl.col("threshold"))).alias("deviates")
        )
        .drop("_sum")
    )


def _windows(scored: pl.LazyFrame, s: InsightSettings) -> pl.LazyFrame:
    flagged = scored.filter(pl.col("deviates")).sort(*_KEYS, "minute")
    step = pl.col("minute").diff().over(_KEYS).dt.total_minutes().fill_null(s.gap_minutes + 1)
    return (
        flagged.with_columns((step > s.gap_minutes).cum_sum().over(_KEYS).alias("_w"))
        .group_by(*_KEYS, "_w")
        .agg(
            pl.col("minute").min().alias("start"),
            (pl.col("minute").max() + pl.duration(minutes=1)).alias("end"),
            pl.col("n").first().alias("first_n"),
            pl.col("n").max().alias("peak"),
            pl.col("n").sum().alias("total"),
            pl.col("baseline_average").first(),
            pl.col("baseline_minutes").first(),
            pl.col("threshold").first(),
            pl.len().alias("deviating_minutes"),
        )
        .drop("_w")
        .with_columns(
            (pl.col("end") - pl.col("start")).dt.total_minutes().alias("duration"),
        )
        .sort("start", *_KEYS)
    )


def _attributions(ev: pl.LazyFrame, wins: pl.DataFrame, s: InsightSettings) -> dict[str, Any]:
    """Per Insight id: {period: {attribute: [(value, average), ...]}}, from the raw events."""
    if wins.height == 0:
        return {}
    w = wins.lazy().select(
        "insight_id",
        *_KEYS,
        "start",
        "end",
        "duration",
        "baseline_minutes",
        (pl.col("start") - pl.duration(minutes=pl.col("baseline_minutes").cast(pl.Int64))).alias(
            "_bstart"
        ),
    )
    e = ev.filter(_not_insight()).select(
        pl.coalesce("recipient_account_id", "account_id").fill_null("").alias("account_id"),
        pl.col("aws_region").fill_null(""),
        pl.col("event_source").fill_null(""),
        pl.col("event_name").fill_null(""),
        pl.col("error_code").fill_null("").alias("_ec"),
        "read_only",
        "event_time",
        pl.coalesce("principal_arn", "principal").fill_null("").alias("userIdentityArn"),
        pl.col("user_agent").fill_null("").alias("userAgent"),
        pl.col("error_code").fill_null("null").alias("errorCode"),
    )
    j = e.join(w, on=["account_id", "aws_region", "event_source", "event_name"], how="inner")
    is_call = pl.col("insight_type") == "ApiCallRateInsight"
    counted = (
        pl.when(is_call)
        .then(pl.col("read_only").ne(True) | pl.lit(not s.write_only))
        .otherwise(pl.col("_ec") == pl.col("error_code"))
    )
    period = (
        pl.when((pl.col("event_time") >= pl.col("start")) & (pl.col("event_time") < pl.col("end")))
        .then(pl.lit("insight"))
        .when(
            (pl.col("event_time") >= pl.col("_bstart")) & (pl.col("event_time") < pl.col("start"))
        )
        .then(pl.lit("baseline"))
    )
    j = (
        j.filter(counted)
        .with_columns(period.alias("period"))
        .filter(pl.col("period").is_not_null())
    )
    per = (
        pl.when(pl.col("period") == "insight")
        .then(pl.col("duration"))
        .otherwise(pl.col("baseline_minutes"))
    )
    frames = []
    for attr in ("userIdentityArn", "userAgent", "errorCode"):
        frames.append(
            j.group_by("insight_id", "period", attr)
            .agg(pl.len().alias("count"), per.first().alias("_per"))
            .select(
                "insight_id",
                "period",
                pl.lit(attr).alias("attribute"),
                pl.col(attr).alias("value"),
                (pl.col("count") / pl.col("_per").clip(1)).alias("average"),
            )
        )
    rows = (
        pl.concat(frames)
        .sort("average", "value", descending=[True, False])
        .group_by("insight_id", "period", "attribute", maintain_order=True)
        .head(_TOP)
        .collect(engine="streaming")
    )
    out: dict[str, Any] = {}
    for r in rows.iter_rows(named=True):
        out.setdefault(r["insight_id"], {}).setdefault(r["attribute"], {}).setdefault(
            r["period"], []
        ).append({"value": r["value"], "average": round(r["average"], 10)})
    return out


def compute_insights(trail: Any, **options: Any) -> pl.DataFrame:
    """Insight-shaped Start/End rows (events-table schema) for every deviation in the trail.

    ``trail`` is a :class:`~forensics.Trail` or an events ``LazyFrame``/``DataFrame``. Options
    (see :class:`InsightSettings`): ``baseline="7d"`` trailing window, ``min_history="1d"``
    of trail before anything is flagged, ``ratio=5.0`` and ``min_count=10`` (a minute deviates
    when its count is ``>= max(min_count, ratio * baseline average)``), ``peak_factor=1.5``
    (an Insight's busiest minute must exceed the baseline window's busiest minute that many
    times), ``gap="2m"`` between deviating minutes of one Insight, ``write_only=True`` (call rate of write calls, as
    CloudTrail), ``call_rate=True``, ``error_rate=True``.

    Read them with :func:`forensics.baseline.read_insights` (or use
    :func:`forensics.baseline.insights`, which does both).

    >>> from forensics._schema import empty_events
    >>> compute_insights(empty_events()).height
    0
    """
    s = InsightSettings(**options)
    ev = _lazy(trail)
    origin = ev.select(pl.col("event_time").min()).collect(engine="streaming").item()
    if origin is None:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    counts = _minute_counts(ev, s).collect(engine="streaming")
    wins = _windows(_scored(counts.lazy(), origin, s), s).collect(engine="streaming")
    if wins.height == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    # an Insight must also beat the busiest minute of its baseline window by `peak_factor`:
    # a daily rhythm (busy office hours against a 24 h x 7 d average) is not a deviation
    w = s.baseline_minutes
    # (lazy, streamed: the join pairs each window with every minute of its API before the
    # filter, tens of millions of rows on a long, busy trail)
    prior = (
        wins.lazy()
        .select(*_KEYS, "start", "peak")
        .join(counts.lazy(), on=_KEYS, how="inner")
        .filter(
            (pl.col("minute") < pl.col("start"))
            & (pl.col("minute") >= pl.col("start") - pl.duration(minutes=w))
        )
        .group_by(*_KEYS, "start")
        .agg(pl.col("n").max().alias("prior_peak"))
        .collect(engine="streaming")
    )
    wins = (
        wins.join(prior, on=[*_KEYS, "start"], how="left")
        .with_columns(pl.col("prior_peak").fill_null(0))
        .filter(pl.col("peak") > pl.col("prior_peak") * s.peak_factor)
    )
    if wins.height == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    # the Insight's average counts every minute inside it, quiet ones within `gap` included
    totals = (
        wins.lazy()
        .select(*_KEYS, "start", "end")
        .join(counts.lazy(), on=_KEYS, how="inner")
        .filter((pl.col("minute") >= pl.col("start")) & (pl.col("minute") < pl.col("end")))
        .group_by(*_KEYS, "start")
        .agg(pl.col("n").sum().alias("total"))
        .collect(engine="streaming")
    )
    wins = wins.drop("total").join(totals, on=[*_KEYS, "start"], how="left")
    ids = [
        str(uuid.uuid5(_NS, "|".join(str(r[k]) for k in (*_KEYS, "start"))))
        for r in wins.iter_rows(named=True)
    ]
    wins = wins.with_columns(pl.Series("insight_id", ids))
    attributions = _attributions(ev, wins, s)
    records: list[dict[str, Any]] = []
    for r in wins.iter_rows(named=True):
        iid = r["insight_id"]
        att = attributions.get(iid, {})
        for state in ("Start", "End"):
            is_start = state == "Start"
            average = r["first_n"] if is_start else r["total"] / max(r["duration"], 1)
            stats: dict[str, Any] = {
                "baseline": {"average": round(r["baseline_average"], 10)},
                "insight": {"average": round(float(average), 10)},
                "baselineDuration": int(r["baseline_minutes"]),
            }
            if not is_start:
                stats["insightDuration"] = int(r["duration"])
            details: dict[str, Any] = {
                "state": state,
                "eventSource": r["event_source"],
                "eventName": r["event_name"],
                "insightType": r["insight_type"],
                "insightContext": {
                    "statistics": stats,
                    "attributions": [
                        {
                            "attribute": a,
                            "insight": att.get(a, {}).get("insight", []),
                            "baseline": att.get(a, {}).get("baseline", []),
                        }
                        for a in ("userIdentityArn", "userAgent", "errorCode")
                    ],
                },
            }
            if r["error_code"]:
                details["errorCode"] = r["error_code"]
            extra = {
                "insightDetails": details,
                "forensicsComputed": {
                    "method": "trailing-baseline",
                    "threshold": r["threshold"],
                    "ratio": s.ratio,
                    "min_count": s.min_count,
                    "deviating_minutes": r["deviating_minutes"],
                    "peak": r["peak"],
                    "baseline_peak": r["prior_peak"],
                    "peak_factor": s.peak_factor,
                },
            }
            records.append(
                {
                    "event_time": r["start"] if is_start else r["end"],
                    "event_id": str(uuid.uuid5(_NS, f"{iid}|{state}")),
                    "shared_event_id": iid,
                    "event_source": r["event_source"],
                    "event_name": r["event_name"],
                    "aws_region": r["aws_region"] or None,
                    "event_type": "AwsCloudTrailInsight",
                    "event_category": "Insight",
                    "event_version": "1.08",
                    "recipient_account_id": r["account_id"] or None,
                    "principal": "unknown",
                    "extra": orjson.dumps(extra).decode(),
                }
            )
    frame = pl.DataFrame(records, infer_schema_length=None)
    return conform(frame).sort("event_time")


def rate_series(
    trail: Any,
    *,
    event_source: str | None = None,
    event_name: str,
    insight_type: str = "ApiCallRateInsight",
    error_code: str | None = None,
    **options: Any,
) -> pl.DataFrame:
    """The per-minute series behind one API's Insights: ``minute``, ``n`` (0 where quiet),
    ``baseline_average``, ``threshold``, ``deviates`` (same options as :func:`compute_insights`;
    ``deviates`` marks candidate minutes, before the ``peak_factor`` test on whole Insights).

    Summed over accounts and regions. Dense (one row per minute of the trail), for charts.

    >>> from forensics._schema import empty_events
    >>> rate_series(empty_events(), event_name="RunInstances").height
    0
    """
    s = InsightSettings(**options)
    ev = _lazy(trail).filter(pl.col("event_name") == event_name)
    if event_source is not None:
        ev = ev.filter(pl.col("event_source") == event_source)
    if insight_type == "ApiErrorRateInsight":
        ev = ev.filter(
            pl.col("error_code").is_not_null()
            if error_code is None
            else pl.col("error_code") == error_code
        )
    elif s.write_only:
        ev = ev.filter(pl.col("read_only").ne(True))
    bounds = (
        _lazy(trail)
        .select(
            pl.col("event_time").min().dt.truncate("1m").alias("a"),
            pl.col("event_time").max().dt.truncate("1m").alias("b"),
        )
        .collect(engine="streaming")
    )
    schema = {
        "minute": EVENTS_SCHEMA["event_time"], "n": pl.Int64, "baseline_average": pl.Float64,
        "threshold": pl.Float64, "deviates": pl.Boolean,
    }  # fmt: skip
    if bounds["a"].item() is None:
        return pl.DataFrame(schema=schema)
    a, b = bounds["a"].item(), bounds["b"].item()
    grid = pl.LazyFrame({"minute": pl.datetime_range(a, b, "1m", eager=True, time_zone="UTC")})
    counts = (
        ev.filter(_not_insight())
        .group_by(pl.col("event_time").dt.truncate("1m").alias("minute"))
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )
    w = s.baseline_minutes
    dense = grid.join(counts, on="minute", how="left").with_columns(pl.col("n").fill_null(0))
    age = pl.int_range(pl.len()).cast(pl.Float64)
    eff = pl.min_horizontal(age, pl.lit(float(w)))
    prior = pl.col("n").rolling_sum(window_size=w, min_samples=1).shift(1).fill_null(0)
    out = (
        dense.sort("minute")
        .with_columns(
            pl.when(eff > 0).then(prior / eff).otherwise(0.0).alias("baseline_average"),
            (age >= s.history_minutes).alias("_ok"),
        )
        .with_columns(
            pl.max_horizontal(
                pl.lit(float(s.min_count)), pl.col("baseline_average") * s.ratio
            ).alias("threshold")
        )
        .with_columns((pl.col("_ok") & (pl.col("n") >= pl.col("threshold"))).alias("deviates"))
    )
    return out.select(list(schema)).collect(engine="streaming")
