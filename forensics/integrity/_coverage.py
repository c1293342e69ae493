"""What the trail recorded, and what it could not have: delivery per hour, trail configuration
changes and the logging windows they opened or closed, event categories, data-event resources.

>>> import polars as pl
>>> from forensics._trail import Trail
>>> from forensics.ingest._normalize import normalize_records
>>> recs = [{"eventTime": "2024-01-01T00:10:00Z", "eventName": "StopLogging",
...          "eventSource": "cloudtrail.amazonaws.com", "awsRegion": "us-east-1",
...          "recipientAccountId": "111122223333", "requestParameters": {"name": "main"},
...          "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}]
>>> cov = coverage(Trail(normalize_records(recs, "x.json")))
>>> cov.changes.select("event_name", "outcome", "effect").row(0)
('StopLogging', 'succeeded', 'logging off')
>>> cov.windows.select("trail", "state").row(0)
('main', 'off')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

__all__ = ["CONFIG_EVENTS", "Coverage", "coverage"]

#: CloudTrail API calls that change what a trail records, and what success means for logging.
CONFIG_EVENTS: dict[str, str] = {
    "StopLogging": "logging off",
    "DeleteTrail": "logging off",
    "StartLogging": "logging on",
    "CreateTrail": "trail created (off until StartLogging)",
    "UpdateTrail": "trail changed (bucket, regions, validation, ...)",
    "PutEventSelectors": "event selectors changed",
    "PutAdvancedEventSelectors": "event selectors changed",
    "PutInsightSelectors": "Insights selectors changed",
    "DeleteEventDataStore": "event data store deleted",
    "StopEventDataStoreIngestion": "event data store ingestion off",
    "StartEventDataStoreIngestion": "event data store ingestion on",
}
_OFF = {"StopLogging", "DeleteTrail", "StopEventDataStoreIngestion", "DeleteEventDataStore"}
_ON = {"StartLogging", "StartEventDataStoreIngestion"}
_STAMP = r"_(\d{8}T\d{4})Z_"


def _params_object(params: str | None) -> dict | None:
    """A call's request parameters as a JSON object, or None (absent, not JSON, not an object)."""
    if not params:
        return None
    try:
        obj = json.loads(params)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _trail_name(params: str | None) -> str | None:
    """The trail a configuration call names (``name`` / ``trailName`` / event data store)."""
    obj = _params_object(params)
    if obj is None:
        return None
    for field in ("name", "trailName", "eventDataStore"):
        value = obj.get(field)
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value
    return None


def _selectors(params: str | None) -> str | None:
    """Event selectors of a Put*Selectors call, as short text (what data events it asks for)."""
    obj = _params_object(params)
    if obj is None:
        return None
    parts = []
    for sel in obj.get("eventSelectors") or []:
        if isinstance(sel, dict):
            res = [
                f"{d.get('type')}:{','.join(map(str, d.get('values') or []))}"
                for d in sel.get("dataResources") or []
                if isinstance(d, dict)
            ]
            parts.append(
                f"{sel.get('readWriteType', 'All')} management="
                f"{sel.get('includeManagementEvents')}" + (f" data={';'.join(res)}" if res else "")
            )
    for sel in obj.get("advancedEventSelectors") or []:
        if isinstance(sel, dict):
            fields = [
                f"{f.get('field')}={','.join(map(str, f.get('equals') or f.get('startsWith') or []))}"
                for f in sel.get("fieldSelectors") or []
                if isinstance(f, dict)
            ]
            parts.append(f"{sel.get('name') or 'advanced'}: {' '.join(fields)}")
    for sel in obj.get("insightSelectors") or []:
        if isinstance(sel, dict):
            parts.append(f"insight={sel.get('insightType')}")
    return "; ".join(parts) or None


@dataclass
class Coverage:
    """What a trail recorded: see :func:`coverage`."""

    delivery: pl.DataFrame
    changes: pl.DataFrame
    windows: pl.DataFrame
    categories: pl.DataFrame
    data_resources: pl.DataFrame

    def gaps(self, min_hours: int = 2) -> pl.DataFrame:
        """Runs of at least ``min_hours`` hours with nothing delivered, inside each account and
        region's first and last delivered hour (quiet regions have many: read with
        :attr:`windows`, which says when logging was actually turned off)."""
        d = self.delivery.sort("account", "region", "hour")
        runs = (
            d.with_columns(
                pl.col("delivered")
                .ne(pl.col("delivered").shift(1).over("account", "region"))
                .fill_null(True)
                .cum_sum()
                .over("account", "region")
                .alias("run")
            )
            .filter(~pl.col("delivered"))
            .group_by("account", "region", "run")
            .agg(
                pl.col("hour").min().alias("start"),
                (pl.col("hour").max() + pl.duration(hours=1)).alias("end"),
                pl.len().alias("hours"),
            )
            .filter(pl.col("hours") >= min_hours)
            .drop("run")
            .sort("account", "region", "start")
        )
        return runs

    def logging_off(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> pl.DataFrame:
        """The windows in which a trail was off (by a successful StopLogging / DeleteTrail),
        overlapping ``[start, end)`` when given."""
        w = self.windows.filter(pl.col("state") == "off")
        if start is not None:
            w = w.filter(pl.col("to").is_null() | (pl.col("to") > start))
        if end is not None:
            w = w.filter(pl.col("from") < end)
        return w

    def summary(self) -> str:
        """A few lines: accounts and regions delivered, configuration changes, categories."""
        lines = []
        pairs = self.delivery.select("account", "region").unique().height
        hours = self.delivery.filter("delivered").height
        lines.append(
            f"coverage: {pairs:,} account/region pair(s), {hours:,} hour(s) with "
            f"delivered logs, {self.gaps().height:,} gap(s) of 2 h or more"
        )
        for row in self.changes.iter_rows(named=True):
            lines.append(
                f"  {row['event_time']:%Y-%m-%d %H:%M:%S} UTC {row['event_name']} "
                f"{row['trail'] or '?'} by {row['principal'] or '?'}: {row['outcome']}"
            )
        for row in self.logging_off().iter_rows(named=True):
            to = f"{row['to']:%Y-%m-%d %H:%M} UTC" if row["to"] is not None else "the end"
            lines.append(
                f"  logging off: trail {row['trail']} from {row['from']:%Y-%m-%d %H:%M} UTC to {to}"
            )
        for row in self.categories.iter_rows(named=True):
            lines.append(f"  {row['account']}: {row['category']} {row['events']:,}")
        from forensics.integrity._result import _safe

        return "\n".join(_safe(line) for line in lines)

    def __str__(self) -> str:
        return self.summary()


def _account() -> pl.Expr:
    return pl.coalesce("recipient_account_id", "account_id").fill_null("?").alias("account")


def coverage(trail: Any) -> Coverage:
    """What ``trail`` recorded, per account, region and hour, and how its trails were changed.

    Returns a :class:`Coverage` with

    - ``delivery``: one row per account × region × hour between the trail's first and last
      hour: ``files`` delivered (by the delivery time in the S3 file name, else the event
      time), ``events``, ``delivered``;
    - ``changes``: StopLogging, StartLogging, CreateTrail, DeleteTrail, UpdateTrail,
      Put(Advanced)EventSelectors, PutInsightSelectors (and event data store equivalents)
      seen in the events, with who, from where, the trail named, the outcome (``errorCode``),
      the selectors asked for, and the effect on logging;
    - ``windows``: per trail, the periods it was off (a successful StopLogging / DeleteTrail
      until the next successful StartLogging) and on;
    - ``categories``: events per account and category (Management, Data, NetworkActivity,
      Insight);
    - ``data_resources``: per account, event source and resource, the data events seen.

    Examples
    --------
    >>> import forensics as fx
    >>> cov = fx.load("data/sample").coverage()   # doctest: +SKIP
    >>> cov.changes; cov.logging_off(); cov.gaps()  # doctest: +SKIP
    """
    lazy = trail.lazy
    base = lazy.with_columns(_account(), pl.col("aws_region").fill_null("?").alias("region"))

    # -- delivery per hour --------------------------------------------------------------------------
    stamp = (
        pl.col("source_file")
        .cast(pl.String)
        .str.extract(_STAMP, 1)
        .str.strptime(pl.Datetime("us", "UTC"), "%Y%m%dT%H%M", strict=False)
    )
    hourly = (
        base.with_columns(pl.coalesce(stamp, pl.col("event_time")).dt.truncate("1h").alias("hour"))
        .filter(pl.col("hour").is_not_null())
        .group_by("account", "region", "hour")
        .agg(pl.col("source_file").n_unique().alias("files"), pl.len().alias("events"))
        .collect(engine="streaming")
    )
    if hourly.height:
        lo, hi = hourly["hour"].min(), hourly["hour"].max()
        hours = pl.DataFrame({"hour": pl.datetime_range(lo, hi, "1h", eager=True, time_zone="UTC")})
        grid = hourly.select("account", "region").unique().join(hours, how="cross")
        delivery = (
            grid.join(hourly, on=["account", "region", "hour"], how="left")
            .with_columns(pl.col("files", "events").fill_null(0).cast(pl.Int64))
            .with_columns((pl.col("files") > 0).alias("delivered"))
            .sort("account", "region", "hour")
        )
    else:
        delivery = pl.DataFrame(
            schema={
                "account": pl.String,
                "region": pl.String,
                "hour": pl.Datetime("us", "UTC"),
                "files": pl.Int64,
                "events": pl.Int64,
                "delivered": pl.Boolean,
            }
        )

    # -- configuration changes -----------------------------------------------------------------------
    raw = (
        base.filter(
            pl.col("event_source").is_in(["cloudtrail.amazonaws.com"])
            & pl.col("event_name").is_in(list(CONFIG_EVENTS))
        )
        .select(
            "event_time",
            "account",
            "region",
            "event_name",
            "principal",
            "principal_arn",
            "source_ip",
            "user_agent",
            "error_code",
            "error_message",
            "request_parameters",
            "event_id",
        )
        .sort("event_time")
        .collect(engine="streaming")
    )
    changes = raw.with_columns(
        pl.col("request_parameters")
        .map_elements(_trail_name, return_dtype=pl.String)
        .alias("trail"),
        pl.col("request_parameters")
        .map_elements(_selectors, return_dtype=pl.String)
        .alias("selectors"),
        pl.when(pl.col("error_code").is_null())
        .then(pl.lit("succeeded"))
        .otherwise(pl.lit("failed: ") + pl.col("error_code"))
        .alias("outcome"),
        pl.col("event_name").replace_strict(CONFIG_EVENTS, default=None).alias("effect"),
    ).drop("request_parameters")
    windows = _windows(changes, delivery)

    # -- categories and data-event resources ---------------------------------------------------------
    category = (
        pl.when(pl.col("event_type") == "AwsCloudTrailInsight")
        .then(pl.lit("Insight"))
        .when(pl.col("event_category").is_not_null())
        .then(pl.col("event_category"))
        .when(pl.col("management_event").not_())
        .then(pl.lit("Data"))
        .otherwise(pl.lit("Management"))
        .alias("category")
    )
    categories = (
        base.with_columns(category)
        .group_by("account", "category")
        .agg(
            pl.len().alias("events"),
            pl.col("event_time").min().alias("first"),
            pl.col("event_time").max().alias("last"),
        )
        .sort("account", "category")
        .collect(engine="streaming")
    )
    bucket = pl.col("request_parameters").str.json_path_match("$.bucketName")
    data_resources = (
        base.with_columns(category)
        .filter(pl.col("category") == "Data")
        .with_columns(
            pl.col("resources").list.eval(pl.element().struct.field("arn")).alias("arns"),
            bucket.alias("bucket"),
        )
        .with_columns(
            pl.when(pl.col("arns").list.len() > 0)
            .then(pl.col("arns"))
            .otherwise(
                pl.concat_list(
                    pl.when(pl.col("bucket").is_not_null())
                    .then(pl.lit("arn:aws:s3:::") + pl.col("bucket"))
                    .otherwise(pl.lit(None, pl.String))
                )
            )
            .alias("arns")
        )
        .explode("arns")
        .group_by("account", "event_source", pl.col("arns").alias("resource"))
        .agg(
            pl.len().alias("events"),
            pl.col("event_name").unique().sort().alias("event_names"),
            pl.col("event_time").min().alias("first"),
            pl.col("event_time").max().alias("last"),
        )
        .sort("account", "event_source", "resource", nulls_last=True)
        .collect(engine="streaming")
    )
    return Coverage(delivery, changes, windows, categories, data_resources)


def _windows(changes: pl.DataFrame, delivery: pl.DataFrame) -> pl.DataFrame:
    """Per trail, the periods it was off and on, from the successful changes in order."""
    schema = {
        "account": pl.String,
        "trail": pl.String,
        "state": pl.String,
        "from": pl.Datetime("us", "UTC"),
        "to": pl.Datetime("us", "UTC"),
        "opened_by": pl.String,
        "closed_by": pl.String,
    }
    rows: list[dict[str, Any]] = []
    ok = changes.filter(
        pl.col("error_code").is_null()
        & pl.col("trail").is_not_null()
        & pl.col("event_name").is_in(list(_OFF | _ON | {"CreateTrail"}))
    )
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for r in ok.iter_rows(named=True):
        key = (r["account"], r["trail"])
        current = state.get(key)
        name = r["event_name"]
        new = "off" if name in _OFF or name == "CreateTrail" else "on"
        if current is not None and current["state"] == new:
            continue
        if current is not None:
            current["to"], current["closed_by"] = r["event_time"], f"{name} {r['event_id']}"
            rows.append(current)
        state[key] = {
            "account": r["account"],
            "trail": r["trail"],
            "state": new,
            "from": r["event_time"],
            "to": None,
            "opened_by": f"{name} {r['event_id']}",
            "closed_by": None,
        }
    rows.extend(state.values())
    return pl.DataFrame(rows, schema=schema).sort("account", "trail", "from")
