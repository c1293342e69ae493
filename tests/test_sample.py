"""The sample generator: deterministic, in the S3 layout, loadable, and credential-consistent.

Everything other parts test lineage and blast radius on rests on the sample's credentials being
consistent (every temporary key minted before it is used, by an event in the trail) and on its
story telling the truth about the trail; these tests check both on the raw records.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

import forensics as fx
from forensics.cli import main
from forensics.sample import SampleInfo, generate, write
from forensics.sources._files import layout_of

EVENTS, DAYS = 5_000, 1
MINUTES = 15  # fewer, larger files than CloudTrail's 5 minutes: the same layout, a faster load
_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<stamp>\d{8}T\d{4}Z)_"
    r"[A-Za-z0-9]{16}\.json\.gz$"
)
_DIGEST_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_org-trail_us-east-1_"
    r"\d{8}T\d{6}Z\.json\.gz$"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_KEY = re.compile(r"^A[KS]IA[A-Z2-7]{16}$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> SampleInfo:
    return write(
        tmp_path_factory.mktemp("sample") / "trail", events=EVENTS, days=DAYS, file_minutes=MINUTES
    )


def _files(root: Path) -> list[Path]:
    """The trail's files (not the hidden signature/key files written beside them)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def records(sample) -> list[dict]:
    out = []
    for p in _files(sample.path):
        if "/CloudTrail/" in p.as_posix():
            out.extend(orjson.loads(gzip.decompress(p.read_bytes()))["Records"])
    out.sort(key=lambda r: r["eventTime"])  # stable: file order within a second is kept
    return out


@pytest.fixture(scope="module")
def by_id(records) -> dict[str, dict]:
    return {r["eventID"]: r for r in records}


def _key(r: dict) -> str | None:
    return (r.get("userIdentity") or {}).get("accessKeyId") or None


# ---- determinism ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[SampleInfo, SampleInfo, SampleInfo]:
    """The same small sample written twice, and once with another seed."""
    root = tmp_path_factory.mktemp("small")
    return (
        write(root / "a", events=1_200, days=DAYS),
        write(root / "b", events=1_200, days=DAYS),
        write(root / "c", events=1_200, days=DAYS, seed=4),
    )


def test_same_arguments_give_byte_identical_files(small):
    a, b, _ = small
    fa, fb = _files(a.path), _files(b.path)
    assert [p.relative_to(a.path) for p in fa] == [p.relative_to(b.path) for p in fb]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=True))
    assert a.story == b.story


def test_another_seed_gives_another_trail(small):
    a, _, c = small
    assert a.story["leaked_access_key_id"] != c.story["leaked_access_key_id"]
    assert {p.name for p in _files(a.path)} != {p.name for p in _files(c.path)}


def test_incident_is_the_same_whatever_the_number_of_events(small, sample):
    a = small[0]
    assert (a.events, sample.events) == (1_200, EVENTS)
    assert a.story == sample.story


def test_generate_yields_what_write_writes(sample, records):
    batches = list(generate(EVENTS, days=DAYS, file_minutes=MINUTES))
    flat = [r for b in batches for r in b]
    assert len(flat) == EVENTS == sample.events == len(records)
    assert sorted(r["eventID"] for r in flat) == sorted(r["eventID"] for r in records)
    times = [r["eventTime"] for r in flat]
    assert times == sorted(times)


# ---- layout and loading --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["sample", "small"])
def test_files_follow_the_s3_delivery_layout(which, request):
    sample = request.getfixturevalue(which)
    if which == "small":
        sample = sample[0]  # CloudTrail's 5-minute files
    logs = digests = 0
    for p in _files(sample.path):
        rel = p.relative_to(sample.path).as_posix()
        lay = layout_of(rel)
        assert lay is not None, rel
        assert rel.startswith("AWSLogs/o-"), rel
        if lay.kind == "CloudTrail-Digest":
            m = _DIGEST_NAME.match(p.name)
            digests += 1
        else:
            assert lay.kind == "CloudTrail"
            m = _NAME.match(p.name)
            logs += 1
            assert m is not None, p.name
            assert m["stamp"][:8] == lay.day.strftime("%Y%m%d")
            recs = orjson.loads(gzip.decompress(p.read_bytes()))["Records"]
            assert recs
            assert {r["recipientAccountId"] for r in recs} == {lay.account}
            assert {r["awsRegion"] for r in recs} == {lay.region}
        assert m is not None, p.name
        assert (m["account"], m["region"]) == (lay.account, lay.region)
    assert (logs, digests) == (sample.files, sample.digests)
    assert digests > 0
    assert len({layout_of(p.as_posix()).account for p in _files(sample.path)}) == 3


def test_gzip_headers_carry_no_time(sample):
    p = next(p for p in _files(sample.path) if p.name.endswith(".json.gz"))
    assert p.read_bytes()[4:8] == b"\0\0\0\0"


def test_load_reads_everything_and_counts_digests(sample):
    trail = fx.load(sample.path, cache=False)
    rep = trail.report
    assert trail.events.height == sample.events
    assert rep.digests == sample.digests
    assert not rep.files_failed
    assert rep.duplicates_dropped == 0 and rep.id_collisions == 0
    types = set(trail.events.get_column("identity_type").drop_nulls().to_list())
    assert {
        "IAMUser",
        "AssumedRole",
        "AWSService",
        "SAMLUser",
        "WebIdentityUser",
        "FederatedUser",
        "AWSAccount",
    } <= types
    assert trail.events.get_column("principal").null_count() == 0


def test_digests_hash_the_log_files(sample):
    import hashlib

    digest = next(
        p
        for p in _files(sample.path)
        if "CloudTrail-Digest" in p.name
        and orjson.loads(gzip.decompress(p.read_bytes()))["logFiles"]
    )
    body = orjson.loads(gzip.decompress(digest.read_bytes()))
    for entry in body["logFiles"]:
        raw = gzip.decompress((sample.path / entry["s3Object"]).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == entry["hashValue"]


# ---- realistic records ---------------------------------------------------------------------


def test_records_look_like_cloudtrail(records):
    assert all(_UUID.match(r["eventID"]) for r in records)
    keys = {_key(r) for r in records} - {None}
    assert all(_KEY.match(k) for k in keys), [k for k in keys if not _KEY.match(k)][:5]
    accounts = {r["recipientAccountId"] for r in records}
    assert all(re.fullmatch(r"\d{12}", a) for a in accounts)
    names = {r["eventName"] for r in records}
    assert {
        "RunInstances",
        "GetObject",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "ConsoleLogin",
        "GetSecretValue",
        "Decrypt",
        "GetParameters",
    } <= names
    errors = {r.get("errorCode") for r in records} - {None}
    assert {"AccessDenied", "NoSuchKey"} <= errors
    assert errors & {"Throttling", "Client.RequestLimitExceeded"}
    assert any("tlsDetails" in r for r in records)
    assert any("vpcEndpointId" in r for r in records)
    assert any(r.get("resources") for r in records)
    assert any(r.get("eventCategory") == "Data" for r in records)
    assert any((r.get("userIdentity") or {}).get("invokedBy") for r in records)
    assert 0.5 < sum(bool(r.get("readOnly")) for r in records) / len(records) < 0.95


def test_mean_record_size_is_realistic(sample):
    assert 900 < sample.mean_record_bytes < 1_700


# ---- credential consistency ----------------------------------------------------------------


def test_every_temporary_key_was_minted_earlier_in_the_trail(records):
    minted: dict[str, dict] = {}
    logins: dict[str, list[str]] = defaultdict(list)
    checked = 0
    for r in records:
        key = _key(r)
        ident = r.get("userIdentity") or {}
        if key and key.startswith("ASIA"):
            checked += 1
            if r.get("sessionCredentialFromConsole") == "true":
                assert any(t < r["eventTime"] for t in logins[ident["arn"]]), r["eventID"]
            else:
                mint = minted.get(key)
                assert mint is not None, f"{key} used by {r['eventID']} was never minted"
                assert mint["eventTime"] < r["eventTime"]
                attrs = ident["sessionContext"]["attributes"]
                assert attrs["creationDate"] == mint["eventTime"]
                if ident["type"] == "AssumedRole":
                    resp = mint["responseElements"]
                    assert ident["arn"] == resp["assumedRoleUser"]["arn"]
                    issuer = ident["sessionContext"]["sessionIssuer"]
                    assert issuer["arn"] == mint["requestParameters"]["roleArn"]
                    role = issuer["arn"].rsplit("/", 1)[1]
                    session = mint["requestParameters"]["roleSessionName"]
                    assert ident["arn"] == (
                        f"arn:aws:sts::{ident['accountId']}:assumed-role/{role}/{session}"
                    )
        resp = r.get("responseElements")
        if isinstance(resp, dict) and isinstance(resp.get("credentials"), dict):
            minted.setdefault(resp["credentials"]["accessKeyId"], r)
        if r["eventName"] == "ConsoleLogin":
            ident_arn = ident.get("arn")
            logins[ident_arn].append(r["eventTime"])
    assert checked > 1_000


def test_long_term_keys_are_few_and_created_keys_used_after_creation(records):
    created: dict[str, str] = {}
    used: dict[str, str] = {}
    for r in records:
        resp = r.get("responseElements")
        if r["eventName"] == "CreateAccessKey" and isinstance(resp, dict):
            created[resp["accessKey"]["accessKeyId"]] = r["eventTime"]
        key = _key(r)
        if key and key.startswith("AKIA"):
            used.setdefault(key, r["eventTime"])
    for key, t in created.items():
        assert used[key] > t
    assert len(set(used) - set(created)) <= 4  # CI (two keys), an engineer, a reporting bot


def test_cross_account_calls_have_both_copies(records):
    shared = defaultdict(list)
    for r in records:
        if (
            r.get("sharedEventID")
            and r["eventName"] == "AssumeRole"
            and (r.get("userIdentity") or {}).get("type") != "AWSService"
        ):
            shared[r["sharedEventID"]].append(r)
    assert shared
    for copies in shared.values():
        assert len(copies) == 2
        a, b = sorted(copies, key=lambda r: r["userIdentity"]["type"] == "AWSAccount")
        assert a["eventID"] != b["eventID"]
        assert b["userIdentity"] == {
            "type": "AWSAccount",
            "accountId": a["recipientAccountId"],
            "principalId": a["userIdentity"]["principalId"],
        }
        assert {a["recipientAccountId"], b["recipientAccountId"]} == {
            a["userIdentity"]["accountId"],
            a["requestParameters"]["roleArn"].split(":")[4],
        }
        assert a["responseElements"] == b["responseElements"]


# ---- the story tells the truth -------------------------------------------------------------


def test_story_ground_truth_is_in_the_trail(sample, records, by_id):
    s = sample.story
    leaked = s["leaked_access_key_id"]
    with_leaked = [r for r in records if _key(r) == leaked]
    assert with_leaked[0]["eventTime"] == s["first_malicious_event_time"]
    assert with_leaked[0]["eventID"] == s["first_malicious_event_id"]
    assert {r["sourceIPAddress"] for r in with_leaked} <= set(s["attacker_ips"])
    incident = [by_id[i] for i in s["incident_event_ids"]]
    assert min(r["eventTime"] for r in incident) == s["first_malicious_event_time"]
    assert max(r["eventTime"] for r in incident) == s["last_malicious_event_time"]
    closure = set(s["closure_access_key_ids"])
    assert leaked in closure and set(s["created_access_key_ids"]) <= closure
    # every call made with a closure key is part of the incident, and vice versa
    with_closure = {r["eventID"] for r in records if _key(r) in closure}
    assert with_closure <= set(s["incident_event_ids"])
    owner_copies = set(s["owner_copy_event_ids"])
    assert owner_copies
    for r in incident:  # key-less: a sign-in, or the role owner's copy of a cross-account call
        if r["eventID"] in owner_copies:
            assert r["userIdentity"]["type"] == "AWSAccount" and _key(r) is None
            twin = [
                x for x in incident if x.get("sharedEventID") == r["sharedEventID"] and x is not r
            ]
            assert len(twin) == 1 and _key(twin[0]) in closure
        else:
            assert _key(r) in closure or r["eventName"] == "ConsoleLogin"
        assert r["sourceIPAddress"] in s["attacker_ips"] or r["sourceIPAddress"].endswith(
            ".amazonaws.com"
        )
    # nobody else comes from the attacker's addresses
    from_attacker = {r["eventID"] for r in records if r["sourceIPAddress"] in s["attacker_ips"]}
    assert from_attacker <= set(s["incident_event_ids"])
    # each credential's minting event is there and mints it
    for c in s["credentials"]:
        if c["minted_by_event_id"] is None:
            continue
        ev = by_id[c["minted_by_event_id"]]
        resp = ev["responseElements"]
        if c["minted_by"] == "CreateAccessKey":  # created (persistence), not minted
            assert resp["accessKey"]["accessKeyId"] == c["access_key_id"]
            assert _key(ev) == c["created_by_access_key_id"]
            assert c["parent_access_key_id"] is None
        elif c["minted_by"] == "console sign-in":
            assert ev["eventName"] == "ConsoleLogin"
        else:
            assert resp["credentials"]["accessKeyId"] == c["access_key_id"]
            assert _key(ev) == c["parent_access_key_id"]
    # the chain crosses accounts, with both copies joined by sharedEventID
    chain = next(c for c in s["credentials"] if c["principal_arn"] == s["session_arns"][1])
    mint = by_id[chain["minted_by_event_id"]]
    copies = [r for r in records if r.get("sharedEventID") == mint["sharedEventID"]]
    assert {r["recipientAccountId"] for r in copies} == set(s["accounts_reached"])
    # persistence and evasion happened as told
    names = {by_id[i]["eventName"] for i in s["persistence_event_ids"]}
    assert names == {"CreateUser", "CreateAccessKey", "CreateLoginProfile", "AttachUserPolicy"}
    incident_names = {r["eventName"] for r in incident}
    assert set(s["evasion_event_names"]) <= incident_names
    assert {
        "GetCallerIdentity",
        "ListBuckets",
        "ListRoles",
        "DescribeInstances",
        "GetObject",
        "ListObjects",
        "GetSecretValue",
        "GetParameters",
    } <= incident_names
    denied = [by_id[i] for i in s["denied_event_ids"]]
    assert len(denied) >= 10 and all(r["errorCode"] == "AccessDenied" for r in denied)
    stop = next(r for r in incident if r["eventName"] == "StopLogging")
    assert stop["errorCode"] == "AccessDenied"
    for arn in s["objects_read"]:
        bucket, key = arn.removeprefix("arn:aws:s3:::").split("/", 1)
        assert any(
            r["eventName"] == "GetObject"
            and r["requestParameters"]["key"] == key
            and r["requestParameters"]["bucketName"] == bucket
            and _key(r) in closure
            for r in records
        )


def test_decoys_are_present_and_never_in_the_closure(sample, records, by_id):
    s, d = sample.story, sample.story["decoys"]
    closure = set(s["closure_access_key_ids"])
    assert not closure & set(d["access_key_ids"])
    assert not set(s["incident_event_ids"]) & set(d["event_ids"])
    used = {_key(r) for r in records}
    assert set(d["access_key_ids"]) <= used
    # same role, same session name, overlapping times, different credentials
    same = [x for x in d["sessions"] if x["session_arn"] in s["session_arns"]]
    assert len(same) >= 3
    attacker_first = s["first_malicious_event_time"]
    attacker_last = s["last_malicious_event_time"]
    overlapping = [
        x
        for x in same
        if any(
            _key(r) == x["access_key_id"] and attacker_first <= r["eventTime"] <= attacker_last
            for r in records
        )
    ]
    assert overlapping
    principals = set()
    for x in same:
        r = next(r for r in records if _key(r) == x["access_key_id"])
        principals.add(r["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"])
    # the legitimate second key of the compromised user, used from the CI's usual address
    legit = d["legit_key_of_compromised_user"]
    legit_events = [r for r in records if _key(r) == legit]
    assert legit_events
    assert all(r["userIdentity"]["arn"] == s["compromised_user_arn"] for r in legit_events)
    assert {r["sourceIPAddress"] for r in legit_events}.isdisjoint(s["attacker_ips"])
    assert any(attacker_first <= r["eventTime"] <= attacker_last for r in legit_events)
    # the sensitive bucket is read by others too, during the incident
    bucket = s["sensitive_bucket"]
    readers = {
        _key(r)
        for r in records
        if r["eventName"] == "GetObject" and r["requestParameters"]["bucketName"] == bucket
    } - closure
    assert readers & set(d["access_key_ids"])
    # a decoy event is a real event of the trail
    assert all(i in by_id for i in d["event_ids"])


def test_no_incident_means_no_attacker(tmp_path):
    info = write(tmp_path / "clean", events=1_000, days=1, incident=False)
    assert info.story == {}
    ips = set()
    for p in _files(info.path):
        if "/CloudTrail/" in p.as_posix():
            ips |= {
                r["sourceIPAddress"]
                for r in orjson.loads(gzip.decompress(p.read_bytes()))["Records"]
            }
    assert not ips & {"203.0.113.54", "203.0.113.201"}
    assert info.events == 1_000


# ---- arguments and command line ------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"events": 0}, {"days": 0}, {"events": 50}])
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write(tmp_path / "x", **kwargs)


def test_command_line_writes_the_sample(tmp_path, capsys):
    story = tmp_path / "story.json"
    rc = main(
        ["sample", str(tmp_path / "cli"), "--events", "1500", "--days", "1", "--story", str(story)]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "1,500 events" in out and "leaked key AKIA" in out
    assert orjson.loads(story.read_bytes())["leaked_access_key_id"].startswith("AKIA")
    assert any(
        name.endswith(".json.gz") for _, _, names in os.walk(tmp_path / "cli") for name in names
    )


def test_every_actor_can_make_each_of_its_calls():
    """Rare calls must not wait for a million-event run to show a mistake."""
    import random

    from forensics.sample._sim import Sim
    from forensics.sample._world import build_world

    world = build_world(7)
    sim = Sim(world, random.Random(1))
    t = 1_772_409_600 + 10 * 3600  # a Monday, 10:00 UTC
    for actor in world.actors:
        for op in actor.ops:
            for region in actor.regions:
                cred = actor.source.get(sim, t) if actor.source is not None else None
                op(sim, actor, cred, t + 1, region)
    assert {r["recipientAccountId"] for r in sim.out} == {
        "111122223333",
        "222233334444",
        "555566667777",
    }


def test_the_documented_story_matches_the_default_seed(sample):
    """docs/sample-incident.md quotes seed 7's keys: it must not drift from the generator."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "sample-incident.md").read_text()
    s = sample.story
    assert sample.seed == 7
    for key in [*s["closure_access_key_ids"], s["decoys"]["legit_key_of_compromised_user"]]:
        assert key in doc, key
    assert str(len(s["incident_event_ids"])) in doc
    assert str(len(s["denied_event_ids"])) in doc


def test_an_existing_sample_is_never_mixed_with_a_new_one(tmp_path, capsys):
    first = write(tmp_path / "s", events=1_000, days=1)
    with pytest.raises(fx.ForensicsError, match="overwrite=True"):
        write(tmp_path / "s", events=1_000, days=1, seed=8)
    assert main(["sample", str(tmp_path / "s"), "--events", "1000", "--days", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    second = write(tmp_path / "s", events=1_000, days=1, seed=8, overwrite=True)
    assert first.story != second.story
    # nothing of the first sample is left: the folder holds exactly the second one's files
    assert sum(1 for p in _files(second.path) if "/CloudTrail/" in p.as_posix()) == second.files


def test_command_line_refuses_bad_numbers(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "x"), "--events", "0"]) == 2
    assert "events" in capsys.readouterr().err


def test_ground_truth_without_writing_is_the_written_story(sample):
    assert fx.sample.ground_truth(days=DAYS) == sample.story
    assert fx.sample.ground_truth()["incident_day"] == "2026-03-04"  # day 3 of the default week


def test_cross_account_s3_reads_are_seen_from_both_accounts(records):
    copies = defaultdict(list)
    for r in records:
        if r["eventSource"] == "s3.amazonaws.com" and r.get("sharedEventID"):
            copies[r["sharedEventID"]].append(r)
    assert copies
    for mine, theirs in (
        sorted(c, key=lambda r: r["userIdentity"]["type"] == "AWSAccount") for c in copies.values()
    ):
        assert theirs["userIdentity"]["type"] == "AWSAccount"
        assert theirs["userIdentity"]["accountId"] == mine["recipientAccountId"]
        assert theirs["recipientAccountId"] != mine["recipientAccountId"]
        for field in ("eventTime", "eventName", "sourceIPAddress", "requestParameters"):
            assert theirs[field] == mine[field]
        assert theirs.get("vpcEndpointId") == mine.get("vpcEndpointId")


@pytest.mark.parametrize(
    ("events", "days", "seed"), [(1_000, 1, 7), (1_001, 2, 3), (1_500, 1, 1), (3_333, 3, 5)]
)
def test_exactly_the_requested_number_of_events(events, days, seed):
    batches = list(generate(events, days=days, seed=seed))
    assert sum(len(b) for b in batches) == events


def test_a_temporary_key_is_seen_in_another_accounts_trail(records):
    """KMS logs a cross-account Decrypt in both accounts with the caller's key."""
    accounts_by_key = defaultdict(set)
    for r in records:
        key = _key(r)
        if key and key.startswith("ASIA"):
            accounts_by_key[key].add(r["recipientAccountId"])
    assert any(len(accts) > 1 for accts in accounts_by_key.values())


def test_sample_digests_are_signed_and_verify(tmp_path):
    """The sample's digests are signed as CloudTrail signs them (a fixed demo key), with the
    signatures and key beside the files: the whole chain verifies; one altered file does not."""
    from forensics.integrity import verify

    a = write(tmp_path, events=1_200, days=DAYS)
    result = verify(a.path)
    assert result.verdict == "valid", result.summary()
    assert result.digests.height == a.digests
    log = next(p for p in _files(a.path) if "/CloudTrail/" in p.as_posix())
    log.write_bytes(gzip.compress(b'{"Records": []}'))
    assert verify(a.path).verdict == "tampered"
