"""``forensics verify PATH... [--signatures F] [--public-keys F] [--start T] [--end T] [--json]``.

Exit code: 0 valid, 1 tampered, 3 not verifiable (no digests, signatures or keys), 2 usage.
An ``s3://`` path is mirrored first with its digests, their signatures and the public keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]


def _cmd_verify(args: argparse.Namespace) -> int:
    from forensics.cli import safe as _safe
    from forensics.integrity import verify, verify_trail

    local = [p for p in args.paths if not p.startswith("s3://")]
    remote = [p for p in args.paths if p.startswith("s3://")]
    for p in local:
        if not Path(p).exists():
            print(_safe(f"forensics verify: {p}: no such file or folder"), file=sys.stderr)
            return 2
    options = {
        "signatures": args.signatures,
        "public_keys": args.public_keys,
        "start": args.start,
        "end": args.end,
    }
    results = []
    if local:
        results.append(verify([Path(p) for p in local], **options))
    if remote:
        from forensics import load

        trail = load(
            *remote, start=args.start, end=args.end, profile=args.profile, remote={"digests": True}
        )
        results.append(verify_trail(trail, **options))
    rank = {"tampered": 2, "not verifiable": 1, "valid": 0}
    worst = max(results, key=lambda r: rank[r.verdict])
    for r in results:
        if args.json:
            print(json.dumps(r.to_dict(), indent=2, default=str))
        else:
            print(r.summary())  # already terminal-safe
    return worst.exit_code


def register(subparsers) -> None:
    """Add the ``verify`` subcommand to the ``forensics`` command line."""
    from forensics.cli import time_arg as _time_arg

    p = subparsers.add_parser(
        "verify",
        help="check CloudTrail digests: signatures, chain, every log file's hash "
        "(exit 0 valid, 1 tampered, 3 not verifiable)",
    )
    p.add_argument("paths", nargs="+", help="folders in the S3 layout, or s3:// URLs")
    p.add_argument(
        "--signatures",
        metavar="FILE",
        help="digest signature metadata (default: .forensics-digest-signatures.jsonl "
        "beside the files)",
    )
    p.add_argument(
        "--public-keys",
        metavar="FILE",
        help="`aws cloudtrail list-public-keys` output (default: "
        ".forensics-public-keys.json beside the files)",
    )
    p.add_argument("--start", type=_time_arg, help="UTC start (ISO 8601)")
    p.add_argument("--end", type=_time_arg, help="UTC end (ISO 8601)")
    p.add_argument("--profile", help="AWS profile for s3:// paths")
    p.add_argument("--json", action="store_true", help="print the verdict and counts as JSON")
    p.set_defaults(func=_cmd_verify)
