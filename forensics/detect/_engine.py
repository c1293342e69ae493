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

import polars as pl

from forensics.detect._correlate import correlate
from forensics.detect._rules import Rule, RuleSet

__all__ = ["ROW", "match_rows"]

ROW = "__row"


def _row_index(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index(ROW)


def match_rows(frame: pl.DataFrame, ruleset: RuleSet) -> dict[str, pl.Series]:
    """Row numbers each rule matches (detections, then correlations over those)."""
    frame = _row_index(frame)
    by_names: dict[frozenset[str] | None, list[Rule]] = defaultdict(list)
    for rule in ruleset.rules:
        if rule.plan is not None:
            by_names[rule.plan.names].append(rule)
    out: dict[str, pl.Series] = {}
    if frame.height == 0:
        empty = pl.Series(ROW, [], dtype=pl.UInt32)
        return {r.key: empty for r in ruleset.rules}
    groups: dict[str, pl.Series] = {}
    if any(k is not None for k in by_names):
        grouped = (
            frame.lazy()
            .select(pl.col("event_name").str.to_lowercase().alias("n"), pl.col(ROW))
            .group_by("n")
            .agg(pl.col(ROW))
            .collect()
        )
        groups = {
            n: rows
            for n, rows in zip(grouped["n"].to_list(), grouped[ROW].to_list(), strict=True)
            if n is not None
        }
    for names, rules in by_names.items():
        if names is None:
            sub = frame
        else:
            present = [groups[n] for n in sorted(names) if n in groups]
            if not present:
                empty = pl.Series(ROW, [], dtype=pl.UInt32)
                out.update({r.key: empty for r in rules})
                continue
            idx = pl.Series(ROW, [i for rows in present for i in rows], dtype=pl.UInt32)
            cols = {ROW} | {c for r in rules for c in r.plan.columns}  # type: ignore[union-attr]
            sub = frame.select([c for c in frame.columns if c in cols])[idx]
        out.update(_run_batch(sub, rules))
    for rule in ruleset.rules:
        if rule.correlation is not None:
            out[rule.key] = correlate(frame, rule.correlation, out)
    return out


def _run_batch(sub: pl.DataFrame, rules: list[Rule]) -> dict[str, pl.Series]:
    exprs = []
    for i, rule in enumerate(rules):
        cheap = rule.plan.cheap  # type: ignore[union-attr]
        exprs.append((cheap if cheap is not None else pl.lit(True)).alias(f"r{i}"))
    flags = sub.lazy().select(pl.col(ROW), *exprs).collect()
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
        out[rule.key] = kept.filter(costly.fill_null(False))[ROW]
    return out
