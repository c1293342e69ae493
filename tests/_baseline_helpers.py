"""Synthetic trails for the baseline tests: steady background, an injected burst, an error storm."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from forensics._schema import conform

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BURST_START = T0 + timedelta(days=8, hours=10)
STORM_START = T0 + timedelta(days=8, hours=15)


def _row(t: datetime, name: str, source: str, *, read_only: bool, error: str | None = None,
         who: str = "arn:aws:iam::111122223333:user/alice", ua: str = "aws-cli/2.15.0",
         ip: str = "198.51.100.7", key: str = "AKIAEXAMPLEALICE0001", region: str = "us-east-1",
         n: int = 0) -> dict:  # fmt: skip
    return {
        "event_time": t,
        "event_id": f"{name}-{t.isoformat()}-{n}",
        "event_name": name,
        "event_source": source,
        "aws_region": region,
        "event_type": "AwsApiCall",
        "event_category": "Management",
        "read_only": read_only,
        "management_event": True,
        "error_code": error,
        "source_ip": ip,
        "user_agent": ua,
        "recipient_account_id": "111122223333",
        "account_id": "111122223333",
        "principal": who,
        "principal_arn": who,
        "access_key_id": key,
        "identity_type": "IAMUser",
    }


def steady_rows(days: int = 9, *, low: int = 0, high: int = 3, seed: int = 7) -> pl.DataFrame:
    """Every minute, a random number (low..high) of write and of read calls, 2% of minutes an
    AccessDenied, and one quiet write API called hourly (built column-wise: it is large)."""
    rng = random.Random(seed)
    minutes = days * 1440
    sec = [rng.randrange(60) for _ in range(minutes)]
    times = [T0 + timedelta(minutes=m, seconds=sec[m]) for m in range(minutes)]
    kinds = [
        ("CreateTags", "ec2.amazonaws.com", False, None, [rng.randint(low, high) for _ in times]),
        ("ListBuckets", "s3.amazonaws.com", True, None, [rng.randint(low, high) for _ in times]),
        ("ListBuckets", "s3.amazonaws.com", True, "AccessDenied",
         [int(rng.random() < 0.02) for _ in times]),
        ("CreateUser", "iam.amazonaws.com", False, None,
         [int(m % 60 == 0) for m in range(minutes)]),
    ]  # fmt: skip
    template = _row(T0, "x", "x", read_only=False)
    parts = []
    for name, source, ro, err, counts in kinds:
        part = (
            pl.DataFrame({"event_time": times, "_n": counts})
            .filter(pl.col("_n") > 0)
            .with_columns(pl.int_ranges(0, pl.col("_n")).alias("_i"))
            .explode("_i")
        )
        parts.append(
            part.with_columns(
                **{
                    k: pl.lit(v) for k, v in template.items() if k not in ("event_time", "event_id")
                },
            )
            .with_columns(
                pl.lit(name).alias("event_name"),
                pl.lit(source).alias("event_source"),
                pl.lit(ro).alias("read_only"),
                pl.lit(err, dtype=pl.String).alias("error_code"),
                pl.format(
                    "{}-{}-{}-{}",
                    pl.lit(name),
                    pl.lit(err or ""),
                    pl.col("event_time"),
                    pl.col("_i"),
                ).alias("event_id"),
            )
            .drop("_n", "_i")
        )
    return conform(pl.concat(parts, how="diagonal_relaxed"))


def incident_rows() -> list[dict]:
    """A burst of CreateUser (60/min for 10 min) and an AccessDenied storm on ListBuckets
    (40/min for 5 min) from another principal."""
    rows = []
    mallory = "arn:aws:iam::111122223333:user/mallory"
    for m in range(10):
        for i in range(60):
            t = BURST_START + timedelta(minutes=m, seconds=i)
            rows.append(_row(t, "CreateUser", "iam.amazonaws.com", read_only=False, who=mallory,
                             ua="Boto3/1.34.0", n=i))  # fmt: skip
    for m in range(5):
        for i in range(40):
            t = STORM_START + timedelta(minutes=m, seconds=i)
            rows.append(_row(t, "ListBuckets", "s3.amazonaws.com", read_only=True, who=mallory,
                             error="AccessDenied", ua="Boto3/1.34.0", n=1000 + i))  # fmt: skip
    return rows


def frame(*parts: pl.DataFrame | list[dict]) -> pl.DataFrame:
    """The events table of steady background and extra rows (lists of dicts from ``_row``)."""
    frames = [
        conform(p if isinstance(p, pl.DataFrame) else pl.DataFrame(p, infer_schema_length=None))
        for p in parts
    ]
    return pl.concat(frames).sort("event_time")
