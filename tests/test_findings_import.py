"""GuardDuty and Security Hub findings as seeds, in the shapes AWS documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import forensics as fx
from forensics.sources._findings import findings_from

# GuardDuty GetFindings (PascalCase), as the API reference lays a finding out
GD = {
    "AccountId": "222233334444",
    "Arn": "arn:aws:guardduty:us-east-1:222233334444:detector/d1/finding/f1",
    "CreatedAt": "2026-03-04T14:00:00.000Z",
    "Id": "f1",
    "Region": "us-east-1",
    "Resource": {
        "AccessKeyDetails": {
            "AccessKeyId": "AKIA2MQW7K2WUMLBECXI",
            "PrincipalId": "AIDAEXAMPLEPRINCIPAL",
            "UserName": "ci-deploy",
            "UserType": "IAMUser",
        },
        "ResourceType": "AccessKey",
    },
    "SchemaVersion": "2.0",
    "Service": {
        "Action": {
            "ActionType": "AWS_API_CALL",
            "AwsApiCallAction": {
                "Api": "ListBuckets",
                "CallerType": "Remote IP",
                "RemoteIpDetails": {
                    "IpAddressV4": "203.0.113.54",
                    "Organization": {"Asn": "64500", "AsnOrg": "Example"},
                },
                "ServiceName": "s3.amazonaws.com",
            },
        },
        "EventFirstSeen": "2026-03-04T13:52:17.000Z",
        "EventLastSeen": "2026-03-04T14:10:00.000Z",
        "Count": 12,
    },
    "Severity": 8,
    "Title": "API ListBuckets was invoked from a known malicious IP address.",
    "Type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    "UpdatedAt": "2026-03-04T14:10:00.000Z",
}


def _camel(doc):
    if isinstance(doc, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in doc.items()}
    return [_camel(x) for x in doc] if isinstance(doc, list) else doc


ASFF = {
    "SchemaVersion": "2018-10-08",
    "Id": "arn:aws:guardduty:us-east-1:222233334444:detector/d1/finding/f2",
    "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
    "GeneratorId": "arn:aws:guardduty:us-east-1:222233334444:detector/d1",
    "AwsAccountId": "222233334444",
    "Region": "us-east-1",
    "Types": ["TTPs/Initial Access/UnauthorizedAccess:IAMUser-ConsoleLoginSuccess.B"],
    "FirstObservedAt": "2026-03-04T13:50:00.000Z",
    "LastObservedAt": "2026-03-04T15:00:00.000Z",
    "CreatedAt": "2026-03-04T15:01:00.000Z",
    "UpdatedAt": "2026-03-04T15:01:00.000Z",
    "Severity": {"Label": "MEDIUM", "Normalized": 50},
    "Title": "Unusual console login",
    "Description": "...",
    "Resources": [
        {
            "Type": "AwsIamAccessKey",
            "Id": "AWS::IAM::AccessKey:ASIAEXAMPLESESSION01",
            "Partition": "aws",
            "Region": "us-east-1",
            "Details": {
                "AwsIamAccessKey": {
                    "PrincipalId": "AROAEXAMPLE:alice",
                    "PrincipalType": "AssumedRole",
                    "PrincipalName": "Admin",
                }
            },
        }
    ],
    "Network": {"Direction": "IN", "SourceIpV4": "198.51.100.77"},
}


def _write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_guardduty_get_findings(tmp_path):
    [seed] = findings_from(_write(tmp_path, "gd.json", {"Findings": [GD]}))
    assert (seed.source, seed.level, seed.key) == ("guardduty", "high", "AKIA2MQW7K2WUMLBECXI")
    assert seed.principal_arn == "arn:aws:iam::222233334444:user/ci-deploy"
    assert seed.since == datetime(2026, 3, 4, 13, 52, 17, tzinfo=UTC)
    assert seed.last_seen == datetime(2026, 3, 4, 14, 10, tzinfo=UTC)
    assert seed.source_ips == ("203.0.113.54",) and seed.api_calls == (
        "s3.amazonaws.com:ListBuckets",
    )


def test_console_export_camelcase_list_and_eventbridge(tmp_path):
    export = [_camel(GD), {**_camel(GD), "id": "f9", "severity": 2}]
    seeds = findings_from(_write(tmp_path, "export.json", export))
    assert [s.level for s in seeds] == ["high", "low"]
    assert seeds[0].access_key_id == "AKIA2MQW7K2WUMLBECXI"
    event = {"version": "0", "source": "aws.guardduty", "detail-type": "GuardDuty Finding",
             "detail": _camel(GD)}  # fmt: skip
    [s] = findings_from(_write(tmp_path, "event.json", event))
    assert s.finding_type.startswith("UnauthorizedAccess") and s.region == "us-east-1"
    lines = tmp_path / "f.jsonl"
    lines.write_text(json.dumps(GD) + "\n" + json.dumps(GD) + "\n")
    assert len(findings_from(lines)) == 2


def test_security_hub_asff(tmp_path):
    [seed] = findings_from(_write(tmp_path, "sh.json", {"Findings": [ASFF]}))
    assert (seed.source, seed.level) == ("securityhub", "medium")
    assert seed.access_key_id == "ASIAEXAMPLESESSION01"
    assert seed.principal_arn == "arn:aws:iam::222233334444:role/Admin"
    assert seed.since == datetime(2026, 3, 4, 13, 50, tzinfo=UTC)
    assert seed.source_ips == ("198.51.100.77",)
    event = {"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
             "detail": {"findings": [ASFF, {**ASFF, "Resources": [{"Type": "AwsIamUser",
             "Id": "arn:aws:iam::222233334444:user/bob"}]}]}}  # fmt: skip
    a, b = findings_from(_write(tmp_path, "sh-event.json", event))
    assert b.key == "arn:aws:iam::222233334444:user/bob" and a.key == "ASIAEXAMPLESESSION01"


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no GuardDuty or Security Hub finding"):
        findings_from(_write(tmp_path, "x.json", {"Records": []}))
    with pytest.raises(FileNotFoundError):
        findings_from(tmp_path / "missing.json")


def test_seed_goes_straight_into_blast_radius(tmp_path):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not (sample / ".complete").exists():
        pytest.skip("the sample incident is not written (make sample)")
    sample = fx.load(sample)
    [seed] = fx.findings_from(_write(tmp_path, "gd.json", {"Findings": [GD]}))
    br = fx.blast_radius(sample, seed.key, since=seed.since)
    assert br.events.height > 0
    assert sample.for_principal(seed.principal_arn).events.height > 0


def test_ec2_findings_name_the_instance(tmp_path):
    gd = {**GD, "Type": "Backdoor:EC2/C&CActivity.B", "Resource": {"ResourceType": "Instance",
          "InstanceDetails": {"InstanceId": "i-0123456789abcdef0", "IamInstanceProfile": {
              "Arn": "arn:aws:iam::222233334444:instance-profile/web", "Id": "AIPA"}}}}  # fmt: skip
    sh = {**ASFF, "Resources": [{"Type": "AwsEc2Instance",
          "Id": "arn:aws:ec2:us-east-1:222233334444:instance/i-0fedcba9876543210",
          "Details": {"AwsEc2Instance": {
              "IamInstanceProfileArn": "arn:aws:iam::222233334444:instance-profile/api"}}}]}  # fmt: skip
    a, b = findings_from(_write(tmp_path, "ec2.json", [gd, sh]))
    assert (a.instance_id, a.instance_profile_arn) == (
        "i-0123456789abcdef0",
        "arn:aws:iam::222233334444:instance-profile/web",
    )
    assert (b.instance_id, b.instance_profile_arn) == (
        "i-0fedcba9876543210", "arn:aws:iam::222233334444:instance-profile/api")  # fmt: skip
    assert a.access_key_id is None and a.key is None


# -- the parser never crashes on odd documents (values of the wrong type, missing parts) -------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from forensics.sources._findings import findings_from_documents  # noqa: E402

_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=8))  # fmt: skip
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["Type", "Resource", "Service", "AccessKeyDetails", "AccessKeyId",
                             "Severity", "Findings", "detail", "findings", "SchemaVersion",
                             "ProductArn", "Resources", "Details", "AwsIamAccessKey", "Action",
                             "AwsApiCallAction", "RemoteIpDetails", "EventFirstSeen", "Id",
                             "UserType", "AccountId", "Label", "InstanceDetails", "Network"]),
            inner, max_size=5),
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_json)
def test_odd_documents_give_seeds_or_nothing(doc):
    # wrapped as each accepted container, so the finding readers themselves see the odd parts
    shells = [doc, {"Findings": [doc]}, {"Findings": [{"SchemaVersion": "1", "ProductArn": "a",
              **(doc if isinstance(doc, dict) else {})}]},
              {"detail": {"Type": "x", "Resource": doc, "Service": doc}}]  # fmt: skip
    for shell in shells:
        for seed in findings_from_documents(shell):
            assert seed.source in ("guardduty", "securityhub")
            assert seed.level in ("informational", "low", "medium", "high", "critical")
            for name in ("access_key_id", "principal_arn", "user_name", "account_id", "region"):
                assert getattr(seed, name) is None or isinstance(getattr(seed, name), str)
            assert seed.key is None or isinstance(seed.key, str)
