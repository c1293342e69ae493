"""Events frames for the chart and widget tests: synthetic at any size, and a hostile trail."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from forensics._schema import conform

HOSTILE_UA = '<img src=x onerror="alert(1)">'
HOSTILE_ARN = "arn:aws:iam::111122223333:user/<script>alert(2)</script>"


def synthetic_events(n: int, *, days: int = 7, principals: int = 200) -> pl.DataFrame:
    """``n`` events over ``days`` days from 2024-03-01 UTC, with skewed principals, sorted."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    i = pl.int_range(n, dtype=pl.Int64)
    h = (i * 2654435761 + 7) % 4294967296
    names = ["GetObject", "ListBuckets", "AssumeRole", "CreateUser", "DescribeInstances"]
    sources = ["s3", "s3", "sts", "iam", "ec2"]
    k = h // 17 % len(names)
    frame = pl.select(
        (pl.lit(start) + pl.duration(seconds=h % (days * 86400))).alias("event_time"),
        pl.format("ev-{}", i).alias("event_id"),
        pl.format("arn:aws:iam::111122223333:user/u{}", (h // 7 % 997) ** 2 // 997 % principals)
        .alias("principal"),
        pl.lit(names).list.get(k).alias("event_name"),
        pl.format("{}.amazonaws.com", pl.lit(sources).list.get(k)).alias("event_source"),
        pl.lit(["us-east-1", "eu-west-1", "ap-south-1"]).list.get(h // 19 % 3).alias("aws_region"),
        pl.when(h // 23 % 10 == 0).then(pl.lit("AccessDenied")).alias("error_code"),
        pl.format("198.51.100.{}", h // 31 % 250).alias("source_ip"),
        pl.format("AKIA{}", h // 37 % 50 + 1000).alias("access_key_id"),
    )
    return conform(frame.sort("event_time"))


def record(i: int, when: str, *, user: str = "alice", name: str = "GetObject",
           source: str = "s3.amazonaws.com", error: str | None = None,
           ua: str = "aws-cli/2.15.0", key: str = "AKIAEXAMPLE000000001") -> dict:
    """One CloudTrail record (IAM user) as S3 delivers it."""
    rec = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser", "principalId": f"AIDA{i:016d}",
            "arn": f"arn:aws:iam::111122223333:user/{user}", "accountId": "111122223333",
            "accessKeyId": key, "userName": user,
        },
        "eventTime": when, "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "userAgent": ua,
        "requestParameters": {"bucketName": "b", "key": f"k{i}"}, "responseElements": None,
        "requestID": f"req-{i}", "eventID": f"00000000-0000-0000-0000-{i:012d}",
        "readOnly": True, "eventType": "AwsApiCall", "managementEvent": False,
        "recipientAccountId": "111122223333", "eventCategory": "Data",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = f"<b>{error}</b>"
    return rec


def write_hostile_trail(folder: Path) -> Path:
    """A tiny trail whose fields carry HTML: a user agent, an ARN, an error message."""
    records = [record(i, f"2024-05-01T10:{i:02d}:00Z") for i in range(30)]
    records += [record(100 + i, f"2024-05-01T11:{i:02d}:00Z", user="<script>alert(2)</script>",
                       ua=HOSTILE_UA, error="AccessDenied", name="PutObject",
                       key="AKIAEXAMPLE000000002") for i in range(5)]
    records += [record(200 + i, f"2024-05-02T09:{i:02d}:00Z", user="bob", name="ListUsers",
                       source="iam.amazonaws.com", key="AKIAEXAMPLE000000003")
                for i in range(12)]
    path = folder / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "05" / "01"
    path.mkdir(parents=True)
    out = path / "111122223333_CloudTrail_us-east-1_20240501T1000Z_hostile.json.gz"
    out.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return folder
