"""Coverage (delivery per hour, trail configuration changes, categories) and "not seen vs not
logged", on hand-built records and on Invictus' public dataset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import forensics as fx
from forensics.ingest._normalize import normalize_records
from forensics.integrity import could_have_logged, coverage

ACC = "111122223333"
T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def rec(
    minutes: float,
    name: str,
    *,
    source: str = "ec2.amazonaws.com",
    user: str = "alice",
    region: str = "us-east-1",
    params=None,
    error=None,
    category="Management",
    resources=None,
    read_only=None,
    file: str | None = None,
):
    r = {
        "eventVersion": "1.09",
        "eventTime": (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "recipientAccountId": ACC,
        "eventCategory": category,
        "sourceIPAddress": "198.51.100.1",
        "eventID": f"{name}-{minutes}-{user}",
        "requestParameters": params,
        "managementEvent": category == "Management",
        "readOnly": name.startswith(("Get", "List", "Describe"))
        if read_only is None
        else read_only,
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{ACC}:user/{user}",
            "accountId": ACC,
            "accessKeyId": f"AKIA{user.upper():0<16}"[:20],
            "userName": user,
        },
    }
    if error:
        r["errorCode"] = error
    if resources:
        r["resources"] = resources
    return r


def trail_of(records):
    return fx.Trail(normalize_records(records, "x.json"))


@pytest.fixture
def trail():
    recs = [rec(m, "DescribeInstances") for m in range(0, 600, 20)]  # 10 hours of activity
    recs += [
        rec(
            100,
            "StopLogging",
            source="cloudtrail.amazonaws.com",
            user="mallory",
            params={"name": f"arn:aws:cloudtrail:us-east-1:{ACC}:trail/main"},
        ),
        rec(
            101,
            "StopLogging",
            source="cloudtrail.amazonaws.com",
            user="mallory",
            params={"name": "other"},
            error="AccessDenied",
        ),
        rec(250, "StartLogging", source="cloudtrail.amazonaws.com", params={"name": "main"}),
        rec(
            300,
            "PutEventSelectors",
            source="cloudtrail.amazonaws.com",
            params={
                "trailName": "main",
                "eventSelectors": [
                    {
                        "readWriteType": "All",
                        "includeManagementEvents": True,
                        "dataResources": [
                            {"type": "AWS::S3::Object", "values": ["arn:aws:s3:::logged/"]}
                        ],
                    }
                ],
            },
        ),
        rec(
            310,
            "GetObject",
            source="s3.amazonaws.com",
            user="bob",
            category="Data",
            params={"bucketName": "logged", "key": "a.txt"},
            resources=[
                {"ARN": "arn:aws:s3:::logged/a.txt", "type": "AWS::S3::Object"},
                {"ARN": "arn:aws:s3:::logged", "type": "AWS::S3::Bucket"},
            ],
        ),
    ]
    return trail_of(recs)


def test_configuration_changes_and_windows(trail):
    cov = trail.coverage()
    ch = cov.changes.select("event_name", "trail", "outcome", "principal")
    assert ch.rows() == [
        ("StopLogging", "main", "succeeded", f"arn:aws:iam::{ACC}:user/mallory"),
        ("StopLogging", "other", "failed: AccessDenied", f"arn:aws:iam::{ACC}:user/mallory"),
        ("StartLogging", "main", "succeeded", f"arn:aws:iam::{ACC}:user/alice"),
        ("PutEventSelectors", "main", "succeeded", f"arn:aws:iam::{ACC}:user/alice"),
    ]
    assert "AWS::S3::Object:arn:aws:s3:::logged/" in cov.changes["selectors"][3]
    off = cov.logging_off()
    assert off.select("trail", "from", "to").rows() == [
        ("main", T0 + timedelta(minutes=100), T0 + timedelta(minutes=250))
    ]
    assert "StopLogging" in cov.summary() and "failed: AccessDenied" in cov.summary()


def test_categories_and_data_resources(trail):
    cov = coverage(trail)
    cats = dict(cov.categories.select("category", "events").rows())
    assert cats == {"Data": 1, "Management": 34}
    assert set(cov.data_resources["resource"]) == {
        "arn:aws:s3:::logged/a.txt",
        "arn:aws:s3:::logged",
    }


def test_delivery_grid_and_gaps():
    recs = [rec(m, "DescribeInstances") for m in (0, 30, 60)]
    recs += [rec(m, "DescribeInstances") for m in (300, 330)]  # nothing from 11:00 to 15:00
    cov = trail_of(recs).coverage()
    assert cov.delivery.height == 6  # 10:00 .. 15:00
    assert cov.delivery["delivered"].to_list() == [True, True, False, False, False, True]
    gaps = cov.gaps()
    assert gaps.select("start", "end", "hours").rows() == [
        (T0 + timedelta(hours=2), T0 + timedelta(hours=5), 3)
    ]


def test_delivery_uses_the_file_delivery_time():
    t = fx.Trail(
        normalize_records(
            [rec(5, "DescribeInstances")],
            f"AWSLogs/{ACC}/CloudTrail/us-east-1/2026/03/04/"
            f"{ACC}_CloudTrail_us-east-1_20260304T1205Z_abc.json.gz",
        )
    )
    hours = t.coverage().delivery.filter("delivered")["hour"].to_list()
    assert hours == [datetime(2026, 3, 4, 12, tzinfo=UTC)]


def test_object_reads_on_a_bucket_without_data_events(trail):
    a = could_have_logged(trail, event_name="GetObject", resource="arn:aws:s3:::payroll/x.csv")
    assert a.verdict == "may not have been logged"
    assert "no S3 data events for bucket payroll" in a.reasons[0]
    assert "other buckets" in a.reasons[0]


def test_for_principal_empty_answer_on_a_logged_bucket(trail):
    alice = trail.for_principal("alice")
    a = alice.not_logged(
        event_name="GetObject",
        resource="arn:aws:s3:::logged/a.txt",
        start=T0 + timedelta(minutes=300),
        end=T0 + timedelta(minutes=600),
    )
    assert a.seen == 0
    assert a.verdict == "not seen, would have been logged", str(a)
    bob = trail.for_principal("bob").not_logged(
        event_name="GetObject", resource="arn:aws:s3:::logged/a.txt"
    )
    assert bob.verdict == "seen" and bob.seen == 1
    # without a window, the period in which logging was off is a reason too
    assert any("was off" in r for r in alice.not_logged(event_name="GetObject").reasons)


def test_window_inside_a_logging_gap(trail):
    a = trail.for_principal("alice").not_logged(
        event_name="TerminateInstances",
        start=T0 + timedelta(minutes=120),
        end=T0 + timedelta(minutes=200),
    )
    assert a.verdict == "may not have been logged"
    assert any("trail main was off" in r for r in a.reasons)
    b = trail.not_logged(
        event_name="TerminateInstances",
        start=T0 + timedelta(minutes=400),
        end=T0 + timedelta(minutes=500),
    )
    assert b.verdict == "not seen, would have been logged", str(b)


def test_region_not_in_the_trail(trail):
    a = trail.not_logged(event_name="RunInstances", region="ap-south-1")
    assert any("region ap-south-1" in r for r in a.reasons)
    assert "ap-south-1" in str(a)


def test_lambda_invoke_without_data_events(trail):
    a = trail.not_logged(event_name="Invoke")
    assert any("lambda.amazonaws.com" in r for r in a.reasons)


def test_write_only_selector_hides_reads():
    t = trail_of([rec(m, "RunInstances", read_only=False) for m in range(0, 60, 10)])
    a = t.not_logged(event_name="DescribeInstances")
    assert any("read-only" in r for r in a.reasons)


def test_invictus_stoplogging_and_deletetrail_attempts(external):
    folder = external / "invictus-ir-aws_dataset" / "CloudTrail"
    if not folder.is_dir():
        pytest.skip("Invictus dataset not present")
    cov = fx.load(folder, cache=False).coverage()
    ch = cov.changes
    stops = ch.filter(pl.col("event_name") == "StopLogging")
    assert stops.height >= 3
    assert set(stops["outcome"]) == {"failed: TrailNotFoundException"}
    deletes = dict(
        ch.filter(pl.col("event_name") == "DeleteTrail").select("trail", "outcome").rows()
    )
    assert (
        deletes["stratus-red-team-cloudtraild-trail-aueolsaccp"] == "failed: TrailNotFoundException"
    )
    assert deletes["stratus-red-team-ctlr-trail-zqfsvooxqj"] == "succeeded"
    # the successful DeleteTrail closes that trail's logging window, open to the end
    off = cov.logging_off().filter(pl.col("trail") == "stratus-red-team-ctlr-trail-zqfsvooxqj")
    assert off.filter(pl.col("to").is_null())["opened_by"].str.starts_with("DeleteTrail").all()
    assert ch.filter(pl.col("event_name") == "PutEventSelectors")["outcome"].to_list()


def test_blast_radius_summary_says_what_could_not_be_logged(trail):
    recs = [
        rec(
            10,
            "GetBucketAcl",
            source="s3.amazonaws.com",
            params={"bucketName": "payroll"},
            resources=[{"ARN": "arn:aws:s3:::payroll", "type": "AWS::S3::Bucket"}],
        ),
        rec(20, "StopLogging", source="cloudtrail.amazonaws.com", params={"name": "main"}),
        rec(30, "DescribeInstances"),
    ]
    br = fx.blast_radius(trail_of(recs), "AKIAALICE00000000000")
    text = br.summary()
    assert "Not in the trail (could not have been logged):" in text
    assert "trail main (111122223333) was off from 2026-03-04 10:20:00 UTC to the end" in text
    assert "no S3 data events for 1 bucket(s) touched (payroll)" in text
    # a window that ends before logging stopped has nothing to say about it
    early = fx.blast_radius(
        trail_of(recs), "AKIAALICE00000000000", until=T0 + timedelta(minutes=15)
    )
    assert not any("was off" in n for n in early.not_logged)


def test_ticket_of_a_principal_says_what_could_not_be_logged(tmp_path):
    recs = [
        rec(10, "GetBucketAcl", source="s3.amazonaws.com", params={"bucketName": "payroll"}),
        rec(20, "StopLogging", source="cloudtrail.amazonaws.com", params={"name": "main"}),
        rec(30, "DescribeInstances"),
        rec(40, "DescribeInstances", user="bob"),
    ]
    fx.export.ticket(trail_of(recs).for_principal("alice"), tmp_path / "t", title="INC-2")
    md = (tmp_path / "t" / "summary.md").read_text()
    assert "## Not in the trail (could not have been logged)" in md
    assert "trail main \\(111122223333\\) was off from 2026-03-04 10:20:00 UTC" in md
    assert "no S3 data events for 1 bucket\\(s\\) touched \\(payroll\\)" in md
    assert "Not in the trail" in (tmp_path / "t" / "report.html").read_text()


def test_data_events_turned_on_during_the_trail(trail):
    # the fixture's PutEventSelectors (at +300 min) names the bucket; its first data event is later
    early = trail.not_logged(
        event_name="GetObject",
        resource="arn:aws:s3:::logged/b.txt",
        start=T0,
        end=T0 + timedelta(minutes=200),
    )
    assert any(
        "start with PutEventSelectors at 2026-03-04 15:00:00 UTC" in r for r in early.reasons
    ), str(early)
    late = trail.not_logged(
        event_name="GetObject",
        resource="arn:aws:s3:::logged/b.txt",
        start=T0 + timedelta(minutes=305),
        end=T0 + timedelta(minutes=600),
    )
    assert late.verdict == "not seen, would have been logged", str(late)


def test_filters_keep_the_base_without_counting_it(trail, monkeypatch):
    """A filtered trail keeps the unfiltered one for not_logged(); keeping it must not run a
    count over the whole trail (``len()``) at every filter."""

    def boom(self):
        raise AssertionError("len() of a trail was taken while filtering")

    monkeypatch.setattr(fx.Trail, "__len__", boom)
    narrowed = trail.where(event_name="GetObject").between(T0, T0 + timedelta(hours=9))
    assert narrowed._base is trail
    assert narrowed.not_logged(event_name="GetObject").seen == 1
