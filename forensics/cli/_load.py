"""``forensics load``: load a trail and print the load report and a summary.

forensics load PATH... [--start T] [--end T] [--account A] [--region R] [--no-cache]
                       [--strict] [--profile P] [--max-file-bytes N]
"""

from __future__ import annotations

import argparse

import polars as pl

from forensics.cli import time_arg as _time_arg
from forensics.safety._text import terminal_line

__all__ = ["register"]


def _summary(trail) -> list[str]:
    ev = trail.events
    lines = [f"events: {ev.height:,}"]
    if ev.height == 0:
        return lines

    def top(col: str, n: int = 5) -> str:
        vc = (
            ev.group_by(col)
            .agg(pl.len().alias("n"))
            .sort(["n", col], descending=[True, False], nulls_last=True)
            .head(n)
        )
        more = ev.get_column(col).n_unique() - vc.height
        text = ", ".join(f"{v if v is not None else '(none)'} ({k:,})" for v, k in vc.rows())
        return text + (f", ... {more:,} more" if more > 0 else "")

    times = ev.get_column("event_time")
    if times.null_count() < ev.height:
        lines.append(
            f"time range: {times.min():%Y-%m-%d %H:%M:%S} UTC .. "
            f"{times.max():%Y-%m-%d %H:%M:%S} UTC"
        )
    else:
        lines.append("time range: - (no event has a usable time)")
    lines.append(f"accounts: {top('recipient_account_id', 10)}")
    lines.append(f"regions: {top('aws_region', 10)}")
    lines.append(f"top principals: {top('principal')}")
    lines.append(f"top event names: {top('event_name')}")
    return lines


def _cmd_load(args: argparse.Namespace) -> int:
    from forensics import load

    trail = load(
        *args.paths,
        start=args.start,
        end=args.end,
        accounts=args.account or None,
        regions=args.region or None,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        strict=args.strict,
        profile=args.profile,
        **({"max_file_bytes": args.max_file_bytes} if args.max_file_bytes else {}),
    )
    for line in [*trail.report.lines(), "", *_summary(trail)]:
        print(terminal_line(line))  # one line each: a value cannot forge another
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``forensics load`` to the command line."""
    sub = subparsers
    p = sub.add_parser("load", help="load a trail and print the load report and a summary")
    p.add_argument("paths", nargs="+", help="files, folders or glob patterns")
    p.add_argument("--start", type=_time_arg, help="UTC start (ISO 8601)")
    p.add_argument("--end", type=_time_arg, help="UTC end (ISO 8601), exclusive")
    p.add_argument("--account", action="append", help="only this account (repeatable)")
    p.add_argument("--region", action="append", help="only this region (repeatable)")
    p.add_argument("--no-cache", action="store_true", help="read the files, touch no cache")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep the Parquet cache here (default: .forensics-cache beside the data;"
        " pass one when the data's folder is read-only)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    p.add_argument("--profile", help="AWS profile for s3:// paths (default: the boto3 chain)")
    p.add_argument(
        "--max-file-bytes",
        type=int,
        metavar="N",
        help="refuse files whose decompressed size passes N bytes (default 2 GiB)",
    )
    p.set_defaults(func=_cmd_load)
