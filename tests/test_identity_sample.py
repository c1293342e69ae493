"""Identity and lineage against the sample trail's ground truth (``SampleInfo.story``).

The sample embeds a leaked CI key, role chaining into a second account, a backdoor user with a
created key, and decoys: the same user's legitimate key assuming the same roles, and Jenkins
assuming the same role with the same session name.
"""

from __future__ import annotations

import polars as pl
import pytest

import forensics as fx


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    info = fx.sample.write(out, events=3_000, days=1)
    return info.story, fx.load(out, cache=False)


def test_every_story_credential_is_found_as_told(sample):
    story, trail = sample
    creds = trail.credentials()
    for expected in story["credentials"]:
        row = creds.filter(pl.col("access_key_id") == expected["access_key_id"])
        assert row.height == 1, expected["access_key_id"]
        got = row.row(0, named=True)
        fields = ["kind", "minted_by", "account_id", "principal_arn"]
        if expected["minted_by"] == "CreateAccessKey":
            fields.append("created_by_access_key_id")
            assert got["parent_access_key_id"] is None
        else:
            fields.append("parent_access_key_id")
        if expected["minted_by_event_id"]:
            fields.append("minted_by_event_id")
        assert {f: got[f] for f in fields} == {f: expected[f] for f in fields}


def test_lineage_of_the_leaked_key_reaches_the_closure_and_no_decoy(sample):
    story, trail = sample
    leaked = story["leaked_access_key_id"]
    lin = trail.lineage(leaked)
    made = set(lin.tree["access_key_id"])
    # Everything in the closure except the backdoor user's console session (made with a
    # password, not a key) is beneath the leaked key.
    by_key = {
        c["access_key_id"] for c in story["credentials"] if c["minted_by"] != "console sign-in"
    }
    assert made == by_key - {leaked}
    assert not made & set(story["decoys"]["access_key_ids"])
    assert lin.chain["access_key_id"].to_list() == [leaked]


def test_chain_of_the_data_account_session(sample):
    story, trail = sample
    chained = next(
        c for c in story["credentials"] if c["principal_arn"] == story["session_arns"][1]
    )
    lin = trail.lineage(chained["access_key_id"])
    assert (
        lin.chain["account_id"].unique(maintain_order=True).to_list() == story["accounts_reached"]
    )
    assert lin.chain.height == 3
    assert lin.origin == story["leaked_access_key_id"]


def test_for_principal_of_the_leaked_key_excludes_decoys_with_the_same_session_names(sample):
    story, trail = sample
    got = trail.for_principal(story["leaked_access_key_id"], derived=True).events
    decoys = set(story["decoys"]["event_ids"])
    assert decoys and not decoys & set(got["event_id"])
    incident = set(story["incident_event_ids"])
    assert set(got["event_id"]) <= incident
    # Calls an AWS service made on the attacker's behalf show the service as source IP.
    ips = {ip for ip in got["source_ip"] if not ip.endswith(".amazonaws.com")}
    assert ips == set(story["attacker_ips"])
    # The same session ARNs were used by decoys: filtering by session ARN would mix them in.
    for arn in story["decoys"]["same_session_arns"]:
        assert trail.for_principal(arn).events["event_id"].is_in(list(decoys)).any()


def test_principals_lists_the_compromised_user(sample):
    story, trail = sample
    p = trail.principals().filter(pl.col("principal") == story["compromised_user_arn"])
    assert p.height == 1
    row = p.row(0, named=True)
    assert story["leaked_access_key_id"] in row["access_keys"]
    assert set(story["attacker_ips"]) & set(row["source_ips"])
