"""``forensics ticket``: a ticket folder from the command line.

forensics ticket DATA... (--principal WHO | --seed KEY) [--since T] [--until T] --out DIR
                 [--title TEXT] [--derived] [--no-redact]
"""

from __future__ import annotations

import argparse

from forensics.cli import time_arg as _time_arg

__all__ = ["register"]


def _cmd_ticket(args: argparse.Namespace) -> int:
    import sys

    from forensics import load
    from forensics._errors import ForensicsError
    from forensics._trail import to_utc
    from forensics.export._ticket import empty_reason, ticket
    from forensics.safety._text import terminal_text

    if args.since and args.until and to_utc(args.since) >= to_utc(args.until):
        print(
            f"forensics ticket: --since {terminal_text(args.since)} is not before --until "
            f"{terminal_text(args.until)}: the window is empty",
            file=sys.stderr,
        )
        return 2
    from pathlib import Path

    for given in [args.ip_ranges, *(args.mmdb or [])]:
        if given and not Path(given).is_file():  # before loading: a typo costs no wait
            print(
                f"forensics ticket: {terminal_text(given)} is not a file (--ip-ranges takes "
                "AWS's ip-ranges.json, --mmdb a MaxMind .mmdb)",
                file=sys.stderr,
            )
            return 2
    enrich: dict | bool | None = None
    if args.ip_ranges or args.mmdb:
        enrich = {"ip_ranges": args.ip_ranges, "mmdb": args.mmdb or []}
    elif args.enrich:
        enrich = True
    trail = load(*args.data, cache=not args.no_cache, cache_dir=args.cache_dir)
    try:
        if args.principal:
            result = trail.for_principal(args.principal, derived=args.derived)
            if args.since or args.until:
                result = result.between(args.since, args.until)
        else:
            from forensics.blast import blast_radius

            result = blast_radius(trail, args.seed, since=args.since, until=args.until)
    except ModuleNotFoundError as exc:
        if not str(exc.name).startswith("forensics."):
            raise
        raise ForensicsError(
            f"this installation lacks {exc.name}, which "
            f"{'--principal' if args.principal else '--seed'} needs"
        ) from exc
    if len(result.events) == 0:  # a ticket of "0 events" helps nobody: say why, write none
        why = empty_reason(
            result, trail, since=args.since, until=args.until, who=args.principal or args.seed
        )
        print(
            f"forensics ticket: no events, no ticket written: {terminal_text(why)}", file=sys.stderr
        )
        return 1
    integrity = trail.verify() if args.verify else None
    files = ticket(
        result,
        args.out,
        title=args.title,
        redact=not args.no_redact,
        integrity=integrity,
        enrich=enrich,
    )
    print(f"{files.folder}: {len(result.events):,} events")
    if integrity is not None:
        print(f"  integrity: {integrity.verdict}")
    for name in sorted(files):
        print(f"  {name}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``forensics ticket`` to the command line."""
    p = subparsers.add_parser(
        "ticket",
        help="write a folder to attach to a ticket (summary, charts, events, report, manifest)",
        description="Load DATA, select a principal's events or a blast radius, and write "
        "summary.md, charts (PNG+SVG), events.csv, report.html and manifest.json to --out.",
    )
    p.add_argument("data", nargs="+", metavar="DATA", help="trail files, folders or globs")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--principal",
        metavar="WHO",
        help="ARN, session ARN, user/role name or access key id: that principal's events",
    )
    who.add_argument("--seed", metavar="KEY", help="access key id or ARN: the blast radius from it")
    p.add_argument("--since", metavar="T", type=_time_arg, help="UTC start (ISO 8601)")
    p.add_argument("--until", metavar="T", type=_time_arg, help="UTC end (ISO 8601), exclusive")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write")
    p.add_argument("--title", help="the ticket's title")
    p.add_argument(
        "--derived",
        action="store_true",
        help="with --principal: add sessions minted from its credentials",
    )
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="keep session tokens, secret keys and passwords as logged (default: redacted)",
    )
    p.add_argument("--no-cache", action="store_true", help="read the files, touch no cache")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep the Parquet cache here (default: .forensics-cache beside the data)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the trail's CloudTrail digests; the verdict goes into manifest.json",
    )
    p.add_argument(
        "--enrich",
        action="store_true",
        help="say what each source IP is (private, bogon, AWS service name)",
    )
    p.add_argument(
        "--ip-ranges",
        metavar="FILE",
        help="AWS's ip-ranges.json (a file you downloaded): AWS service and region "
        "of each source IP (implies --enrich)",
    )
    p.add_argument(
        "--mmdb",
        metavar="FILE",
        action="append",
        help="a MaxMind .mmdb (ASN, Country, City): ASN and country of each source "
        "IP; repeatable (implies --enrich)",
    )
    p.set_defaults(func=_cmd_ticket)
