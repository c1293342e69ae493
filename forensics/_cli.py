"""The ``forensics`` command line: thin callers of the public API.

    forensics load PATH... [--start T] [--end T] [--account A] [--region R] [--no-cache]
                           [--strict] [--max-file-bytes N]
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

import polars as pl

__all__ = ["main"]

#: Modules that add subcommands: each has ``register(subparsers)`` and sets ``func`` defaults.
_SUBCOMMAND_MODULES = (
    "forensics.sample._cli",  # forensics sample OUT
    "forensics.export._cli",  # forensics ticket DATA ...
    "forensics.athena._cli",  # forensics athena ddl BUCKET ...
)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _safe(text: str) -> str:
    """Text fit for a terminal: control characters (ANSI escapes, ...) shown as ``\\xNN``.

    Event fields and file names are attacker-controlled; printing them raw would let a record
    rewrite the responder's terminal.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
        lines.append(f"time range: {times.min():%Y-%m-%d %H:%M:%S} UTC .. "
                     f"{times.max():%Y-%m-%d %H:%M:%S} UTC")
    else:
        lines.append("time range: - (no event has a usable time)")
    lines.append(f"accounts: {top('recipient_account_id', 10)}")
    lines.append(f"regions: {top('aws_region', 10)}")
    lines.append(f"top principals: {top('principal')}")
    lines.append(f"top event names: {top('event_name')}")
    return lines


def _time_arg(value: str) -> str:
    """Check a --start/--end value early, so a typo is a usage error, not a traceback."""
    from forensics._trail import to_utc

    try:
        to_utc(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _cmd_load(args: argparse.Namespace) -> int:
    from forensics import load

    trail = load(
        *args.paths,
        start=args.start,
        end=args.end,
        accounts=args.account or None,
        regions=args.region or None,
        cache=not args.no_cache,
        strict=args.strict,
        profile=args.profile,
        **({"max_file_bytes": args.max_file_bytes} if args.max_file_bytes else {}),
    )
    print(_safe(str(trail.report)))
    print()
    print(_safe("\n".join(_summary(trail))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands register themselves here)."""
    parser = argparse.ArgumentParser(prog="forensics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load", help="load a trail and print the load report and a summary")
    p.add_argument("paths", nargs="+", help="files, folders or glob patterns")
    p.add_argument("--start", type=_time_arg, help="UTC start (ISO 8601)")
    p.add_argument("--end", type=_time_arg, help="UTC end (ISO 8601), exclusive")
    p.add_argument("--account", action="append", help="only this account (repeatable)")
    p.add_argument("--region", action="append", help="only this region (repeatable)")
    p.add_argument("--no-cache", action="store_true", help="read the files, touch no cache")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    p.add_argument("--profile", help="AWS profile for s3:// paths (default: the boto3 chain)")
    p.add_argument("--max-file-bytes", type=int, metavar="N",
                   help="refuse files whose decompressed size passes N bytes (default 2 GiB)")
    p.set_defaults(func=_cmd_load)
    for module_name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(str(exc.name)):
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forensics`` command."""
    from forensics._errors import ForensicsError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (exit 2) and --help (exit 0), as return codes
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except ForensicsError as exc:
        print(_safe(f"forensics: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
