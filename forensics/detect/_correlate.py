"""Sigma correlation rules as Polars windows over the base rules' matches.

* ``event_count``: per group, a window of ``timespan`` ending at each matched event
  (``[t - timespan, t]``) counts events; windows meeting the condition, and overlapping ones,
  merge into one hit whose members are every matched event of the group inside them.
* ``value_count``: the same, counting distinct values of ``condition.field``.
* ``temporal``: every base rule (or ``condition`` many of them) matched within the window.
* ``temporal_ordered``: the base rules matched in their listed order within ``timespan``; each
  chain starts at an event of the first rule and takes the earliest next match of each following
  rule (which gives the shortest chain for that start); one hit per chain end.

A hit is a list of member row numbers; :func:`correlate` returns them as a List(UInt32) Series.
"""

from __future__ import annotations

import polars as pl

from forensics.detect._fields import value_expr
from forensics.detect._rules import Correlation

__all__ = ["correlate"]

_ROW = "__row"


def _ok(col: pl.Expr, op: str | None, count: float | None) -> pl.Expr:
    if op is None or count is None:
        return pl.lit(True)
    return {
        "gte": col >= count,
        "gt": col > count,
        "lte": col <= count,
        "lt": col < count,
        "eq": col == count,
        "neq": col != count,
    }[op]


def _measure(corr: Correlation) -> pl.Expr | None:
    """What a window of the correlation counts (None for ``temporal_ordered``)."""
    if corr.type == "event_count":
        return pl.len()
    if corr.type == "value_count":
        return pl.col("__v").drop_nulls().n_unique()
    if corr.type == "temporal":  # distinct base rules seen in the window
        return pl.col("__rule").n_unique()
    return None


def _condition(corr: Correlation) -> tuple[str | None, float | None]:
    """The comparison a window's measure must pass (``temporal``: every rule by default)."""
    if corr.type == "temporal" and corr.op is None:
        return "gte", float(len(corr.rules))
    return corr.op, corr.count


#: Conditions a larger count can only help: a window cannot pass them if its whole group fails.
_GROWING = ("gte", "gt")


def _events(frame: pl.DataFrame, corr: Correlation, matches: dict[str, pl.Series]) -> pl.DataFrame:
    parts = []
    n_keys = len(corr.group_by[0]) if corr.group_by else 0
    for i, rid in enumerate(corr.rules):
        rows = matches.get(rid)
        if rows is None or rows.len() == 0:
            continue
        keys = [
            value_expr(corr.group_by[i][k]).fill_null("").alias(f"__g{k}") for k in range(n_keys)
        ]
        value = (
            [value_expr(corr.value_field[i]).alias("__v")]
            if corr.value_field is not None
            else [pl.lit(None, pl.String).alias("__v")]
        )
        needed = {_ROW, "event_time"} | {c for e in (*keys, *value) for c in e.meta.root_names()}
        sub = frame.select([c for c in frame.columns if c in needed])[rows.cast(pl.UInt32)]
        parts.append(
            sub.select(
                pl.col(_ROW),
                pl.col("event_time"),
                pl.lit(i, pl.Int32).alias("__rule"),
                *keys,
                *value,
            )
        )
    if not parts:
        return pl.DataFrame()
    ev = pl.concat(parts).unique(subset=[_ROW, "__rule"]).drop_nulls("event_time")
    keys = [f"__g{k}" for k in range(n_keys)] or ["__all"]
    if n_keys == 0:
        ev = ev.with_columns(pl.lit("").alias("__all"))
    measure = _measure(corr)
    op, count = _condition(corr)
    if measure is not None and op in _GROWING:
        # a window holds a subset of its group's events: a group whose whole count (or number
        # of distinct values / rules) fails a "gte"/"gt" condition has no window that meets it
        able = ev.group_by(keys).agg(measure.alias("__n")).filter(_ok(pl.col("__n"), op, count))
        ev = ev.join(able.select(keys), on=keys, how="semi", nulls_equal=True)
    # one integer per group (``__id``): the windows are sorted and found on it, not on the text
    ids = ev.select(keys).unique().with_row_index("__id")
    return ev.join(ids, on=keys, how="left", nulls_equal=True)


def correlate(frame: pl.DataFrame, corr: Correlation, matches: dict[str, pl.Series]) -> pl.Series:
    """Hits of one correlation: a Series of member row lists (one list per hit)."""
    empty = pl.Series("hits", [], dtype=pl.List(pl.UInt32))
    ev = _events(frame, corr, matches)
    if ev.height == 0:
        return empty
    keys = [c for c in ev.columns if c.startswith("__g")] or ["__all"]
    if corr.type == "temporal_ordered":
        return _ordered(ev.drop("__id").sort([*keys, "event_time", _ROW]), corr, keys)
    ev = ev.sort(["__id", "event_time", _ROW])
    period = f"{corr.timespan}s"
    measure = _measure(corr)
    op, count = _condition(corr)
    windows = (
        ev.rolling(index_column="event_time", period=period, group_by="__id", closed="both")
        .agg(measure.alias("__n"))
        .filter(_ok(pl.col("__n"), op, count))
    )
    if windows.height == 0:
        return empty
    span = pl.duration(seconds=corr.timespan)
    # a burst: windows of one group that overlap, numbered across groups (a new group or a
    # window starting after the previous one's end starts the next burst)
    fresh = (pl.col("__id") != pl.col("__id").shift(1)) | (
        pl.col("__start") > pl.col("event_time").shift(1)
    )
    bursts = (
        windows.select("__id", "event_time")
        .unique()
        .sort(["__id", "event_time"])
        .with_columns((pl.col("event_time") - span).alias("__start"))
        .with_columns(fresh.fill_null(True).cum_sum().alias("__burst"))
        .group_by(["__id", "__burst"])
        .agg(pl.col("__start").min(), pl.col("event_time").max().alias("__end"))
        .sort("__start")
    )
    members = (
        ev.sort("event_time")
        .join_asof(
            bursts,
            left_on="event_time",
            right_on="__start",
            by="__id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("event_time") <= pl.col("__end"))
        .group_by(["__id", "__burst"])
        .agg(pl.col(_ROW).unique().sort(), pl.col("event_time").min().alias("__t"))
        .sort("__t")
    )
    return members[_ROW].cast(pl.List(pl.UInt32)).alias("hits")


def _ordered(ev: pl.DataFrame, corr: Correlation, keys: list[str]) -> pl.Series:
    k = len(corr.rules)
    step = ev.filter(pl.col("__rule") == 0).select(
        *keys, pl.col("event_time").alias("__t0"), pl.col(_ROW).alias("__r0")
    )
    step = step.with_columns(pl.col("__t0").alias("__tcur"))
    for j in range(1, k):
        right = (
            ev.filter(pl.col("__rule") == j)
            .select(*keys, pl.col("event_time").alias(f"__t{j}"), pl.col(_ROW).alias(f"__r{j}"))
            .sort(f"__t{j}")
        )
        step = (
            step.sort("__tcur")
            .join_asof(
                right,
                left_on="__tcur",
                right_on=f"__t{j}",
                by=keys,
                strategy="forward",
                check_sortedness=False,
            )
            .drop_nulls(f"__r{j}")
            .with_columns(pl.col(f"__t{j}").alias("__tcur"))
        )
        if step.height == 0:
            return pl.Series("hits", [], dtype=pl.List(pl.UInt32))
    last = f"__r{k - 1}"
    step = step.filter(pl.col("__tcur") - pl.col("__t0") <= pl.duration(seconds=corr.timespan))
    # several starts reaching the same end: keep the latest start (the tightest chain)
    step = step.sort("__t0").group_by([*keys, last]).last().sort("__t0")
    hits = step.select(
        pl.concat_list([pl.col(f"__r{j}") for j in range(k)]).list.unique().list.sort()
    ).to_series()
    return hits.cast(pl.List(pl.UInt32)).alias("hits")
