"""``forensics baseline``: Insights (read or computed) and first-seen findings of a trail.

forensics baseline PATH... [--until T | --learning D] [--baseline D] [--no-cache]
                           [--out FILE.csv|.json] [--fail-on LEVEL]
"""

from __future__ import annotations

import argparse

import polars as pl

from forensics.cli import safe

__all__ = ["register"]


def _cmd_baseline(args: argparse.Namespace) -> int:
    import forensics as fx
    from forensics.baseline import LEVELS, baseline_findings

    trail = fx.load(*args.paths, cache=not args.no_cache)
    found = baseline_findings(
        trail, until=args.until, learning=args.learning, baseline=args.baseline
    )
    print(f"findings: {found.height:,}")
    for row in found.iter_rows(named=True):
        when = f"{row['time']:%Y-%m-%d %H:%M:%S}Z" if row["time"] else "-"
        print(safe(f"  {when}  {row['level']:<13} {row['rule_id']:<24} {row['title']}"))
    if args.out:
        if args.out.endswith(".json"):
            found.with_columns(
                pl.col("time", "last_time").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
            ).write_json(args.out)
        else:
            _csv(found, args.out)
        print(f"written: {args.out}")
    if args.fail_on:
        worst = max((LEVELS.index(v) for v in found["level"] if v in LEVELS), default=-1)
        if worst >= LEVELS.index(args.fail_on):
            return 1
    return 0


def _csv(found: pl.DataFrame, path: str) -> None:
    from forensics.export._escape import csv_cell  # formula injection in spreadsheets

    flat = found.with_columns(
        pl.col("tactics", "techniques").cast(pl.List(pl.String)).list.join(" "),
        pl.col("event_ids").list.join(" "),
        pl.col(pl.Categorical).cast(pl.String),
    )
    flat = flat.with_columns(
        pl.col(c).map_elements(csv_cell, return_dtype=pl.String)
        for c, t in flat.schema.items()
        if t == pl.String
    )
    flat.write_csv(path)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``forensics baseline`` to the command line."""
    p = subparsers.add_parser(
        "baseline", help="Insights (read or computed) and first-seen findings of a trail"
    )
    p.add_argument("paths", nargs="+", help="files, folders or glob patterns")
    p.add_argument("--until", help="first-seen learning window ends here (UTC, ISO 8601)")
    p.add_argument(
        "--learning", help="first-seen learning window length, e.g. 3d (default: a third)"
    )
    p.add_argument("--baseline", default="7d", help="Insights trailing baseline (default 7d)")
    p.add_argument("--no-cache", action="store_true", help="read the files, touch no cache")
    p.add_argument("--out", help="also write the findings to FILE.csv or FILE.json")
    p.add_argument("--fail-on", choices=["low", "medium", "high", "critical"],
                   help="exit 1 when a finding has this level or higher")  # fmt: skip
    p.set_defaults(func=_cmd_baseline)
