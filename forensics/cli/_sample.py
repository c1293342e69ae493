"""``forensics sample OUT [--events N] [--days D] [--seed S] [--no-incident]``."""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["register"]


def _cmd_sample(args: argparse.Namespace) -> int:
    from forensics.sample import write

    t = time.perf_counter()
    try:
        info = write(
            args.out,
            events=args.events,
            days=args.days,
            seed=args.seed,
            incident=not args.no_incident,
            file_minutes=args.file_minutes,
            overwrite=args.force,
        )
    except ValueError as exc:
        print(f"forensics sample: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - t
    print(
        f"wrote {info.events:,} events in {info.files:,} log files and {info.digests:,} "
        f"digests under {info.path}/AWSLogs/ ({took:.1f} s, {info.events / took:,.0f} "
        "events/s)"
    )
    print(
        f"period: {info.start:%Y-%m-%d %H:%M} .. {info.end:%Y-%m-%d %H:%M} UTC; accounts: "
        + ", ".join(f"{a} ({n})" for a, n in info.accounts.items())
    )
    print(f"mean record {info.mean_record_bytes:,.0f} B; {info.bytes_gz / 1e6:,.1f} MB gzipped")
    if info.story:
        s = info.story
        print(
            f"incident: leaked key {s['leaked_access_key_id']} of {s['compromised_user_arn']}, "
            f"first malicious call {s['first_malicious_event_time']} "
            f"({len(s['incident_event_ids'])} events); see docs/sample-incident.md"
        )
    if args.story:
        with open(args.story, "w", encoding="utf-8") as fh:
            json.dump(info.story, fh, indent=2, sort_keys=True)
            fh.write("\n")
        print(f"story: {args.story}")
    return 0


def register(subparsers) -> None:
    """Add the ``sample`` subcommand to the ``forensics`` command line."""
    p = subparsers.add_parser(
        "sample", help="write the deterministic sample trail (S3 layout, with an incident)"
    )
    p.add_argument("out", help="folder to write (files go under OUT/AWSLogs/)")
    p.add_argument("--events", type=int, default=60_000, help="total events (default 60000)")
    p.add_argument("--days", type=int, default=7, help="days of activity (default 7)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--no-incident", action="store_true", help="background activity only")
    p.add_argument(
        "--file-minutes",
        type=int,
        default=5,
        help="delivery window of one log file (default 5, as CloudTrail)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a sample already in OUT (its AWSLogs/ folder)"
    )
    p.add_argument("--story", metavar="JSON", help="also write the incident's ground truth here")
    p.set_defaults(func=_cmd_sample)
