"""Hand-made CloudTrail records and file writers for the loader tests (our own data)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"


def record(n: int, **overrides: Any) -> dict[str, Any]:
    """A plausible CloudTrail management event, ``n`` making it unique."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDAEXAMPLE{n:04d}",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAEXAMPLEKEY000001",
            "userName": "alice",
        },
        "eventTime": f"2024-03-05T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"n": n},
        "responseElements": None,
        "requestID": f"REQ{n:06d}",
        "eventID": f"00000000-0000-0000-0000-{n:012d}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    rec.update(overrides)
    return rec


def write_json(path: Path, doc: Any, *, gz: bool = False) -> Path:
    """Write ``doc`` as JSON (gzipped when ``gz``), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_lines(path: Path, docs: list[Any], *, gz: bool = False) -> Path:
    """Write one JSON value a line (NDJSON), gzipped when ``gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(d) + "\n" for d in docs).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def s3_path(
    root: Path,
    day: str = "2024/03/05",
    *,
    org: str | None = None,
    region: str = "eu-west-1",
    account: str = ACCOUNT,
    name: str = "f",
) -> Path:
    """A path in the S3 delivery layout (``AWSLogs/[o-org/]<acct>/CloudTrail/<region>/<day>/``)."""
    base = root / "AWSLogs"
    if org:
        base = base / org
    return (
        base
        / account
        / "CloudTrail"
        / region
        / day
        / f"{account}_CloudTrail_{region}_{day.replace('/', '')}T1000Z_{name}.json.gz"
    )
