"""A synthetic events table of any size, built with polars expressions (for benchmarks only)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from forensics._schema import conform

PRINCIPALS = [f"arn:aws:iam::111122223333:user/user{i:03d}" for i in range(300)] + [
    f"arn:aws:iam::111122223333:role/role{i:02d}" for i in range(60)
]
SOURCES = ["s3", "ec2", "iam", "sts", "kms", "lambda", "logs", "cloudtrail", "ssm", "rds"]
NAMES = [f"{verb}{noun}" for verb in ("Get", "List", "Describe", "Put", "Create", "Delete")
         for noun in ("Object", "Bucket", "Instances", "User", "Key", "Function", "Role", "Trail")]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
ERRORS = ["AccessDenied", "ThrottlingException", "NoSuchKey", "Client.UnauthorizedOperation"]


def synthetic_events(n: int, *, days: int = 7, seed: int = 7) -> pl.DataFrame:
    """``n`` events over ``days`` days, skewed towards a few busy principals, sorted by time."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    i = pl.int_range(n, dtype=pl.Int64)
    h = (i * 2654435761 + seed) % 4294967296  # cheap deterministic hash
    frame = pl.select(
        (pl.lit(start) + pl.duration(seconds=(h % (days * 86400)))).alias("event_time"),
        pl.format("ev-{}", i).alias("event_id"),
        pl.lit(PRINCIPALS).list.get((h // 7 % 997) ** 2 // 997 % len(PRINCIPALS)).alias("principal"),
        pl.lit([f"{s}.amazonaws.com" for s in SOURCES]).list.get(h // 13 % len(SOURCES)).alias("event_source"),
        pl.lit(NAMES).list.get(h // 17 % len(NAMES)).alias("event_name"),
        pl.lit(REGIONS).list.get(h // 19 % len(REGIONS)).alias("aws_region"),
        pl.when(h // 23 % 20 == 0).then(pl.lit(ERRORS).list.get(h // 29 % len(ERRORS))).alias("error_code"),
        pl.format("198.51.100.{}", h // 31 % 250).alias("source_ip"),
        pl.lit("aws-cli/2.15.0 Python/3.11").alias("user_agent"),
        pl.format("AKIA{}", (h // 37 % 400) + 1000).alias("access_key_id"),
    ).with_columns(pl.col("principal").alias("principal_arn"))
    return conform(frame.sort("event_time"))
