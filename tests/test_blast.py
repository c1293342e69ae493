"""Blast radius: what a compromised credential reached, followed by key, never by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import forensics as fx
from forensics import PrincipalError
from tests._blast_helpers import (
    ALICE_LEGIT,
    ATTACK,
    ATTACK_B,
    ATTACK_KEYS,
    ATTACKER_IP,
    AUDIT_B,
    BACKDOOR,
    BACKDOOR_USER,
    BOB_SESSION,
    CONSOLE,
    DECOY_KEYS,
    DEPLOY,
    LEAKED,
    MORNING,
    PAYROLL,
    PAYROLL_OBJ,
    SECOND,
    A,
    B,
    incident_records,
)
from tests._identity_helpers import T0, assume_role, event, session, trail, user


@pytest.fixture(scope="module")
def incident() -> fx.Trail:
    return trail(incident_records())


@pytest.fixture(scope="module")
def attack(incident: fx.Trail) -> fx.BlastRadius:
    # From the first malicious call on: alice's own morning session is out.
    return fx.blast_radius(incident, LEAKED, since=T0 + timedelta(minutes=10))


def test_closure_is_the_attackers_keys_and_nothing_else(attack: fx.BlastRadius) -> None:
    keys = set(attack.credentials["access_key_id"])
    assert keys == ATTACK_KEYS
    assert not keys & DECOY_KEYS
    joined = dict(attack.credentials.select("access_key_id", "joined_by").iter_rows())
    assert joined == {
        LEAKED: "seed",
        ATTACK: "minted",
        ATTACK_B: "minted",  # cross-account role chaining
        BACKDOOR: "created",  # CreateAccessKey for the new user
        CONSOLE: "created identity",  # console session of the user it created
    }
    via = dict(attack.credentials.select("access_key_id", "via_access_key_id").iter_rows())
    assert via[ATTACK_B] == ATTACK and via[BACKDOOR] == ATTACK


def test_no_decoy_event_appears(attack: fx.BlastRadius) -> None:
    ev = attack.events
    assert not set(ev["access_key_id"].drop_nulls()) & DECOY_KEYS
    # every event with a key is the attacker's, from the attacker's IP
    assert set(ev.filter(pl.col("access_key_id").is_not_null())["source_ip"]) == {ATTACKER_IP}
    assert ev["event_time"].is_sorted()
    # the events frame is the events table
    assert ev.columns == list(fx.COLUMNS)
    # bob's PutObject on the same bucket, with the same session name, is not the attacker's
    assert "PutObject" not in set(ev["event_name"])


def test_resources_read_written_denied(attack: fx.BlastRadius) -> None:
    res = attack.resources
    assert res["arn"].n_unique() == res.height
    row = {r["arn"]: r for r in res.iter_rows(named=True)}
    assert row[PAYROLL_OBJ]["access"] == "read" and not row[PAYROLL_OBJ]["wrote"]
    assert row[PAYROLL_OBJ]["events"] == 1  # bob's and carol's reads are not counted
    assert row[PAYROLL]["actions"] == ["GetObject"]
    secret = f"arn:aws:secretsmanager:us-east-1:{B}:secret:prod/db"
    assert row[secret]["denied_only"] and row[secret]["access"] == "denied"
    assert row[BACKDOOR_USER]["created"] and row[BACKDOOR_USER]["wrote"]
    assert row[f"arn:aws:ec2:us-east-1:{A}:instance/i-miner"]["created"]
    assert row[f"arn:aws:iam::{A}:login-profile/svc-backup"]["created"]
    assert "arn:aws:s3:::reports" not in row  # alice's own reads, before and after
    assert "arn:aws:s3:::payroll/2025.csv" not in row  # bob's write


def test_principals_reached_and_created(attack: fx.BlastRadius) -> None:
    rel = dict(attack.principals.select("principal", "relation").iter_rows())
    assert rel[DEPLOY] == "assumed"
    assert rel[AUDIT_B] == "assumed"
    assert rel[BACKDOOR_USER] == "created"
    assert rel[f"arn:aws:iam::{A}:user/alice"] == "used"
    assert f"arn:aws:iam::{A}:user/bob" not in rel
    assert f"arn:aws:iam::{A}:role/ReadOnly" not in rel
    assert attack.principals["principal"].n_unique() == attack.principals.height


def test_the_owners_copy_of_a_cross_account_call_is_included(attack: fx.BlastRadius) -> None:
    copy = attack.events.filter(pl.col("event_id") == "owner-copy-xacct-1")
    assert copy.height == 1
    assert copy.row(0, named=True)["recipient_account_id"] == B
    assert copy.row(0, named=True)["access_key_id"] is None


def test_denied_is_a_frame_of_events(attack: fx.BlastRadius) -> None:
    assert attack.denied.columns == list(fx.COLUMNS)
    assert attack.denied["event_name"].to_list() == ["GetSecretValue"]


def test_graph_is_the_closure(attack: fx.BlastRadius) -> None:
    g = attack.graph
    assert set(g.successors(LEAKED)) >= {ATTACK}
    assert g.has_edge(LEAKED, ATTACK, key="minted")
    assert g.has_edge(ATTACK, ATTACK_B, key="minted")
    assert g.has_edge(ATTACK, BACKDOOR, key="created")
    assert g.has_edge(LEAKED, f"arn:aws:sts::{A}:assumed-role/Deploy/alice", key="assumed")
    assert g.has_edge(ATTACK, f"arn:aws:sts::{B}:assumed-role/Audit/x", key="assumed")
    assert not DECOY_KEYS & set(g.nodes)


def test_summary_indicators_chart(attack: fx.BlastRadius) -> None:
    text = attack.summary()
    for needle in (
        LEAKED,
        ATTACK_B,
        BACKDOOR,
        BACKDOOR_USER,
        "i-miner",
        "GetSecretValue",
        ATTACKER_IP,
        "UTC",
    ):
        assert needle in text
    for decoy in DECOY_KEYS:
        assert decoy not in text
    ind = attack.indicators()
    assert set(ind) == {"source_ips", "access_keys", "arns", "user_agents", "regions"}
    assert set(ind["access_keys"]) == ATTACK_KEYS
    assert ATTACKER_IP in ind["source_ips"] and "198.51.100.7" not in ind["source_ips"]
    assert BACKDOOR_USER in ind["arns"]
    spec = attack.chart().to_dict()
    values = next(iter(spec["datasets"].values()))
    assert sum(v["calls"] for v in values) == attack.events.height
    assert {v["access"] for v in values} == {"read", "write", "denied"}
    assert all(v["time"][14:19] == "00:00" or v["time"][17:19] == "00" for v in values)
    # UTC whatever the viewer's time zone, and the same spec on every run
    assert spec["encoding"]["x"]["scale"] == {"type": "utc"}
    assert "utcFormat" in spec["encoding"]["x"]["axis"]["labelExpr"]
    assert attack.chart().to_json() == attack.chart().to_json()


def test_without_window_the_keys_earlier_legit_session_joins(incident: fx.Trail) -> None:
    everything = fx.blast_radius(incident, LEAKED)
    assert MORNING in set(everything.credentials["access_key_id"])
    assert not set(everything.credentials["access_key_id"]) & DECOY_KEYS


def test_until_bounds_the_window(incident: fx.Trail) -> None:
    early = fx.blast_radius(
        incident, LEAKED, since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)
    )
    assert "RunInstances" not in set(early.events["event_name"])
    assert early.events["event_time"].max() < T0 + timedelta(minutes=20)
    # the backdoor key was created inside the window: it is in the closure, idle in it
    creds = dict(early.credentials.select("access_key_id", "events").iter_rows())
    assert creds[BACKDOOR] == 0
    assert CONSOLE not in creds  # opened after the window


def test_session_arn_seed_matches_every_session_of_that_name(incident: fx.Trail) -> None:
    # A session ARN names a role + session name, which bob reused: both sessions match,
    # which is why the closure is seeded and followed by key.
    by_name = fx.blast_radius(incident, f"arn:aws:sts::{A}:assumed-role/Deploy/alice")
    assert {ATTACK, BOB_SESSION} <= set(by_name.credentials["access_key_id"])
    by_key = fx.blast_radius(incident, ATTACK)
    assert BOB_SESSION not in set(by_key.credentials["access_key_id"])


def test_user_seed_takes_all_its_keys(incident: fx.Trail) -> None:
    br = fx.blast_radius(incident, f"arn:aws:iam::{A}:user/alice")
    keys = set(br.credentials["access_key_id"])
    assert {LEAKED, SECOND, ALICE_LEGIT, ATTACK} <= keys
    assert BOB_SESSION not in keys


def test_unknown_seed_raises(incident: fx.Trail) -> None:
    with pytest.raises(PrincipalError, match="does not appear"):
        fx.blast_radius(incident, "AKIANOTINTHETRAIL01")
    with pytest.raises(PrincipalError, match="cannot read"):
        fx.blast_radius(incident, "alice")
    with pytest.raises(PrincipalError):
        fx.blast_radius(incident, f"arn:aws:iam::{A}:user/nobody")


def test_login_profile_on_an_existing_user_follows_its_later_console_sessions() -> None:
    admin = user(A, "admin", "AKIAADMIN0000000001")
    thief = user(A, "intern", "AKIATHIEF0000000001")
    admin_console_before = user(A, "admin", "ASIAADMINBEFORE0001")
    admin_console_after = user(A, "admin", "ASIAADMINAFTER00001")
    records = [
        event(
            0,
            "ConsoleLogin",
            user(A, "admin"),
            source="signin.amazonaws.com",
            response={"ConsoleLogin": "Success"},
        ),
        event(
            1,
            "DescribeInstances",
            admin_console_before,
            sessionCredentialFromConsole="true",
            agent="console.ec2.amazonaws.com",
        ),
        event(
            5,
            "UpdateLoginProfile",
            thief,
            source="iam.amazonaws.com",
            request={"userName": "admin"},
        ),
        event(
            9,
            "ConsoleLogin",
            user(A, "admin"),
            source="signin.amazonaws.com",
            response={"ConsoleLogin": "Success"},
        ),
        event(
            10,
            "DeleteTrail",
            admin_console_after,
            source="cloudtrail.amazonaws.com",
            request={"name": "main"},
            sessionCredentialFromConsole="true",
            agent="console.amazonaws.com",
        ),
        event(11, "ListUsers", admin, source="iam.amazonaws.com", readOnly=True),
    ]
    br = fx.blast_radius(trail(records), "AKIATHIEF0000000001")
    keys = dict(br.credentials.select("access_key_id", "joined_by").iter_rows())
    assert keys == {"AKIATHIEF0000000001": "seed", "ASIAADMINAFTER00001": "console sign-in"}
    assert "DeleteTrail" in set(br.events["event_name"])
    assert "ListUsers" not in set(br.events["event_name"])  # admin's own key


def test_role_assumed_from_a_created_user_joins() -> None:
    seed = user(A, "dev", "AKIADEV00000000001")
    made = user(A, "shadow", "AKIASHADOW00000001")
    records = [
        event(
            0,
            "CreateUser",
            seed,
            source="iam.amazonaws.com",
            request={"userName": "shadow"},
            response={"user": {"arn": f"arn:aws:iam::{A}:user/shadow"}},
        ),
        # key created by someone else's console (not in the trail), but for the created user
        event(5, "GetCallerIdentity", made, source="sts.amazonaws.com", readOnly=True),
        assume_role(6, made, DEPLOY, "s", "ASIASHADOWSESS0001"),
        event(
            7,
            "StopLogging",
            session(A, "Deploy", "s", "ASIASHADOWSESS0001"),
            source="cloudtrail.amazonaws.com",
            request={"name": "main"},
        ),
    ]
    br = fx.blast_radius(trail(records), "AKIADEV00000000001")
    keys = dict(br.credentials.select("access_key_id", "joined_by").iter_rows())
    assert keys["AKIASHADOW00000001"] == "created identity"
    assert keys["ASIASHADOWSESS0001"] == "minted"
    assert f"arn:aws:cloudtrail:us-east-1:{A}:trail/main" in set(br.resources["arn"])


# -- the shared external storylines ---------------------------------------------------------------
def test_otrf_stolen_instance_credentials(external: Path) -> None:
    t = fx.load(str(external / "otrf-security-datasets"), cache=False)
    br = fx.blast_radius(t, "ASIA5FLZVX4OPVKKVBMX")
    assert br.credentials["access_key_id"].to_list() == ["ASIA5FLZVX4OPVKKVBMX"]
    arns = set(br.resources["arn"])
    assert arns == {
        "arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a",
        "arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a/ring.txt",
    }
    assert set(br.events["event_name"]) >= {"ListObjects", "GetObject"}
    assert not br.resources["wrote"].any()
    # pedro, the legitimate user, is not in it
    assert not br.events["principal"].str.contains("pedro").any()
    assert all("Darwin" in ua for ua in br.indicators()["user_agents"])


def test_panther_compromised_root(external: Path) -> None:
    t = fx.load(str(external / "panther-analysis/extracted/test_scenarios"), cache=False)
    br = fx.blast_radius(t, "arn:aws:iam::493859302102:root", since="2020-11-01T08:29:00Z")
    keys = set(br.credentials["access_key_id"])
    assert "AKIASWJJJ66ZZZII4IYY" in keys  # tracy_stone's key, created by root
    tracy = "arn:aws:iam::493859302102:user/tracy_stone"
    rel = dict(br.principals.select("principal", "relation").iter_rows())
    assert rel[tracy] == "created"
    names = br.events["event_name"].to_list()
    for step in ("CreateUser", "CreateAccessKey", "AttachUserPolicy", "RunInstances"):
        assert step in names
    assert names.index("CreateUser") < names.index("RunInstances")
    created = set(br.resources.filter(pl.col("created"))["arn"])
    assert tracy in created
    assert "arn:aws:ec2:us-east-1:493859302102:instance/i-05261ffb46217cdc3" in created
    assert "92.55.146.245" in br.indicators()["source_ips"]
    assert br.events["event_time"].min() >= datetime(2020, 11, 1, 8, 29, tzinfo=UTC)


# -- the sample trail's incident (forensics.sample), checked against its ground truth ------------
@pytest.fixture(scope="module")
def sample_incident(tmp_path_factory: pytest.TempPathFactory) -> tuple[fx.Trail, dict]:
    out = tmp_path_factory.mktemp("sample")
    info = fx.sample.write(out / "trail", events=5_000, days=2, file_minutes=60)
    return fx.load(str(out / "trail"), cache=False), info.story


def test_sample_incident_matches_its_ground_truth(sample_incident) -> None:
    trail_, story = sample_incident
    br = fx.blast_radius(
        trail_, story["leaked_access_key_id"], since=story["first_malicious_event_time"]
    )
    assert set(br.credentials["access_key_id"]) == set(story["closure_access_key_ids"])
    assert set(br.events["event_id"]) == set(story["incident_event_ids"])
    decoys = story["decoys"]
    decoy_keys = set(decoys["access_key_ids"]) | {decoys["legit_key_of_compromised_user"]}
    assert decoy_keys
    assert not decoy_keys & set(br.credentials["access_key_id"])
    assert not set(decoys["event_ids"]) & set(br.events["event_id"])
    assert not set(decoys["legit_ips"]) & set(br.indicators()["source_ips"])
    arns = set(br.resources["arn"])
    assert set(story["resources_touched"]) <= arns
    assert set(story["resources_denied"]) <= set(br.resources.filter(pl.col("denied_only"))["arn"])
    assert set(story["objects_read"]) <= set(br.resources.filter(~pl.col("wrote"))["arn"])
    rel = dict(br.principals.select("principal", "relation").iter_rows())
    for user_arn in story["created_users"]:
        assert rel[user_arn] == "created"
    for role in story["roles_reached"]:
        assert rel[role] == "assumed"
    assert set(story["attacker_ips"]) <= set(br.indicators()["source_ips"])
    assert not any(ip.endswith("amazonaws.com") for ip in br.indicators()["source_ips"])


def test_graph_chart_draws_the_chain(attack: fx.BlastRadius, tmp_path: Path) -> None:
    chart = attack.chart("graph")
    spec = chart.to_dict()
    data = [v for values in spec["datasets"].values() for v in values]
    ids = {v["id"] for v in data if "id" in v}
    assert ids >= ATTACK_KEYS
    # resources are drawn grouped by type; each group names its members on hover
    members = " ".join(v.get("members", "") for v in data)
    assert PAYROLL_OBJ in members
    relations = {v["relation"].split(":")[0] for v in data if "relation" in v}
    assert {"minted", "created", "touched"} <= relations
    assert not DECOY_KEYS & ids
    svg = chart.to_json()
    assert ATTACK in svg
    with pytest.raises(ValueError, match="unknown chart kind"):
        attack.chart("pie")


def test_a_blast_radius_exports_to_a_ticket(attack: fx.BlastRadius, tmp_path: Path) -> None:
    fx.export.ticket(attack, tmp_path / "INC-1", title="leaked key")
    resources = pl.read_csv(tmp_path / "INC-1" / "resources.csv")
    assert PAYROLL_OBJ in set(resources["arn"])
    summary = (tmp_path / "INC-1" / "summary.md").read_text()
    assert BACKDOOR in summary and not any(k in summary for k in DECOY_KEYS)
