"""``forensics athena ddl BUCKET ...``: print the CREATE EXTERNAL TABLE for a trail."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _cmd_ddl(args: argparse.Namespace) -> int:
    from forensics.ingest.athena._table import ddl

    try:
        text = ddl(
            args.bucket,
            prefix=args.prefix,
            org_id=args.org_id,
            accounts=args.account or None,
            regions=args.region or None,
            start=args.start,
            table=args.table,
            database=args.database,
        )
    except ValueError as exc:
        print(f"forensics athena ddl: {exc}", file=sys.stderr)
        return 2
    print(text + ";")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``athena`` (with ``ddl``) to the ``forensics`` command."""
    athena = sub.add_parser("athena", help="Athena over the organisation trail")
    verbs = athena.add_subparsers(dest="athena_command", required=True)
    p = verbs.add_parser("ddl", help="print the CREATE EXTERNAL TABLE (partition projection)")
    p.add_argument("bucket", help="the trail's S3 bucket (a name, not s3://...)")
    p.add_argument("--prefix", default="", help="the trail's S3 key prefix, if any")
    p.add_argument("--org-id", help="organisation trail: the o-xxxxxxxxxx level")
    p.add_argument("--account", action="append", help="account to project (repeatable)")
    p.add_argument(
        "--region",
        action="append",
        help="region to project (repeatable; default: every commercial region)",
    )
    p.add_argument("--start", default="2020-01-01", help="first day of the date projection")
    p.add_argument("--table", default="cloudtrail_logs", help="table name")
    p.add_argument("--database", help="database to qualify the table with")
    p.set_defaults(func=_cmd_ddl)
