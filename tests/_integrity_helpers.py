"""Build a trail's log files and digests exactly as AWS documents them, signed with a test key.

AWS "CloudTrail digest file structure": one digest per account, region and hour under
``AWSLogs/<account>/CloudTrail-Digest/<region>/<Y>/<M>/<D>/<account>_CloudTrail-Digest_<region>_
<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz``, listing each log file delivered in the hour
with the SHA-256 of its uncompressed content, linked to the previous digest (its key, the
SHA-256 of its uncompressed content and its signature), and signed: RSA PKCS#1 v1.5 / SHA-256
over ``digestEndTime\\nbucket/key\\nhex(sha256(uncompressed digest))\\nprevious signature``, the
hex signature stored in the object metadata ``x-amz-meta-signature``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

START = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
_KEY_CACHE: list[rsa.RSAPrivateKey] = []


def private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test session (key generation is the slow part)."""
    if not _KEY_CACHE:
        _KEY_CACHE.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_CACHE[0]


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    return hashlib.md5(public_der(key)).hexdigest()


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    account: str, region: str, when: datetime, name: str = "DescribeInstances", **extra: Any
) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventTime": iso(when),
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15",
        "requestParameters": None,
        "responseElements": None,
        "eventID": hashlib.sha1(f"{account}{region}{when}{name}".encode()).hexdigest(),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{account}:user/alice",
            "accountId": account,
            "principalId": "AIDAEXAMPLE",
            "accessKeyId": "AKIAEXAMPLEKEY000001",
            "userName": "alice",
        },
        **extra,
    }


@dataclass
class Built:
    root: Path
    bucket: str
    prefix: str
    logs: list[str] = field(default_factory=list)  # keys
    digests: list[str] = field(default_factory=list)  # keys, in time order
    signatures: dict[str, str] = field(default_factory=dict)  # key -> hex
    key: rsa.RSAPrivateKey | None = None

    def path(self, key: str) -> Path:
        return self.root / key

    def signature_lines(self) -> str:
        return "".join(
            json.dumps(
                {
                    "bucket": self.bucket,
                    "key": k,
                    "signature": s,
                    "signature_algorithm": "SHA256withRSA",
                }
            )
            + "\n"
            for k, s in self.signatures.items()
        )

    def public_keys_json(self) -> str:
        assert self.key is not None
        return json.dumps(
            {
                "PublicKeyList": [
                    {
                        "Value": base64.b64encode(public_der(self.key)).decode(),
                        "ValidityStartTime": iso(START - timedelta(days=30)),
                        "ValidityEndTime": iso(START + timedelta(days=30)),
                        "Fingerprint": fingerprint(self.key),
                    }
                ]
            }
        )

    def write_sidecars(self, folder: Path | None = None) -> None:
        folder = folder or self.root
        (folder / ".forensics-digest-signatures.jsonl").write_text(self.signature_lines())
        (folder / ".forensics-public-keys.json").write_text(self.public_keys_json())


def sign(key: rsa.RSAPrivateKey, digest: dict[str, Any], body: bytes) -> str:
    prev = digest["previousDigestSignature"]
    text = "{}\n{}/{}\n{}\n{}".format(
        digest["digestEndTime"],
        digest["digestS3Bucket"],
        digest["digestS3Object"],
        hashlib.sha256(body).hexdigest(),
        "null" if prev is None else prev,
    )
    return key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def build(
    root: Path,
    *,
    accounts: tuple[str, ...] = ("111122223333",),
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    hours: int = 4,
    files_per_hour: int = 3,
    bucket: str = "trail-bucket",
    prefix: str = "",
    trail: str = "org-trail",
    home: str = "us-east-1",
    org: str | None = None,
    skip_hours: tuple[int, ...] = (),
    sidecars: bool = True,
    records_of: Any = None,
) -> Built:
    """Write ``hours`` hours of logs and signed, chained digests under ``root``."""
    key = private_key()
    built = Built(root, bucket, prefix, key=key)
    prev: dict[tuple[str, str], tuple[str, str, str]] = {}  # key, sha256, signature
    for h in range(hours):
        hour = START + timedelta(hours=h)
        for account in accounts:
            base = f"{prefix}AWSLogs/{org + '/' if org else ''}{account}"
            for region in regions:
                files = []
                if h not in skip_hours:
                    for i in range(files_per_hour):
                        when = hour + timedelta(minutes=5 + i * 15)
                        recs = (
                            records_of(account, region, when)
                            if records_of
                            else [
                                record(account, region, when - timedelta(minutes=j))
                                for j in range(3)
                            ]
                        )
                        body = json.dumps({"Records": recs}).encode()
                        name = (
                            f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_"
                            f"{hashlib.sha1(body).hexdigest()[:16]}.json.gz"
                        )
                        k = f"{base}/CloudTrail/{region}/{when:%Y/%m/%d}/{name}"
                        p = root / k
                        p.parent.mkdir(parents=True, exist_ok=True)
                        p.write_bytes(gzip.compress(body, mtime=0))
                        built.logs.append(k)
                        files.append(
                            {
                                "s3Bucket": bucket,
                                "s3Object": k,
                                "hashValue": hashlib.sha256(body).hexdigest(),
                                "hashAlgorithm": "SHA-256",
                                "newestEventTime": recs[0]["eventTime"],
                                "oldestEventTime": recs[-1]["eventTime"],
                            }
                        )
                    chain_prev = prev.get((account, region))
                else:
                    prev.pop((account, region), None)  # logging stopped: the chain restarts
                    continue
                end = hour + timedelta(hours=1)
                dk = (
                    f"{base}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{account}_CloudTrail-"
                    f"Digest_{region}_{trail}_{home}_{end:%Y%m%dT%H%M%SZ}.json.gz"
                )
                digest = {
                    "awsAccountId": account,
                    "digestStartTime": iso(hour),
                    "digestEndTime": iso(end),
                    "digestS3Bucket": bucket,
                    "digestS3Object": dk,
                    "digestPublicKeyFingerprint": fingerprint(key),
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "newestEventTime": iso(hour + timedelta(minutes=50)),
                    "oldestEventTime": iso(hour),
                    "previousDigestS3Bucket": bucket if chain_prev else None,
                    "previousDigestS3Object": chain_prev[0] if chain_prev else None,
                    "previousDigestHashValue": chain_prev[1] if chain_prev else None,
                    "previousDigestHashAlgorithm": "SHA-256" if chain_prev else None,
                    "previousDigestSignature": chain_prev[2] if chain_prev else None,
                    "logFiles": files,
                }
                body = json.dumps(digest).encode()
                sig = sign(key, digest, body)
                p = root / dk
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(gzip.compress(body, mtime=0))
                built.digests.append(dk)
                built.signatures[dk] = sig
                prev[(account, region)] = (dk, hashlib.sha256(body).hexdigest(), sig)
    if sidecars:
        built.write_sidecars()
    return built


def rewrite_gz(path: Path, change: Any) -> None:
    """Change the JSON inside a gzip file (``change(obj) -> obj``)."""
    obj = json.loads(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(json.dumps(change(obj)).encode(), mtime=0))
