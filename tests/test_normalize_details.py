"""Normalizer details that real data exercises: flags as text, session dates, resources, extra,
time offsets, numbers where text was expected."""

from __future__ import annotations

import json

import polars as pl
import pytest
from _loader_helpers import record

import forensics as fx
from forensics._schema import RECORD_FIELDS
from forensics.ingest._normalize import normalize_records
from forensics.ingest._provenance import read_originals


def _row(rec: dict) -> dict:
    frame = normalize_records([rec], "f.json")
    assert frame.schema == fx.EVENTS_SCHEMA
    return frame.row(0, named=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (False, False),
        ("false", False),
        (None, None),
        ("maybe", None),
        (1, True),
        (0, False),
    ],
)
def test_read_only_and_management_event_flags(value, expected):
    row = _row(record(1, readOnly=value, managementEvent=value))
    assert row["read_only"] is expected and row["management_event"] is expected


def _assumed_role(mfa, created) -> dict:
    return {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:bob",
        "arn": "arn:aws:sts::111122223333:assumed-role/Ops/bob",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": "arn:aws:iam::111122223333:role/ops/Ops",
                "accountId": "111122223333",
                "userName": "Ops",
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": mfa},
            "sourceIdentity": "bob@example.com",
        },
    }


def test_session_context_fields():
    row = _row(record(1, userIdentity=_assumed_role("true", "2024-03-05T09:58:12Z")))
    assert row["mfa_authenticated"] is True
    assert row["session_created"].isoformat() == "2024-03-05T09:58:12+00:00"
    assert row["session_issuer_arn"] == "arn:aws:iam::111122223333:role/ops/Ops"
    assert row["session_issuer_type"] == "Role"
    assert row["source_identity"] == "bob@example.com"
    assert row["principal"] == "arn:aws:iam::111122223333:role/ops/Ops"
    assert row["principal_arn"] == "arn:aws:sts::111122223333:assumed-role/Ops/bob"
    assert _row(record(1, userIdentity=_assumed_role("false", None)))["mfa_authenticated"] is False


def test_resources_with_arn_account_and_type():
    row = _row(
        record(
            1,
            resources=[
                {
                    "ARN": "arn:aws:s3:::bucket",
                    "accountId": "111122223333",
                    "type": "AWS::S3::Bucket",
                },
                {"accountId": "111122223333", "type": "AWS::S3::Object"},  # no ARN
                "arn:aws:kms:eu-west-1:111122223333:key/1",  # a bare string
            ],
        )
    )
    assert row["resources"] == [
        {"arn": "arn:aws:s3:::bucket", "account_id": "111122223333", "type": "AWS::S3::Bucket"},
        {"arn": None, "account_id": "111122223333", "type": "AWS::S3::Object"},
        {"arn": "arn:aws:kms:eu-west-1:111122223333:key/1", "account_id": None, "type": None},
    ]


def test_resources_that_are_not_a_list_are_kept_in_extra():
    row = _row(record(1, resources={"ARN": "arn:aws:s3:::b"}))
    assert row["resources"] is None
    assert json.loads(row["extra"])["resources"] == {"ARN": "arn:aws:s3:::b"}


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05T10:00:00Z", "2024-03-05T10:00:00+00:00"),
        ("2024-03-05T10:00:00.123Z", "2024-03-05T10:00:00.123000+00:00"),
        ("2024-03-05T10:00:00.123456789Z", "2024-03-05T10:00:00.123456+00:00"),
        ("2024-03-05T21:00:00+11:00", "2024-03-05T10:00:00+00:00"),
        ("2024-03-05 21:00:00+11:00", "2024-03-05T10:00:00+00:00"),
        ("2024-03-05T05:30:00-0430", "2024-03-05T10:00:00+00:00"),
        ("2024-03-05 10:00:00Z", "2024-03-05T10:00:00+00:00"),
        ("2024-03-05 10:00:00", "2024-03-05T10:00:00+00:00"),
        (" 2024-03-05T10:00:00Z ", "2024-03-05T10:00:00+00:00"),
        (1709632800, "2024-03-05T10:00:00+00:00"),
        (1709632800000, "2024-03-05T10:00:00+00:00"),
        ("...", None),
        ("", None),
        ("2024-13-45T99:00:00Z", None),
        (True, None),
        ({"a": 1}, None),
    ],
)
def test_event_time_shapes(text, iso):
    got = _row(record(1, eventTime=text))["event_time"]
    assert (got.isoformat() if got else None) == iso


def test_numbers_and_containers_where_text_was_expected():
    row = _row(
        record(
            1,
            eventVersion=1.08,
            awsRegion=["eu-west-1"],
            errorCode=403,
            userIdentity={"type": "IAMUser", "accountId": 111122223333, "userName": "alice"},
        )
    )
    assert row["event_version"] == "1.08"
    assert row["aws_region"] == '["eu-west-1"]'
    assert row["error_code"] == "403"
    assert row["account_id"] == "111122223333"
    assert row["principal"] == "arn:aws:iam::111122223333:user/alice"


def test_extra_holds_every_unmapped_top_level_field():
    extra_fields = {
        "tlsDetails": {"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": "s3.amazonaws.com"},
        "serviceEventDetails": {"snapshotId": "snap-1"},
        "insightDetails": {"state": "Start"},
        "sessionCredentialFromConsole": "true",
        "@timestamp": "2024-03-05T10:00:00Z",
        "p_log_type": "AWS.CloudTrail",
        "vpcEndpointAccountId": "111122223333",
        "addendum": {"reason": "DELIVERY_DELAY"},
    }
    row = _row(record(1, **extra_fields))
    assert json.loads(row["extra"]) == extra_fields


def test_extra_is_null_when_every_field_is_mapped():
    assert _row(record(1))["extra"] is None


def test_on_external_data_extra_is_exactly_the_unmapped_fields(external):
    trail = fx.load(external, cache=False)
    ev = trail.events
    originals = read_originals(ev.select(pl.col("source_file").cast(str), "source_index").rows())
    assert len(originals) == ev.height > 4000
    for original, extra, resources in zip(
        originals, ev.get_column("extra"), ev.get_column("resources"), strict=True
    ):
        kept = json.loads(extra) if extra else {}
        if isinstance(original.get("resources"), list) or original.get("resources") is None:
            kept.pop("resources", None)
            assert (resources is None) == (not isinstance(original.get("resources"), list))
        assert kept == {k: v for k, v in original.items() if k not in RECORD_FIELDS}


@pytest.mark.parametrize(
    ("identity", "principal"),
    [
        (
            {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "accountId": "1"},
            "arn:aws:iam::1:user/a",
        ),
        ({"type": "Root", "arn": "arn:aws:iam::1:root", "accountId": "1"}, "arn:aws:iam::1:root"),
        (_assumed_role("false", None), "arn:aws:iam::111122223333:role/ops/Ops"),
        (
            {
                "type": "FederatedUser",
                "arn": "arn:aws:sts::1:federated-user/bob",
                "sessionContext": {
                    "sessionIssuer": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice"}
                },
            },
            "arn:aws:iam::1:user/alice",
        ),
        ({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "service:ec2.amazonaws.com"),
        (
            {"accountId": "1", "invokedBy": "cloudtrail.amazonaws.com"},
            "service:cloudtrail.amazonaws.com",
        ),
        ({"type": "AWSAccount", "accountId": "2", "principalId": "AIDX"}, "account:2"),
        ({"type": "AWSAccount", "accountId": "ANONYMOUS_PRINCIPAL"}, "anonymous"),
        (
            {
                "type": "SAMLUser",
                "identityProvider": "arn:aws:iam::1:saml-provider/Okta",
                "userName": "bob@example.com",
            },
            "saml:arn:aws:iam::1:saml-provider/Okta/bob@example.com",
        ),
        (
            {
                "type": "WebIdentityUser",
                "identityProvider": "accounts.google.com",
                "userName": "123",
            },
            "webidentity:accounts.google.com/123",
        ),
        (
            {
                "type": "IdentityCenterUser",
                "accountId": "1",
                "onBehalfOf": {
                    "userId": "u-1",
                    "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1",
                },
            },
            "identitycenter:arn:aws:identitystore::1:identitystore/d-1/u-1",
        ),
        ({"type": "BrandNewType", "principalId": "P1"}, "BrandNewType:P1"),
        ({"type": "..."}, "...:unknown"),
        (None, "unknown"),
        ("not an object", "unknown"),
        ({}, "unknown"),
    ],
)
def test_principal_for_every_identity_type(identity, principal):
    rec = record(1, userIdentity=identity)
    if identity is None:
        del rec["userIdentity"]
    assert _row(rec)["principal"] == principal
