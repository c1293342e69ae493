"""Writing records the way an organisation trail delivers them to S3.

``AWSLogs/<org-id>/<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/
<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 chars>.json.gz``: one ``{"Records": [...]}``
file per account, region and delivery window, plus an hourly digest per account and region
under ``CloudTrail-Digest/`` listing the SHA-256 of every log file delivered in that hour.
Gzip headers carry ``mtime=0`` so that the same records always give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from forensics.sample._ids import hex_id, iso, token
from forensics.sample._signing import SampleSigner

try:  # isal's deflate is several times faster than zlib's at similar ratios
    from isal import igzip as _gz

    def _gzip(data: bytes) -> bytes:
        return _gz.compress(data, compresslevel=2, mtime=0)
except ImportError:  # pragma: no cover - isal is a dependency; keep a stdlib path anyway
    import gzip as _stdgz

    def _gzip(data: bytes) -> bytes:
        return _stdgz.compress(data, compresslevel=6, mtime=0)


__all__ = ["TrailWriter"]


def _stamp(ts: int) -> str:
    s = iso(ts)  # YYYY-MM-DDTHH:MM:SSZ
    return f"{s[0:4]}{s[5:7]}{s[8:10]}T{s[11:13]}{s[14:16]}Z"


def _day_path(ts: int) -> str:
    s = iso(ts)
    return f"{s[0:4]}/{s[5:7]}/{s[8:10]}"


class TrailWriter:
    """Writes windows of records as S3-delivered log files, and the hourly digests."""

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        org_id: str,
        accounts: list[str],
        regions: tuple[str, ...] | list[str],
        trail_name: str,
        trail_region: str,
        bucket: str,
        rng: random.Random,
    ) -> None:
        self.root = Path(out)
        self.org_id, self.accounts, self.regions = org_id, accounts, list(regions)
        self.trail_name, self.trail_region, self.bucket = trail_name, trail_region, bucket
        self.rng = rng
        self.files = 0
        self.digests = 0
        self.records = 0
        self.bytes_json = 0
        self.bytes_gz = 0
        self._hour: int | None = None
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._previous: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._made_dirs: set[str] = set()
        hex_id(rng, 32)  # was the fingerprint: still drawn, so file names stay those of before
        self._signer = SampleSigner()
        self._fingerprint = self._signer.fingerprint
        self._first: int | None = None

    def _key(self, account: str, kind: str, region: str, ts: int) -> str:
        return f"AWSLogs/{self.org_id}/{account}/{kind}/{region}/{_day_path(ts)}"

    def _write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        parent = str(path.parent)
        if parent not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        path.write_bytes(data)

    def window(self, end: int, records: list[dict[str, Any]]) -> None:
        """Deliver one window's records (already in time order); ``end`` is the delivery time."""
        hour = end - end % 3600
        if self._hour is not None and hour != self._hour:
            self._digest(self._hour)
        self._hour = hour
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            groups[(r["recipientAccountId"], r["awsRegion"])].append(r)
        stamp = _stamp(end)
        for account, region in sorted(groups):
            if region not in self.regions:  # digests are delivered for every region in use
                self.regions.append(region)
            recs = groups[(account, region)]
            body = orjson.dumps({"Records": recs})
            gz = _gzip(body)
            name = f"{account}_CloudTrail_{region}_{stamp}_{token(self.rng, 16)}.json.gz"
            rel = f"{self._key(account, 'CloudTrail', region, end)}/{name}"
            self._write(rel, gz)
            self.files += 1
            self.records += len(recs)
            self.bytes_json += len(body)
            self.bytes_gz += len(gz)
            self._pending[(account, region)].append(
                {
                    "s3Bucket": self.bucket,
                    "s3Object": rel,
                    "hashValue": hashlib.sha256(body).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": recs[-1]["eventTime"],
                    "oldestEventTime": recs[0]["eventTime"],
                }
            )

    def close(self) -> None:
        if self._hour is not None:
            self._digest(self._hour)
            self._hour = None
        if self._first is not None:  # what the S3 mirror keeps: signatures, the public key
            self._signer.write_sidecars(
                self.root,
                valid_from=iso(self._first - 86400),
                valid_to=iso(self._first + 400 * 86400),
            )

    def _digest(self, hour: int) -> None:
        """One digest per account and region for the hour ``[hour, hour + 1h)``."""
        end = hour + 3600
        self._first = hour if self._first is None else self._first
        stamp = iso(end).replace("-", "").replace(":", "")
        for account in self.accounts:
            for region in self.regions:
                files = self._pending.pop((account, region), [])
                rel_dir = self._key(account, "CloudTrail-Digest", region, end)
                name = (
                    f"{account}_CloudTrail-Digest_{region}_{self.trail_name}_"
                    f"{self.trail_region}_{stamp}.json.gz"
                )
                rel = f"{rel_dir}/{name}"
                prev = self._previous.get((account, region))
                digest: dict[str, Any] = {
                    "awsAccountId": account,
                    "digestStartTime": iso(hour),
                    "digestEndTime": iso(end),
                    "digestS3Bucket": self.bucket,
                    "digestS3Object": rel,
                    "digestPublicKeyFingerprint": self._fingerprint,
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "newestEventTime": max((f["newestEventTime"] for f in files), default=None),
                    "oldestEventTime": min((f["oldestEventTime"] for f in files), default=None),
                    "previousDigestS3Bucket": self.bucket if prev else None,
                    "previousDigestS3Object": prev[0] if prev else None,
                    "previousDigestHashValue": prev[1] if prev else None,
                    "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                    "previousDigestSignature": prev[2] if prev else None,
                    "logFiles": files,
                }
                if prev:
                    hex_id(self.rng, 512)  # was a random signature: keep the random stream
                body = orjson.dumps(digest)
                signature = self._signer.sign(digest, body)
                self._write(rel, _gzip(body))
                self._previous[(account, region)] = (
                    rel,
                    hashlib.sha256(body).hexdigest(),
                    signature,
                )
                self.digests += 1
