"""``forensics detect PATH...``: run Sigma rules over a trail and print or write the findings.

    forensics detect PATH... [--rules DIR]... [--no-builtin] [--format table|csv|json]
                             [--out FILE] [--min-level L] [--fail-level L] [--baselines]
                             [--no-cache]

Exit code: 0 when no finding is at or above ``--fail-level`` (default ``high``), 1 when one is
(so CI pipelines can gate on it), 2 when the trail or a rules path cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import polars as pl

__all__ = ["register"]

_LEVELS = ("informational", "low", "medium", "high", "critical")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``detect`` subcommand."""
    p = sub.add_parser(
        "detect",
        help="run Sigma rules (the kit's own, and yours) over a trail and list the findings",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("paths", nargs="+", help="files, folders or glob patterns of the trail")
    p.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="PATH",
        help="a Sigma rule file or folder to add (repeatable), e.g. ../shared/data/rules",
    )
    p.add_argument("--no-builtin", action="store_true", help="do not run the kit's own rules")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--out", type=Path, help="write here instead of standard output")
    p.add_argument("--min-level", choices=_LEVELS, help="keep findings at or above this level")
    p.add_argument(
        "--fail-level",
        choices=_LEVELS,
        default="high",
        help="exit 1 when a finding is at or above this level (default: high)",
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="add the baseline findings (Insights read or computed, first-seen pairs)",
    )
    p.add_argument("--no-cache", action="store_true", help="read the files, touch no cache")
    p.set_defaults(func=_cmd_detect)


def _cmd_detect(args: argparse.Namespace) -> int:
    import forensics as fx

    try:  # the command-line package (forensics/cli/__init__.py) on main
        from forensics.cli import safe as _safe
    except ImportError:  # the single-module CLI this branch started from
        from forensics.cli import _safe

    for path in args.rules:
        if not Path(path).exists():
            print(_safe(f"forensics: rules path {path!r} does not exist"), file=sys.stderr)
            return 2
    trail = fx.load(*args.paths, cache=not args.no_cache)
    rules = fx.detect.load_rules(args.rules, builtin=not args.no_builtin)
    for problem in rules.problems:
        print(_safe(f"rule not run: {problem}"), file=sys.stderr)
    # rules below both --min-level and --fail-level cannot change the output or the exit code
    floor = min(_LEVELS.index(args.min_level or "informational"), _LEVELS.index(args.fail_level))
    findings = fx.detect(trail, rules, min_level=_LEVELS[floor], baselines=args.baselines)
    shown = findings.at_least(args.min_level) if args.min_level else findings
    if args.format == "table":
        text = _table(shown, len(trail), len(rules))
    elif args.format == "csv":
        text = _csv(shown.frame)
    else:
        text = _json(shown.frame)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(_safe(text) if args.format == "table" else text)
    return 1 if len(findings.at_least(args.fail_level)) else 0


def _table(findings, events: int, rules: int) -> str:
    s = findings.summary()
    lines = [f"{events:,} events, {rules:,} rules, {len(findings):,} findings of {s.height} rules"]
    for row in s.iter_rows(named=True):
        who = ", ".join(row["principals"][:3]) + (" ..." if len(row["principals"]) > 3 else "")
        lines.append(
            f"{row['level']:<13} {row['hits']:>6} {row['title']}  [{', '.join(row['techniques'])}]"
            f"  {row['first']:%Y-%m-%d %H:%M:%S}..{row['last']:%Y-%m-%d %H:%M:%S} UTC  {who}"
        )
    return "\n".join(lines) + "\n"


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";")
        for c, t in frame.schema.items()
        if isinstance(t, pl.List)
    ).with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    )


def _csv(frame: pl.DataFrame) -> str:
    from forensics.export._escape import csv_cell  # event text is attacker-controlled

    flat = _flat(frame)
    flat = flat.with_columns(
        pl.col(c).map_elements(csv_cell, return_dtype=pl.String)
        for c, t in flat.schema.items()
        if t in (pl.String, pl.Categorical)
    )
    return flat.write_csv()


def _json(frame: pl.DataFrame) -> str:
    rows = frame.with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    ).to_dicts()
    return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
