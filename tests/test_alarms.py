"""Alarms for next time: each pattern matches the events that made the finding, not a near miss."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from _aws_patterns import as_eventbridge, event_matches, metric_filter_matches
from _baseline_helpers import frame, incident_rows, steady_rows

import forensics as fx
from forensics.alarms import alarm
from forensics.baseline import first_seen, insights

T = datetime(2026, 2, 1, tzinfo=UTC)


def _rec(t, name, source, *, ip="198.51.100.7", key="AKIAEXAMPLEALICE0001", error=None, n=0):
    r = {
        "eventVersion": "1.09",
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventID": f"e-{name}-{n}-{t.timestamp():.0f}",
        "eventName": name,
        "eventSource": source,
        "awsRegion": "us-east-1",
        "eventType": "AwsApiCall",
        "eventCategory": "Management",
        "readOnly": name.startswith(("List", "Get", "Describe")),
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0",
        "recipientAccountId": "111122223333",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": key,
            "userName": "alice",
        },
    }
    if error:
        r["errorCode"] = error
    return r


@pytest.fixture
def trail(tmp_path):
    recs = [_rec(T + timedelta(hours=h), "DescribeInstances", "ec2.amazonaws.com", n=h)
            for h in range(48)]  # fmt: skip
    late = T + timedelta(hours=50)
    recs.append(_rec(late, "CreateAccessKey", "iam.amazonaws.com", ip="203.0.113.9", n=1))
    recs.append(_rec(late + timedelta(minutes=1), "PutBucketPolicy", "s3.amazonaws.com",
                     error="AccessDenied", n=2))  # fmt: skip
    p = tmp_path / "trail.json"
    p.write_text(json.dumps({"Records": recs}))
    return fx.load(p, cache=False)


def _both(a, record):
    return (event_matches(a.event_pattern, as_eventbridge(record)),
            metric_filter_matches(a.metric_filter_pattern, record))  # fmt: skip


def test_first_seen_findings_alarm_matches_their_events_not_near_misses(trail):
    findings = first_seen(trail, until=T + timedelta(hours=49))
    assert findings.height >= 3
    for f in findings.iter_rows(named=True):
        a = alarm(f, trail=trail)
        originals = [trail.original(e) for e in f["event_ids"]]
        for rec in originals:
            rec = rec[0] if isinstance(rec, list) else rec
            assert _both(a, rec) == (True, True), (f["title"], a.metric_filter_pattern)
            miss = copy.deepcopy(rec)
            if f["rule_id"] == "first_seen.key_ip":
                miss["userIdentity"]["accessKeyId"] = "AKIAOTHERKEY00000000"
            else:
                miss["eventName"] = "GetCallerIdentity"
            assert _both(a, miss) == (False, False), f["title"]
            other = copy.deepcopy(rec)
            other["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/bob"
            other["userIdentity"]["accessKeyId"] = "AKIABOBBOBBOBBOB0000"
            assert _both(a, other) == (False, False), f["title"]
        json.loads(a.cloudformation_json())  # valid JSON template


def test_key_ip_alarm_is_about_that_key_from_an_address_it_never_used(trail):
    f = first_seen(trail, until=T + timedelta(hours=49), pairs=["key_ip"]).row(0, named=True)
    a = alarm(f, trail=trail)
    assert a.conditions == {"userIdentity.accessKeyId": ["AKIAEXAMPLEALICE0001"]}
    assert a.excluded == {"sourceIPAddress": ["198.51.100.7"]}  # its address while learning
    rec = trail.original(f["event_ids"][0])
    assert _both(a, rec) == (True, True)
    elsewhere = copy.deepcopy(rec)
    elsewhere["sourceIPAddress"] = "192.0.2.99"
    elsewhere["eventName"] = "ListUsers"  # any call counts
    assert _both(a, elsewhere) == (True, True)
    known_ip = copy.deepcopy(rec)
    known_ip["sourceIPAddress"] = "198.51.100.7"
    assert _both(a, known_ip) == (False, False)
    other_key = copy.deepcopy(rec)
    other_key["userIdentity"]["accessKeyId"] = "AKIAOTHERKEY00000000"
    assert _both(a, other_key) == (False, False)
    # without the trail: the one address of the finding
    b = alarm(f)
    assert b.conditions["sourceIPAddress"] == ["203.0.113.9"] and not b.excluded
    assert _both(b, rec) == (True, True) and _both(b, elsewhere) == (False, False)


def test_region_alarm_follows_the_role_sessions(tmp_path):
    recs = []
    for h in range(30):
        r = _rec(T + timedelta(hours=h), "DescribeInstances", "ec2.amazonaws.com", n=h)
        r["userIdentity"] = {
            "type": "AssumedRole", "arn": f"arn:aws:sts::111122223333:assumed-role/ops/s{h}",
            "accountId": "111122223333", "accessKeyId": f"ASIAOPS{h:013d}",
            "sessionContext": {"sessionIssuer": {
                "type": "Role", "arn": "arn:aws:iam::111122223333:role/ops",
                "accountId": "111122223333", "userName": "ops"}},
        }  # fmt: skip
        recs.append(r)
    late = copy.deepcopy(recs[-1])
    late["eventTime"] = (T + timedelta(hours=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late["eventID"] = "late"
    late["awsRegion"] = "ap-southeast-3"
    recs.append(late)
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"Records": recs}))
    trail = fx.load(p, cache=False)
    [f] = first_seen(trail, until=T + timedelta(hours=35), pairs=["region"]).iter_rows(named=True)
    a = alarm(f, trail=trail)
    assert a.conditions == {
        "userIdentity.sessionContext.sessionIssuer.arn": ["arn:aws:iam::111122223333:role/ops"]
    }
    assert a.excluded == {"awsRegion": ["us-east-1"]}
    assert _both(a, late) == (True, True)
    assert _both(a, recs[0]) == (False, False)  # a known region


def test_failed_call_alarm_requires_the_error(trail):
    ev = trail.where(event_name="PutBucketPolicy").events
    finding = {"rule_id": "custom.denied", "title": "denied policy change",
               "event_ids": ev["event_id"].to_list(), "details": "{}"}  # fmt: skip
    a = alarm(finding, trail=trail)
    assert a.conditions["errorCode"] == ["AccessDenied"]
    rec = trail.original(ev["event_id"][0])
    assert _both(a, rec) == (True, True)
    ok = copy.deepcopy(rec)
    del ok["errorCode"]
    assert _both(a, ok) == (False, False)


def test_insight_alarm_counts_that_api_per_minute():
    ev = frame(steady_rows(), incident_rows())
    call, err = insights(ev).iter_rows(named=True)
    a = alarm(call)
    assert a.period_seconds == 60 and a.threshold >= 1
    assert a.conditions == {"eventName": ["CreateUser"], "eventSource": ["iam.amazonaws.com"]}
    b = alarm(err)
    assert b.conditions["errorCode"] == ["AccessDenied"] and b.read_only is True  # ListBuckets
    rec = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "errorCode": "AccessDenied",
    }
    assert _both(b, rec) == (True, True)
    assert _both(b, {**rec, "errorCode": "NoSuchBucket"}) == (False, False)
    assert a.cloudformation()["Resources"]["Alarm"]["Properties"]["Period"] == 60


def test_rule_dict_console_login_and_read_only_state():
    a = alarm({"event_source": "signin.amazonaws.com", "event_name": "ConsoleLogin"})
    assert a.event_pattern["detail-type"] == ["AWS Console Sign In via CloudTrail"]
    assert a.event_pattern["source"] == ["aws.signin"]
    r = alarm({"event_source": "secretsmanager.amazonaws.com", "event_name": "GetSecretValue"})
    rule = r.cloudformation()["Resources"]["Rule"]["Properties"]
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" and r.notes
    with pytest.raises(ValueError, match="no event source or name"):
        alarm({"access_key_id": "AKIA"})
    with pytest.raises(TypeError):
        alarm(42)


def test_value_with_quotes_is_escaped_in_metric_filter():
    a = alarm({"event_source": "iam.amazonaws.com", "event_name": 'Bad"Name'})
    assert metric_filter_matches(a.metric_filter_pattern, {"eventSource": "iam.amazonaws.com",
                                                            "eventName": 'Bad"Name'})  # fmt: skip
    assert not metric_filter_matches(
        a.metric_filter_pattern, {"eventSource": "iam.amazonaws.com", "eventName": "Bad"}
    )


def test_seed_alarm_follows_the_key():
    from forensics.sources._findings import findings_from_documents

    [seed] = findings_from_documents([{"Type": "Recon:IAMUser/x", "Id": "1",
        "Resource": {"AccessKeyDetails": {"AccessKeyId": "AKIALEAKED0000000000"}}}])  # fmt: skip
    a = alarm(seed)
    rec = {"eventName": "ListUsers", "eventSource": "iam.amazonaws.com",
           "userIdentity": {"accessKeyId": "AKIALEAKED0000000000"}}  # fmt: skip
    assert _both(a, rec) == (True, True)
    rec["userIdentity"]["accessKeyId"] = "AKIAOTHER"
    assert _both(a, rec) == (False, False)


# -- the evaluators themselves, on AWS's documented examples ---------------------------------
def test_eventbridge_evaluator_documented_filters():
    ev = {"source": "aws.ec2", "detail": {"state": "running", "c-count": 5,
          "ip": "10.0.0.5", "tags": ["a", "b"]}}  # fmt: skip
    assert event_matches({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, ev)
    assert not event_matches({"detail": {"state": ["stopped"]}}, ev)
    assert event_matches({"detail": {"tags": ["b"]}}, ev)  # arrays: any element
    assert event_matches({"detail": {"state": [{"prefix": "run"}]}}, ev)
    assert event_matches({"detail": {"state": [{"anything-but": ["stopped"]}]}}, ev)
    assert not event_matches({"detail": {"state": [{"anything-but": "running"}]}}, ev)
    assert event_matches({"detail": {"nope": [{"exists": False}]}}, ev)
    assert event_matches({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, ev)
    assert event_matches({"$or": [{"detail": {"state": ["x"]}}, {"source": ["aws.ec2"]}]}, ev)
    assert not event_matches({"detail": {"missing": ["x"]}}, ev)


def test_metric_filter_evaluator_documented_forms():
    rec = {"eventName": "ConsoleLogin", "errorCode": None, "user": {"id": 7}, "ip": "10.1.2.3"}
    assert metric_filter_matches('{ $.eventName = "ConsoleLogin" }', rec)
    assert metric_filter_matches('{ ($.eventName = "Console*") && ($.user.id = 7) }', rec)
    assert metric_filter_matches('{ ($.eventName = "x") || ($.ip != "10.9.9.9") }', rec)
    assert metric_filter_matches("{ $.errorCode IS NULL }", rec)
    assert metric_filter_matches("{ $.nothing NOT EXISTS }", rec)
    assert not metric_filter_matches('{ ($.eventName = "ConsoleLogin") && ($.user.id > 9) }', rec)
