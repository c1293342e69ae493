"""Digest verification, offline: what ``aws cloudtrail validate-logs`` checks, on local copies.

For every ``CloudTrail-Digest`` file (AWS, "CloudTrail digest file structure" and "Custom
implementations of CloudTrail log file integrity validation"):

1. it must be gzip JSON with the fields validation needs, and lie where it says it was delivered
   (``digestS3Object``);
2. its RSA signature (``x-amz-meta-signature``, hex; PKCS#1 v1.5 with SHA-256) must verify,
   with the public key whose fingerprint is ``digestPublicKeyFingerprint``, over the string
   ``digestEndTime \\n digestS3Bucket/digestS3Object \\n hex SHA-256 of the uncompressed digest
   \\n previousDigestSignature`` (the word ``null`` for the first digest of a chain);
3. it must link to the previous digest: ``previousDigestS3Object`` present, its SHA-256 equal to
   ``previousDigestHashValue`` and its signature equal to ``previousDigestSignature``;
4. every log file it lists must be there, with the SHA-256 of its uncompressed content equal to
   ``hashValue``.

Then every log file no digest lists is reported. Nothing is "valid" by default: a digest whose
signature or key is not at hand is "unverifiable", and a trail without digests "not
verifiable".

>>> from pathlib import Path
>>> verify(Path("no-such-folder-here")).verdict
'not verifiable'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from forensics.integrity._files import LocalFile, hash_many, inflate, parse_path, walk
from forensics.integrity._keys import (
    PUBLIC_KEYS_FILE,
    SIGNATURES_FILE,
    PublicKey,
    Signature,
    find_beside,
    key_tail,
    read_public_keys,
    read_signatures,
)
from forensics.integrity._result import Verification

__all__ = ["signing_string", "verify"]

_REQUIRED = (
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
)
_ALGORITHM = "SHA256withRSA"
_BATCH = 64  # files per thread task
_HOUR = timedelta(hours=1)
_SLACK = timedelta(minutes=15)  # digests of different regions do not end on the same second


def signing_string(digest: Mapping[str, Any], inflated: bytes) -> bytes:
    """The bytes CloudTrail signs for a digest (AWS's "data signing string").

    >>> d = {"digestEndTime": "2015-08-17T15:01:31Z", "digestS3Bucket": "b",
    ...      "digestS3Object": "AWSLogs/1/x.json.gz", "previousDigestSignature": None}
    >>> signing_string(d, b"{}").decode().splitlines()[::3]
    ['2015-08-17T15:01:31Z', 'null']
    """
    previous = digest.get("previousDigestSignature")
    return "{}\n{}/{}\n{}\n{}".format(
        digest["digestEndTime"],
        digest["digestS3Bucket"],
        digest["digestS3Object"],
        hashlib.sha256(inflated).hexdigest(),
        "null" if previous is None else previous,
    ).encode()


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


@dataclass
class _Digest:
    file: LocalFile
    data: dict[str, Any] | None = None
    sha256: str | None = None
    status: str = "unverifiable"  # valid | invalid | unverifiable
    reason: str = ""
    signature: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def chain(self) -> tuple[str, str, str]:
        return self.file.account, self.file.region, self.file.trail or "?"


@dataclass
class _State:
    digests: list[_Digest] = field(default_factory=list)
    logs: dict[str, LocalFile] = field(default_factory=dict)  # tail -> file
    other: int = 0
    #: (tails, future of their hashes), see :func:`_start_hashing`
    hashing: list[tuple[list[str], Future[list[tuple[str | None, int, str | None]]]]] = field(
        default_factory=list
    )

    def hashes(self) -> dict[str, tuple[str | None, int, str | None]]:
        return {
            t: h for tails, fut in self.hashing for t, h in zip(tails, fut.result(), strict=True)
        }


def _check_signature(
    d: _Digest, raw: bytes, sigs: Mapping[str, Signature], keys: Mapping[str, PublicKey]
) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    data = d.data or {}
    sig = sigs.get(d.file.tail)
    d.signature = sig.signature if sig else None
    if sig is None or not sig.signature:
        d.status, d.reason = (
            "unverifiable",
            (
                "no signature metadata (x-amz-meta-signature) for this digest; fetch it through the "
                "S3 mirror or give signatures="
            ),
        )
        return
    algorithm = sig.algorithm or data.get("digestSignatureAlgorithm") or _ALGORITHM
    if algorithm != _ALGORITHM:
        d.status, d.reason = "unverifiable", f"unsupported signature algorithm {algorithm!r}"
        return
    fingerprint = data["digestPublicKeyFingerprint"]
    key = keys.get(fingerprint) if isinstance(fingerprint, str) else None
    if key is None:
        d.status, d.reason = (
            "unverifiable",
            (
                f"no public key with fingerprint {fingerprint!r}"
                + (
                    " (no public keys at all: fetch them through the S3 mirror or give public_keys=)"
                    if not keys
                    else " among the keys given (ListPublicKeys for this window)"
                )
            ),
        )
        return
    try:
        public = load_der_public_key(key.der)
        signature = bytes.fromhex(sig.signature)
    except ValueError as exc:
        d.status, d.reason = "invalid", f"signature or public key cannot be read: {exc}"
        return
    if not isinstance(public, rsa.RSAPublicKey):
        d.status, d.reason = "unverifiable", "public key is not an RSA key"
        return
    try:
        public.verify(signature, signing_string(data, raw), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        d.status, d.reason = "invalid", "signature verification failed (digest or metadata altered)"
        return
    d.status, d.reason = "valid", ""


def _load_digest(d: _Digest, sigs: Mapping[str, Signature], keys: Mapping[str, PublicKey]) -> None:
    try:
        with open(d.file.path, "rb") as fh:
            raw = inflate(fh.read())
        data = json.loads(raw)
    except (OSError, ValueError, EOFError) as exc:
        d.status, d.reason = "invalid", f"not a readable gzip JSON digest: {exc}"
        return
    except Exception as exc:  # isal's own errors for a corrupt stream
        d.status, d.reason = "invalid", f"not a readable gzip JSON digest: {exc}"
        return
    d.sha256 = hashlib.sha256(raw).hexdigest()
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
        d.status, d.reason = "invalid", f"invalid digest format (missing {', '.join(missing)})"
        return
    d.data = data
    d.start, d.end = _time(data["digestStartTime"]), _time(data["digestEndTime"])
    if d.end is None:
        d.end = d.file.stamp
    obj = data["digestS3Object"]
    sig = sigs.get(d.file.tail)
    if sig is not None and sig.bucket and sig.bucket != data["digestS3Bucket"]:
        d.status, d.reason = (
            "invalid",
            (
                f"moved from its original location (fetched from bucket {sig.bucket!r}, it names "
                f"{data['digestS3Bucket']!r})"
            ),
        )
        return
    if not isinstance(obj, str) or key_tail(obj) != d.file.tail:
        d.status, d.reason = "invalid", (f"moved from its original location (it names {obj!r})")
        return
    _check_signature(d, raw, sigs, keys)


def _collect(roots: list[Path], start: datetime | None, end: datetime | None) -> _State:
    """Walk the roots: digests and log files (by their key from ``AWSLogs/`` on)."""
    state = _State()
    for path in walk(roots):
        info = parse_path(path)
        if info is None:
            state.other += 1
            continue
        if info.kind == "CloudTrail-Digest":
            state.digests.append(_Digest(info))
            continue
        if start is not None and info.stamp is not None and info.stamp < start - _HOUR:
            continue
        if end is not None and info.stamp is not None and info.stamp > end + _HOUR:
            continue
        state.logs.setdefault(info.tail, info)  # the same key in two roots: the first is checked
    return state


def _start_hashing(state: _State, pool: ThreadPoolExecutor) -> None:
    """Hash every log file, in batches (one thread task per batch). Started once the walk and
    the digests are done: Python work on the main thread meanwhile only slows the hashing."""
    tails = list(state.logs)
    for i in range(0, len(tails), _BATCH):
        batch = tails[i : i + _BATCH]
        state.hashing.append((batch, pool.submit(hash_many, [state.logs[t].path for t in batch])))


def _in_window(d: _Digest, start: datetime | None, end: datetime | None) -> bool:
    when = d.file.stamp
    if when is None:
        return True
    if start is not None and when <= start:  # a digest ending at the start covers the hour before
        return False
    return not (end is not None and when > end + timedelta(hours=1))


def verify(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    signatures: str | os.PathLike[str] | Mapping[str, Signature] | None = None,
    public_keys: str | os.PathLike[str] | Mapping[str, PublicKey] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    workers: int | None = None,
) -> Verification:
    """Verify the digests and log files under ``path`` (a folder, or several).

    Parameters
    ----------
    path
        A local copy of the S3 delivery layout (``.../AWSLogs/...``): the S3 mirror, or a folder
        you copied yourself.
    signatures
        The digests' signature metadata: a file (see :mod:`forensics.integrity._keys`) or a
        mapping. By default ``.forensics-digest-signatures.jsonl`` in the folder or above it
        (the S3 mirror writes it).
    public_keys
        ``aws cloudtrail list-public-keys`` output for the window, or a mapping. By default
        ``.forensics-public-keys.json`` in the folder or above it (the S3 mirror writes it).
    start, end
        Only digests ending in this window (and the log files delivered in it).
    workers
        Hashing threads (default: the CPU count).

    Returns
    -------
    Verification
        ``.verdict`` ("valid", "tampered", "not verifiable"), ``.by_region``, ``.digests``,
        ``.files``, ``.breaks``, ``.summary()``.

    Examples
    --------
    >>> import forensics as fx
    >>> result = fx.verify("data/sample")            # doctest: +SKIP
    >>> print(result.summary())                      # doctest: +SKIP
    """
    from forensics._schema import to_utc

    roots = [Path(path)] if isinstance(path, str | os.PathLike) else [Path(p) for p in path]
    lo, hi = to_utc(start), to_utc(end)
    notes: list[str] = []
    missing_roots = [r for r in roots if not r.exists()]
    for r in missing_roots:
        notes.append(f"{r}: no such file or folder")
    roots = [r for r in roots if r.exists()]

    sigs = _signatures(roots, signatures, notes)
    keys = _public_keys(roots, public_keys, notes)
    pool = ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1))
    try:
        state = _collect(roots, lo, hi)
        state.digests = [d for d in state.digests if _in_window(d, lo, hi)]
        for d in state.digests:
            _load_digest(d, sigs, keys)
        _start_hashing(state, pool)
        return _assemble(state, sigs, keys, lo, notes)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _signatures(roots: list[Path], given: Any, notes: list[str]) -> dict[str, Signature]:
    if isinstance(given, Mapping):
        return {key_tail(k): v for k, v in given.items()}
    if given is not None:
        notes.append(f"signatures from {os.fspath(given)}")
        return read_signatures(given)
    out: dict[str, Signature] = {}
    for f in find_beside(roots, SIGNATURES_FILE):
        out.update(read_signatures(f))
        notes.append(f"signatures from {f}")
    return out


def _public_keys(roots: list[Path], given: Any, notes: list[str]) -> dict[str, PublicKey]:
    if isinstance(given, Mapping):
        return dict(given)
    if given is not None:
        notes.append(f"public keys from {os.fspath(given)}")
        return read_public_keys(given)
    out: dict[str, PublicKey] = {}
    for f in find_beside(roots, PUBLIC_KEYS_FILE):
        out.update(read_public_keys(f))
        notes.append(f"public keys from {f}")
    return out


def _assemble(
    state: _State,
    sigs: Mapping[str, Signature],
    keys: Mapping[str, PublicKey],
    lo: datetime | None,
    notes: list[str],
) -> Verification:
    digest_rows: list[dict[str, Any]] = []
    file_rows: list[dict[str, Any]] = []
    break_rows: list[dict[str, Any]] = []
    by_tail = {d.file.tail: d for d in state.digests}

    # -- chains: link every digest to the one before it ------------------------------------------
    chains: dict[tuple[str, str, str], list[_Digest]] = defaultdict(list)
    for d in state.digests:
        chains[d.chain].append(d)
    for (account, region, trail), ds in chains.items():
        ds.sort(key=lambda d: (d.end or datetime.min.replace(tzinfo=UTC), d.file.tail))
        for i, d in enumerate(ds):
            if d.data is None:
                continue
            before = ds[i - 1] if i else None
            prev_key = d.data.get("previousDigestS3Object")
            row = {
                "account": account,
                "region": region,
                "trail": trail,
                "after": before.end if before else None,
                "before": d.start or d.end,
                "digest": d.file.path,
            }
            if not prev_key:
                if before is not None:
                    break_rows.append(
                        {
                            **row,
                            "kind": "restarted",
                            "tampering": False,
                            "detail": "the digest chain starts again: logging or log "
                            "file validation was off in between",
                        }
                    )
                continue
            prev = by_tail.get(key_tail(str(prev_key)))
            if prev is None:
                prev_end = parse_path(str(prev_key))
                prev_time = prev_end.stamp if prev_end else None
                if before is None and (lo is None or (prev_time is not None and prev_time <= lo)):
                    break_rows.append(
                        {
                            **row,
                            "after": prev_time,
                            "kind": "starts outside",
                            "tampering": False,
                            "detail": f"previous digest {prev_key} is not in these "
                            "files (before the window fetched)",
                        }
                    )
                else:
                    break_rows.append(
                        {
                            **row,
                            "after": before.end if before else prev_time,
                            "kind": "missing digest",
                            "tampering": True,
                            "detail": f"previous digest {prev_key} is missing",
                        }
                    )
                continue
            problems = []
            if prev.sha256 is not None and d.data.get("previousDigestHashValue") != prev.sha256:
                problems.append("its SHA-256 is not previousDigestHashValue")
            if (
                prev.signature is not None
                and d.data.get("previousDigestSignature") != prev.signature
            ):
                problems.append("its signature is not previousDigestSignature")
            if problems:
                break_rows.append(
                    {
                        **row,
                        "after": prev.end,
                        "kind": "link mismatch",
                        "tampering": True,
                        "detail": f"previous digest {prev.file.path}: " + "; ".join(problems),
                    }
                )
            elif before is not None and prev is not before:
                break_rows.append(
                    {
                        **row,
                        "after": prev.end,
                        "kind": "out of order",
                        "tampering": True,
                        "detail": f"links to {prev.file.path}, skipping {before.file.path}",
                    }
                )

    # -- log files listed in digests ---------------------------------------------------------------
    listed: dict[str, tuple[_Digest, dict[str, Any]]] = {}
    for d in state.digests:
        for entry in (d.data or {}).get("logFiles") or []:
            if isinstance(entry, dict) and isinstance(entry.get("s3Object"), str):
                listed.setdefault(key_tail(entry["s3Object"]), (d, entry))
    first_day: dict[tuple[str, str], date] = {}
    for d in state.digests:
        k = (d.file.account, d.file.region)
        first_day[k] = min(first_day.get(k, d.file.day), d.file.day)

    hashed = state.hashes()
    total_bytes = sum(v[1] for v in hashed.values())
    for tail, (d, entry) in listed.items():
        info = state.logs.get(tail) or parse_path(tail)
        account = info.account if info else d.file.account
        region = info.region if info else d.file.region
        row = {
            "path": state.logs[tail].path if tail in state.logs else entry["s3Object"],
            "account": account,
            "region": region,
            "digest": d.file.path,
        }
        if tail not in state.logs:
            day = info.day if info else None
            if day is not None and day < first_day.get((account, region), day):
                file_rows.append(
                    {
                        **row,
                        "status": "not fetched",
                        "reason": "listed in a digest; its day is not in these files",
                    }
                )
            else:
                file_rows.append(
                    {
                        **row,
                        "status": "deleted",
                        "reason": "listed in a digest, absent from the files",
                    }
                )
            continue
        got, _, err = hashed[tail]
        if err is not None:
            file_rows.append({**row, "status": "modified", "reason": err})
        elif got != entry.get("hashValue"):
            file_rows.append(
                {
                    **row,
                    "status": "modified",
                    "reason": "SHA-256 of the uncompressed content is not the digest's hashValue",
                }
            )
        elif d.status == "valid":
            file_rows.append({**row, "status": "valid", "reason": ""})
        else:
            file_rows.append(
                {
                    **row,
                    "status": "unverified",
                    "reason": f"hash matches, but its digest is {d.status}: {d.reason}",
                }
            )

    # -- log files no digest lists -------------------------------------------------------------------
    span: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for d in state.digests:
        if d.data is None or d.end is None:
            continue
        k = (d.file.account, d.file.region)
        s = d.start or d.end
        lo_, hi_ = span.get(k, (s, d.end))
        span[k] = (min(lo_, s), max(hi_, d.end))
    regions_with_digests = {(d.file.account, d.file.region) for d in state.digests}
    global_last = max((hi_ for _, hi_ in span.values()), default=datetime.min.replace(tzinfo=UTC))
    ended_early: dict[tuple[str, str], datetime] = {}
    insight_uncovered = 0
    for tail, info in state.logs.items():
        if tail in listed:
            continue
        k = (info.account, info.region)
        row = {"path": info.path, "account": info.account, "region": info.region, "digest": None}
        if info.kind == "CloudTrail-Insight":
            insight_uncovered += 1
            continue
        if k not in regions_with_digests:
            file_rows.append(
                {**row, "status": "no digest", "reason": "no digest for this account and region"}
            )
        elif k not in span or info.stamp is None:
            file_rows.append({**row, "status": "uncovered", "reason": "listed in no digest"})
        elif info.stamp >= span[k][1] and info.stamp + _SLACK <= global_last:
            # digests are delivered hourly for every region: others ran on, this one stopped
            ended_early[k] = max(ended_early.get(k, info.stamp), info.stamp)
            file_rows.append(
                {
                    **row,
                    "status": "uncovered",
                    "reason": f"delivered after this account/region's last digest "
                    f"({span[k][1]:%Y-%m-%d %H:%M} UTC) while digests of others run to "
                    f"{global_last:%Y-%m-%d %H:%M} UTC",
                }
            )
        elif info.stamp >= span[k][1]:
            file_rows.append(
                {
                    **row,
                    "status": "after last digest",
                    "reason": "delivered after the last digest in these files",
                }
            )
        elif info.stamp < span[k][0] - timedelta(minutes=5):
            file_rows.append(
                {
                    **row,
                    "status": "before first digest",
                    "reason": "delivered before the first digest in these files",
                }
            )
        else:
            file_rows.append(
                {
                    **row,
                    "status": "uncovered",
                    "reason": "delivered while digests were written, listed in none",
                }
            )
    last_digest = {}
    for d in state.digests:
        k = (d.file.account, d.file.region)
        if d.end is not None and (k not in last_digest or d.end >= last_digest[k].end):
            last_digest[k] = d
    for (account, region), newest in ended_early.items():
        last = last_digest[(account, region)]
        break_rows.append(
            {
                "account": account,
                "region": region,
                "trail": last.file.trail,
                "after": span[(account, region)][1],
                "before": min(global_last, newest + _HOUR),
                "digest": last.file.path,
                "kind": "ends early",
                "tampering": True,
                "detail": "no digest after this one, though log files were "
                "delivered and other regions' digests go on (digests "
                "deleted?)",
            }
        )
    if insight_uncovered:
        notes.append(f"{insight_uncovered:,} Insights file(s) listed in no digest (not checked)")
    if state.other:
        notes.append(
            f"{state.other:,} file(s) outside the S3 delivery layout (AWSLogs/...): "
            "no digest can cover them"
        )

    for d in state.digests:
        digest_rows.append(
            {
                "path": d.file.path,
                "account": d.file.account,
                "region": d.file.region,
                "trail": d.file.trail,
                "start": d.start,
                "end": d.end,
                "status": d.status,
                "reason": d.reason,
                "log_files": len((d.data or {}).get("logFiles") or []),
            }
        )
    return Verification.build(
        digest_rows,
        file_rows,
        break_rows,
        notes,
        total_bytes,
        signatures=len(sigs),
        public_keys=len(keys),
    )


def trail_roots(trail: Any) -> list[Path]:
    """The folders a loaded trail was read from: its local sources, and the folder holding
    ``AWSLogs/`` above each file it read (the S3 mirror for ``s3://`` loads)."""
    import polars as pl

    roots: list[Path] = []
    report = getattr(trail, "report", None)
    for source in getattr(report, "sources", None) or []:
        if not str(source).startswith("s3://") and Path(source).exists():
            roots.append(Path(source))
    files = trail.lazy.select(pl.col("source_file").cast(pl.String).unique()).collect()
    for name in files.to_series().drop_nulls().to_list():
        norm = name.replace(os.sep, "/")
        at = norm.rfind("/AWSLogs/")
        if at >= 0:
            roots.append(Path(name[:at]))
    out: list[Path] = []
    for r in sorted(set(roots), key=lambda p: len(p.parts)):
        if not any(r == o or o in r.parents for o in out):
            out.append(r)
    return out


def verify_trail(trail: Any, **options: Any) -> Verification:
    """:func:`verify` over the folders ``trail`` was loaded from (see :func:`trail_roots`)."""
    roots = trail_roots(trail)
    if not roots:
        return Verification.build(
            [],
            [],
            [],
            [
                "this trail was not read from files in CloudTrail's S3 layout (AWSLogs/...): "
                "there are no digests to verify"
            ],
            0,
        )
    return verify(roots, **options)
