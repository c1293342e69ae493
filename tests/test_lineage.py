"""lineage() and for_principal(derived=True) on hand-written scenarios with decoys.

The story: alice (account A) and mallory (account A) both assume role Deploy with the same
session name "ci", minutes apart, and both sessions are active at the same time. Mallory's session
chains into role Audit in account B (a cross-account call recorded in both trails with one
sharedEventID), uses that session in both accounts, and creates a long-term key for a backdoor
user. Alice's session does ordinary work. Nothing of alice's may end up in mallory's lineage.
"""

from __future__ import annotations

import networkx as nx
import polars as pl
import pytest

import forensics as fx
from forensics.identity import for_principal, lineage
from tests._identity_helpers import (
    assume_role,
    create_access_key,
    event,
    session,
    trail,
    user,
)

A, B = "111111111111", "222222222222"
DEPLOY = f"arn:aws:iam::{A}:role/ops/Deploy"
AUDIT = f"arn:aws:iam::{B}:role/Audit"
ALICE, MALLORY = "AKIAALICE0000001", "AKIAMALLORY00001"
A_SESS, M_SESS, M_CROSS = "ASIAALICESESS001", "ASIAMALLORYSESS1", "ASIAMALLORYCROSS"
BACKDOOR = "AKIABACKDOOR0001"


def story() -> list[dict]:
    alice, mallory = user(A, "alice", ALICE), user(A, "mallory", MALLORY)
    a_sess = session(A, "Deploy", "ci", A_SESS, path="/ops/")
    m_sess = session(A, "Deploy", "ci", M_SESS, path="/ops/")
    m_cross = session(B, "Audit", "ci", M_CROSS)
    return [
        assume_role(0, alice, DEPLOY, "ci", A_SESS, ip="10.0.0.1"),
        assume_role(2, mallory, DEPLOY, "ci", M_SESS, ip="203.0.113.9"),
        event(3, "DescribeInstances", a_sess, ip="10.0.0.1"),
        event(4, "ListBuckets", m_sess, ip="203.0.113.9", source="s3.amazonaws.com"),
        event(5, "DescribeInstances", a_sess, ip="10.0.0.1"),
        # Role chaining across accounts: one call, two copies, one sharedEventID.
        assume_role(
            6, m_sess, AUDIT, "ci", M_CROSS, recipient=A, shared="x-acct-1", ip="203.0.113.9"
        ),
        assume_role(
            6, m_sess, AUDIT, "ci", M_CROSS, recipient=B, shared="x-acct-1", ip="203.0.113.9"
        ),
        event(
            7,
            "ListSecrets",
            m_cross,
            recipient=B,
            ip="203.0.113.9",
            source="secretsmanager.amazonaws.com",
        ),
        event(8, "GetObject", m_cross, recipient=A, ip="203.0.113.9", source="s3.amazonaws.com"),
        create_access_key(9, m_cross, "backdoor", BACKDOOR, recipient=B, ip="203.0.113.9"),
        event(
            10,
            "ListUsers",
            user(B, "backdoor", BACKDOOR),
            ip="198.51.100.99",
            source="iam.amazonaws.com",
        ),
        # Alice also chains into Audit: a decoy with the same role and the same session name.
        assume_role(11, a_sess, AUDIT, "ci", "ASIAALICECROSS01", recipient=B, shared="x-acct-2"),
        event(
            12,
            "ListSecrets",
            session(B, "Audit", "ci", "ASIAALICECROSS01"),
            recipient=B,
            ip="10.0.0.1",
            source="secretsmanager.amazonaws.com",
        ),
    ]


@pytest.fixture(scope="module")
def t() -> fx.Trail:
    return trail(story())


def test_chain_from_origin_down_to_the_key_across_accounts(t):
    lin = lineage(t, M_CROSS)
    assert lin.chain["access_key_id"].to_list() == [MALLORY, M_SESS, M_CROSS]
    assert lin.chain["relation"].to_list() == [None, "minted", "minted"]
    assert lin.origin == MALLORY
    assert lin.chain["principal"].to_list() == [
        f"arn:aws:iam::{A}:user/mallory",
        DEPLOY,
        AUDIT,
    ]
    assert lin.cycle is False


def test_tree_holds_everything_made_beneath_and_nothing_of_the_decoy(t):
    lin = lineage(t, MALLORY)
    tree = lin.tree.select("access_key_id", "depth", "relation", "from_access_key_id").rows()
    assert tree == [
        (M_SESS, 1, "minted", MALLORY),
        (M_CROSS, 2, "minted", M_SESS),
        (BACKDOOR, 3, "created", M_CROSS),
    ]
    assert (
        lin.tree.filter(pl.col("access_key_id") == BACKDOOR)["created_by_access_key_id"].item()
        == M_CROSS
    )


def test_graph_has_relations(t):
    g = lineage(t, M_SESS).graph
    assert isinstance(g, nx.DiGraph)
    assert g.edges[MALLORY, M_SESS]["relation"] == "minted"
    assert g.edges[M_CROSS, BACKDOOR]["relation"] == "created"
    assert g.nodes[M_CROSS]["principal"] == AUDIT
    assert A_SESS not in g and ALICE not in g


def test_decoy_session_has_its_own_lineage(t):
    assert lineage(t, "ASIAALICECROSS01").chain["access_key_id"].to_list() == [
        ALICE,
        A_SESS,
        "ASIAALICECROSS01",
    ]


def test_unknown_key_raises_with_close_matches(t):
    with pytest.raises(fx.PrincipalError) as err:
        lineage(t, "ASIAMALLORYSESS2")
    assert M_SESS in err.value.candidates
    assert M_SESS in str(err.value)


def test_for_principal_derived_follows_minted_keys_in_every_account(t):
    own = for_principal(t, "mallory").events
    assert own["event_name"].to_list() == ["AssumeRole"]
    derived = for_principal(t, "mallory", derived=True).events
    keys = set(derived["access_key_id"].drop_nulls())
    assert keys == {MALLORY, M_SESS, M_CROSS}
    assert set(derived["recipient_account_id"]) == {A, B}
    assert "ListSecrets" in derived["event_name"].to_list()
    # Alice's identical role + session name never leaks in; created keys are not "minted".
    assert derived.filter(pl.col("source_ip") == "10.0.0.1").height == 0
    assert BACKDOOR not in keys


def test_for_principal_derived_of_the_decoy(t):
    derived = for_principal(t, "alice", derived=True).events
    assert set(derived["access_key_id"].drop_nulls()) == {ALICE, A_SESS, "ASIAALICECROSS01"}
    assert set(derived["source_ip"]) == {"10.0.0.1", "198.51.100.7"}


def test_for_principal_by_key_derived(t):
    derived = for_principal(t, M_SESS, derived=True)
    assert set(derived.events["access_key_id"]) == {M_SESS, M_CROSS}
    assert derived.filters[-1].startswith(f"access key = {M_SESS}")


def test_filters_describe_and_compose_lazily(t):
    got = for_principal(t, "mallory", derived=True).between(
        "2024-03-01T09:05:00Z", "2024-03-01T09:09:00Z"
    )
    assert got._collected is None  # still a lazy plan, nothing materialised yet
    got = got.where(event_source="s3.amazonaws.com")
    assert got.events["event_name"].to_list() == ["GetObject"]
    assert len(got.filters) == 3
    assert "mallory" in got.filters[0] and "2 keys minted" in got.filters[0]


def test_mint_cycle_terminates():
    """Malformed (or replayed) records where two keys mint each other must not hang."""
    k1, k2, k3 = "ASIALOOP00000001", "ASIALOOP00000002", "ASIALOOP00000003"
    records = [
        assume_role(0, session(A, "R", "s", k1), f"arn:aws:iam::{A}:role/R", "s", k2),
        assume_role(1, session(A, "R", "s", k2), f"arn:aws:iam::{A}:role/R", "s", k3),
        assume_role(2, session(A, "R", "s", k3), f"arn:aws:iam::{A}:role/R", "s", k1),
    ]
    t = trail(records)
    lin = lineage(t, k2)
    assert lin.cycle is True
    assert set(lin.chain["access_key_id"]) <= {k1, k2, k3}
    assert lin.chain["access_key_id"][-1] == k2
    assert set(lin.tree["access_key_id"]) <= {k1, k3}
    derived = for_principal(t, k1, derived=True)
    assert set(derived.events["access_key_id"]) == {k1, k2, k3}


def test_saml_user_derived_reaches_the_sessions_it_minted():
    provider = f"arn:aws:iam::{A}:saml-provider/Okta"
    saml_caller = {
        "type": "SAMLUser",
        "principalId": "Okta:alice@example.com",
        "userName": "alice@example.com",
        "identityProvider": provider,
    }
    mint = event(
        0,
        "AssumeRoleWithSAML",
        saml_caller,
        source="sts.amazonaws.com",
        request={"roleArn": DEPLOY, "principalArn": provider},
        response={
            "credentials": {"accessKeyId": "ASIAFROMSAML0001"},
            "assumedRoleUser": {"arn": f"arn:aws:sts::{A}:assumed-role/Deploy/alice@example.com"},
        },
        recipient=A,
    )
    records = [
        mint,
        event(
            1,
            "ListBuckets",
            session(A, "Deploy", "alice@example.com", "ASIAFROMSAML0001", path="/ops/"),
        ),
    ]
    t = trail(records)
    got = for_principal(t, f"saml:{provider}/alice@example.com", derived=True)
    assert got.events["event_name"].to_list() == ["AssumeRoleWithSAML", "ListBuckets"]
    creds = t.credentials().filter(pl.col("access_key_id") == "ASIAFROMSAML0001")
    assert creds["minted_by"].item() == "AssumeRoleWithSAML"
    assert creds["parent_access_key_id"].item() is None
    assert creds["minted_by_principal"].item() == f"saml:{provider}/alice@example.com"
    assert lineage(t, "ASIAFROMSAML0001").chain.height == 1


def test_lineage_display_escapes_record_text():
    evil = "<script>alert(1)</script>"
    records = [
        assume_role(0, user(A, evil, "AKIAEVIL00000001"), DEPLOY, "x", "ASIAEVIL00000001"),
    ]
    lin = lineage(trail(records), "ASIAEVIL00000001")
    assert evil in lin.summary()
    assert "<script>" not in lin._repr_html_()
    assert "ASIAEVIL00000001" in repr(lin) and "AKIAEVIL00000001" in repr(lin)


def test_same_answers_over_a_lazy_parquet_scan(t, tmp_path):
    path = tmp_path / "events.parquet"
    t.events.write_parquet(path)
    lazy = fx.Trail(pl.scan_parquet(path))
    got = for_principal(lazy, "mallory", derived=True)
    assert got._collected is None
    want = for_principal(t, "mallory", derived=True).events
    assert got.events["event_id"].to_list() == want["event_id"].to_list()
    assert lineage(lazy, M_CROSS).chain["access_key_id"].to_list() == [MALLORY, M_SESS, M_CROSS]
    assert lazy.principals().height == t.principals().height
