"""Benchmark: verifying 30k log files / 720 digests, against ``sha256sum`` on the same files.

    .venv/bin/python bench/verify.py                         # 30 chains x 24 h = 720 digests,
                                                             # 30,240 log files (written once)
    .venv/bin/python bench/verify.py --files-per-hour 10 --hours 6 --repeat 3   # quick

The trail is written once under ``bench/data/verify-<...>/`` in CloudTrail's S3 layout, digests
signed (the sample's demo key) and chained, signatures and public key beside the files.
Measured in the same run, medians of ``--repeat`` runs, page cache warm for all of them:

* ``fx.verify``: the whole verification (walk, 720 RSA signatures, chain, every log file
  gunzipped and SHA-256 hashed as AWS defines ``hashValue``: over the uncompressed content);
* ``sha256sum``: coreutils over the same log files as stored (compressed bytes), batched by
  ``xargs`` -- the "just hash the files" floor, which does less work than validation requires;
* ``python floor``: one thread reading, gunzipping and hashing each file (no walk, no digests):
  the work validation cannot avoid.

MB/s are over the compressed bytes on disk (and the uncompressed bytes, for the hashing that
validation does). Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import forensics as fx  # noqa: E402
from forensics.integrity._files import inflate  # noqa: E402
from forensics.sample._signing import SampleSigner  # noqa: E402

START = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
BUCKET = "bench-org-trail"


def _record(rng: random.Random, account: str, region: str, when: datetime) -> dict:
    key = f"AKIA{rng.getrandbits(64):016X}"
    return {
        "eventVersion": "1.09",
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": rng.choice(
            ["DescribeInstances", "DescribeVolumes", "RunInstances", "CreateTags"]
        ),
        "awsRegion": region,
        "sourceIPAddress": f"198.51.100.{rng.randrange(256)}",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023",
        "requestParameters": {
            "instancesSet": {"items": [{"instanceId": f"i-{rng.getrandbits(64):016x}"}]},
            "filterSet": {},
            "maxResults": 1000,
        },
        "responseElements": None,
        "requestID": f"{rng.getrandbits(128):032x}",
        "eventID": f"{rng.getrandbits(128):032x}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"ec2.{region}.amazonaws.com",
        },
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{rng.getrandbits(64):016X}",
            "arn": f"arn:aws:iam::{account}:user/u{rng.randrange(50)}",
            "accountId": account,
            "accessKeyId": key,
            "userName": "u",
        },
    }


def write_trail(
    root: Path, *, accounts: int, regions: int, hours: int, files_per_hour: int, records: int
) -> tuple[int, int]:
    """Write the benchmark trail; returns (log files, digests)."""
    rng = random.Random(18)
    signer = SampleSigner()
    accs = [f"{100000000000 + i * 111111111:012d}" for i in range(accounts)]
    regs = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-2",
        "sa-east-1",
        "ca-central-1",
        "ap-northeast-1",
    ][:regions]
    logs = digests = 0
    prev: dict[tuple[str, str], tuple[str, str, str]] = {}
    for h in range(hours):
        hour = START + timedelta(hours=h)
        end = hour + timedelta(hours=1)
        for account in accs:
            for region in regs:
                base = f"AWSLogs/o-bench0001/{account}"
                listed = []
                for i in range(files_per_hour):
                    when = hour + timedelta(seconds=(i + 1) * 3600 // (files_per_hour + 1))
                    recs = [
                        _record(rng, account, region, when - timedelta(seconds=j))
                        for j in range(records)
                    ]
                    body = json.dumps({"Records": recs}).encode()
                    key = (
                        f"{base}/CloudTrail/{region}/{when:%Y/%m/%d}/{account}_CloudTrail_"
                        f"{region}_{when:%Y%m%dT%H%MZ}_{rng.getrandbits(64):016X}.json.gz"
                    )
                    path = root / key
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
                    listed.append(
                        {
                            "s3Bucket": BUCKET,
                            "s3Object": key,
                            "hashValue": hashlib.sha256(body).hexdigest(),
                            "hashAlgorithm": "SHA-256",
                            "newestEventTime": recs[0]["eventTime"],
                            "oldestEventTime": recs[-1]["eventTime"],
                        }
                    )
                    logs += 1
                p = prev.get((account, region))
                dkey = (
                    f"{base}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{account}_CloudTrail-"
                    f"Digest_{region}_bench_us-east-1_{end:%Y%m%dT%H%M%SZ}.json.gz"
                )
                digest = {
                    "awsAccountId": account,
                    "digestStartTime": f"{hour:%Y-%m-%dT%H:%M:%SZ}",
                    "digestEndTime": f"{end:%Y-%m-%dT%H:%M:%SZ}",
                    "digestS3Bucket": BUCKET,
                    "digestS3Object": dkey,
                    "digestPublicKeyFingerprint": signer.fingerprint,
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "previousDigestS3Bucket": BUCKET if p else None,
                    "previousDigestS3Object": p[0] if p else None,
                    "previousDigestHashValue": p[1] if p else None,
                    "previousDigestHashAlgorithm": "SHA-256" if p else None,
                    "previousDigestSignature": p[2] if p else None,
                    "logFiles": listed,
                }
                body = json.dumps(digest).encode()
                sig = signer.sign(digest, body)
                path = root / dkey
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(gzip.compress(body, mtime=0))
                prev[(account, region)] = (dkey, hashlib.sha256(body).hexdigest(), sig)
                digests += 1
    signer.write_sidecars(root, valid_from="2026-05-01T00:00:00Z", valid_to="2026-06-01T00:00:00Z")
    return logs, digests


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _median(fn, repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``repeat`` runs (CPU: the fair figure on a shared
    machine, where wall time also counts the other processes' turns)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        result = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus), result


def _sha256sum(files: list[str]) -> None:
    subprocess.run(
        ["xargs", "-0", "sha256sum"],
        input=b"\0".join(f.encode() for f in files),
        stdout=subprocess.DEVNULL,
        check=True,
    )


def _python_floor(files: list[str]) -> int:
    raw = 0
    for f in files:
        with open(f, "rb") as fh:
            data = inflate(fh.read())
        hashlib.sha256(data).hexdigest()
        raw += len(data)
    return raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=5)
    ap.add_argument("--regions", type=int, default=6)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--files-per-hour", type=int, default=42)
    ap.add_argument("--records", type=int, default=25, help="records per log file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    if shutil.which("sha256sum") is None or shutil.which("xargs") is None:
        print("needs sha256sum and xargs (coreutils, findutils)", file=sys.stderr)
        return 2

    name = (
        f"verify-{args.accounts}x{args.regions}x{args.hours}x{args.files_per_hour}x{args.records}"
    )
    root = HERE / "data" / name
    done = root / ".complete"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        logs, digests = write_trail(
            root,
            accounts=args.accounts,
            regions=args.regions,
            hours=args.hours,
            files_per_hour=args.files_per_hour,
            records=args.records,
        )
        done.write_text(f"{logs} {digests}\n")
        print(
            f"wrote {logs:,} log files and {digests:,} digests under {root} "
            f"({time.perf_counter() - t:.0f} s)"
        )
    files = sorted(
        str(p) for p in (root / "AWSLogs").rglob("*.json.gz") if "/CloudTrail/" in p.as_posix()
    )
    compressed = sum(os.path.getsize(f) for f in files)

    _sha256sum(files)  # warm the page cache
    verify_s, verify_c, result = _median(lambda: fx.verify(root, workers=args.workers), args.repeat)
    sum_s, sum_c, _ = _median(lambda: _sha256sum(files), args.repeat)
    floor_s, floor_c, raw = _median(lambda: _python_floor(files), args.repeat)
    assert result.verdict == "valid", result.summary()

    mb, raw_mb = compressed / 1e6, raw / 1e6
    print(
        f"\n{len(files):,} log files ({mb:,.1f} MB gzipped, {raw_mb:,.1f} MB uncompressed), "
        f"{result.digests.height:,} digests; {os.cpu_count()} CPU(s), load average "
        f"{os.getloadavg()[0]:.1f}; medians of {args.repeat} runs\n"
    )
    print(
        "| step | wall | CPU | MB/s gzipped (per CPU s) | MB/s uncompressed (per CPU s) "
        "| CPU vs sha256sum |"
    )
    print("|---|---|---|---|---|---|")
    for label, sec, cpu, uncompressed in [
        ("`fx.verify` (verdict: " + result.verdict + ")", verify_s, verify_c, True),
        ("python floor: read + gunzip + SHA-256, 1 thread", floor_s, floor_c, True),
        ("`sha256sum` of the gzipped files (less work)", sum_s, sum_c, False),
    ]:
        print(
            f"| {label} | {sec:.2f} s | {cpu:.2f} s | {mb / sec:,.0f} ({mb / cpu:,.0f}) | "
            + (f"{raw_mb / sec:,.0f} ({raw_mb / cpu:,.0f})" if uncompressed else "-")
            + f" | {cpu / sum_c:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
