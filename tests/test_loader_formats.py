"""Every input shape the loader reads, each in a small hand-made file."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from _loader_helpers import ACCOUNT, record, s3_path, write_json, write_lines

import forensics as fx


def _load(*paths: Path, **kw) -> fx.Trail:
    return fx.load(*paths, cache=False, **kw)


def _names(trail: fx.Trail) -> list[int]:
    """The ``n`` of each loaded record (from requestParameters), in table order."""
    return sorted(json.loads(p)["n"] for p in trail.events.get_column("request_parameters"))


def test_s3_records_json_gz_in_awslogs_layout_with_org(tmp_path):
    write_json(s3_path(tmp_path, org="o-abc123def4"), {"Records": [record(1), record(2)]}, gz=True)
    write_json(s3_path(tmp_path, name="plain").with_suffix(""), {"Records": [record(3)]})
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3]
    assert trail.report.files_read == 2 and trail.report.ok
    assert trail.events.schema == fx.EVENTS_SCHEMA


def test_layout_pruning_by_account_region_and_day(tmp_path):
    write_json(s3_path(tmp_path, org="o-abc123def4"), {"Records": [record(1)]}, gz=True)
    write_json(s3_path(tmp_path, account="444455556666"), {"Records": [record(2)]}, gz=True)
    write_json(s3_path(tmp_path, region="us-east-1"), {"Records": [record(3)]}, gz=True)
    write_json(s3_path(tmp_path, day="2024/01/01"), {"Records": [record(4)]}, gz=True)
    trail = _load(tmp_path, accounts=[ACCOUNT], regions=["eu-west-1"], start="2024-03-01")
    assert _names(trail) == [1]
    assert trail.report.files_pruned == 3


def test_json_array_and_single_record_files(tmp_path):
    write_json(tmp_path / "array.json", [record(1), record(2)])
    write_json(tmp_path / "one.json", record(3))
    write_json(tmp_path / "empty.json", [])
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3]
    assert trail.report.files_failed == []
    assert trail.report.files_without_records == 1


@pytest.mark.parametrize("name", ["x.jsonl", "x.ndjson", "x.log", "x.jsonl.gz", "x.log.gz"])
def test_ndjson_plain_and_gzipped(tmp_path, name):
    write_lines(tmp_path / name, [record(1), record(2), record(3)], gz=name.endswith(".gz"))
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3]
    assert trail.events.get_column("source_index").sort().to_list() == [0, 1, 2]


def test_lookup_events_output_and_jsonl_items(tmp_path):
    items = [
        {
            "EventId": r["eventID"],
            "EventName": r["eventName"],
            "EventTime": "2024-03-05 21:00:00+11:00",
            "CloudTrailEvent": json.dumps(r),
        }
        for r in (record(1), record(2))
    ]
    write_json(tmp_path / "lookup.json", {"Events": items, "NextToken": "abc"})
    write_lines(
        tmp_path / "lookup.jsonl",
        [
            {"EventId": "x", "CloudTrailEvent": json.dumps(record(3))},
            {"EventId": "y", "CloudTrailEvent": record(4)},  # already decoded by some exporters
        ],
    )
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3, 4]
    # the time is the record's eventTime, never the lookup item's (local, +11:00) EventTime
    first = trail.events.filter(pl.col("event_id") == record(1)["eventID"])
    assert first.get_column("event_time").item().isoformat() == "2024-03-05T10:00:01+00:00"


def test_eventbridge_envelopes(tmp_path):
    env = {
        "version": "0",
        "id": "e1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2024-03-05T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": record(1),
    }
    write_json(tmp_path / "one.json", env)
    write_lines(tmp_path / "many.jsonl", [dict(env, detail=record(2)), dict(env, detail=record(3))])
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3]


def test_eventbridge_non_cloudtrail_event_is_skipped_with_reason(tmp_path):
    other = {
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "detail": {"instance-id": "i-1", "state": "running"},
    }
    write_lines(tmp_path / "mixed.jsonl", [other, {"detail-type": "x", "detail": record(1)}])
    trail = _load(tmp_path)
    assert _names(trail) == [1]
    (reason,) = trail.report.records_skipped
    assert "EC2 Instance State-change Notification" in reason


def _cwl_payload(*records: dict) -> dict:
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": "aws-cloudtrail",
        "logStream": f"{ACCOUNT}_CloudTrail_eu-west-1",
        "subscriptionFilters": ["all"],
        "logEvents": [
            {"id": str(i), "timestamp": 1709632800000, "message": json.dumps(r)}
            for i, r in enumerate(records)
        ],
    }


def test_cloudwatch_logs_subscription_payload(tmp_path):
    write_json(tmp_path / "cwl.json", _cwl_payload(record(1), record(2)))
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2]


def test_cloudwatch_logs_gzipped_payloads_as_firehose_delivers_them(tmp_path):
    # Firehose joins the gzipped payloads back to back: a multi-member gzip of concatenated JSON
    control = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logEvents": [
            {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health"}
        ],
    }
    blob = b"".join(
        gzip.compress(json.dumps(p).encode())
        for p in (control, _cwl_payload(record(1)), _cwl_payload(record(2), record(3)))
    )
    (tmp_path / "firehose-1-2024-03-05-10-00-00-0a1b").write_bytes(blob)  # no extension
    (tmp_path / "LICENSE").write_text("MIT License\n")  # not sniffed as a trail file
    (tmp_path / "notes.txt").write_text("{}")
    trail = _load(tmp_path)
    assert trail.report.files_seen == 1
    (note,) = [n for n in trail.report.notes if "not read" in n]
    assert (
        note.startswith("2 file(s) in the folders were not read") and "LICENSE, notes.txt" in note
    )
    assert _names(trail) == [1, 2, 3]
    assert trail.report.files_failed == []
    assert sum(trail.report.records_skipped.values()) == 1  # the control message, with a reason
    assert "control message" in next(iter(trail.report.records_skipped))


def test_cloudwatch_logs_lambda_event_awslogs_data(tmp_path):
    data = base64.b64encode(gzip.compress(json.dumps(_cwl_payload(record(1))).encode())).decode()
    write_json(tmp_path / "lambda-event.json", {"awslogs": {"data": data}})
    assert _names(_load(tmp_path)) == [1]


def test_digests_are_counted_never_parsed_nor_failed(tmp_path):
    digest = {
        "awsAccountId": ACCOUNT,
        "digestStartTime": "2024-03-05T09:00:00Z",
        "digestEndTime": "2024-03-05T10:00:00Z",
        "digestS3Bucket": "b",
        "digestS3Object": "o",
        "logFiles": [],
        "digestSignatureAlgorithm": "SHA256withRSA",
    }
    day = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "eu-west-1" / "2024" / "03" / "05"
    write_json(
        day / f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_t_eu-west-1_20240305T100000Z.json.gz",
        digest,
        gz=True,
    )
    write_json(tmp_path / "loose-digest.json", digest)  # recognised by shape too
    write_json(s3_path(tmp_path), {"Records": [record(1)]}, gz=True)
    trail = _load(tmp_path)
    assert trail.report.digests == 2
    assert trail.report.files_failed == [] and trail.report.ok
    assert _names(trail) == [1]


def test_insights_records_are_loaded_with_their_category(tmp_path):
    insight = {
        "eventVersion": "1.08",
        "eventTime": "2024-03-05T10:00:00Z",
        "awsRegion": "eu-west-1",
        "eventID": "11111111-2222-3333-4444-555555555555",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": ACCOUNT,
        "sharedEventID": "s1",
        "eventCategory": "Insight",
        "insightDetails": {
            "state": "Start",
            "eventSource": "iam.amazonaws.com",
            "eventName": "DeleteUser",
            "insightType": "ApiCallRateInsight",
        },
    }
    day = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Insight" / "eu-west-1" / "2024" / "03" / "05"
    write_json(day / "insight.json.gz", {"Records": [insight]}, gz=True)
    trail = _load(tmp_path)
    row = trail.events.row(0, named=True)
    assert row["event_category"] == "Insight" and row["event_type"] == "AwsCloudTrailInsight"
    assert json.loads(row["extra"])["insightDetails"]["eventName"] == "DeleteUser"


def test_records_nested_in_unknown_wrappers_are_found_and_counted(tmp_path):
    panther_like = {
        "RuleID": "R",
        "LogTypes": ["AWS.CloudTrail"],
        "Tests": [
            {"Name": "a", "ExpectedResult": True, "Mocks": [{"objectName": "x"}], "Log": record(1)},
            {"Name": "b", "ExpectedResult": False, "Log": record(2)},
        ],
    }
    streamalert_like = [
        {"data": {"Records": [record(3)]}, "trigger_rules": ["r"]},
        {
            "data": {"detail-type": "AWS API Call via CloudTrail", "detail": record(4)},
            "trigger_rules": [],
        },
        {"data": _cwl_payload(record(5)), "classify_only": True},
    ]
    write_json(tmp_path / "rule.json", panther_like)
    write_json(tmp_path / "sa.json", streamalert_like)
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3, 4, 5]
    report = trail.report
    assert report.records_nested == 5
    by_file = {Path(f.path).name: (f.count, f.detail) for f in report.nested_by_file}
    assert by_file == {
        "rule.json": (2, "first at $.Tests[0].Log"),
        "sa.json": (3, "first at $[0].data.Records[0]"),
    }
    assert "nested" in str(report) and "rule.json" in str(report)


def test_nested_search_is_bounded(tmp_path):
    deep: dict = record(1)
    for _ in range(40):
        deep = {"wrapper": deep}
    write_json(tmp_path / "deep.json", {"x": deep, "y": {"Log": record(2)}})
    trail = _load(tmp_path)
    assert _names(trail) == [2]
    assert any("stopped at its bounds" in n for n in trail.report.notes)


def test_files_folders_and_globs_in_any_mix(tmp_path):
    write_json(tmp_path / "a" / "one.json", [record(1)])
    write_lines(tmp_path / "b" / "two.jsonl", [record(2)])
    write_json(tmp_path / "c" / "three.json.gz", {"Records": [record(3)]}, gz=True)
    trail = _load(tmp_path / "a" / "one.json", tmp_path / "b", str(tmp_path / "c" / "*.gz"))
    assert _names(trail) == [1, 2, 3]


def test_bom_and_crlf_lines(tmp_path):
    data = "\ufeff" + "".join(json.dumps(record(i)) + "\r\n" for i in (1, 2))
    (tmp_path / "x.jsonl").write_text(data, encoding="utf-8")
    assert _names(_load(tmp_path)) == [1, 2]


def test_json_that_orjson_refuses_but_is_json_still_loads(tmp_path):
    rec = json.dumps(record(1, userAgent="PLACEHOLDER"))
    weird = rec.replace('"PLACEHOLDER"', '"agent \\udc00 lone surrogate"')
    weird = weird.replace('"n": 1', '"n": 1, "big": 1e400')
    (tmp_path / "weird.json").write_text(weird)
    (tmp_path / "latin1.json").write_bytes(
        json.dumps(record(2, userAgent="X")).encode().replace(b'"X"', b'"caf\xe9"')
    )
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2]
    agents = sorted(trail.events.get_column("user_agent").to_list())
    assert agents[0] == "agent \\udc00 lone surrogate" and agents[1] == "caf\ufffd"
    assert any("invalid UTF-8" in n for n in trail.report.notes)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "b/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2024/03/05/x.json.gz",
            ("111122223333", "eu-west-1", "2024-03-05", "CloudTrail"),
        ),
        (
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/12/31/x.json.gz",
            ("111122223333", "us-east-1", "2024-12-31", "CloudTrail-Insight"),
        ),
        (
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/02/30/x.json.gz",
            None,
        ),  # no such day
        ("loose/x.json", None),
    ],
)
def test_layout_of(path, expected):
    from forensics.sources._files import layout_of

    got = layout_of(path)
    assert (
        None if got is None else (got.account, got.region, got.day.isoformat(), got.kind)
    ) == expected


def test_digest_paths():
    from forensics.sources._files import is_digest_path

    assert is_digest_path("AWSLogs/1/CloudTrail-Digest/eu-west-1/2024/03/05/a.json.gz")
    assert is_digest_path(
        "x/111122223333_CloudTrail-Digest_eu-west-1_t_eu-west-1_20240305T1000Z.json.gz"
    )
    assert not is_digest_path("AWSLogs/1/CloudTrail/eu-west-1/2024/03/05/a.json.gz")


def test_cloudwatch_logs_payloads_in_kinesis_stream_records(tmp_path):
    def kinesis(payload: dict) -> dict:
        data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
        # a Kinesis record has eventName/eventSource/eventID/awsRegion: it must not pass for
        # a CloudTrail record itself
        return {
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "data": data},
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-0:1",
            "eventName": "aws:kinesis:record",
            "awsRegion": "eu-west-1",
        }

    event = {
        "Records": [
            kinesis(_cwl_payload(record(1), record(2))),
            kinesis(_cwl_payload(record(3))),
            {"kinesis": {"data": "!!not base64 gzip json!!"}},
        ]
    }
    write_json(tmp_path / "lambda-kinesis-event.json", event)
    trail = _load(tmp_path)
    assert _names(trail) == [1, 2, 3]
    assert dict(trail.report.records_skipped) == {
        "kinesis.data that is not base64 of (gzipped) JSON": 1
    }


def test_s3_event_notifications_are_not_cloudtrail(tmp_path):
    notification = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2024-03-05T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "198.51.100.7"},
        "responseElements": {"x-amz-request-id": "R"},
        "s3": {"bucket": {"name": "b"}},
    }
    write_json(tmp_path / "only-notifications.json", {"Records": [notification]})
    write_json(tmp_path / "mixed.json", {"Records": [notification, record(1)]})
    trail = _load(tmp_path)
    assert _names(trail) == [1]
    assert trail.report.records_skipped == {
        "aws:s3 event notification (not a CloudTrail record)": 1
    }
    (failure,) = trail.report.files_failed
    assert failure.path.endswith("only-notifications.json") and "not CloudTrail" in failure.reason
