"""for_principal(): what ``who`` may be, and the errors when it is unknown or ambiguous."""

from __future__ import annotations

import polars as pl
import pytest

import forensics as fx
from forensics.identity import for_principal, principals
from tests._identity_helpers import event, root, service, session, trail, user

A, B = "111111111111", "222222222222"


@pytest.fixture(scope="module")
def t() -> fx.Trail:
    return trail(
        [
            event(0, "ListBuckets", user(A, "alice", "AKIAALICE0000001")),
            event(1, "GetObject", user(A, "alice", "AKIAALICE0000001"), error="AccessDenied"),
            event(2, "ListUsers", user(A, "admin", "AKIAADMINA000001")),
            event(3, "ListUsers", session(B, "admin", "bob", "ASIAADMINB000001")),
            event(
                4,
                "DescribeInstances",
                session(A, "Deploy", "ci", "ASIADEPLOY000001", path="/team/ops/"),
            ),
            event(
                5,
                "ConsoleLogin",
                root(A),
                source="signin.amazonaws.com",
                response={"ConsoleLogin": "Success"},
            ),
            event(
                6,
                "ConsoleLogin",
                root(A),
                source="signin.amazonaws.com",
                response={"ConsoleLogin": "Failure"},
                error="Failed authentication",
            ),
            event(7, "Decrypt", service("s3.amazonaws.com"), source="kms.amazonaws.com"),
        ]
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (f"arn:aws:iam::{A}:user/alice", 2),
        ("alice", 2),
        ("AKIAALICE0000001", 2),
        (f"arn:aws:iam::{A}:role/team/ops/Deploy", 1),
        (f"arn:aws:iam::{A}:role/Deploy", 1),  # the path left out still finds the role
        ("Deploy", 1),
        (f"arn:aws:sts::{A}:assumed-role/Deploy/ci", 1),
        (f"arn:aws:iam::{A}:root", 2),
        ("root", 2),
        ("service:s3.amazonaws.com", 1),
        ("s3.amazonaws.com", 1),
        ("  alice  ", 2),
    ],
)
def test_who_may_be_any_of(t, who, expected):
    assert len(for_principal(t, who)) == expected


def test_ambiguous_name_lists_candidates(t):
    with pytest.raises(fx.PrincipalError) as err:
        for_principal(t, "admin")
    assert err.value.candidates == [
        f"arn:aws:iam::{A}:user/admin",
        f"arn:aws:iam::{B}:role/admin",
    ]
    assert f"arn:aws:iam::{B}:role/admin" in str(err.value)


@pytest.mark.parametrize(
    ("who", "close"),
    [
        ("alicee", f"arn:aws:iam::{A}:user/alice"),
        (f"arn:aws:iam::{A}:user/alicia", f"arn:aws:iam::{A}:user/alice"),
        ("AKIAALICE0000002", "AKIAALICE0000001"),
        (f"arn:aws:sts::{A}:assumed-role/Deploy/cj", f"arn:aws:sts::{A}:assumed-role/Deploy/ci"),
    ],
)
def test_unknown_names_raise_with_close_matches(t, who, close):
    with pytest.raises(fx.PrincipalError) as err:
        for_principal(t, who)
    assert close in err.value.candidates or close.rsplit("/", 1)[-1] in err.value.candidates
    assert repr(who) in str(err.value)


@pytest.mark.parametrize("who", ["", "   ", None])
def test_empty_who_is_an_error(t, who):
    with pytest.raises(fx.PrincipalError):
        for_principal(t, who)


def test_filter_description_is_readable(t):
    got = t.for_principal("alice")
    assert got.filters == (f"principal = arn:aws:iam::{A}:user/alice",)
    assert "alice" in repr(got)


def test_resolution_sees_the_filtered_trail(t):
    # After where(), alice's events are gone: asking for her is an error, not an empty trail.
    with pytest.raises(fx.PrincipalError):
        t.where(event_name="ListUsers").for_principal("alice")


def test_principals_counts(t):
    p = principals(t)
    rows = {r["principal"]: r for r in p.iter_rows(named=True)}
    alice = rows[f"arn:aws:iam::{A}:user/alice"]
    assert (alice["events"], alice["errors"], alice["access_denied"]) == (2, 1, 1)
    assert alice["access_keys"] == ["AKIAALICE0000001"]
    assert alice["identity_type"] == "IAMUser" and alice["account_id"] == A
    r = rows[f"arn:aws:iam::{A}:root"]
    assert (r["console_logins"], r["failed_console_logins"]) == (1, 1)
    deploy = rows[f"arn:aws:iam::{A}:role/team/ops/Deploy"]
    assert deploy["session_arns"] == [f"arn:aws:sts::{A}:assumed-role/Deploy/ci"]
    assert p["principal"][0] == f"arn:aws:iam::{A}:user/alice"  # the refused one comes first
    assert p.schema["first_seen"] == pl.Datetime("us", "UTC")
    assert p.height == 6


def test_principals_of_an_empty_trail():
    p = principals(fx.Trail(fx.EVENTS_SCHEMA.to_frame(eager=True)))
    assert p.height == 0 and "principal" in p.columns


def test_names_match_without_case_when_nothing_matches_exactly(t):
    assert len(for_principal(t, "ALICE")) == 2
    assert len(for_principal(t, "deploy")) == 1
