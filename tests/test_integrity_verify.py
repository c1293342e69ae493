"""Digest verification: an untouched trail verifies clean, every kind of tampering is named.

The trails are built as AWS documents them (tests/_integrity_helpers.py) and signed with a key
made here; then one thing at a time is altered.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.integrity import verify
from forensics.integrity._files import parse_path
from forensics.integrity._keys import PUBLIC_KEYS_FILE, SIGNATURES_FILE, key_tail, parse_signatures
from tests._integrity_helpers import build, record, rewrite_gz


def statuses(result, what="files"):
    frame = getattr(result, what)
    return dict(frame.group_by("status").len().rows())


def test_untouched_trail_verifies_clean(tmp_path):
    b = build(tmp_path, hours=3)
    v = verify(tmp_path)
    assert v.verdict == "valid", v.summary()
    assert v.exit_code == 0
    assert statuses(v, "digests") == {"valid": len(b.digests)}
    assert statuses(v) == {"valid": len(b.logs)}
    assert set(v.by_region["verdict"]) == {"valid"}
    assert v.breaks.filter("tampering").height == 0


def test_digests_linked_across_a_prefix_and_an_org_folder(tmp_path):
    b = build(tmp_path, prefix="team/", org="o-abc123", accounts=("111122223333", "444455556666"))
    v = verify(tmp_path / "team")
    assert v.verdict == "valid", v.summary()
    assert v.digests.height == len(b.digests)


def test_modified_log_file(tmp_path):
    b = build(tmp_path)
    rewrite_gz(b.path(b.logs[4]), lambda o: {"Records": o["Records"][1:]})
    v = verify(tmp_path)
    assert v.verdict == "tampered" and v.exit_code == 1
    bad = v.files.filter(status="modified")
    assert bad["path"].to_list() == [str(b.path(b.logs[4]))]
    assert "modified" in v.summary()


def test_recompressed_log_file_is_still_valid(tmp_path):
    """The hash is over the uncompressed content: the same JSON gzipped again is unchanged."""
    b = build(tmp_path)
    p = b.path(b.logs[0])
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes()), compresslevel=1, mtime=12345))
    assert verify(tmp_path).verdict == "valid"


def test_log_file_no_longer_gzip(tmp_path):
    b = build(tmp_path)
    b.path(b.logs[1]).write_bytes(b"\x1f\x8bnot really gzip")
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert v.files.filter(status="modified").height == 1


def test_deleted_log_file(tmp_path):
    b = build(tmp_path)
    b.path(b.logs[2]).unlink()
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert v.files.filter(status="deleted")["path"].to_list() == [b.logs[2]]


def test_extra_log_file_no_digest_covers(tmp_path):
    build(tmp_path, hours=3, regions=("us-east-1",))
    folder = tmp_path / "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/04"
    forged = folder / "111122223333_CloudTrail_us-east-1_20260304T1122Z_AAAAAAAAAAAAAAAA.json.gz"
    when = datetime(2026, 3, 4, 11, 20, tzinfo=UTC)
    forged.write_bytes(
        gzip.compress(json.dumps({"Records": [record("111122223333", "us-east-1", when)]}).encode())
    )
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert v.files.filter(status="uncovered")["path"].to_list() == [str(forged)]


def test_deleted_digest_breaks_the_chain(tmp_path):
    b = build(tmp_path, hours=4, regions=("us-east-1",))
    gone = b.digests[1]
    b.path(gone).unlink()
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    br = v.breaks.filter("tampering")
    assert br["kind"].to_list() == ["missing digest"]
    assert gone in br["detail"][0]
    assert v.by_region["hours_missing"][0] == pytest.approx(1.0)
    # the files that digest listed are now covered by no digest
    assert v.files.filter(status="uncovered").height == 3


def test_modified_digest_fails_its_signature_and_the_link(tmp_path):
    b = build(tmp_path, hours=3, regions=("us-east-1",))
    target = b.path(b.digests[1])

    def drop_a_file(d):
        d["logFiles"] = d["logFiles"][1:]
        return d

    rewrite_gz(target, drop_a_file)
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert v.digests.filter(status="invalid")["path"].to_list() == [str(target)]
    assert "signature verification failed" in v.digests.filter(status="invalid")["reason"][0]
    assert "link mismatch" in v.breaks["kind"].to_list()


def test_bad_signature_in_metadata(tmp_path):
    b = build(tmp_path, hours=2, regions=("us-east-1",))
    sig = b.signatures[b.digests[0]]
    b.signatures[b.digests[0]] = ("00" if not sig.startswith("00") else "11") + sig[2:]
    b.write_sidecars()
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert v.digests.filter(status="invalid").height == 1
    # the next digest names the true previous signature: the link check catches it too
    assert "link mismatch" in v.breaks["kind"].to_list()


def test_digest_moved_from_its_location(tmp_path):
    b = build(tmp_path, hours=2, regions=("us-east-1",))
    src = b.path(b.digests[1])
    dst = src.with_name(src.name.replace("T120000Z", "T120500Z"))
    shutil.move(src, dst)
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert "moved" in v.digests.filter(status="invalid")["reason"][0]


def test_missing_signature_metadata_is_not_verifiable(tmp_path):
    build(tmp_path, hours=2, sidecars=False)
    v = verify(tmp_path)
    assert v.verdict == "not verifiable" and v.exit_code == 3
    assert set(v.digests["status"]) == {"unverifiable"}
    assert "x-amz-meta-signature" in v.digests["reason"][0]
    assert set(v.files["status"]) == {"unverified"}


def test_missing_public_key_is_not_verifiable(tmp_path):
    build(tmp_path, hours=2)
    (tmp_path / PUBLIC_KEYS_FILE).unlink()
    v = verify(tmp_path)
    assert v.verdict == "not verifiable"
    assert "no public key" in v.digests["reason"][0]


def test_public_key_of_another_fingerprint_is_not_used(tmp_path):
    b = build(tmp_path, hours=1, regions=("us-east-1",))
    keys = json.loads(b.public_keys_json())
    keys["PublicKeyList"][0]["Fingerprint"] = "f" * 32
    (tmp_path / PUBLIC_KEYS_FILE).write_text(json.dumps(keys))
    assert verify(tmp_path).verdict == "not verifiable"


def test_signature_files_given_explicitly(tmp_path):
    b = build(tmp_path, hours=2, sidecars=False)
    side = tmp_path.parent / f"{tmp_path.name}-side"
    side.mkdir()
    b.write_sidecars(side)
    v = verify(tmp_path, signatures=side / SIGNATURES_FILE, public_keys=side / PUBLIC_KEYS_FILE)
    assert v.verdict == "valid", v.summary()


def test_head_object_metadata_form_is_accepted(tmp_path):
    b = build(tmp_path, hours=1, regions=("us-east-1",))
    lines = "".join(
        json.dumps({"Key": k, "Metadata": {"signature": s, "signature-algorithm": "SHA256withRSA"}})
        + "\n"
        for k, s in b.signatures.items()
    )
    (tmp_path / SIGNATURES_FILE).write_text(lines)
    assert verify(tmp_path).verdict == "valid"


def test_no_digests_is_not_verifiable(tmp_path):
    b = build(tmp_path, hours=1)
    for k in b.digests:
        b.path(k).unlink()
    v = verify(tmp_path)
    assert v.verdict == "not verifiable"
    assert set(v.files["status"]) == {"no digest"}
    assert "nothing can be verified" in v.summary()


def test_empty_folder_is_not_verifiable(tmp_path):
    assert verify(tmp_path).verdict == "not verifiable"


def test_logging_stopped_restarts_the_chain_without_tampering(tmp_path):
    build(tmp_path, hours=4, regions=("us-east-1",), skip_hours=(1,))
    v = verify(tmp_path)
    assert v.verdict == "valid", v.summary()
    assert v.breaks["kind"].to_list() == ["restarted"]


def test_window_edges_are_not_tampering(tmp_path):
    """A mirror of a window: digests before it, and the files of its last hour, are outside."""
    b = build(tmp_path, hours=4, regions=("us-east-1",))
    b.path(b.digests[0]).unlink()  # the window starts after this digest
    b.path(b.digests[-1]).unlink()  # ... and the last hour's digest is not delivered yet
    for k in b.logs[:3]:
        b.path(k).unlink()
    v = verify(tmp_path, start="2026-03-04T11:00:00Z")
    assert v.verdict == "valid", v.summary()
    assert set(v.files["status"]) == {"valid", "after last digest"}


def test_trail_verify_and_fx_verify(tmp_path):
    build(tmp_path, hours=2)
    trail = fx.load(tmp_path, cache=False)
    assert trail.report.digests == 4
    v = trail.verify()
    assert v.verdict == "valid"
    assert fx.verify(tmp_path).verdict == "valid"


def test_summary_neutralises_control_characters(tmp_path):
    b = build(tmp_path, hours=1, regions=("us-east-1",))
    evil = b.path(b.logs[0]).with_name(
        "111122223333_CloudTrail_us-east-1_20260304T1012Z_\x1b[31m.json.gz"
    )
    evil.write_bytes(b.path(b.logs[0]).read_bytes())
    text = verify(tmp_path).summary()
    assert "\x1b" not in text


def test_cli_exit_codes(tmp_path, capsys):
    from forensics.cli import main

    b = build(tmp_path, hours=2)
    assert main(["verify", str(tmp_path)]) == 0
    b.path(b.logs[0]).unlink()
    assert main(["verify", str(tmp_path)]) == 1
    assert "deleted" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "nope")]) == 2


def test_ticket_manifest_carries_the_verdict(tmp_path):
    b = build(tmp_path / "logs", hours=2, regions=("us-east-1",))
    trail = fx.load(tmp_path / "logs", cache=False)
    b.path(b.logs[0]).unlink()
    files = fx.export.ticket(trail, tmp_path / "ticket", title="INC-1", integrity=trail.verify())
    manifest = json.loads((tmp_path / "ticket" / "manifest.json").read_text())
    assert manifest["integrity"]["verdict"] == "tampered"
    assert manifest["integrity"]["by_status"]["deleted"] == 1
    assert files.manifest["integrity"]["verdict"] == "tampered"


def test_digest_from_another_bucket_is_moved(tmp_path):
    b = build(tmp_path, hours=1, regions=("us-east-1",))
    b.bucket = "some-other-bucket"  # the signatures say where each digest was fetched from
    b.write_sidecars()
    v = verify(tmp_path)
    assert v.verdict == "tampered"
    assert "fetched from bucket 'some-other-bucket'" in v.digests["reason"][0]


def test_cli_json(tmp_path, capsys):
    from forensics.cli import main

    build(tmp_path, hours=1, regions=("us-east-1",))
    assert main(["verify", "--json", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "valid" and out["digests"] == 1


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("AWSLogs/o-12_CloudTrail-Digest.jsonzgT0Z9ab"), max_size=120)
)
def test_paths_and_keys_never_crash(text):
    info = parse_path(text)
    if info is not None:
        assert info.tail.startswith("AWSLogs/")
    assert key_tail(key_tail(text)) == key_tail(text)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.dictionaries(
                st.sampled_from(
                    ["key", "Key", "signature", "Metadata", "bucket", "signature-algorithm"]
                ),
                st.one_of(st.text(max_size=20), st.none(), st.integers()),
            ),
        ),
        max_size=5,
    )
)
def test_signature_files_never_crash(rows):
    text = "\n".join(json.dumps(r) for r in rows)
    for sig in parse_signatures(text).values():
        assert sig.signature is None or isinstance(sig.signature, str)


def test_ticket_command_verify_flag(tmp_path, capsys):
    from forensics.cli import main

    build(tmp_path / "logs", hours=1, regions=("us-east-1",))
    out = tmp_path / "t"
    assert (
        main(
            [
                "ticket",
                str(tmp_path / "logs"),
                "--principal",
                "alice",
                "--out",
                str(out),
                "--no-cache",
                "--verify",
            ]
        )
        == 0
    )
    assert json.loads((out / "manifest.json").read_text())["integrity"]["verdict"] == "valid"
    assert "integrity: valid" in capsys.readouterr().out


def test_last_digests_deleted_while_other_regions_go_on(tmp_path):
    b = build(tmp_path, hours=4, regions=("us-east-1", "eu-west-1"))
    for k in b.digests:
        if "_CloudTrail-Digest_us-east-1_" in k and k.endswith(
            ("T130000Z.json.gz", "T140000Z.json.gz")
        ):
            b.path(k).unlink()
    v = verify(tmp_path)
    assert v.verdict == "tampered", v.summary()
    br = v.breaks.filter(kind="ends early")
    assert br["region"].to_list() == ["us-east-1"]
    uncovered = v.files.filter(status="uncovered")
    assert uncovered.height == 6 and set(uncovered["region"]) == {"us-east-1"}
    # the last hour everywhere is only "after the last digest": not evidence of anything
    b2 = build(tmp_path / "b", hours=2, regions=("us-east-1", "eu-west-1"))
    for k in b2.digests[-2:]:
        b2.path(k).unlink()
    assert verify(tmp_path / "b").verdict == "valid"


def test_big_files_are_hashed_in_chunks_to_the_same_result(tmp_path, monkeypatch):
    from forensics.integrity import _files

    b = build(tmp_path, hours=2, regions=("us-east-1",))
    monkeypatch.setattr(_files, "_WHOLE_UP_TO", 10)
    monkeypatch.setattr(_files, "_CHUNK", 7)
    assert verify(tmp_path).verdict == "valid"
    rewrite_gz(b.path(b.logs[0]), lambda o: {"Records": o["Records"][:1]})
    assert verify(tmp_path).files.filter(status="modified").height == 1
