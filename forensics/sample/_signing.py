"""Signing the sample's digests the way CloudTrail signs them, with a fixed demo key.

CloudTrail signs ``digestEndTime \\n bucket/key \\n hex SHA-256 of the uncompressed digest \\n
previous signature`` with RSA PKCS#1 v1.5 / SHA-256 and stores the hex signature in the digest
object's metadata. The sample has no S3 object metadata, so :meth:`SampleSigner.write_sidecars`
writes what the S3 mirror would keep beside the files (``.forensics-digest-signatures.jsonl``,
``.forensics-public-keys.json``), and ``fx.verify("data/sample")`` checks the whole chain.

The key is derived from a fixed seed (primes found with a seeded generator), so the same sample
is the same bytes on every machine. It is a demonstration key, published with the code: it
proves nothing about real logs.

>>> signer = SampleSigner()
>>> len(signer.fingerprint)
32
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

__all__ = ["SampleSigner"]

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(8):  # random candidates: far below 4**-8 error; the key is a demo
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random, e: int) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if (n - 1) % e and _probable_prime(n, rng):
            return n


@functools.lru_cache(maxsize=1)
def _demo_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random("trail-forensics sample digest key v1")
    e = 65537
    p = _prime(1024, rng, e)
    q = _prime(1024, rng, e)
    while q == p:  # pragma: no cover - astronomically unlikely
        q = _prime(1024, rng, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return numbers.private_key()


class SampleSigner:
    """Signs sample digests and remembers the signatures (what S3 metadata would hold)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = _demo_key()
        self.der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        self.fingerprint = hashlib.md5(self.der).hexdigest()  # a label, like AWS's
        self.signatures: dict[str, str] = {}
        self.bucket = ""

    def sign(self, digest: dict[str, Any], body: bytes) -> str:
        """The hex signature of a digest whose uncompressed bytes are ``body``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        prev = digest.get("previousDigestSignature")
        text = "{}\n{}/{}\n{}\n{}".format(
            digest["digestEndTime"],
            digest["digestS3Bucket"],
            digest["digestS3Object"],
            hashlib.sha256(body).hexdigest(),
            "null" if prev is None else prev,
        )
        sig = self._key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        self.signatures[digest["digestS3Object"]] = sig
        self.bucket = digest["digestS3Bucket"]
        return sig

    def write_sidecars(
        self, root: str | os.PathLike[str], *, valid_from: str, valid_to: str
    ) -> None:
        """The signature index and public key file beside ``root/AWSLogs``."""
        root = Path(root)
        lines = "".join(
            json.dumps(
                {
                    "bucket": self.bucket,
                    "key": k,
                    "signature": s,
                    "signature_algorithm": "SHA256withRSA",
                }
            )
            + "\n"
            for k, s in sorted(self.signatures.items())
        )
        (root / ".forensics-digest-signatures.jsonl").write_text(lines, encoding="utf-8")
        keys = {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(self.der).decode(),
                    "Fingerprint": self.fingerprint,
                    "ValidityStartTime": valid_from,
                    "ValidityEndTime": valid_to,
                }
            ]
        }
        (root / ".forensics-public-keys.json").write_text(
            json.dumps(keys, indent=1) + "\n", encoding="utf-8"
        )
