"""The S3 mirror keeps what verification needs: each digest's signature metadata, the public keys.

A trail built as AWS documents it is uploaded to moto's S3 on loopback, digests with their
``x-amz-meta-signature`` / ``x-amz-meta-signature-algorithm``; ListPublicKeys answers with the
test key (a rule in front of moto, whose own answer is a fixed fake key).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path

import boto3
import pytest

import forensics as fx
from forensics.integrity import _keys
from forensics.sources import _s3
from tests import _aws_helpers
from tests._integrity_helpers import build, fingerprint, private_key, public_der

moto_server = _aws_helpers.moto_server
aws = _aws_helpers.aws
BUCKET = "org-trail"


def upload(s3, built, *, metadata: bool = True) -> None:
    for key in built.logs:
        s3.put_object(Bucket=BUCKET, Key=key, Body=built.path(key).read_bytes())
    for key in built.digests:
        meta = (
            {"signature": built.signatures[key], "signature-algorithm": "SHA256withRSA"}
            if metadata
            else {}
        )
        s3.put_object(Bucket=BUCKET, Key=key, Body=built.path(key).read_bytes(), Metadata=meta)


def answer_public_keys(aws, calls: list[str]) -> None:
    def rule(req):
        if not req.target.endswith(".ListPublicKeys"):
            return None
        calls.append(req.region)
        now = time.time()
        body = {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(public_der(private_key())).decode(),
                    "ValidityStartTime": now - 400 * 86400,
                    "ValidityEndTime": now + 86400,
                    "Fingerprint": fingerprint(private_key()),
                }
            ]
        }
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()

    aws.faults.rules.append(rule)


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def load(tmp_path: Path):
    return fx.load(
        f"s3://{BUCKET}",
        cache=False,
        remote={"digests": True, "progress": False, "cache_dir": tmp_path / "mirror"},
    )


def test_file_names_agree_with_the_s3_source():
    assert _s3.SIGNATURES_FILE == _keys.SIGNATURES_FILE
    assert _s3.PUBLIC_KEYS_FILE == _keys.PUBLIC_KEYS_FILE


def test_mirror_keeps_signatures_and_keys_and_verifies(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=3, sidecars=False)
    upload(s3, built)
    calls: list[str] = []
    answer_public_keys(aws, calls)
    trail = load(tmp_path)
    assert sorted(set(calls)) == ["eu-west-1", "us-east-1"]  # one region's keys each
    mirror = tmp_path / "mirror" / BUCKET
    sigs = _keys.read_signatures(mirror / _keys.SIGNATURES_FILE)
    assert {s.signature for s in sigs.values()} == set(built.signatures.values())
    assert fingerprint(private_key()) in _keys.read_public_keys(mirror / _keys.PUBLIC_KEYS_FILE)
    # the sidecars are hidden: the loader never reads them as logs
    assert trail.report.files_failed == [] and trail.report.digests == len(built.digests)

    v = trail.verify()
    assert v.verdict == "valid", v.summary()
    assert v.files.height == len(built.logs)
    assert fx.verify(mirror).verdict == "valid"

    # a second fetch downloads nothing (signatures already indexed) and asks for no keys
    before, keys_before = len(aws.faults.s3_gets(BUCKET)), aws.faults.calls("ListPublicKeys")
    load(tmp_path)
    assert len(aws.faults.s3_gets(BUCKET)) == before
    assert aws.faults.calls("ListPublicKeys") == keys_before


def test_object_changed_in_the_bucket_is_caught(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=2, regions=("us-east-1",), sidecars=False)
    upload(s3, built)
    answer_public_keys(aws, [])
    key = built.logs[1]
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"Records": []}'))
    v = load(tmp_path).verify()
    assert v.verdict == "tampered"
    assert v.files.filter(status="modified")["path"].str.ends_with(key).all()


def test_digest_without_signature_metadata_is_not_verifiable(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=2, regions=("us-east-1",), sidecars=False)
    upload(s3, built, metadata=False)
    answer_public_keys(aws, [])
    v = load(tmp_path).verify()
    assert v.verdict == "not verifiable"
    assert "x-amz-meta-signature" in v.digests["reason"][0]


def test_public_keys_denied_is_a_note_not_a_failure(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=1, regions=("us-east-1",), sidecars=False)
    upload(s3, built)
    aws.faults.rules.append(
        lambda req: (
            _aws_helpers.json_error("AccessDeniedException")
            if req.target.endswith(".ListPublicKeys")
            else None
        )
    )
    trail = load(tmp_path)
    assert any("cloudtrail:ListPublicKeys" in n for n in trail.report.notes)
    assert trail.verify().verdict == "not verifiable"


def test_digests_not_fetched_say_how_to_get_them(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=1, regions=("us-east-1",), sidecars=False)
    upload(s3, built)
    trail = fx.load(
        f"s3://{BUCKET}", cache=False, remote={"progress": False, "cache_dir": tmp_path / "mirror"}
    )
    v = trail.verify()
    assert v.verdict == "not verifiable"
    assert "digests" in v.summary() and "remote={'digests': True}" in v.summary()


def test_digests_mirrored_without_their_signature_are_fetched_again(aws, s3, tmp_path):
    built = build(tmp_path / "src", bucket=BUCKET, hours=2, regions=("us-east-1",), sidecars=False)
    upload(s3, built)
    answer_public_keys(aws, [])
    load(tmp_path)
    (tmp_path / "mirror" / BUCKET / _keys.SIGNATURES_FILE).unlink()  # a mirror made before
    before = aws.faults.s3_gets(BUCKET)
    trail = load(tmp_path)
    again = aws.faults.s3_gets(BUCKET)[len(before) :]
    assert sorted(again) == sorted(built.digests)  # the digests only, not the log files
    assert trail.verify().verdict == "valid"


def test_cli_verifies_an_s3_trail(aws, s3, tmp_path, capsys):
    from forensics.cli import main

    built = build(tmp_path / "src", bucket=BUCKET, hours=2, regions=("us-east-1",), sidecars=False)
    upload(s3, built)
    answer_public_keys(aws, [])
    assert main(["verify", f"s3://{BUCKET}"]) == 0
    assert "integrity: VALID" in capsys.readouterr().out
    s3.put_object(Bucket=BUCKET, Key=built.logs[0], Body=gzip.compress(b'{"Records": []}'))
    assert main(["verify", f"s3://{BUCKET}"]) == 1
