"""First-seen findings: a pair never seen during the learning window, seen afterwards.

Pairs (each a finding with its own level): the actor (or principal) and the API it called, an
access key and the source IP it was used from, the actor and a region, the actor and a user-agent
family (``aws-cli``, ``boto3``, ``console``, ...), and the actor and an autonomous system (when
the frame carries an ``asn`` column, e.g. after :func:`forensics.enrichment.add_ip_columns`).

One ``group_by`` per pair over the lazy events, all collected together.

>>> import polars as pl
>>> pl.select(ua_family(pl.lit("aws-cli/2.15.0 Python/3.11.6 Linux/6.1"))).item()
'aws-cli'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from forensics._schema import to_utc
from forensics.baseline._attack import attack_tags
from forensics.baseline._findings import conform_findings, empty_findings
from forensics.baseline._insights_compute import _lazy, _minutes
from forensics.identity._actors import ACTOR_INPUTS, actor_expr, actor_groups

__all__ = ["FIRST_SEEN_PAIRS", "Pair", "first_seen", "ua_family"]


@dataclass(frozen=True)
class Pair:
    """One kind of first-seen pair: who (``entity``) did something new (``value``)."""

    name: str
    entity: str  # a column, or "who": actor when the table has one, else principal
    value: str  # a column, or "api" / "ua_family"
    level: str
    title: str


FIRST_SEEN_PAIRS: tuple[Pair, ...] = (
    Pair("api", "who", "api", "low", "first call of {value} by {entity}"),
    Pair("key_ip", "access_key_id", "source_ip", "medium", "access key {entity} first used from {value}"),
    Pair("region", "who", "aws_region", "medium", "{entity} first active in region {value}"),
    Pair("user_agent", "who", "ua_family", "low", "{entity} first seen with user agent {value}"),
    Pair("asn", "who", "asn", "medium", "{entity} first seen from AS{value}"),
)  # fmt: skip

_CARRY = (
    "event_id", "principal", "actor", "access_key_id", "account_id", "aws_region", "source_ip",
)  # fmt: skip


def ua_family(user_agent: pl.Expr) -> pl.Expr:
    """The tool a user agent names: its first product token, lower-cased, brackets dropped.

    ``[S3Console/0.4, aws-internal/3]`` -> ``s3console``; ``Mozilla/5.0 (...)`` -> ``browser``;
    ``console.amazonaws.com`` stays as it is.

    >>> pl.select(ua_family(pl.lit("Boto3/1.34.0 md/Botocore#1.34.0"))).item()
    'boto3'
    """
    token = (
        user_agent.str.strip_chars().str.extract(r"^\[?\s*([^/\s\[\]();,]+)", 1).str.to_lowercase()
    )
    return pl.when(token.is_in(["mozilla", "opera"])).then(pl.lit("browser")).otherwise(token)


def _value_columns(pair: Pair) -> list[pl.Expr]:
    """The columns a pair's value is made of (``api``: source and name; ``ua_family``: the user
    agent, reduced to its family later)."""
    if pair.value == "api":
        return [pl.col("event_source").fill_null("?"), pl.col("event_name")]
    if pair.value == "ua_family":
        return [pl.col("user_agent")]
    return [pl.col(pair.value)]


def _who_combos(
    trail: Any, base: pl.LazyFrame, who: pl.Expr, chosen: tuple[Pair, ...], first_row: pl.Expr
) -> pl.DataFrame:
    """One row per (who, every value column of the chosen pairs of an actor) with its first
    and last time, events and first row (``first_row``): ``who`` is the actor propagated down
    the lineage when ``trail`` is given (a Trail), else as ``who`` reads it."""
    values = list(
        dict.fromkeys(
            v.meta.output_name() for p in chosen if p.entity == "who" for v in _value_columns(p)
        )
    )
    aggs = [
        pl.col("event_time").min().alias("time"),
        pl.col("event_time").max().alias("end_time"),
        pl.len().alias("count"),
        first_row,
    ]
    if trail is None:
        frame = base.select(who, *values, "event_time", "_row").filter(pl.col("who").is_not_null())
        return frame.group_by("who", *values).agg(*aggs).collect(engine="streaming")
    # grouped by what decides the actor first, the actor worked out per group (not per event)
    groups = actor_groups(trail, base, values, aggs)
    return groups.select(who, *values, "time", "end_time", "count", "_row").filter(
        pl.col("who").is_not_null()
    )


def _default_learning(start: datetime, end: datetime) -> timedelta:
    return min(timedelta(days=7), (end - start) / 3)


def first_seen(
    trail: Any,
    *,
    learning: str | timedelta | None = None,
    until: datetime | str | None = None,
    pairs: tuple[Pair, ...] | list[str] | None = None,
    who: str = "actor",
    new_entities: bool = False,
) -> pl.DataFrame:
    """First-seen findings (:data:`~forensics.baseline.FINDINGS_SCHEMA`), one per new pair.

    The learning window runs from the first event to ``until`` (or the first event +
    ``learning``; by default the first third of the trail, at most seven days): pairs seen in it are known,
    a pair first seen after it is a finding, dated at its first event, with its event count and
    last time in ``details``. A first call of an API that attackers are known to abuse (Suzaku's
    list, :func:`~forensics.baseline.attack_tags`) is ``medium`` rather than ``low``.

    An entity that is itself new (not seen while learning: a fresh session key, a new role)
    makes every pair new; those pairs are left out unless ``new_entities=True``, which keeps
    them as ``informational`` findings. A long-term access key (``AKIA...``) that was not used
    while learning is not such an entity: its first source IP is a ``medium`` finding.

    ``pairs`` picks kinds by name (``["api", "key_ip", "region", "user_agent", "asn"]``);
    ``asn`` needs an ``asn`` column (see :func:`forensics.enrichment.add_ip_columns`).
    ``who="actor"`` uses the ``actor`` column when there is one, else ``principal``.

    >>> from forensics._schema import empty_events
    >>> first_seen(empty_events()).height
    0
    """
    # the actor propagated down the credential lineage (a role session's person), when the
    # input is a Trail; the raw column only names the actor a record shows itself. It is
    # worked out per group of events below (actor_groups), never per event
    propagate = who == "actor" and hasattr(trail, "with_actors")
    lf = _lazy(trail)
    names = set(lf.collect_schema().names())
    propagate = propagate and "actor" in names
    who_col = who if who in names else "principal"
    chosen = FIRST_SEEN_PAIRS
    if pairs is not None:
        known = {p.name: p for p in FIRST_SEEN_PAIRS}
        wanted = [known.get(p, p) if isinstance(p, str) else p for p in pairs]
        bad = [p for p in wanted if isinstance(p, str)]
        if bad:
            raise ValueError(f"unknown first-seen pair(s) {bad}; choose from {sorted(known)}")
        chosen = tuple(wanted)  # type: ignore[arg-type]
    if "asn" not in names:
        chosen = tuple(p for p in chosen if p.value != "asn")
    bounds = lf.select(
        pl.col("event_time").min().alias("a"), pl.col("event_time").max().alias("b")
    ).collect(engine="streaming")
    start, end = bounds["a"].item(), bounds["b"].item()
    if start is None or not chosen:
        return empty_findings()
    if until is not None:
        cut = to_utc(until)
    else:
        if learning is None:
            span = _default_learning(start, end)
        elif isinstance(learning, timedelta):
            span = learning
        else:
            span = timedelta(minutes=_minutes(learning, "learning"))
        cut = start + span
    # Phase 1: one narrow group_by per pair (first/last time, count, row of the first event);
    # user agents are grouped as they are, then folded into families (no regex over every row).
    base = lf.filter((pl.col("event_category") != "Insight").fill_null(True)).with_row_index("_row")
    who_expr = (pl.coalesce("actor", "principal") if who_col == "actor" else pl.col(who_col)).alias(
        "who"
    )
    if "asn" in names:
        base = base.with_columns(pl.col("asn").cast(pl.String))
    # The events table is sorted by time (its contract): then the first event of a group is its
    # lowest row, far cheaper than the row at the earliest time, which is the fallback.
    in_order = (
        base.select(pl.col("event_time").diff().dt.total_microseconds().min() >= 0)
        .collect(engine="streaming")
        .item()
        is not False
    )
    first_row = (
        pl.col("_row").min() if in_order else pl.col("_row").get(pl.col("event_time").arg_min())
    ).alias("_row")
    # The pairs of an actor ("who") come from one group_by over every value they need (a few
    # thousand combinations), made once with the propagated actor, then folded per pair.
    combos = None
    if any(p.entity == "who" for p in chosen):
        combos = _who_combos(trail if propagate else None, base, who_expr, chosen, first_row)
    plans = []
    for pair in chosen:
        value_cols = _value_columns(pair)
        keys = ["who", *(v.meta.output_name() for v in value_cols)]
        present = pl.all_horizontal(pl.col(c).is_not_null() for c in keys)
        if combos is not None and pair.entity == "who":
            firsts = (
                pl.col("_row").min() if in_order else pl.col("_row").sort_by("time", "_row").first()
            )
            grouped = (
                combos.lazy()
                .select(*keys[:1], *value_cols, "time", "end_time", "count", "_row")
                .filter(present)
                .group_by(keys)
                .agg(
                    pl.col("time").min(),
                    pl.col("end_time").max(),
                    pl.col("count").sum().cast(pl.UInt32),
                    firsts.alias("_row"),
                )
            )
        else:
            ent = pl.col(pair.entity).alias("who")
            data = base.select(ent, *value_cols, "event_time", "_row").filter(present)
            grouped = data.group_by(keys).agg(
                pl.col("event_time").min().alias("time"),
                pl.col("event_time").max().alias("end_time"),
                pl.len().alias("count"),
                first_row,
            )
        if pair.value == "api":
            grouped = grouped.with_columns(
                pl.concat_str("event_source", pl.lit(":"), "event_name").alias("value")
            )
        elif pair.value == "ua_family":
            grouped = (
                grouped.with_columns(ua_family(pl.col("user_agent")).alias("value"))
                .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
                .sort("time")
                .group_by("who", "value")
                .agg(
                    pl.col("time").first(),
                    pl.col("end_time").max(),
                    pl.col("count").sum(),
                    pl.col("_row").first(),
                )
            )
        else:
            grouped = grouped.rename({pair.value: "value"}).filter(pl.col("value") != "")
            if pair.value == "source_ip":
                # a service acting for the caller (s3.amazonaws.com, AWS Internal) is no address
                grouped = grouped.filter(
                    ~pl.col("value").str.contains(r"(?i)amazonaws\.com$|^aws internal$")
                )
        known = grouped.group_by("who").agg((pl.col("time").min() < cut).alias("_known"))
        plans.append(
            grouped.filter(pl.col("time") >= cut)
            .join(known, on="who", how="left")
            .with_columns(
                # a long-term key (AKIA...) unseen while learning is news in itself, unlike a
                # fresh session key (ASIA...): it is kept and ranked like a known entity
                (
                    pl.col("_known").fill_null(False)
                    | pl.col("who").cast(pl.String).str.starts_with("AKIA").fill_null(False)
                ).alias("_known")
            )
            .filter(pl.col("_known") | pl.lit(new_entities))
            .select(
                "who",
                pl.col("value").cast(pl.String),
                "time",
                "end_time",
                "count",
                "_row",
                "_known",
            )
        )
    found = pl.collect_all(plans, engine="streaming")
    # Phase 2: the first event of each new pair (a handful of rows), for its ids and context.
    rows = pl.concat([f.select("_row") for f in found]).unique()["_row"]
    wanted = {"_row", "event_name", "principal", *_CARRY, *(ACTOR_INPUTS if propagate else ())}
    carry = (
        base.filter(pl.col("_row").is_in(rows.implode()))
        .select([c for c in base.collect_schema().names() if c in wanted])
        .collect(engine="streaming")
    )
    if propagate:  # the propagated actor of these few rows, worked out on them
        carry = carry.with_columns(actor_expr(trail, rows=carry))
    carry = (
        carry.select(
            "_row",
            *(pl.col(c) if c in names else pl.lit(None, pl.String).alias(c) for c in _CARRY
              if c != "actor"),
            (pl.coalesce("actor", "principal") if "actor" in names else pl.col("principal"))
            .alias("actor"),
            "event_name",
        )
    )  # fmt: skip
    tags = attack_tags().select("event_name", "tags", pl.lit(True).alias("_abused"))
    frames = []
    for pair, new in zip(chosen, found, strict=True):
        new = new.join(carry, on="_row", how="left").join(tags, on="event_name", how="left")
        entity_s, value_s = pl.col("who").cast(pl.String), pl.col("value")
        pieces = re.split(r"(\{entity\}|\{value\})", pair.title)
        title = pl.concat_str(
            [
                entity_s if part == "{entity}" else value_s if part == "{value}" else pl.lit(part)
                for part in pieces
                if part
            ]
        )
        frames.append(
            new.select(
                pl.lit(f"first_seen.{pair.name}").alias("rule_id"),
                title.alias("title"),
                pl.when(~pl.col("_known"))
                .then(pl.lit("informational"))
                .when(pl.lit(pair.value == "api") & pl.col("_abused").fill_null(False))
                .then(pl.lit("medium"))  # an API attackers are known to abuse
                .otherwise(pl.lit(pair.level))
                .alias("level"),
                (
                    pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String)))
                    if pair.value == "api"
                    else pl.lit([], dtype=pl.List(pl.String))
                ).alias("tags"),
                pl.concat_list(pl.col("event_id")).alias("event_ids"),
                "time",
                "end_time",
                "principal",
                "actor",
                "access_key_id",
                "account_id",
                "aws_region",
                pl.struct(
                    pl.lit(pair.name).alias("pair"),
                    entity_s.alias("entity"),
                    value_s.alias("value"),
                    pl.col("count"),
                    pl.col("_known").alias("entity_seen_while_learning"),
                    pl.lit(cut).dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("learning_until"),
                )
                .struct.json_encode()
                .alias("details"),
                "source_ip",
                pl.lit("first_seen").alias("kind"),
                pl.lit("forensics.baseline (first-seen)").alias("rule_source"),
                pl.lit("trail forensics").alias("rule_author"),
            )
        )
    out = pl.concat([conform_findings(f) for f in frames]) if frames else empty_findings()
    return out.sort("time", "rule_id", "title")
