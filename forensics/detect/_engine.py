"""Running compiled rules over the events table, fast.

Most CloudTrail rules name the API they watch (``eventName: StopLogging``). The engine groups the
table's row numbers by lower-cased event name once, then runs each batch of rules that watch the
same names only on those rows (gathering just the columns they read), with all the batch's
predicates in one Polars ``select`` (run in parallel, shared sub-expressions computed once).
Rules that do not name an API run together over the whole table. Within a rule, the conjuncts that
read only columns run first and the ones that read JSON text run on the rows those kept.

The result is, per rule key, the row numbers (``__row``: positions in the table) it matched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl

from forensics._batches import batches
from forensics.detect._correlate import correlate
from forensics.detect._fields import decoding_once, value_expr
from forensics.detect._rules import Rule, RuleSet

__all__ = ["BATCH_ROWS", "ROW", "match_in_batches", "match_rows", "rule_columns"]

ROW = "__row"


def _row_index(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index(ROW)


def match_rows(
    frame: pl.DataFrame, ruleset: RuleSet, *, correlations: bool = True
) -> dict[str, pl.Series]:
    """Row numbers each rule matches (detections, then correlations over those, unless
    ``correlations=False``)."""
    frame = _row_index(frame)
    out: dict[str, pl.Series] = {}
    if frame.height == 0:
        empty = pl.Series(ROW, [], dtype=pl.UInt32)
        return {r.key: empty for r in ruleset.rules}
    # the event names (as written; a few hundred) and, by lower-cased name, their rows; only
    # the rows of a name some rule watches are grouped (most rows are no rule's API)
    names_seen = frame.select(pl.col("event_name").unique().drop_nulls())
    by_names: dict[frozenset[str] | None, list[Rule]] = defaultdict(list)
    for rule in ruleset.rules:
        plan = rule.plan
        if plan is None:
            continue
        if plan.names is not None:
            by_names[plan.names].append(rule)
        elif plan.name_filter is not None:  # eventName|startswith ...: which names pass
            kept = names_seen.filter(plan.name_filter)["event_name"]
            by_names[frozenset(n.lower() for n in kept)].append(rule)
        else:
            by_names[None].append(rule)
    watched = set().union(*(names for names in by_names if names is not None))
    written = [n for n in names_seen["event_name"] if n.lower() in watched]
    grouped = (
        frame.select("event_name", ROW)
        .filter(pl.col("event_name").is_in(written))
        .group_by("event_name")
        .agg(pl.col(ROW))
    )
    groups: dict[str, list[pl.Series]] = defaultdict(list)
    for name, rows in zip(grouped["event_name"], grouped[ROW], strict=True):
        groups[name.lower()].append(rows)
    for names, rules in by_names.items():
        if names is None:
            sub = frame
        else:
            present = [rows for n in sorted(names) for rows in groups.get(n, ())]
            if not present:
                empty = pl.Series(ROW, [], dtype=pl.UInt32)
                out.update({r.key: empty for r in rules})
                continue
            idx = pl.concat(present).cast(pl.UInt32)
            cols = {ROW} | {c for r in rules for c in r.plan.columns}  # type: ignore[union-attr]
            sub = frame.select([c for c in frame.columns if c in cols])[idx]
        out.update(_run_batch(sub, rules))
    if correlations:
        _correlate_all(frame, ruleset, out)
    return out


def _correlate_all(frame: pl.DataFrame, ruleset: RuleSet, out: dict[str, pl.Series]) -> None:
    for rule in ruleset.rules:
        if rule.correlation is not None:
            out[rule.key] = correlate(frame, rule.correlation, out)


#: Events read per batch by :func:`match_in_batches` (bounds the memory of a large trail).
BATCH_ROWS = 250_000

#: Columns the findings are built from (besides what the rules read).
_FINDING_COLUMNS = (
    "event_name",
    "event_time",
    "event_id",
    "principal",
    "actor",
    "access_key_id",
    "recipient_account_id",
    "account_id",
    "aws_region",
    "source_ip",
)


def _needed(schema: pl.Schema, ruleset: RuleSet, extra: Iterable[str] = ()) -> list[str]:
    """The columns the rules, their correlations, the findings and ``extra`` read, in table
    order."""
    cols = rule_columns(ruleset) | set(_FINDING_COLUMNS) | set(extra)
    return [c for c in schema.names() if c in cols]


def rule_columns(ruleset: RuleSet) -> set[str]:
    """The columns the rules' detections and their correlations read."""
    cols = _correlation_columns(ruleset)
    for rule in ruleset.rules:
        if rule.plan is not None:
            cols |= rule.plan.columns
    return cols


def _correlation_columns(ruleset: RuleSet) -> set[str]:
    """The columns the correlations read (their group-by and value fields)."""
    cols: set[str] = set()
    for rule in ruleset.rules:
        corr = rule.correlation
        if corr is not None:
            fields = [f for keys in (corr.group_by or ()) for f in keys]
            fields += [f for f in (corr.value_field or ()) if f]
            for f in fields:
                cols |= set(value_expr(f).meta.root_names())
    return cols


def match_in_batches(
    lazy: pl.LazyFrame,
    ruleset: RuleSet,
    *,
    batch_rows: int | None = None,
    extra: Iterable[str] = (),
) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """:func:`match_rows` over a lazy table read in batches (Polars' streaming engine).

    Only the columns the rules read (and ``extra`` ones) are read, ``batch_rows`` events at a
    time; the rows some rule matched are kept (a small table), and the correlations run over
    those at the end. Returns that table of matched rows (the columns the findings, the
    correlations and ``extra`` need) and, per rule key, row numbers into it.
    """
    schema = lazy.collect_schema()
    extra = set(extra)
    columns = _needed(schema, ruleset, extra)
    # what the kept rows need once matched (not, e.g., the JSON text a detection read)
    after = {*_FINDING_COLUMNS, *_correlation_columns(ruleset), *extra}
    keep = [c for c in columns if c in after]
    kept: list[pl.DataFrame] = []
    found: dict[str, list[pl.Series]] = defaultdict(list)
    offset = 0
    for _, batch in batches(lazy.select(columns), batch_rows or BATCH_ROWS, desc="detect"):
        if batch.height == 0:
            continue
        local = match_rows(batch, ruleset, correlations=False)
        hit = [rows for rows in local.values() if rows.len()]
        if hit:
            rows = pl.concat([r.cast(pl.UInt32) for r in hit]).unique().sort()
            kept.append(
                batch.select(pl.col(keep).gather(rows)).with_columns(
                    (rows.cast(pl.Int64) + offset).alias(_GLOBAL)
                )
            )
        for key, rows in local.items():
            found[key].append(rows.cast(pl.Int64) + offset)
        offset += batch.height
    if offset == 0:
        empty = pl.DataFrame(schema={c: schema[c] for c in columns})
        return empty.select(keep), match_rows(empty, ruleset)
    matched = (
        pl.concat(kept)
        if kept
        else pl.DataFrame(schema={**{c: schema[c] for c in keep}, _GLOBAL: pl.Int64})
    )
    ids = matched.get_column(_GLOBAL)
    matched = matched.drop(_GLOBAL)
    out = {
        key: ids.search_sorted(pl.concat(parts)).cast(pl.UInt32).alias(ROW)
        for key, parts in found.items()
    }
    _correlate_all(_row_index(matched), ruleset, out)
    return matched, out


_GLOBAL = "__global_row"


#: Batches at least this tall evaluate their cheap predicates once per distinct value tuple.
DISTINCT_MIN_ROWS = 20_000


def _cheap_flags(sub: pl.DataFrame, rules: list[Rule]) -> pl.DataFrame:
    """``__row`` and one boolean column ``r<i>`` per rule: its cheap predicate on each row.

    CloudTrail columns repeat a lot (a million events carry a few dozen user agents, a few
    hundred principals), so on a tall batch a rule's predicate runs once per distinct value of
    the column it reads (or per distinct tuple of its columns, found through 64-bit hashes of
    the tuples) and the answer is mapped back to the rows.
    """
    exprs = []
    for rule in rules:
        cheap = rule.plan.cheap  # type: ignore[union-attr]
        exprs.append(cheap if cheap is not None else pl.lit(True))
    if sub.height < DISTINCT_MIN_ROWS:
        return (
            sub.lazy()
            .select(pl.col(ROW), *(e.alias(f"r{i}") for i, e in enumerate(exprs)))
            .collect()
        )
    hashes: dict[str, pl.Series] = {}
    masks: dict[int, pl.Series] = {}
    direct: list[pl.Expr] = []
    by_cols: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, e in enumerate(exprs):
        cols = tuple(sorted(set(e.meta.root_names())))
        if not cols or any(sub.schema[c].is_nested() for c in cols):
            direct.append(e.alias(f"r{i}"))
            continue
        by_cols[cols].append(i)
    for cols, which in by_cols.items():
        if len(cols) == 1:
            c = cols[0]
            values = sub.select(pl.col(c).unique())
            answers = values.select(*(exprs[i].alias(f"r{i}") for i in which))
            for i in which:
                matched = values.filter(answers[f"r{i}"])[c]
                hit = sub[c].is_in(matched.drop_nulls().implode())
                if matched.null_count():
                    hit = hit | sub[c].is_null()
                masks[i] = hit.fill_null(False)
            continue
        for c in cols:
            if c not in hashes:
                hashes[c] = sub[c].hash(seed=7)
        key = pl.DataFrame([hashes[c].alias(c) for c in cols]).select(
            pl.struct(list(cols)).hash(seed=7).alias("__k")
        )["__k"]
        first = key.arg_unique()  # one row per distinct tuple (through its hash)
        if first.len() > sub.height // 8:  # not repetitive enough to pay for the mapping
            direct.extend(exprs[i].alias(f"r{i}") for i in which)
            continue
        reps = sub.select(cols)[first].with_columns(key.gather(first))
        answers = reps.select("__k", *(exprs[i].alias(f"r{i}") for i in which))
        for i in which:
            masks[i] = key.is_in(answers.filter(pl.col(f"r{i}"))["__k"].implode())
    out = sub.lazy().select(pl.col(ROW), *direct).collect() if direct else sub.select(ROW)
    return out.with_columns(m.alias(f"r{i}") for i, m in masks.items())


def _run_batch(sub: pl.DataFrame, rules: list[Rule]) -> dict[str, pl.Series]:
    flags = _cheap_flags(sub, rules)
    out: dict[str, pl.Series] = {}
    for i, rule in enumerate(rules):
        mask = flags[f"r{i}"].fill_null(False)
        costly = rule.plan.costly  # type: ignore[union-attr]
        if costly is None:
            out[rule.key] = flags[ROW].filter(mask)
            continue
        kept = sub.filter(mask)
        if kept.height == 0:
            out[rule.key] = kept[ROW]
            continue
        with decoding_once():  # the rule's JSON paths, each decoded once on these rows
            out[rule.key] = kept.filter(costly.fill_null(False))[ROW]
    return out
