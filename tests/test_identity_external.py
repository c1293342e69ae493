"""Identity and lineage on the shared external CloudTrail samples (their known ground truth)."""

from __future__ import annotations

import json

import polars as pl
import pytest

import forensics as fx
from forensics.ingest._normalize import normalize_records

OTRF = "otrf-security-datasets/datasets/atomic/aws/collection"
STRATUS = "stratus-red-team/docs/detonation-logs"
STOLEN = "ASIA5FLZVX4OPVKKVBMX"
WAF_ROLE = "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"


def _row(frame: pl.DataFrame, key: str) -> dict:
    found = frame.filter(pl.col("access_key_id") == key)
    assert found.height == 1
    return found.row(0, named=True)


@pytest.fixture(scope="module")
def otrf(external):
    return fx.load(external / OTRF, cache=False)


@pytest.fixture(scope="module")
def invictus(external):
    return fx.load(external / "invictus-ir-aws_dataset", cache=False)


def test_otrf_stolen_instance_key_traced_to_ec2_assume_role(otrf):
    creds = otrf.credentials()
    got = _row(creds, STOLEN)
    assert got["kind"] == "temporary"
    assert got["principal"] == WAF_ROLE
    assert got["minted_by"] == "service-issued"
    assert got["parent_access_key_id"] is None
    assert got["minted_by_principal"] == "service:ec2.amazonaws.com"
    assert got["events"] == 11
    assert any("aws-cli/1.18.136" in ua and "Darwin" in ua for ua in got["user_agents"])
    mint = otrf.where(event_id=got["minted_by_event_id"]).events.row(0, named=True)
    assert mint["event_name"] == "AssumeRole"
    assert json.loads(mint["request_parameters"])["roleSessionName"] == "i-0317f6c6b66ae9c40"
    assert json.loads(mint["response_elements"])["credentials"]["accessKeyId"] == STOLEN
    # Five instance-profile keys were minted; only the stolen one was ever used.
    issued = creds.filter(pl.col("minted_by") == "service-issued")
    assert issued.height == 5
    assert issued.filter(pl.col("events") > 0)["access_key_id"].to_list() == [STOLEN]


def test_otrf_lineage_and_for_principal(otrf):
    lin = otrf.lineage(STOLEN)
    assert lin.chain["access_key_id"].to_list() == [STOLEN]
    assert lin.tree.height == 0
    assert "service:ec2.amazonaws.com" in lin.summary()
    role = otrf.for_principal("MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0")
    assert len(role) == 11
    assert set(role.events["event_name"]) >= {"ListBuckets", "ListObjects", "GetObject"}
    # Everything the EC2 service minted, and what was done with it: the attacker's 11 calls.
    ec2 = otrf.for_principal("ec2.amazonaws.com", derived=True)
    assert ec2.events.filter(pl.col("access_key_id") == STOLEN).height == 11


def test_otrf_legitimate_user_is_a_console_session(otrf):
    p = otrf.principals()
    pedro = p.filter(pl.col("principal") == "arn:aws:iam::123456789123:user/pedro").row(
        0, named=True
    )
    assert pedro["identity_type"] == "IAMUser" and pedro["events"] == 87
    key = pedro["access_keys"][0]
    assert _row(otrf.credentials(), key)["minted_by"] == "console sign-in"


def test_stratus_stolen_instance_credentials_used_from_outside(external):
    t = fx.load(
        external / STRATUS / "aws.credential-access.ec2-steal-instance-credentials.json",
        cache=False,
    )
    got = _row(t.credentials(), "ASIAP5CT9NN8EYVU1FXV")
    assert got["principal"].endswith(":role/stratus-red-team-ec2-steal-credentials-role")
    assert got["minted_by"] == "unknown"  # the IMDS delivery is not in the trail
    used = t.for_principal("ASIAP5CT9NN8EYVU1FXV").events
    assert used["event_name"].to_list() == ["GetCallerIdentity", "DescribeInstances"]
    assert got["source_ips"] == ["18.236.253.47"]


def test_stratus_federation_token(external):
    t = fx.load(external / STRATUS / "aws.persistence.sts-federation-token.json", cache=False)
    got = _row(t.credentials(), "ASIASTJKC5GCM7ZE6LUP")
    assert got["minted_by"] == "GetFederationToken"
    assert got["parent_access_key_id"] == "AKIA6V1GNZTT65XQH36M"
    assert got["principal_arn"].endswith(":federated-user/stratus_red_team")
    assert got["events"] == 1
    user = "arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user"
    assert got["principal"] == user
    assert t.lineage("ASIASTJKC5GCM7ZE6LUP").origin == "AKIA6V1GNZTT65XQH36M"


def test_stratus_all_files_link_every_successful_mint(external):
    t = fx.load(external / STRATUS, cache=False)
    creds = t.credentials()
    minted = creds.filter(pl.col("minted_by").is_in(["AssumeRole", "GetFederationToken"]))
    assert minted.height == 9
    assert minted["parent_access_key_id"].null_count() == 0
    created = creds.filter(pl.col("minted_by") == "CreateAccessKey")
    assert sorted(created["access_key_id"]) == ["AKIAL80DWDVKKM0UXEER", "AKIAXAFZN8JEPF6L682H"]
    assert created["created_by_access_key_id"].null_count() == 0


def test_invictus_role_sessions(invictus):
    bert = "arn:aws:iam::123837392027:user/bert-jan"
    lin = invictus.lineage("AKIATFQR7NSC8Q4X20BJ")
    assert lin.chain["principal"].to_list() == [bert]
    minted = lin.tree.filter(pl.col("relation") == "minted")
    assert minted.height == 10 and set(minted["minted_by"]) == {"AssumeRole"}
    assert lin.tree.filter(pl.col("relation") == "created").height == 2
    own, derived = (
        len(invictus.for_principal(bert)),
        len(invictus.for_principal(bert, derived=True)),
    )
    assert derived - own == int(minted["events"].sum())
    # The instance-profile key used from the external IP 3.225.16.109.
    creds = invictus.credentials()
    stolen = creds.filter(pl.col("source_ips").list.contains("3.225.16.109"))
    assert stolen["minted_by"].to_list() == ["service-issued"]
    assert stolen["principal"].item().endswith("role/stratus-red-team-ec2-steal-credentials-role")


def test_invictus_principals(invictus):
    p = invictus.principals()
    bert = p.filter(pl.col("principal") == "arn:aws:iam::123837392027:user/bert-jan").row(
        0, named=True
    )
    assert bert["events"] >= 2641  # the dataset README counts 2,641
    assert bert["console_logins"] == 1
    assert {"192.168.10.20", "10.8.8.10"} <= set(bert["source_ips"])
    backdoor = p.filter(pl.col("principal").str.contains("stratus-red-team-nmfalu-gfjyeaypjt"))
    assert backdoor["console_logins"].item() == 1
    assert p["principal"].null_count() == 0


def test_panther_root_scenario(external):
    scen = external / "panther-analysis/extracted/test_scenarios/compromised-root-creds"
    records = []
    for name in ("attacker_cloudtrail.json", "victim_cloudtrail.json"):
        records += json.loads((scen / name).read_text())["Records"]
    t = fx.Trail(normalize_records(records, "panther.json").sort("event_time"))
    root = "arn:aws:iam::493859302102:root"
    p = t.principals().filter(pl.col("principal") == root).row(0, named=True)
    assert p["console_logins"] >= 1 and p["failed_console_logins"] >= 1
    creds = t.credentials()
    assert _row(creds, "AKIASWJJJ66ZZZII4IYY")["principal"].endswith(":user/tracy_stone")
    assert _row(creds, "AKIASWJJJ66ZZZII4IYY")["minted_by"] == "CreateAccessKey"
    assert _row(creds, "AKIA5ZZZK44445XXFFVB")["principal"] == root
    assert len(t.for_principal("root")) == p["events"]


def test_panther_get_session_token_without_response_is_not_invented(external):
    path = external / "panther-analysis/extracted/rules/aws_cloudtrail_rules"
    tests = json.loads((path / "aws_sts_getsessiontoken_misuse.json").read_text())["Tests"]
    t = fx.Trail(normalize_records([x["Log"] for x in tests], "rule.json"))
    creds = t.credentials()
    assert creds["access_key_id"].to_list() == ["AKIAIOSFODNN7EXAMPLE"]
    assert creds["minted_by"].to_list() == ["unknown"]
    assert t.principals()["principal"].null_count() == 0


def test_otrf_stolen_instance_key_acts_as_its_instance(otrf):
    """ec2RoleDelivery names the instance the stolen key came from (issue 14)."""
    got = otrf.with_actors().where(access_key_id=STOLEN).events
    assert got["actor"].unique().to_list() == ["ec2:123456789123/i-0317f6c6b66ae9c40"]
    assert otrf.for_principal("i-0317f6c6b66ae9c40", derived=True).events.height == 11


def test_every_external_event_has_an_actor(external):
    trail = fx.load(external, cache=False)
    events = trail.with_actors().events
    assert events["actor"].null_count() == 0 and events["principal"].null_count() == 0
    actors = trail.actors()
    assert actors["events"].sum() == len(trail)
    assert trail.sessions()["events"].sum() <= len(trail)
