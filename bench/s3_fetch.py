"""S3 source benchmark: requests and time to fetch a window, cold and from the mirror.

    python bench/s3_fetch.py [--events 20000] [--days 3] [--workers 8]

Writes a sample organisation trail (``fx.sample``), uploads it to a moto S3 server on
127.0.0.1 (in-process, real HTTP), then measures :func:`forensics.sources._s3.fetch` for the
whole trail and for a one-day, one-region window: list requests, objects downloaded, wall time,
cold and warm (second fetch, served by the local mirror). Compared with listing the whole bucket.
Numbers are for loopback to moto (no network latency); nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import forensics as fx


class Counter:
    """WSGI middleware counting list and get requests."""

    def __init__(self, app):
        self.app = app
        self.lists = 0
        self.gets = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET":
            q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            with self.lock:
                if "list-type" in q:
                    self.lists += 1
                elif environ.get("PATH_INFO", "").count("/") > 1:
                    self.gets += 1
        return self.app(environ, start_response)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()
    try:
        import boto3
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError:
        print("needs the dev extras (moto[server]); skipped")
        return 0
    import os

    from forensics.sources._s3 import fetch

    class Quiet(MotoRequestHandler):
        def log_request(self, *a, **k):
            pass

    counter = Counter(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, counter, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    tmp = Path(tempfile.mkdtemp(prefix="fx-s3-bench-"))
    info = fx.sample.write(tmp / "trail", events=args.events, days=args.days)
    files = [p for p in (tmp / "trail").rglob("*.json.gz")]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bench")
    began = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: s3.put_object(
                    Bucket="bench", Body=p.read_bytes(), Key=str(p.relative_to(tmp / "trail"))
                ),
                files,
            )
        )
    print(
        f"uploaded {len(files):,} objects ({sum(p.stat().st_size for p in files) / 1e6:.1f} MB)"
        f" in {time.perf_counter() - began:.1f} s",
        file=sys.stderr,
    )

    counter.lists = 0
    began = time.perf_counter()
    keys = sum(
        len(page.get("Contents", []))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench")
    )
    full_list = (counter.lists, time.perf_counter() - began)

    rows = []

    def measure(label, **kw):
        for run in ("cold", "warm"):
            counter.lists = counter.gets = 0
            t = time.perf_counter()
            paths = fetch(
                "s3://bench",
                cache_dir=tmp / label.replace(" ", "-"),
                progress=False,
                workers=args.workers,
                **kw,
            )
            rows.append(
                (label, run, counter.lists, counter.gets, len(paths), time.perf_counter() - t)
            )

    measure("whole trail")
    day0 = info.start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)
    measure("1 day, 1 region", start=day0, end=day0 + timedelta(days=1), regions=["us-east-1"])

    print(
        f"\nS3 fetch from moto on loopback: {args.events:,} events, {args.days} days, "
        f"{keys:,} keys (digests included), {args.workers} workers"
    )
    print(f"listing the whole bucket: {full_list[0]:,} list requests, {full_list[1]:.2f} s\n")
    print(f"| {'request':<16} | run  | list req | GETs  | files | wall (s) |")
    print(f"|{'-' * 18}|------|----------|-------|-------|----------|")
    for label, run, lists, gets, n, wall in rows:
        print(f"| {label:<16} | {run} | {lists:>8,} | {gets:>5,} | {n:>5,} | {wall:>8.2f} |")
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
