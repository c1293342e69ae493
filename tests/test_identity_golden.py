"""Golden records for identity shapes absent from the shared samples (see tests/golden/identity)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.ingest._identity_keys import link_identities, principal_key
from forensics.ingest._normalize import normalize_records

GOLDEN = Path(__file__).parent / "golden" / "identity"
FILES = sorted(GOLDEN.glob("*.json"))


def _load(path: Path) -> tuple[dict, fx.Trail]:
    doc = json.loads(path.read_text())
    # linked as the loader links a whole trail (rules that read other records)
    frame = link_identities(normalize_records(doc["records"], path.name))
    return doc, fx.Trail(frame.sort("event_time"))


def test_golden_files_exist():
    names = {p.stem for p in FILES}
    assert {
        "saml_federation",
        "web_identity",
        "identity_center",
        "source_identity",
        "cross_account_and_forms",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_principal_of_every_event(path):
    doc, trail = _load(path)
    got = dict(trail.events.select("event_id", "principal").iter_rows())
    assert got == doc["expect"]["principal"]
    # The key function itself agrees on the raw userIdentity (the fast decoder calls it too),
    # except where the rule reads more of the record (refine_identity: the SAML issuer) or
    # other records of the trail (expect.linked: link_identities).
    linked = set(doc["expect"].get("linked", []))
    for record in doc["records"]:
        if record["eventName"] == "AssumeRoleWithSAML" or record["eventID"] in linked:
            continue
        assert (
            principal_key(record["userIdentity"]) == doc["expect"]["principal"][record["eventID"]]
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_credentials_rows(path):
    doc, trail = _load(path)
    creds = trail.credentials()
    for key, expected in doc["expect"].get("credentials", {}).items():
        row = creds.filter(pl.col("access_key_id") == key)
        assert row.height == 1, key
        got = row.row(0, named=True)
        assert {k: got[k] for k in expected} == expected, key


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_lineage_and_source_identity(path):
    doc, trail = _load(path)
    for key, chain in doc["expect"].get("lineage", {}).items():
        assert trail.lineage(key).chain["access_key_id"].to_list() == chain
    got = dict(trail.events.select("event_id", "source_identity").iter_rows())
    for event_id, value in doc["expect"].get("source_identity", {}).items():
        assert got[event_id] == value


def test_federated_principals_are_selectable_and_derive_their_sessions():
    _, trail = _load(GOLDEN / "web_identity.json")
    caller = "webidentity:token.actions.example.com/repo:corp/app:ref:refs/heads/main"
    derived = trail.for_principal(caller, derived=True).events
    assert derived["event_id"].to_list() == ["golden-wif-1", "golden-wif-2"]
    p = trail.principals()
    assert p.filter(pl.col("principal") == caller)["identity_type"].item() == "WebIdentityUser"


def test_identity_center_user_by_name_and_sso_role_by_name():
    _, trail = _load(GOLDEN / "identity_center.json")
    user = "94482488-3041-7026-18f3-be45837cd0e4"
    assert len(trail.for_principal(user)) == 2
    sso = trail.for_principal("AWSReservedSSO_AdministratorAccess_0123456789abcdef")
    assert sso.events["event_id"].to_list() == ["golden-idc-3"]


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({"type": "SAMLUser", "principalId": "nq==:bob"}, "saml:nq==/bob"),
        ({"type": "SAMLUser"}, "saml:unknown/unknown"),
        (
            {
                "type": "WebIdentityUser",
                "userName": "u1",
                "identityProvider": "accounts.google.com",
            },
            "webidentity:accounts.google.com/u1",
        ),
        ({"type": "IdentityCenterUser"}, "identitycenter:unknown/unknown"),
        (
            {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R/s"},
            "arn:aws:iam::1:role/R",
        ),
        ({"type": "AWSAccount", "principalId": "ANONYMOUS_PRINCIPAL"}, "anonymous"),
        ({"type": "Unknown", "principalId": "p"}, "Unknown:p"),
        ({"type": ["not", "a", "string"]}, "unknown"),
        ({"type": "IAMUser", "userName": {"nested": 1}}, "IAMUser:unknown"),
        ("not a dict", "unknown"),
    ],
)
def test_principal_key_never_fails(identity, expected):
    assert principal_key(identity) == expected


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_identity_fields = st.sampled_from(
    [
        "type",
        "arn",
        "accountId",
        "principalId",
        "userName",
        "invokedBy",
        "identityProvider",
        "sessionContext",
        "onBehalfOf",
        "accessKeyId",
    ]
)
_types = st.sampled_from(
    [
        "IAMUser",
        "Root",
        "AssumedRole",
        "FederatedUser",
        "AWSService",
        "AWSAccount",
        "SAMLUser",
        "WebIdentityUser",
        "IdentityCenterUser",
        "Unknown",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.one_of(_types, _values),
    fields=st.dictionaries(_identity_fields, _values, max_size=6),
)
def test_principal_key_is_never_null_and_never_raises(kind, fields):
    key = principal_key({**fields, "type": kind})
    assert isinstance(key, str) and key
