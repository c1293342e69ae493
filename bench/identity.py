"""Benchmark: principals(), credentials(), lineage(), for_principal(derived=True), actors(),
sessions() and for_principal(<actor>, derived=True) at 1M events.

The trail is the deterministic sample (``forensics.sample.generate``), normalised once and kept as
Parquet under ``bench/data/`` (git-ignored); later runs reuse it. Each figure is the median of
several runs on a fresh ``Trail`` (wall time, and CPU time summed over threads, which a
busy machine disturbs less) (so no cached result is reused), after the table is in memory
("after load"), plus the same over a lazy Parquet scan for the filter.

    .venv/bin/python bench/identity.py [--events 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import polars as pl

import forensics as fx
from forensics._schema import EVENTS_SCHEMA
from forensics.ingest._normalize import normalize_records

#: Days of activity in the generated trail.
DAYS = 7
DATA = Path(__file__).resolve().parent / "data"


def build(path: Path, events: int) -> None:
    """Generate the sample trail, normalise it, write one sorted Parquet file."""
    t0 = time.perf_counter()
    frames, chunk, parts = [], [], 0
    for i, batch in enumerate(fx.sample.generate(events, days=DAYS)):
        chunk.append(normalize_records(batch, f"sample-{i:05d}.json"))
        if sum(f.height for f in chunk) >= 100_000:
            frames.append(pl.concat(chunk))
            chunk = []
            parts += 1
            print(f"  normalised {sum(f.height for f in frames):,} events", file=sys.stderr)
    if chunk:
        frames.append(pl.concat(chunk))
    table = pl.concat(frames).sort("event_time")
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(path, compression="zstd")
    print(
        f"  wrote {path.name}: {table.height:,} events in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )


def median_time(fn, runs: int) -> tuple[float, float, object]:
    """Median wall time, median CPU time (all threads; steadier on a busy machine), result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    path = DATA / f"identity-{args.events}.parquet"
    if path.exists() and pl.read_parquet_schema(path) != dict(EVENTS_SCHEMA):
        if list(pl.read_parquet_schema(path)) == list(EVENTS_SCHEMA):  # only dtypes differ
            pl.read_parquet(path).cast(dict(EVENTS_SCHEMA)).write_parquet(path, compression="zstd")
        else:
            print(f"{path.name} has an older events schema: rebuilding", file=sys.stderr)
            path.unlink()
    if not path.exists():
        print(f"building {path} (once) ...", file=sys.stderr)
        build(path, args.events)
    t0 = time.perf_counter()
    events = pl.read_parquet(path)
    load = time.perf_counter() - t0

    def fresh() -> fx.Trail:
        return fx.Trail(events)

    # The seed: the origin of the longest credential chain (the sample's leaked key's owner).
    creds = fx.identity.credentials(fresh())
    parent = {
        k: p or c
        for k, p, c in creds.select(
            "access_key_id", "parent_access_key_id", "created_by_access_key_id"
        ).iter_rows()
        if p or c
    }

    def depth(key: str) -> int:
        seen = {key}
        while key in parent and parent[key] not in seen:
            key = parent[key]
            seen.add(key)
        return len(seen)

    deepest = max(parent, key=depth)
    origin = fx.identity.lineage(fresh(), deepest).chain.row(0, named=True)
    who = origin["principal"]

    rows = []
    t, cpu, p = median_time(lambda: fx.identity.principals(fresh()), args.runs)
    rows.append(("principals()", t, cpu, f"{p.height:,} principals"))
    t, cpu, c = median_time(lambda: fx.identity.credentials(fresh()), args.runs)
    rows.append(("credentials()", t, cpu, f"{c.height:,} keys"))
    t, cpu, lin = median_time(
        lambda: fx.identity.lineage(fresh(), origin["access_key_id"]), args.runs
    )
    rows.append(("lineage(key) (incl. credentials)", t, cpu, f"{lin.tree.height} beneath"))
    t, cpu, sel = median_time(
        lambda: len(fx.identity.for_principal(fresh(), who, derived=True)), args.runs
    )
    rows.append(("for_principal(derived=True) + count", t, cpu, f"{sel:,} events"))

    lazy_trail = lambda: fx.Trail(pl.scan_parquet(path))  # noqa: E731
    t, cpu, sel2 = median_time(
        lambda: len(fx.identity.for_principal(lazy_trail(), who, derived=True)), args.runs
    )
    rows.append(("  same over a lazy Parquet scan", t, cpu, f"{sel2:,} events"))

    t, cpu, a = median_time(lambda: fx.identity.actors(fresh()), args.runs)
    rows.append(("actors()", t, cpu, f"{a.height:,} actors"))
    t, cpu, s = median_time(lambda: fx.identity.sessions(fresh()), args.runs)
    rows.append(("sessions()", t, cpu, f"{s.height:,} sessions"))
    # the busiest person reached through federation (a SAML / Identity Center subject)
    people = a.filter(pl.col("kind").is_in(["saml", "identitycenter", "webidentity"]))
    person = (people if people.height else a).sort("events", descending=True)["actor"][0]
    t, cpu, sel3 = median_time(
        lambda: len(fx.identity.for_principal(fresh(), person, derived=True)), args.runs
    )
    rows.append(("for_principal(actor, derived=True)", t, cpu, f"{sel3:,} events"))

    print(
        f"\nidentity benchmark: {events.height:,} events ({path.name}), "
        f"median of {args.runs} runs, read_parquet {load:.2f} s"
    )
    print(f"seed principal: {who}")
    print(f"seed actor: {person}")
    print(f"{'operation':<40} {'wall s':>8} {'cpu s':>8}  result")
    print("-" * 78)
    for name, secs, cpu, note in rows:
        print(f"{name:<40} {secs:>8.3f} {cpu:>8.3f}  {note}")


if __name__ == "__main__":
    main()
