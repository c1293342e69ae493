"""Sample generator benchmark: how fast ``fx.sample`` writes a trail, and what it writes.

    python bench/sample.py [--events 1000000] [--days 7] [--file-minutes 5] [--keep DIR]

Prints events/s for ``generate()`` alone (records in memory, one window at a time) and for
``write()`` (JSON + gzip + files + digests), the peak RSS of this process, the number of files,
the mean record size and the compressed size. One core; nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import forensics as fx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--file-minutes", type=int, default=5)
    ap.add_argument("--keep", help="write here and keep the trail (default: a temporary folder)")
    args = ap.parse_args()

    t = time.perf_counter()
    n = sum(
        len(b)
        for b in fx.sample.generate(args.events, days=args.days, file_minutes=args.file_minutes)
    )
    gen = time.perf_counter() - t

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fx-sample-"))
    try:
        t = time.perf_counter()
        info = fx.sample.write(
            out, events=args.events, days=args.days, file_minutes=args.file_minutes, overwrite=True
        )
        wrote = time.perf_counter() - t
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ["generate() (records only)", f"{n:,}", f"{gen:.1f} s", f"{n / gen:,.0f}"],
        [
            "write() (JSON, gzip, files, digests)",
            f"{info.events:,}",
            f"{wrote:.1f} s",
            f"{info.events / wrote:,.0f}",
        ],
    ]
    print(
        f"\nfx.sample, {args.events:,} events over {args.days} days, "
        f"{args.file_minutes}-minute files\n"
    )
    print("| step | events | wall | events/s |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(
        f"\nlog files {info.files:,}, digests {info.digests:,}, mean record "
        f"{info.mean_record_bytes:,.0f} B, {info.bytes_json / 1e6:,.0f} MB JSON, "
        f"{info.bytes_gz / 1e6:,.0f} MB gzipped, peak RSS {rss:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
