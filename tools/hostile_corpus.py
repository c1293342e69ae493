"""Write a corpus of hostile and odd trail files into a folder (generated, never committed).

Each case is a file (or a FIFO) that once broke or misled the loader (issue 13), next to two
good files; ``CASES`` says what loading the folder must do with each. Used by
``tests/test_hostile_inputs.py`` (the folder loads, one bad file never costs the rest) and by
``tools/fuzz_loader.py`` (mutations of these files).

    python tools/hostile_corpus.py OUT_DIR     # writes the files, prints what each must do
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CASES", "Case", "good_record", "write_corpus"]


def good_record(n: int, **overrides: Any) -> dict[str, Any]:
    """A plausible CloudTrail record, ``n`` making it unique."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDAHOSTILE{n:04d}",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAHOSTILEKEY000001",
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
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }
    rec.update(overrides)
    return rec


def _records(*recs: dict[str, Any]) -> bytes:
    return json.dumps({"Records": list(recs)}).encode()


def _dumps(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(",", ":"))


@dataclass(frozen=True)
class Case:
    """One file of the corpus: how to write it, and what loading it must give.

    ``records``: the events it must add to the table; ``failed``: the file is listed as failed
    (its reason matching ``reason`` when given); ``note``: a text the report must hold.
    """

    name: str
    content: Callable[[], bytes] | None  # None: a FIFO
    records: int = 0
    failed: bool = False
    reason: str | None = None
    note: str | None = None
    issue_item: int | None = None


def _deep_record() -> bytes:
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    rec = _dumps(good_record(101))[:-1] + ',"additionalEventData":' + deep + "}"
    return ('{"Records":[' + rec + "," + _dumps(good_record(102)) + "]}").encode()


def _deep_array() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def _duplicate_records_key() -> bytes:
    a, b = _dumps(good_record(201)), _dumps(good_record(202))
    return ('{"Records":[' + a + '],"Records":[' + b + "]}").encode()


def _duplicate_field() -> bytes:
    rec = _dumps(good_record(211))
    return ('{"Records":[' + rec[:-1] + ',"eventName":"DeleteBucket"}]}').encode()


def _bom_lines() -> bytes:
    return b"".join(
        b"\xef\xbb\xbf" + _dumps(good_record(220 + i)).encode() + b"\n" for i in range(3)
    )


def _raw_strings() -> bytes:
    rows = [
        {"_raw": _dumps(good_record(230 + i)), "sourcetype": "aws:cloudtrail", "host": "splunk"}
        for i in range(2)
    ]
    rows.append({"message": _dumps(good_record(232)), "source": "cribl"})
    return json.dumps(rows).encode()


def _eventbridge_pattern() -> bytes:
    return json.dumps(
        {
            "source": ["aws.iam"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["CreateAccessKey", "CreateUser"],
            },
        }
    ).encode()


def _pattern_records() -> bytes:
    return json.dumps(
        [
            {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["CreateUser"],
                "userIdentity": {"type": ["IAMUser"]},
            }
        ]
    ).encode()


def _s3_notifications() -> bytes:
    rec = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2024-03-05T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}},
    }
    return json.dumps({"Records": [rec, rec]}).encode()


def _insight() -> bytes:
    rec = {
        "eventVersion": "1.08",
        "eventTime": "2024-03-05T10:00:00Z",
        "awsRegion": "us-east-1",
        "eventID": "insight-0001",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "111122223333",
        "sharedEventID": "shared-1",
        "eventCategory": "Insight",
        "insightDetails": {
            "state": "Start",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "insightType": "ApiCallRateInsight",
            "insightContext": {},
        },
    }
    return _records(rec)


def _control_chars() -> bytes:
    return _records(
        good_record(
            301, eventName="Get\x1b[2J\nforged\x07\u202eObject", userAgent="ua\x00\x0b\ufffe"
        )
    )


def _awslogs_payloads() -> bytes:
    payload = {
        "messageType": "DATA_MESSAGE",
        "logGroup": "g",
        "logStream": "s",
        "logEvents": [{"id": "1", "timestamp": 0, "message": _dumps(good_record(401))}],
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return json.dumps({"awslogs": {"data": data}}).encode()


CASES: tuple[Case, ...] = (
    Case("good.json", lambda: _records(good_record(1), good_record(2)), records=2),
    Case("good.json.gz", lambda: gzip.compress(_records(good_record(3))), records=1),
    Case("deep_record.json", _deep_record, records=2, issue_item=4),
    Case("deep_array.json", _deep_array, failed=True),
    Case("fifo.json", None, failed=True, reason="not a regular file", issue_item=5),
    Case("fifo_noext", None, failed=True, reason="not a regular file", issue_item=5),
    Case(
        "truncated.json.gz",
        lambda: gzip.compress(_records(good_record(5)))[:-12],
        failed=True,
        reason="gzip",
    ),
    Case("empty.json", lambda: b"", failed=True, reason="empty"),
    Case("not_json.json", lambda: b"<html>hello</html>", failed=True, reason="JSON"),
    Case(
        "dup_records_key.json",
        _duplicate_records_key,
        records=2,
        note='"Records" arrays',
        issue_item=12,
    ),
    Case("dup_field.json", _duplicate_field, records=1, note="duplicate keys", issue_item=12),
    Case("bom_lines.jsonl", _bom_lines, records=3, issue_item=13),
    Case("raw_strings.json", _raw_strings, records=3, issue_item=14),
    Case("eventbridge_rule.json", _eventbridge_pattern, failed=True, issue_item=15),
    Case("pattern_records.json", _pattern_records, failed=True, issue_item=15),
    Case(
        "s3_notifications.json",
        _s3_notifications,
        failed=True,
        reason="aws:s3 event notification",
        issue_item=16,
    ),
    Case("insight.json", _insight, records=1, issue_item=17),
    Case("control_chars.json", _control_chars, records=1, issue_item=3),
    Case("awslogs.json", _awslogs_payloads, records=1),
)


def write_corpus(folder: str | os.PathLike[str], *, fifos: bool = True) -> dict[str, Case]:
    """Write every case of :data:`CASES` into ``folder``; returns path -> case.

    FIFOs are made only where the OS has them (and ``fifos``).
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, Case] = {}
    for case in CASES:
        path = root / case.name
        if case.content is None:
            if not fifos or not hasattr(os, "mkfifo"):
                continue
            os.mkfifo(path)
        else:
            path.write_bytes(case.content())
        written[str(path)] = case
    return written


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path, case in write_corpus(sys.argv[1]).items():
        what = (
            f"fails ({case.reason or 'any reason'})"
            if case.failed
            else (f"{case.records} record(s)")
        )
        print(
            f"{path}: {what}" + (f"  [issue 13 item {case.issue_item}]" if case.issue_item else "")
        )
