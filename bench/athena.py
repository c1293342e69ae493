"""Benchmark: DuckDB standing in for Athena over the 1M-event trail laid out as 90 days.

    .venv/bin/python bench/athena.py                          # 1M events, 90 days
    .venv/bin/python bench/athena.py --events 50000 --days 10 # while developing

Runs the query the kit sends to Athena (sqlglot, transpiled to DuckDB) over the trail's files
with partition projection mirrored (only the partitions the query names are opened), and
reports:

* a one-day, one-account query: the files it opens against the trail's total (what partition
  projection saves), its bytes "scanned" (compressed bytes of those files), rows, and seconds;
  the same events as ``fx.load`` of the files with the same filters;
* the iterative blast radius of the sample incident's leaked key over a one-week window: the
  rounds (keys, events, bytes scanned per round), and whether it equals the local blast radius
  of ``fx.load`` with the same window.

Nothing is asserted in a test: this prints figures (medians of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import forensics as fx  # noqa: E402
from forensics import athena  # noqa: E402
from forensics.ingest.athena._query import Filters, build  # noqa: E402
from forensics.ingest.athena._rows import to_events  # noqa: E402


def trail(events: int, days: int) -> tuple[Path, dict]:
    out = HERE / "data" / f"athena-{events}-{days}d"
    story = out / "story.json"
    if not story.exists():
        print(f"generating {events:,} events over {days} days into {out} ...", flush=True)
        began = time.perf_counter()
        info = fx.sample.write(out, events=events, days=days, file_minutes=60, overwrite=True)
        story.write_text(json.dumps(info.story, default=str))
        print(f"  generated in {time.perf_counter() - began:.1f} s", flush=True)
    return out, json.loads(story.read_text())


def _norm(df: pl.DataFrame) -> pl.DataFrame:
    return (
        df.drop("source_index")
        .with_columns(pl.col("source_file").cast(pl.String))
        .sort("event_id", "source_file")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root, story = trail(args.events, args.days)
    engine = athena.DuckDBEngine(root)
    total_files = len(engine.files)
    total_bytes = sum(s for _, s in engine.files)
    print(
        f"trail: {args.events:,} events, {args.days} days, {total_files:,} log files, "
        f"{total_bytes / 1e6:,.1f} MB compressed"
    )

    # 1. one day, one account
    day = story["first_malicious_event_time"][:10]
    start = f"{day}T00:00:00Z"
    end = (
        pl.Series([day]).str.to_date().dt.offset_by("1d").dt.strftime("%Y-%m-%d")[0] + "T00:00:00Z"
    )
    account = "222233334444"
    f = Filters.of(start=start, end=end, accounts=[account])
    q = build(engine.table, filters=f)
    times, ran = [], None
    for _ in range(args.repeat):
        began = time.perf_counter()
        ran = engine.run(q, f)
        times.append(time.perf_counter() - began)
    assert ran is not None
    events = to_events(ran.rows, f)
    local = fx.load(root, start=start, end=end, accounts=[account], cache=False).events
    same = _norm(local).equals(_norm(events))
    print(f"\none day ({day}), one account ({account}):")
    print(
        f"  files opened: {ran.files:,} of {total_files:,} "
        f"({ran.files / total_files:.2%}; the day and its two neighbours, every region)"
    )
    print(
        f"  bytes scanned: {ran.bytes_scanned:,} of {total_bytes:,} "
        f"({ran.bytes_scanned / total_bytes:.2%})"
    )
    print(
        f"  rows: {ran.rows.height:,} -> events {events.height:,}; "
        f"median {statistics.median(times):.2f} s ({args.repeat} runs); "
        f"equal to fx.load + filters: {same}"
    )

    # 2. the iterative blast radius of the leaked key, one-week window
    seed, since = story["leaked_access_key_id"], story["first_malicious_event_time"]
    wstart = story["first_malicious_event_time"][:10]
    window = {
        "start": f"{wstart}T00:00:00Z",
        "end": (
            pl.Series([wstart]).str.to_date().dt.offset_by("7d").dt.strftime("%Y-%m-%d")[0]
            + "T00:00:00Z"
        ),
    }
    began = time.perf_counter()
    src = athena.Source(
        "athena://forensics.cloudtrail", engine=athena.DuckDBEngine(root), progress=True, **window
    )
    remote = fx.blast_radius(src, seed, since=since)
    remote_s = time.perf_counter() - began
    began = time.perf_counter()
    here_trail = fx.load(root, cache=False, **window)
    here = fx.blast_radius(here_trail, seed, since=since)
    local_s = time.perf_counter() - began
    equal = _norm(here.events).equals(_norm(remote.events)) and here.credentials.sort(
        "access_key_id"
    ).equals(remote.credentials.sort("access_key_id"))
    scanned = sum(r.bytes_scanned for r in src.rounds)
    print(f"\nblast radius of {seed} since {since}, window {window['start']} .. {window['end']}:")
    for r in src.rounds:
        print(
            f"  round {r.number}: +{r.keys} keys, +{r.principals} identities, +{r.shared} "
            f"shared ids -> +{r.events:,} events, {r.bytes_scanned:,} bytes scanned, "
            f"closure {r.closure_keys} keys"
        )
    print(
        f"  rounds: {len(src.rounds)}, bytes scanned in all: {scanned:,}; "
        f"events fetched: {sum(r.events for r in src.rounds):,} "
        f"of {len(here_trail):,} in the window"
    )
    print(
        f"  credentials: {remote.credentials.height} (ground truth "
        f"{len(story['closure_access_key_ids'])}), events {remote.events.height:,}; "
        f"equal to the local blast radius: {equal}"
    )
    print(
        f"  seconds: rounds {remote_s:.1f} (DuckDB reads the window's files each round), "
        f"local load + blast radius {local_s:.1f}"
    )


if __name__ == "__main__":
    main()
