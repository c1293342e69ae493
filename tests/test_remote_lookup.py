"""fx.lookup_events and fx.load_cloudwatch against moto (+ LookupEvents) over loopback HTTP."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

import forensics as fx
from forensics import SourceError
from forensics.sources._aws import RateLimiter
from tests import _aws_helpers
from tests._aws_helpers import (
    KEY_ID,
    SECRET,
    TOKEN,
    day,
    json_error,
    put_trail,
    record,
)

# each xdist worker runs its own in-process server on a free port: no group needed
moto_server = _aws_helpers.moto_server  # fixtures
aws = _aws_helpers.aws

DAYS = [day("2026-11-10"), day("2026-11-11"), day("2026-11-12")]
FAST = {"rate": 200.0, "backoff": 0.01}


@pytest.fixture
def history(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="seed")
    put_trail(s3, "seed", days=DAYS, regions=["us-east-1", "eu-west-1"], per_file=30)
    return aws


def _no_secrets_under(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (SECRET, TOKEN, KEY_ID):
                assert secret.encode() not in data, path


def test_lookup_events_pages_every_region_into_the_events_table(history, tmp_path):
    trail = fx.lookup_events(regions=["us-east-1", "eu-west-1"], cache_dir=tmp_path / "c", **FAST)
    assert len(trail) == 2 * 3 * 30
    assert set(trail.events["aws_region"]) == {"us-east-1", "eu-west-1"}
    assert trail.events["event_time"].is_sorted()
    # 90 events per region, 50 per page
    assert history.faults.calls("LookupEvents", "us-east-1") == 2
    assert history.faults.calls("LookupEvents", "eu-west-1") == 2
    notes = " ".join(trail.report.notes)
    assert "management events only" in notes and "no data events" in notes
    assert "older than 90 days" in notes
    assert trail.report.ok
    # provenance: the original record comes back from the kept raw page
    event_id = trail.events["event_id"][7]
    original = trail.original(event_id)
    assert original["eventID"] == event_id and original["userIdentity"]["userName"] == "alice"
    assert trail.report.sources == [
        "cloudtrail:LookupEvents us-east-1",
        "cloudtrail:LookupEvents eu-west-1",
    ]
    _no_secrets_under(tmp_path / "c")


def test_lookup_events_window_and_attribute(history, tmp_path):
    trail = fx.lookup_events(
        start="2026-11-11",
        end="2026-11-12",
        regions=["eu-west-1"],
        attributes={"EventName": "GetCallerIdentity"},
        cache_dir=tmp_path,
        **FAST,
    )
    assert len(trail) == 30
    assert trail.events["event_time"].dt.date().unique().to_list() == [DAYS[1].date()]
    assert any("EventName = 'GetCallerIdentity'" in n for n in trail.report.notes)
    assert trail.filters == ("LookupEvents EventName = 'GetCallerIdentity'",)
    assert trail.original(trail.events["event_id"][0])["eventName"] == "GetCallerIdentity"
    assert (
        len(
            fx.lookup_events(
                regions="eu-west-1", attributes=("EventName", "Nope"), cache_dir=tmp_path, **FAST
            )
        )
        == 0
    )
    with pytest.raises(ValueError, match="exactly one attribute"):
        fx.lookup_events(attributes={"EventName": "A", "Username": "b"})
    with pytest.raises(ValueError, match="unknown LookupEvents attribute"):
        fx.lookup_events(attributes={"Colour": "red"})


def test_lookup_events_backs_off_on_throttling(history, tmp_path):
    throttled = {"n": 0}
    lock = threading.Lock()

    def throttle_first_three(req):
        if not req.target.endswith(".LookupEvents"):
            return None
        with lock:
            throttled["n"] += 1
            if throttled["n"] <= 3:
                return json_error("ThrottlingException")
        return None

    history.faults.rules.append(throttle_first_three)
    trail = fx.lookup_events(regions=["us-east-1"], cache_dir=tmp_path, **FAST)
    assert len(trail) == 90 and trail.report.ok
    assert history.faults.calls("LookupEvents") == 2 + 3
    assert any("3 request(s) retried" in n for n in trail.report.notes)


def test_a_region_that_stays_throttled_is_reported_not_dropped(history, tmp_path):
    history.faults.rules.append(
        lambda r: (
            json_error("ThrottlingException")
            if r.target.endswith(".LookupEvents") and r.region == "eu-west-1"
            else None
        )
    )
    trail = fx.lookup_events(
        regions=["us-east-1", "eu-west-1"], cache_dir=tmp_path, attempts=3, **FAST
    )
    assert len(trail) == 90 and set(trail.events["aws_region"]) == {"us-east-1"}
    [failure] = trail.report.files_failed
    assert failure.path == "cloudtrail:LookupEvents eu-west-1"
    assert "ThrottlingException" in failure.reason and "stopped after 0 page(s)" in failure.reason
    assert history.faults.calls("LookupEvents", "eu-west-1") == 3
    assert not trail.report.ok


def test_rate_limiter_spaces_calls_across_threads():
    now = [0.0]
    lock = threading.Lock()
    slept: list[float] = []

    def sleep(s):
        with lock:
            slept.append(s)

    lim = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    threads = [threading.Thread(target=lim.wait) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 5 calls at t=0 with 2/s: they go at 0, 0.5, 1.0, 1.5, 2.0
    assert sorted(slept) == [0.5, 1.0, 1.5, 2.0]


# -- CloudWatch Logs -----------------------------------------------------------------------------
# PutLogEvents refuses events older than 14 days (AWS and moto alike): log times are recent.
RECENT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def _log_group(n: int = 60):
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="ct")
    streams = {
        "123456789012_CloudTrail_us-east-1": "us-east-1",
        "123456789012_CloudTrail_eu-west-1": "eu-west-1",
    }
    for stream, region in streams.items():
        logs.create_log_stream(logGroupName="ct", logStreamName=stream)
        events = []
        for i in range(n):
            when = RECENT + timedelta(minutes=30 * i)
            rec = record(i, when, region=region)
            # delivered a few minutes after the event (the log timestamp)
            events.append(
                {
                    "timestamp": int((when + timedelta(minutes=5)).timestamp() * 1000),
                    "message": json.dumps(rec),
                }
            )
        logs.put_log_events(logGroupName="ct", logStreamName=stream, logEvents=events)
    return list(streams)


def test_cloudwatch_pages_into_the_events_table(aws, tmp_path):
    streams = _log_group()
    trail = fx.load_cloudwatch("ct", cache_dir=tmp_path / "c", page_size=25, backoff=0.01)
    assert len(trail) == 120
    assert aws.faults.calls("FilterLogEvents") == 5  # 120 events, 25 a page
    assert set(trail.events["aws_region"]) == {"us-east-1", "eu-west-1"}
    event_id = trail.events["event_id"][3]
    assert trail.original(event_id)["eventID"] == event_id
    assert trail.report.sources == ["logs:ct"] and trail.report.ok
    one = fx.load_cloudwatch("ct", log_streams=streams[1:], cache_dir=tmp_path)
    assert set(one.events["aws_region"]) == {"eu-west-1"}
    assert one.filters == (f"CloudWatch Logs streams: {streams[1]}",)
    _no_secrets_under(tmp_path / "c")


def test_cloudwatch_window_is_cut_on_event_time(aws, tmp_path):
    _log_group()
    start, end = RECENT + timedelta(hours=2), RECENT + timedelta(hours=4)
    trail = fx.load_cloudwatch("ct", start=start, end=end, cache_dir=tmp_path)
    # events every 30 min: 02:00, 02:30, 03:00, 03:30 in each of 2 streams
    assert len(trail) == 8
    assert trail.events["event_time"].min() == start


def test_cloudwatch_non_record_messages_are_counted_and_missing_group_raises(aws, tmp_path):
    _log_group(4)
    logs = boto3.client("logs")
    logs.put_log_events(
        logGroupName="ct",
        logStreamName="123456789012_CloudTrail_us-east-1",
        logEvents=[
            {"timestamp": int(RECENT.timestamp() * 1000) + 60_000, "message": "not json at all"}
        ],
    )
    trail = fx.load_cloudwatch("ct", cache_dir=tmp_path)
    assert len(trail) == 8
    assert sum(trail.report.records_skipped.values()) == 1
    with pytest.raises(SourceError, match="not found"):
        fx.load_cloudwatch("no-such-group", cache_dir=tmp_path)


def test_cloudwatch_throttling_is_retried(aws, tmp_path):
    _log_group(4)
    seen = {"n": 0}

    def once(req):
        if req.target.endswith(".FilterLogEvents"):
            seen["n"] += 1
            if seen["n"] == 1:
                return json_error("ThrottlingException")
        return None

    aws.faults.rules.append(once)
    trail = fx.load_cloudwatch("ct", cache_dir=tmp_path, backoff=0.01)
    assert len(trail) == 8 and trail.report.ok
    assert any("1 request(s) retried" in n for n in trail.report.notes)


def test_lookup_events_that_fail_everywhere_raise(history, tmp_path):
    history.faults.rules.append(
        lambda r: (
            json_error("AccessDeniedException") if r.target.endswith(".LookupEvents") else None
        )
    )
    with pytest.raises(SourceError, match="every region"):
        fx.lookup_events(regions=["us-east-1", "eu-west-1"], cache_dir=tmp_path, **FAST)


def test_cloudwatch_failing_midway_keeps_its_pages_and_reports(aws, tmp_path):
    _log_group()
    seen = {"n": 0}

    def deny_after_two(req):
        if req.target.endswith(".FilterLogEvents"):
            seen["n"] += 1
            if seen["n"] > 2:
                return json_error("AccessDeniedException")
        return None

    aws.faults.rules.append(deny_after_two)
    trail = fx.load_cloudwatch("ct", cache_dir=tmp_path, page_size=25)
    assert len(trail) == 50
    [failure] = trail.report.files_failed
    assert "stopped after 2 page(s)" in failure.reason and "AccessDenied" in failure.reason
    aws.faults.rules[:] = [
        lambda r: (
            json_error("AccessDeniedException") if r.target.endswith(".FilterLogEvents") else None
        )
    ]
    with pytest.raises(SourceError, match="cannot read log group"):
        fx.load_cloudwatch("ct", cache_dir=tmp_path)
