"""What a ticket says, computed once from a result (a ``Trail`` or a blast radius).

``summary.md`` and ``report.html`` are two renderings of the same :class:`Facts`; nothing here
formats text for a file, so nothing here escapes either.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics._schema import conform, is_denied, to_utc
from forensics.export._redact import redact_frame

__all__ = [
    "INDICATOR_KINDS",
    "Facts",
    "enrich_indicators",
    "facts_of",
    "file_digest",
    "indicators_frame",
    "is_blast_radius",
]

#: Indicator kinds, in the order a ticket lists them (the blast-radius ``indicators()`` keys).
#: The columns of the "who" table, in every format.
PRINCIPAL_COLUMNS = [
    "principal",
    "identity types",
    "events",
    "errors",
    "access keys",
    "source IPs",
    "first seen",
    "last seen",
]
INDICATOR_KINDS = ("source_ips", "access_keys", "arns", "user_agents", "regions")
INDICATOR_TITLES = {
    "source_ips": "Source IP addresses",
    "access_keys": "Access key ids",
    "arns": "ARNs (principals, sessions, roles, resources)",
    "user_agents": "User agents",
    "regions": "Regions",
}
# Lenient: anonymised data has leading zeros and odd ranges; service names are not IPs.
_IP_LIKE = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)$")


def is_blast_radius(result: Any) -> bool:
    """Duck-typed: anything with callable ``indicators``, ``summary`` and ``chart``."""
    return all(callable(getattr(result, name, None)) for name in ("indicators", "summary", "chart"))


@dataclass
class Facts:
    """Everything a ticket shows, as plain values and frames (unescaped)."""

    title: str
    kind: str
    events: pl.DataFrame
    filters: list[str]
    seed: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    summary_text: str | None = None
    #: What the trail could not have recorded in the window (see forensics.integrity).
    not_logged: list[str] = field(default_factory=list)
    indicators: dict[str, pl.DataFrame] = field(default_factory=dict)
    principals: pl.DataFrame | None = None
    actions: pl.DataFrame | None = None
    counts: list[tuple[str, int]] = field(default_factory=list)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    charts: dict[str, Any] = field(default_factory=dict)
    generated_at: datetime | None = None
    redacted: bool = True
    #: What each source IP indicator is (``value`` + enrichment columns), when asked for.
    ip_enrichment: pl.DataFrame | None = None

    @property
    def first(self) -> datetime | None:
        return self.events.get_column("event_time").min() if self.events.height else None  # type: ignore[return-value]

    @property
    def last(self) -> datetime | None:
        return self.events.get_column("event_time").max() if self.events.height else None  # type: ignore[return-value]


def file_digest(path: str | Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _sorted_events(frame: pl.DataFrame) -> pl.DataFrame:
    frame = conform(frame)  # type: ignore[assignment]
    return frame.sort(
        pl.col("event_time"),
        pl.col("event_id"),
        pl.col("source_file").cast(pl.String),
        pl.col("source_index"),
        nulls_last=True,
        maintain_order=True,
    )


def _extracted_resource_arns(rows: pl.DataFrame) -> pl.DataFrame:
    """(value, row): canonical ARNs of what each event touched, read from its parameters.

    CloudTrail fills ``resources[]`` for few APIs; :mod:`forensics.resources` knows where each
    API names its targets (bucket, object, role, key, ...). Empty when that part is absent.
    """
    empty = pl.DataFrame(schema={"value": pl.String, "row": pl.UInt32})
    try:
        from forensics.resources import event_resources
    except ModuleNotFoundError:
        return empty
    from forensics._trail import Trail

    if rows.height == 0:
        return empty
    touched = event_resources(Trail(rows.drop("row")))
    if touched.height == 0:
        return empty
    keys = rows.select("event_id", "event_time", "row").unique(
        ["event_id", "event_time"], keep="first", maintain_order=True
    )
    return (
        touched.select("event_id", "event_time", pl.col("arn").alias("value"))
        .join(keys, on=["event_id", "event_time"], how="inner")
        .select("value", pl.col("row").cast(pl.UInt32))
    )


def _indicator_values(events: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """kind -> long frame (value, row) of every event carrying that value."""
    rows = events.with_row_index("row")
    arn_columns = [
        rows.select(pl.col(c).alias("value"), "row")
        for c in ("principal_arn", "principal", "session_issuer_arn")
    ]
    resource_arns = rows.select(
        pl.col("resources").list.eval(pl.element().struct.field("arn")).alias("value"), "row"
    ).explode("value")
    arns = pl.concat([*arn_columns, resource_arns, _extracted_resource_arns(rows)]).filter(
        pl.col("value").str.starts_with("arn:")
    )
    ips = rows.select(pl.col("source_ip").alias("value"), "row")
    return {
        "source_ips": ips,
        "access_keys": rows.select(pl.col("access_key_id").alias("value"), "row"),
        "arns": arns,
        "user_agents": rows.select(pl.col("user_agent").alias("value"), "row"),
        "regions": rows.select(pl.col("aws_region").alias("value"), "row"),
    }


def _indicator_tables(
    events: pl.DataFrame, given: dict[str, list[str]] | None
) -> dict[str, pl.DataFrame]:
    """kind -> (value, events, first_seen, last_seen), sorted by value.

    Values come from the events, or from ``given`` (a blast radius's own ``indicators()``, which
    may name things no event in the result carries, e.g. a resource only in the graph).
    """
    times = events.with_row_index("row").select("row", "event_time")
    long = _indicator_values(events)
    out = {}
    for kind in INDICATOR_KINDS:
        seen = (
            long[kind]
            .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
            .unique()
            .join(times, on="row", how="left")
            .group_by("value")
            .agg(
                pl.len().alias("events"),
                pl.col("event_time").min().alias("first_seen"),
                pl.col("event_time").max().alias("last_seen"),
            )
        )
        if given is not None:
            values = {str(v) for v in given.get(kind, []) or [] if v not in (None, "")}
            if kind == "arns":  # what the result touched is an indicator too
                values |= set(seen.get_column("value").to_list())
            values = sorted(values)
            table = (
                pl.DataFrame({"value": values}, schema={"value": pl.String})
                .join(seen, on="value", how="left")
                .with_columns(pl.col("events").fill_null(0).cast(pl.UInt32))
            )
        else:
            if kind == "source_ips":  # service names ("ec2.amazonaws.com") are not IPs
                seen = seen.filter(pl.col("value").str.contains(_IP_LIKE.pattern))
            table = seen.with_columns(pl.col("events").cast(pl.UInt32))
        out[kind] = table.sort(["events", "value"], descending=[True, False]).select(
            "value", "events", "first_seen", "last_seen"
        )
    return out


def indicators_frame(facts: Facts) -> pl.DataFrame:
    """Every indicator of a ticket in one long table (``indicators.csv``): kind, value, counts
    (and, with enrichment, what each source IP is: ``about`` and the enrichment columns)."""
    parts = []
    for kind, table in facts.indicators.items():
        part = table.select(
            pl.lit(kind).alias("kind"),
            "value",
            pl.col("events").cast(pl.UInt32),
            "first_seen",
            "last_seen",
            *(["about"] if "about" in table.columns else []),
        )
        if kind == "source_ips" and facts.ip_enrichment is not None:
            part = part.join(facts.ip_enrichment, on="value", how="left", maintain_order="left")
        parts.append(part)
    if not parts:
        return pl.DataFrame(schema={"kind": pl.String, "value": pl.String, "events": pl.UInt32})
    return pl.concat(parts, how="diagonal_relaxed")


#: Enrichment columns a ticket carries for each source IP (see ``fx.enrich``).
_IP_COLUMNS = ("ip_kind", "aws_services", "aws_ip_region", "asn", "as_org", "country_code")


def enrich_indicators(facts: Facts, spec: Any) -> None:
    """Add what each source IP indicator is (``about``; enrichment columns in indicators.csv).

    ``spec``: ``True``, a dict of ``fx.enrich`` options (``ip_ranges=``, ``mmdb=``), the path
    of ``ip-ranges.json`` or a table from ``fx.enrich``.
    """
    from forensics.enrichment import describe_ips, enrichment_table  # analyses below views

    table = facts.indicators.get("source_ips")
    if table is None:
        return
    info = enrichment_table(spec, table.get_column("value").drop_nulls().unique())
    columns = info.select(
        pl.col("source_ip").alias("value"),
        *(pl.col(c) if c in info.columns else pl.lit(None).alias(c) for c in _IP_COLUMNS),
    )
    about = describe_ips(info).rename({"source_ip": "value"})
    facts.indicators["source_ips"] = table.join(
        about, on="value", how="left", maintain_order="left"
    ).select("value", "events", "first_seen", "last_seen", "about")
    facts.ip_enrichment = columns.with_columns(
        pl.col("aws_services").cast(pl.List(pl.String)).list.join(" ")
    )


#: Counts that are the length of an indicator list: the summary's numbers and lists agree.
_COUNTED_INDICATORS = {
    "source IPs": "source_ips",
    "access keys": "access_keys",
    "user agents": "user_agents",
    "regions": "regions",
}


def _principals(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.group_by("principal")
        .agg(
            pl.col("identity_type")
            .drop_nulls()
            .unique()
            .sort()
            .str.join(", ")
            .alias("identity_types"),
            pl.len().alias("events"),
            pl.col("error_code").is_not_null().sum().alias("errors"),
            pl.col("access_key_id").drop_nulls().n_unique().alias("access_keys"),
            pl.col("source_ip").drop_nulls().n_unique().alias("source_ips"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
        )
        .sort(["events", "principal"], descending=[True, False], nulls_last=True)
    )


def _actions(events: pl.DataFrame, top: int = 25) -> pl.DataFrame:
    return (
        events.group_by("event_source", "event_name")
        .agg(
            pl.len().alias("events"),
            pl.col("error_code").is_not_null().sum().alias("errors"),
            is_denied(pl.col("error_code")).fill_null(False).sum().alias("denied"),
            pl.col("event_time").min().alias("first_seen"),
        )
        .sort(["events", "event_source", "event_name"], descending=[True, False, False])
        .head(top)
    )


def _counts(events: pl.DataFrame) -> list[tuple[str, int]]:
    if events.height == 0:
        return [("events", 0)]
    row = events.select(
        pl.len().alias("events"),
        pl.col("principal").n_unique().alias("principals"),
        pl.col("principal_arn").drop_nulls().n_unique().alias("principal ARNs / sessions"),
        pl.col("access_key_id").drop_nulls().n_unique().alias("access keys"),
        pl.col("source_ip").drop_nulls().n_unique().alias("source IPs"),
        pl.col("user_agent").drop_nulls().n_unique().alias("user agents"),
        pl.col("recipient_account_id").drop_nulls().n_unique().alias("accounts"),
        pl.col("aws_region").drop_nulls().n_unique().alias("regions"),
        pl.col("event_source").drop_nulls().n_unique().alias("services"),
        pl.col("event_name").drop_nulls().n_unique().alias("distinct API calls"),
        (pl.col("read_only") == False).sum().alias("write calls (readOnly=false)"),  # noqa: E712
        pl.col("error_code").is_not_null().sum().alias("failed calls"),
        is_denied(pl.col("error_code")).fill_null(False).sum().alias("access denied"),
        pl.col("source_file").drop_nulls().n_unique().alias("input log files"),
    ).row(0, named=True)
    return [(name, int(value or 0)) for name, value in row.items()]


def _sorted_table(frame: pl.DataFrame) -> pl.DataFrame:
    """A result's side table in a stable order (sorted on every scalar column)."""
    keys = [
        n
        for n, d in frame.schema.items()
        if not isinstance(d, pl.List | pl.Struct | pl.Array | pl.Object)
    ]
    if not keys:
        return frame
    cast = frame.with_columns(
        pl.col(n).cast(pl.String) for n in keys if frame.schema[n] == pl.Categorical
    )
    return cast.sort(keys, nulls_last=True, maintain_order=True)


def _timeline(events: pl.DataFrame, findings: Any = None) -> Any:
    """The notebook's timeline (``fx.charts``) split by principal when there are several;
    ``findings`` are marked on it."""
    by = "principal" if events.get_column("principal").n_unique() > 1 else "event_source"
    try:
        from forensics.charts import timeline
    except ModuleNotFoundError:  # an installation without the charts part
        from forensics.export._timeline import timeline_chart

        return timeline_chart(events, by=by)
    # a picture: nothing to drag
    return timeline(events, by=by, overview=False, brush=False, findings=findings)


def facts_of(
    result: Any,
    *,
    title: str | None = None,
    redact: bool = True,
    generated_at: datetime | str | None = None,
    enrich: Any = None,
) -> Facts:
    """Collect the facts of a ``Trail`` or a blast-radius result (duck-typed); ``enrich``
    (see :func:`enrich_indicators`) says what each source IP indicator is."""
    from forensics.export._timeline import actions_chart

    events = getattr(result, "events", None)
    if isinstance(events, pl.LazyFrame):
        events = events.collect()
    if not isinstance(events, pl.DataFrame):
        raise TypeError(
            "ticket() takes a Trail or a blast-radius result (something with an .events "
            f"DataFrame), got {type(result).__name__}"
        )
    events = _sorted_events(events)
    if redact:
        events = redact_frame(events)
    filters = [str(f) for f in (getattr(result, "filters", None) or ())]
    blast = is_blast_radius(result)
    facts = Facts(
        title="",
        kind="blast radius" if blast else "trail",
        events=events,
        filters=filters,
        redacted=redact,
        generated_at=to_utc(generated_at) if generated_at is not None else None,
    )
    if not blast and hasattr(result, "lazy") and events.height:
        facts.not_logged = _not_logged(result, events)
    if blast:
        facts.seed = None if getattr(result, "seed", None) is None else str(result.seed)
        facts.since = to_utc(getattr(result, "since", None))
        facts.until = to_utc(getattr(result, "until", None))
        facts.summary_text = str(result.summary())
        given = {k: list(v or []) for k, v in dict(result.indicators()).items()}
        resources = getattr(result, "resources", None)
        if isinstance(resources, pl.DataFrame) and "arn" in resources.columns:
            given["arns"] = [*given.get("arns", []), *resources.get_column("arn").drop_nulls()]
        facts.indicators = _indicator_tables(events, given)
        facts.charts["blast_radius"] = result.chart()
        for name in ("credentials", "principals", "resources", "denied"):
            table = getattr(result, name, None)
            if isinstance(table, pl.DataFrame):
                if name == "denied":
                    table = _sorted_events(table)
                    if redact:
                        table = redact_frame(table)
                else:
                    table = _sorted_table(table)
                facts.tables[name] = table
    else:
        facts.indicators = _indicator_tables(events, None)
    if enrich is not None and enrich is not False:
        enrich_indicators(facts, enrich)
    facts.principals = _principals(events)
    facts.actions = _actions(events)
    facts.counts = [
        (name, facts.indicators[_COUNTED_INDICATORS[name]].height)
        if name in _COUNTED_INDICATORS and _COUNTED_INDICATORS[name] in facts.indicators
        else (name, value)
        for name, value in _counts(events)
    ]
    facts.charts["timeline"] = _timeline(events)
    facts.charts["actions"] = actions_chart(events)
    if title:
        facts.title = title
    elif blast:
        facts.title = f"Blast radius of {facts.seed}"
    else:
        principals = facts.principals.get_column("principal").drop_nulls().to_list()
        who = principals[0] if len(principals) == 1 else f"{len(principals)} principals"
        facts.title = f"CloudTrail events of {who}"
    return facts


def _not_logged(trail: Any, events: pl.DataFrame) -> list[str]:
    """Logging off in the events' span, and S3 buckets named with no data event in the trail."""
    from forensics.integrity._absence import window_notes

    buckets = (
        events.select(pl.col("request_parameters").str.json_path_match("$.bucketName").alias("b"))
        .drop_nulls()
        .unique()
    )
    touched = buckets.select((pl.lit("arn:aws:s3:::") + pl.col("b")).alias("arn"))
    return window_notes(trail, events["event_time"].min(), events["event_time"].max(), touched)
