"""Baselines: CloudTrail Insights read and computed, first-seen findings, ATT&CK tags."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest
from _baseline_helpers import BURST_START, STORM_START, T0, _row, frame, incident_rows, steady_rows

import forensics as fx
from forensics.baseline import (
    FINDINGS_SCHEMA,
    INSIGHTS_SCHEMA,
    attack_tags,
    compute_insights,
    first_seen,
    insight_attributions,
    insight_findings,
    insights,
    rate_series,
    read_insights,
    ua_family,
    with_insight_names,
)

# -- Insight records shaped as AWS documents them (CloudTrail user guide, "CloudTrail record
# contents for Insights events for trails" and the insightDetails element) -------------------
_ATTR = [
    {
        "attribute": "userIdentityArn",
        "insight": [
            {"value": "arn:aws:sts::123456789012:assumed-role/Admin/alice", "average": 34.0}
        ],
        "baseline": [
            {"value": "arn:aws:sts::123456789012:assumed-role/Admin/alice", "average": 0.0001}
        ],
    },
    {
        "attribute": "userAgent",
        "insight": [{"value": "aws-cli/2.13.0", "average": 34.0}],
        "baseline": [{"value": "console.amazonaws.com", "average": 0.0001}],
    },
    {
        "attribute": "errorCode",
        "insight": [{"value": "null", "average": 34.0}],
        "baseline": [{"value": "null", "average": 0.0001}],
    },
]


def _insight(
    state,
    shared,
    t,
    kind="ApiCallRateInsight",
    name="CreateTags",
    error=None,
    average=34.0,
    duration=None,
):
    stats = {
        "baseline": {"average": 0.0001},
        "insight": {"average": average},
        "baselineDuration": 10080,
    }
    if duration is not None:
        stats["insightDuration"] = duration
    details = {
        "state": state,
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "insightType": kind,
        "insightContext": {"statistics": stats, "attributions": _ATTR},
    }
    if error:
        details["errorCode"] = error
    return {
        "eventVersion": "1.08",
        "eventTime": t,
        "awsRegion": "us-east-1",
        "eventID": f"{shared}-{state}",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "123456789012",
        "sharedEventID": shared,
        "insightDetails": details,
        "eventCategory": "Insight",
    }


@pytest.fixture
def insight_trail(tmp_path):
    records = [
        _insight("Start", "s-call", "2023-01-02T02:51:00Z"),
        _insight("End", "s-call", "2023-01-02T03:11:00Z", average=20.5, duration=20),
        _insight(
            "Start",
            "s-err",
            "2023-01-02T04:00:00Z",
            kind="ApiErrorRateInsight",
            name="DescribeInstances",
            error="AccessDeniedException",
            average=12.0,
        ),
        _insight(
            "End",
            "s-err",
            "2023-01-02T04:05:00Z",
            kind="ApiErrorRateInsight",
            name="DescribeInstances",
            error="AccessDeniedException",
            average=9.0,
            duration=5,
        ),
        _insight("Start", "s-open", "2023-01-02T05:00:00Z"),  # still going at the end
    ]
    path = tmp_path / "insights.json"
    path.write_text(json.dumps({"Records": records}))
    return fx.load(path, cache=False)


def test_read_pairs_start_and_end_from_aws_shaped_records(insight_trail):
    table = read_insights(insight_trail.lazy)
    assert table.schema == INSIGHTS_SCHEMA
    rows = {r["insight_id"]: r for r in table.iter_rows(named=True)}
    assert set(rows) == {"s-call", "s-err", "s-open"}
    call = rows["s-call"]
    assert (call["event_source"], call["event_name"]) == ("ec2.amazonaws.com", "CreateTags")
    assert call["end"] - call["start"] == timedelta(minutes=20)
    assert call["baseline_average"] == pytest.approx(0.0001)
    assert call["insight_average"] == 20.5  # the End's average over the whole Insight
    assert call["start_insight_average"] == 34.0
    assert call["insight_duration_min"] == 20 and call["baseline_duration_min"] == 10080
    assert (call["start_event_id"], call["end_event_id"]) == ("s-call-Start", "s-call-End")
    err = rows["s-err"]
    assert err["insight_type"] == "ApiErrorRateInsight"
    assert err["error_code"] == "AccessDeniedException"
    assert rows["s-open"]["end"] is None and rows["s-open"]["origin"] == "cloudtrail"


def test_an_end_without_its_start_is_kept_and_dated_back(tmp_path):
    path = tmp_path / "end.json"
    end = _insight("End", "s1", "2023-01-02T03:11:00Z", average=2.0, duration=11)
    path.write_text(json.dumps({"Records": [end]}))
    row = read_insights(fx.load(path, cache=False).lazy).row(0, named=True)
    assert row["start_event_id"] is None and row["end_event_id"] == "s1-End"
    assert row["end"] - row["start"] == timedelta(minutes=11)


def test_attributions_table_and_names_filled(insight_trail):
    att = insight_attributions(insight_trail.lazy)
    call = att.filter(pl.col("insight_id") == "s-call")
    assert set(call["attribute"]) == {"userIdentityArn", "userAgent", "errorCode"}
    assert set(call["period"]) == {"insight", "baseline"}
    ua = call.filter((pl.col("attribute") == "userAgent") & (pl.col("period") == "baseline"))
    assert ua["value"].unique().to_list() == ["console.amazonaws.com"]
    named = with_insight_names(insight_trail.lazy).collect()
    assert named["event_name"].null_count() == 0
    assert set(named["event_name"]) == {"CreateTags", "DescribeInstances"}


def test_lake_flat_attribution_form_is_read():
    from forensics._schema import conform

    extra = {
        "insightDetails": {
            "state": "Start",
            "eventName": "PutObject",
            "insightType": "ApiCallRateInsight",
            "insightContext": {
                "attributions": [
                    {
                        "attribute": "userAgent",
                        "insightValue": "boto3",
                        "insightAverage": 3.0,
                        "baselineValue": "aws-cli",
                        "baselineAverage": 0.5,
                    }
                ]
            },
        }
    }
    ev = conform(
        pl.DataFrame(
            {"event_category": ["Insight"], "shared_event_id": ["x"], "extra": [json.dumps(extra)]}
        )
    )
    att = insight_attributions(ev.lazy()).sort("period")
    assert att.select("period", "value", "average").rows() == [
        ("baseline", "aws-cli", 0.5),
        ("insight", "boto3", 3.0),
    ]


def test_streamalert_real_insight_record(external):
    path = external / "streamalert/rules/classifier/cloudtrail/cloudtrail_insights.json"
    table = insights(fx.load(path, cache=False))
    assert table.height == 1
    row = table.row(0, named=True)
    assert row["event_name"] == "CompleteLifecycleAction" and row["origin"] == "cloudtrail"
    assert row["insight_duration_min"] == 5 and row["end"] is None


# -- computed ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def incident_frame():
    return frame(steady_rows(), incident_rows())


def test_burst_and_error_storm_flag_exactly_those_windows(incident_frame):
    table = insights(incident_frame)
    assert table.select("insight_type", "event_name", "error_code", "start", "end").rows() == [
        (
            "ApiCallRateInsight",
            "CreateUser",
            None,
            BURST_START,
            BURST_START + timedelta(minutes=10),
        ),
        (
            "ApiErrorRateInsight",
            "ListBuckets",
            "AccessDenied",
            STORM_START,
            STORM_START + timedelta(minutes=5),
        ),
    ]
    assert set(table["origin"]) == {"computed"}
    burst = table.row(0, named=True)
    assert burst["baseline_average"] == pytest.approx(1 / 60, rel=0.05)  # one call an hour
    assert burst["insight_average"] == pytest.approx(60.1, rel=0.01)
    assert burst["insight_duration_min"] == 10 and burst["baseline_duration_min"] == 10080


def test_computed_rows_are_insight_shaped_with_attributions(incident_frame):
    rows = compute_insights(incident_frame)
    assert rows.columns == list(fx.EVENTS_SCHEMA)
    assert rows["event_category"].unique().to_list() == ["Insight"]
    assert rows.height == 4 and sorted(
        rows["extra"]
        .map_elements(lambda x: json.loads(x)["insightDetails"]["state"], return_dtype=pl.String)
        .to_list()
    ) == ["End", "End", "Start", "Start"]
    att = insight_attributions(rows.lazy())
    top = att.filter(
        (pl.col("attribute") == "userIdentityArn")
        & (pl.col("period") == "insight")
        & (pl.col("state") == "End")
    ).sort("average", descending=True)
    assert top["value"][0] == "arn:aws:iam::111122223333:user/mallory"
    base = att.filter((pl.col("attribute") == "userIdentityArn") & (pl.col("period") == "baseline"))
    assert "arn:aws:iam::111122223333:user/alice" in base["value"].to_list()


@pytest.mark.parametrize("low,high", [(0, 3), (40, 60)])
def test_steady_trail_flags_nothing(low, high):
    assert insights(frame(steady_rows(low=low, high=high))).height == 0


def test_options_change_the_outcome(incident_frame):
    # a shorter trailing baseline still flags the burst; a stricter ratio/min_count flags none
    assert insights(incident_frame, baseline="1d").height == 2
    assert insights(incident_frame, min_count=100).height == 0
    # the error storm alone, when the call rate is off
    only = insights(incident_frame, call_rate=False)
    assert only["insight_type"].to_list() == ["ApiErrorRateInsight"]
    with pytest.raises(ValueError, match="baseline="):
        insights(incident_frame, baseline="seven days")
    with pytest.raises(ValueError, match="ratio"):
        insights(incident_frame, ratio=0.5)


def test_trail_with_cloudtrail_insights_is_not_recomputed(insight_trail):
    assert set(insights(insight_trail)["origin"]) == {"cloudtrail"}


def test_insight_findings_have_the_shared_schema(incident_frame):
    f = insight_findings(incident_frame)
    assert f.schema == FINDINGS_SCHEMA
    assert f["level"].to_list() == ["medium", "high"]  # AccessDenied storm is high
    assert f["event_ids"].list.len().to_list() == [2, 2]
    assert f["principal"].to_list() == ["arn:aws:iam::111122223333:user/mallory"] * 2


def test_rate_series_marks_the_burst(incident_frame):
    s = rate_series(incident_frame, event_name="CreateUser")
    dev = s.filter(pl.col("deviates"))
    assert dev["minute"].min() == BURST_START and dev.height == 10
    assert s.height == (incident_frame["event_time"].max() - T0) // timedelta(minutes=1) + 1


# -- first seen --------------------------------------------------------------------------------
def test_first_seen_pairs():
    steady = steady_rows(days=3, high=1)
    late = T0 + timedelta(days=2, hours=1)
    rows = [
        _row(late, "CreateAccessKey", "iam.amazonaws.com", read_only=False),  # new API (abused)
        _row(late, "DescribeRegions", "ec2.amazonaws.com", read_only=True, n=1),  # new API
        _row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, ip="203.0.113.9", n=2),
        _row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, region="ap-south-1", n=3),
        _row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, ua="Boto3/1.34 md/x", n=4),
        # a brand-new session key: its IP is not news (left out by default)
        _row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, key="ASIANEW", n=5),
    ]
    f = first_seen(frame(steady, rows), until=T0 + timedelta(days=1))
    assert f.schema == FINDINGS_SCHEMA
    got = {
        (r["rule_id"], json.loads(r["details"])["value"], r["level"])
        for r in f.iter_rows(named=True)
    }
    assert got == {
        ("first_seen.api", "iam.amazonaws.com:CreateAccessKey", "medium"),
        ("first_seen.api", "ec2.amazonaws.com:DescribeRegions", "low"),
        ("first_seen.key_ip", "203.0.113.9", "medium"),
        ("first_seen.region", "ap-south-1", "medium"),
        ("first_seen.user_agent", "boto3", "low"),
    }
    api = f.filter(pl.col("title").cast(pl.String).str.contains("CreateAccessKey")).row(
        0, named=True
    )
    assert api["time"] == late and api["event_ids"] == [f"CreateAccessKey-{late.isoformat()}-0"]
    assert api["actor"] == api["principal"] == "arn:aws:iam::111122223333:user/alice"
    with_new = first_seen(frame(steady, rows), until=T0 + timedelta(days=1), new_entities=True)
    assert "ASIANEW" in with_new["access_key_id"].to_list()
    assert with_new.filter(pl.col("access_key_id") == "ASIANEW")["level"].unique().to_list() == [
        "informational"
    ]
    # nothing new when learning covers everything
    assert first_seen(frame(steady, rows), until=late + timedelta(minutes=1)).height == 0
    with pytest.raises(ValueError, match="unknown first-seen"):
        first_seen(frame(steady, rows), pairs=["api", "nope"])


def test_first_seen_uses_actor_column_when_present():
    late = T0 + timedelta(days=1, hours=12)
    extra = [_row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, region="eu-west-3")]
    ev = frame(steady_rows(days=2, high=1), extra).with_columns(pl.lit("idc:alice").alias("actor"))
    f = first_seen(ev, until=T0 + timedelta(days=1), pairs=["region"])
    assert f["actor"].to_list() == ["idc:alice"] and "idc:alice" in f["title"][0]


def test_ua_family():
    got = pl.select(
        ua_family(
            pl.Series(
                [
                    "[S3Console/0.4, aws-internal/3]",
                    "Mozilla/5.0 (Macintosh)",
                    "console.amazonaws.com",
                    None,
                ]
            )
        )
    ).to_series()
    assert got.to_list() == ["s3console", "browser", "console.amazonaws.com", None]


def test_attack_tags_shipped_and_from_a_path(tmp_path):
    tags = attack_tags()
    assert tags.height == 140
    row = tags.filter(pl.col("event_name") == "AssumeRoot").row(0, named=True)
    assert row["attack_ids"] == ["T1548", "AT1669"] and row["tags"] == ["attack.t1548"]
    mine = tmp_path / "m.csv"
    mine.write_text("EventName,Description\nFoo,Something (T1078.004)\n")
    assert attack_tags(mine)["tags"].to_list() == [["attack.t1078.004"]]
    with pytest.raises(FileNotFoundError, match="abused_aws_api_calls"):
        attack_tags(tmp_path / "missing.csv")


def test_shipped_mapping_matches_the_rule_set_copy():
    from pathlib import Path

    upstream = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "rules" / "suzaku"
    csv = upstream / "config" / "abused_aws_api_calls.csv"
    if not csv.exists():
        pytest.skip("rule sets not present")
    assert attack_tags(csv).equals(attack_tags())


def test_insights_chart_has_band_and_shaded_windows(incident_frame):
    from forensics.charts import chart_rows, insights_chart, insights_data

    series, windows = insights_data(incident_frame, "CreateUser", max_points=500)
    assert series.height <= 500 and {"rate", "baseline", "threshold"} <= set(series.columns)
    assert windows.rows() == [
        ("2026-01-09T10:00:00Z", "2026-01-09T10:10:00Z", "computed", "ApiCallRateInsight")
    ]
    chart = insights_chart(incident_frame, "CreateUser", max_points=500)
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "area", "line"]
    assert chart_rows(chart) <= 501 + 1
    _, err = insights_data(incident_frame, "ListBuckets", insight_type="ApiErrorRateInsight",
                           error_code="AccessDenied")  # fmt: skip
    assert err["start"].to_list() == ["2026-01-09T15:00:00Z"]


def test_first_seen_same_answer_on_an_unsorted_frame():
    late = T0 + timedelta(days=2, hours=1)
    extra = [
        _row(late, "CreateTags", "ec2.amazonaws.com", read_only=False, ip="203.0.113.9", n=1),
        _row(late + timedelta(minutes=5), "CreateTags", "ec2.amazonaws.com", read_only=False,
             ip="203.0.113.9", n=2),
    ]  # fmt: skip
    ev = frame(steady_rows(days=3, high=1), extra)
    cut = T0 + timedelta(days=1)
    a = first_seen(ev, until=cut)
    b = first_seen(ev.sample(fraction=1.0, shuffle=True, seed=3), until=cut)
    assert a.equals(b) and a.height > 0
    key_ip = a.filter(pl.col("rule_id") == "first_seen.key_ip").row(0, named=True)
    assert key_ip["time"] == late and json.loads(key_ip["details"])["count"] == 2


def test_daily_rhythm_is_not_an_insight():
    # one busy hour a day at 60 calls/min, quiet otherwise: far above the 24h x 7d average
    # (candidate minutes) every day, but never above the busiest minute of the week before
    rows = []
    for day in range(9):
        for minute in range(60):
            t = T0 + timedelta(days=day, hours=9, minutes=minute)
            rows += [_row(t, "PutObject", "s3.amazonaws.com", read_only=False, n=i)
                     for i in range(60)]  # fmt: skip
    ev = frame(rows)
    assert rate_series(ev, event_name="PutObject")["deviates"].any()
    assert insights(ev, compute=True).height == 0
    # the same hour at twice the rate on the last day is an Insight
    last = [_row(T0 + timedelta(days=9, hours=9, minutes=m), "PutObject", "s3.amazonaws.com",
                 read_only=False, n=i) for m in range(3) for i in range(120)]  # fmt: skip
    table = insights(frame(rows, last), compute=True)
    assert table["start"].to_list() == [T0 + timedelta(days=9, hours=9)]


def test_read_insight_findings_name_the_role_of_the_top_session(insight_trail):
    f = insight_findings(insight_trail)
    assert f.height == 3 and f.schema == FINDINGS_SCHEMA
    assert set(f["principal"]) == {"arn:aws:iam::123456789012:role/Admin"}
    assert f.filter(pl.col("rule_id") == "insight.ApiErrorRateInsight")["level"].to_list() == [
        "high"
    ]


def test_baseline_findings_is_insights_and_first_seen(incident_frame):
    from forensics.baseline import baseline_findings

    both = baseline_findings(incident_frame, until=T0 + timedelta(days=8))
    assert both.schema == FINDINGS_SCHEMA
    rules = both["rule_id"].to_list()
    assert rules.count("insight.ApiCallRateInsight") == 1
    assert rules.count("insight.ApiErrorRateInsight") == 1
    # mallory is new (informational pairs left out), alice's pairs are all known
    assert not [r for r in rules if r.startswith("first_seen.")]
    assert both["time"].is_sorted()


def test_odd_insight_records_are_read_not_fatal():
    from forensics._schema import conform

    odd = [
        {"insightDetails": {"state": "Start", "insightContext": {
            "statistics": {"baseline": {"average": "abc"}, "insight": {"average": 3}}}}},
        {"insightDetails": "oops"},
        {"insightDetails": {"state": "End", "insightContext": {"attributions": "x"}}},
        {"insightDetails": {"state": "Start", "insightContext": {"attributions": [
            {"attribute": "userAgent", "insight": [{"value": 5, "average": "2.5"}]}]}}},
        {"insightDetails": {"state": ["Start"], "eventName": {"a": 1}}},
    ]  # fmt: skip
    extra = [json.dumps(o) for o in odd] + ["not json"]
    ev = conform(pl.DataFrame({"event_category": ["Insight"] * 6,
                               "shared_event_id": [f"s{i}" for i in range(6)], "extra": extra}))  # fmt: skip
    table = read_insights(ev.lazy())
    assert sorted(table["insight_id"]) == [f"s{i}" for i in range(6)]
    s0 = table.filter(pl.col("insight_id") == "s0").row(0, named=True)
    assert s0["baseline_average"] is None and s0["insight_average"] == 3.0
    assert insight_attributions(ev.lazy()).rows() == [
        ("s3", "Start", "userAgent", "insight", "5", 2.5)
    ]


def test_duplicate_start_records_make_one_insight(tmp_path):
    records = [
        _insight("Start", "dup", "2023-01-02T02:51:00Z"),
        _insight("Start", "dup", "2023-01-02T02:51:00Z"),
        _insight("End", "dup", "2023-01-02T03:00:00Z", duration=9),
    ]
    records[1]["eventID"] = "dup-Start-copy"  # the same Start delivered twice (two trails)
    path = tmp_path / "dup.json"
    path.write_text(json.dumps({"Records": records}))
    assert read_insights(fx.load(path, cache=False).lazy).height == 1
