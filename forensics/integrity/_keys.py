"""Where a digest's signature and CloudTrail's public keys come from, on local disk.

CloudTrail puts a digest's signature in the S3 object metadata of the digest
(``x-amz-meta-signature``, hex, and ``x-amz-meta-signature-algorithm``, ``SHA256withRSA``), not
in the file; the public keys come from ``cloudtrail:ListPublicKeys``. A copy of the files alone
therefore cannot be verified. Two small files next to the files carry the rest:

``.forensics-digest-signatures.jsonl``
    One JSON object a line: ``{"bucket": ..., "key": ..., "signature": ...,
    "signature_algorithm": ...}``. The S3 mirror writes it as it downloads digests; for a plain
    folder, write one line per digest from ``aws s3api head-object`` (``"Metadata"`` with
    ``signature`` / ``signature-algorithm`` is accepted as it is).
``.forensics-public-keys.json``
    The output of ``aws cloudtrail list-public-keys`` (``{"PublicKeyList": [{"Value": <base64
    DER>, "Fingerprint": ..., "ValidityStartTime": ..., "ValidityEndTime": ...}]}``), merged
    over regions; the S3 mirror writes it.

Both names start with a dot, so the loader never reads them as logs. The S3 source spells the
same two names (``forensics/sources/_s3.py``); a test holds them equal.

>>> sigs = parse_signatures('{"key": "p/AWSLogs/1/CloudTrail-Digest/x.json.gz", "signature": "ab"}')
>>> sigs["AWSLogs/1/CloudTrail-Digest/x.json.gz"].signature
'ab'
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "PUBLIC_KEYS_FILE",
    "SIGNATURES_FILE",
    "PublicKey",
    "Signature",
    "find_beside",
    "key_tail",
    "parse_public_keys",
    "parse_signatures",
    "read_public_keys",
    "read_signatures",
]

SIGNATURES_FILE = ".forensics-digest-signatures.jsonl"
PUBLIC_KEYS_FILE = ".forensics-public-keys.json"


@dataclass(frozen=True)
class Signature:
    """A digest object's signature metadata, as S3 returned it."""

    key: str
    signature: str | None
    algorithm: str | None
    bucket: str | None = None


@dataclass(frozen=True)
class PublicKey:
    """One CloudTrail public key (DER, PKCS#1 ``RSAPublicKey``) and its validity."""

    fingerprint: str
    der: bytes
    valid_from: str | None = None
    valid_to: str | None = None


def key_tail(key: str) -> str:
    """The part of an S3 key (or a local path) from ``AWSLogs/`` on: how local copies are matched
    to the keys a digest names, whatever prefix or mirror folder lies in front.

    >>> key_tail("prefix/AWSLogs/111122223333/CloudTrail/x.json.gz")
    'AWSLogs/111122223333/CloudTrail/x.json.gz'
    """
    key = key.replace(os.sep, "/")
    at = key.rfind("/AWSLogs/")
    if at >= 0:
        return key[at + 1 :]
    return key


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_signatures(text: str, *, source: str = "signatures") -> dict[str, Signature]:
    """Signature entries (JSON lines, or one JSON list) by the digest key's ``AWSLogs/`` tail."""
    text = text.strip()
    rows: list[Any]
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:  # a torn last line of an interrupted fetch: skip it
                if n < len(text.splitlines()):
                    raise ValueError(f"{source}: line {n} is not JSON") from None
    out: dict[str, Signature] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        key = _text(row.get("key")) or _text(row.get("Key")) or _text(row.get("digestS3Object"))
        if key is None:
            continue
        meta = row.get("Metadata") if isinstance(row.get("Metadata"), dict) else row
        sig = _text(meta.get("signature"))
        algo = _text(meta.get("signature_algorithm")) or _text(meta.get("signature-algorithm"))
        out[key_tail(key)] = Signature(key, sig, algo, _text(row.get("bucket")))
    return out


def _der(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    return None


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone().isoformat()
    return _text(value)


def parse_public_keys(data: Any) -> dict[str, PublicKey]:
    """Public keys by fingerprint, from ``list-public-keys`` output (or a list of its entries)."""
    entries = data.get("PublicKeyList", []) if isinstance(data, dict) else data
    out: dict[str, PublicKey] = {}
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        fingerprint = _text(entry.get("Fingerprint"))
        der = _der(entry.get("Value"))
        if fingerprint and der:
            out[fingerprint] = PublicKey(
                fingerprint,
                der,
                _when(entry.get("ValidityStartTime")),
                _when(entry.get("ValidityEndTime")),
            )
    return out


def read_signatures(path: str | os.PathLike[str]) -> dict[str, Signature]:
    """Read a signatures file (see the module's docstring)."""
    return parse_signatures(Path(path).read_text(encoding="utf-8"), source=os.fspath(path))


def read_public_keys(path: str | os.PathLike[str]) -> dict[str, PublicKey]:
    """Read a public keys file (``aws cloudtrail list-public-keys`` output)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: not JSON ({exc})") from None
    return parse_public_keys(data)


def find_beside(roots: list[Path], name: str) -> list[Path]:
    """The nearest file called ``name`` in each root or a folder above it: where the S3 mirror
    leaves its signature index and keys (its root, ``<cache>/s3/<bucket>/``)."""
    found: list[Path] = []
    for root in roots:
        start = root if root.is_dir() else root.parent
        for folder in [start, *start.parents]:
            candidate = folder / name
            if candidate.is_file():
                if candidate not in found:
                    found.append(candidate)
                break
    return found
