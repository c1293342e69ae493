"""credentials(): one row per key, linked to the call that minted it by key only."""

from __future__ import annotations

import polars as pl
import pytest

import forensics as fx
from forensics.identity import credentials
from tests._identity_helpers import (
    assume_role,
    create_access_key,
    event,
    root,
    service,
    session,
    trail,
    user,
)

A = "111111111111"
B = "222222222222"
ROLE = f"arn:aws:iam::{A}:role/Deploy"
INTERFACE = [
    "access_key_id",
    "kind",
    "principal",
    "principal_arn",
    "account_id",
    "minted_by",
    "minted_by_event_id",
    "parent_access_key_id",
    "created_by_access_key_id",
    "first_used",
    "last_used",
    "events",
    "source_ips",
    "user_agents",
    "accounts",
    "regions",
]


def row(frame: pl.DataFrame, key: str) -> dict:
    found = frame.filter(pl.col("access_key_id") == key)
    assert found.height == 1, f"{key}: {found.height} rows"
    return found.row(0, named=True)


def test_columns_follow_the_agreed_interface():
    creds = credentials(trail([event(0, "ListBuckets", user(A, "alice", "AKIAALICE0000001"))]))
    assert creds.columns[: len(INTERFACE)] == INTERFACE
    assert creds.schema["first_used"] == pl.Datetime("us", "UTC")
    assert creds.schema["source_ips"] == pl.List(pl.String)


def test_empty_trail_has_the_columns():
    creds = credentials(fx.Trail(fx.EVENTS_SCHEMA.to_frame(eager=True)))
    assert creds.height == 0
    assert creds.columns[: len(INTERFACE)] == INTERFACE


def test_same_role_same_session_name_two_people_are_never_merged():
    """Alice and Mallory both assume Deploy as session 'ci' at overlapping times."""
    alice, mallory = "AKIAALICE0000001", "AKIAMALLORY00001"
    records = [
        assume_role(0, user(A, "alice", alice), ROLE, "ci", "ASIAFROMALICE001", ip="10.0.0.1"),
        assume_role(
            1, user(A, "mallory", mallory), ROLE, "ci", "ASIAFROMMALLORY1", ip="203.0.113.9"
        ),
        event(2, "ListBuckets", session(A, "Deploy", "ci", "ASIAFROMALICE001"), ip="10.0.0.1"),
        event(3, "ListBuckets", session(A, "Deploy", "ci", "ASIAFROMMALLORY1"), ip="203.0.113.9"),
        event(4, "DeleteBucket", session(A, "Deploy", "ci", "ASIAFROMMALLORY1"), ip="203.0.113.9"),
        event(5, "GetObject", session(A, "Deploy", "ci", "ASIAFROMALICE001"), ip="10.0.0.1"),
    ]
    creds = credentials(trail(records))
    a, m = row(creds, "ASIAFROMALICE001"), row(creds, "ASIAFROMMALLORY1")
    assert a["parent_access_key_id"] == alice and m["parent_access_key_id"] == mallory
    assert a["principal"] == m["principal"] == ROLE
    assert (a["events"], m["events"]) == (2, 2)
    assert a["source_ips"] == ["10.0.0.1"] and m["source_ips"] == ["203.0.113.9"]
    assert a["minted_by"] == m["minted_by"] == "AssumeRole"


def test_kinds_and_long_term_keys():
    records = [
        event(0, "ListUsers", user(A, "alice", "AKIAALICE0000001")),
        event(1, "ListUsers", session(A, "R", "s", "ASIASESSION00001")),
        event(2, "ListUsers", user(A, "odd", "XYZWEIRDKEY00001")),
    ]
    creds = credentials(trail(records))
    assert row(creds, "AKIAALICE0000001")["kind"] == "long-term"
    assert row(creds, "ASIASESSION00001")["kind"] == "temporary"
    assert row(creds, "XYZWEIRDKEY00001")["kind"] == "unknown"
    assert row(creds, "AKIAALICE0000001")["minted_by"] == "unknown"


def test_redacted_keys_are_not_one_credential():
    records = [
        event(0, "ListUsers", user(A, "alice", "AKIA****************")),
        event(1, "ListUsers", user(A, "bob", "AKIA****************")),
    ]
    assert credentials(trail(records)).height == 0


def test_failed_assume_role_mints_nothing():
    records = [
        assume_role(
            0,
            user(A, "eve", "AKIAEVE000000001"),
            ROLE,
            "x",
            "ASIANEVER0000001",
            error="AccessDenied",
        ),
    ]
    creds = credentials(trail(records))
    assert creds["access_key_id"].to_list() == ["AKIAEVE000000001"]


def test_service_issued_instance_profile_key():
    records = [
        assume_role(
            0,
            service("ec2.amazonaws.com"),
            ROLE,
            "i-0abc",
            "ASIAINSTANCE0001",
            ip="ec2.amazonaws.com",
            agent="ec2.amazonaws.com",
        ),
        event(
            5,
            "GetCallerIdentity",
            session(A, "Deploy", "i-0abc", "ASIAINSTANCE0001"),
            ip="203.0.113.50",
        ),
    ]
    creds = credentials(trail(records))
    got = row(creds, "ASIAINSTANCE0001")
    assert got["minted_by"] == "service-issued"
    assert got["parent_access_key_id"] is None
    assert got["minted_by_event_id"] is not None
    assert got["source_ips"] == ["203.0.113.50"]


def test_create_access_key_is_created_not_minted():
    records = [
        create_access_key(0, user(A, "admin", "AKIAADMIN0000001"), "backdoor", "AKIABACKDOOR0001"),
        event(10, "ListBuckets", user(A, "backdoor", "AKIABACKDOOR0001"), ip="203.0.113.66"),
        # Root creating a key for itself: the key is root's.
        create_access_key(20, root(A, "ASIAROOTCONSOLE1"), None, "AKIAROOTNEW00001"),
    ]
    creds = credentials(trail(records))
    got = row(creds, "AKIABACKDOOR0001")
    assert got["minted_by"] == "CreateAccessKey"
    assert got["created_by_access_key_id"] == "AKIAADMIN0000001"
    assert got["parent_access_key_id"] is None
    assert got["principal"] == f"arn:aws:iam::{A}:user/backdoor"
    assert row(creds, "AKIAROOTNEW00001")["principal"] == f"arn:aws:iam::{A}:root"
    assert row(creds, "AKIAROOTNEW00001")["events"] == 0


def test_cross_account_copies_join_on_shared_event_id_and_key_is_one_row():
    """The caller's copy lacks the response; the owner's copy lacks nothing. One credential."""
    target = f"arn:aws:iam::{B}:role/Audit"
    caller = user(A, "alice", "AKIAALICE0000001")
    owner_copy = assume_role(
        0, caller, target, "audit", "ASIACROSS0000001", recipient=B, shared="shared-1"
    )
    caller_copy = assume_role(0, caller, target, "audit", None, recipient=A, shared="shared-1")
    records = [
        caller_copy,
        owner_copy,
        event(1, "ListBuckets", session(B, "Audit", "audit", "ASIACROSS0000001"), recipient=B),
        # The same key used against a resource in account A: A's trail records it too.
        event(
            2,
            "GetObject",
            session(B, "Audit", "audit", "ASIACROSS0000001"),
            recipient=A,
            region="eu-west-1",
        ),
    ]
    creds = credentials(trail(records))
    got = row(creds, "ASIACROSS0000001")
    assert got["parent_access_key_id"] == "AKIAALICE0000001"
    assert got["minted_by_event_id"] == caller_copy["eventID"]
    assert got["accounts"] == [A, B]
    assert got["regions"] == ["eu-west-1", "us-east-1"]
    assert got["account_id"] == B
    assert got["principal"] == target


def test_get_session_token_and_federation_token():
    gst = event(
        0,
        "GetSessionToken",
        user(A, "alice", "AKIAALICE0000001"),
        source="sts.amazonaws.com",
        response={"credentials": {"accessKeyId": "ASIAGST000000001"}},
    )
    gft = event(
        1,
        "GetFederationToken",
        user(A, "alice", "AKIAALICE0000001"),
        source="sts.amazonaws.com",
        request={"name": "fed"},
        response={
            "credentials": {"accessKeyId": "ASIAFED000000001"},
            "federatedUser": {"arn": f"arn:aws:sts::{A}:federated-user/fed"},
        },
    )
    fed = {
        "type": "FederatedUser",
        "arn": f"arn:aws:sts::{A}:federated-user/fed",
        "accountId": A,
        "accessKeyId": "ASIAFED000000001",
        "sessionContext": {
            "sessionIssuer": {"type": "IAMUser", "arn": f"arn:aws:iam::{A}:user/alice"}
        },
    }
    records = [gst, gft, event(2, "ListBuckets", fed)]
    creds = credentials(trail(records))
    assert row(creds, "ASIAGST000000001")["minted_by"] == "GetSessionToken"
    assert row(creds, "ASIAGST000000001")["principal"] == f"arn:aws:iam::{A}:user/alice"
    f = row(creds, "ASIAFED000000001")
    assert f["minted_by"] == "GetFederationToken"
    assert f["parent_access_key_id"] == "AKIAALICE0000001"
    assert f["principal_arn"] == f"arn:aws:sts::{A}:federated-user/fed"
    assert f["principal"] == f"arn:aws:iam::{A}:user/alice"


def test_console_sign_in_links_to_the_users_login_not_another_users():
    login_alice = event(
        0,
        "ConsoleLogin",
        user(A, "alice"),
        source="signin.amazonaws.com",
        response={"ConsoleLogin": "Success"},
    )
    login_bob = event(
        1,
        "ConsoleLogin",
        user(A, "bob"),
        source="signin.amazonaws.com",
        response={"ConsoleLogin": "Success"},
    )
    records = [
        login_alice,
        login_bob,
        event(
            2,
            "DescribeInstances",
            user(A, "alice", "ASIACONSOLEALICE"),
            agent="console.ec2.amazonaws.com",
            sessionCredentialFromConsole="true",
        ),
    ]
    got = row(credentials(trail(records)), "ASIACONSOLEALICE")
    assert got["minted_by"] == "console sign-in"
    assert got["minted_by_event_id"] == login_alice["eventID"]
    assert got["parent_access_key_id"] is None


@pytest.mark.parametrize("method", ["function", "trail"])
def test_trail_delegate(method):
    t = trail([event(0, "ListBuckets", user(A, "alice", "AKIAALICE0000001"))])
    creds = credentials(t) if method == "function" else t.credentials()
    assert creds["access_key_id"].to_list() == ["AKIAALICE0000001"]
