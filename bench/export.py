"""Benchmark: fx.export on the sample incident (events files, ticket of a trail and of a blast radius).

The sample trail (``fx.sample.write``) is written once under ``bench/data/export-<N>/``
(git-ignored) and loaded with the Parquet cache; later runs reuse both. Each figure is the median
of ``--runs`` runs; the ticket figures include rendering 2-3 charts to SVG and PNG and hashing
every input log file.

    .venv/bin/python bench/export.py [--events 60000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import forensics as fx
from forensics.export._charts import chart_bytes
from forensics.export._redact import redact_frame
from forensics.export._timeline import timeline_chart

DATA = Path(__file__).resolve().parent / "data"


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    folder = DATA / f"export-{args.events}"
    if not (folder / ".complete").exists():
        t0 = time.perf_counter()
        info = fx.sample.write(folder, events=args.events)
        (folder / ".complete").write_text(info.story["leaked_access_key_id"])
        print(f"  wrote the sample in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    leaked = (folder / ".complete").read_text().strip()
    t0 = time.perf_counter()
    trail = fx.load(folder / "AWSLogs", cache_dir=folder / ".cache")
    events = trail.events
    print(f"  loaded {events.height:,} events in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    blast = fx.blast_radius(trail, leaked)
    # start the vl-convert engine outside the timings
    chart_bytes(timeline_chart(events.head(10)), "svg")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cases = [
            ("redact_frame (all JSON columns)", events.height, lambda: redact_frame(events)),
            ("events -> CSV, ticket columns", events.height,
             lambda: fx.export.events(trail, out / "e.csv")),
            ("events -> CSV, all columns", events.height,
             lambda: fx.export.events(trail, out / "a.csv", columns="all")),
            ("events -> JSON lines, all columns", events.height,
             lambda: fx.export.events(trail, out / "a.jsonl", columns="all")),
            ("events -> Parquet, all columns", events.height,
             lambda: fx.export.events(trail, out / "a.parquet", columns="all")),
            ("events -> Markdown, 1,000 rows", 1_000,
             lambda: fx.export.events(events.head(1_000), out / "a.md")),
            ("ticket(blast radius of leaked key)", blast.events.height,
             lambda: fx.export.ticket(blast, out / "blast")),
            ("ticket(whole trail)", events.height, lambda: fx.export.ticket(trail, out / "all")),
        ]  # fmt: skip
        for name, n, fn in cases:
            rows.append((name, n, median_time(fn, args.runs)))
        inputs = len({p.name for p in (out / "all").iterdir()})

    print(f"\nfx.export on the sample ({events.height:,} events, median of {args.runs} runs)\n")
    print(f"| {'what':<36} | {'events':>9} | {'seconds':>8} | {'events/s':>10} |")
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 10}|{'-' * 12}|")
    for name, n, seconds in rows:
        print(f"| {name:<36} | {n:>9,} | {seconds:>8.2f} | {n / seconds:>10,.0f} |")
    print(f"\n(ticket of the whole trail wrote {inputs} files)")


if __name__ == "__main__":
    main()
