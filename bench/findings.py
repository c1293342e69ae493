"""Findings and enrichment on the identity tables: what ``principals(findings=f)`` adds.

The 1M-event table of ``bench/identity.py`` (built once by its ``build``); the findings are
computed once, outside the timing, with every rule (SigmaHQ + Suzaku + the kit's: ~1.7M hits,
the worst case) and with the kit's rules alone. Each call is timed ``--runs`` times in the same
process; medians of wall and CPU seconds, and what the findings join adds to the plain call.

    .venv/bin/python bench/findings.py [--events 1000000] [--runs 5] [--rules ../shared/data/rules]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import polars as pl
from _common import REPO, table
from identity import DATA, build

import forensics as fx
from forensics._schema import EVENTS_SCHEMA
from forensics.detect import with_findings


def _timed(fn, runs: int) -> tuple[float, float, object]:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rules", type=Path, default=REPO.parent / "shared" / "data" / "rules")
    args = ap.parse_args()

    path = DATA / f"identity-{args.events}.parquet"
    if path.exists() and list(pl.read_parquet_schema(path)) != list(EVENTS_SCHEMA):
        print(f"{path.name} has an older events schema: rebuilding", file=sys.stderr)
        path.unlink()
    if not path.exists():
        print(f"building {path} (once) ...", file=sys.stderr)
        build(path, args.events)
    events = pl.read_parquet(path).cast(dict(EVENTS_SCHEMA))
    trail = fx.Trail(events)
    t0 = time.perf_counter()
    kit = fx.detect(trail)
    kit_s = time.perf_counter() - t0
    sets = {"kit rules": kit}
    if args.rules.exists():
        t0 = time.perf_counter()
        sets["all rules"] = fx.detect(trail, include_community=args.rules)
        print(f"fx.detect, all rules: {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    print(
        f"{events.height:,} events; findings: "
        + ", ".join(f"{name} {len(f):,} hits" for name, f in sets.items())
        + f" (kit rules in {kit_s:.2f} s)",
        file=sys.stderr,
    )

    rows = []

    def run(label: str, fn, base: float | None = None) -> float:
        wall, cpu, _ = _timed(fn, args.runs)
        added = "" if base is None else f"{wall - base:+.3f}"
        rows.append([label, f"{wall:.3f}", f"{cpu:.3f}", added])
        return wall

    p0 = run("principals()", trail.principals)
    for name, f in sets.items():
        run(f"principals(findings=f) [{name}]", lambda f=f: trail.principals(findings=f), p0)
    plain = trail.principals()
    for name, f in sets.items():  # the join alone, on the table principals() made
        run(f"  of which with_findings(table, f) [{name}]", lambda f=f: with_findings(plain, f))
    run("principals(enrich=True)", lambda: trail.principals(enrich=True), p0)
    a0 = run("actors()", trail.actors)
    for name, f in sets.items():
        run(f"actors(findings=f) [{name}]", lambda f=f: trail.actors(findings=f), a0)
    run("actors(enrich=True)", lambda: trail.actors(enrich=True), a0)
    t0 = run("charts.timeline()", lambda: fx.charts.timeline(trail, brush=False))
    run(
        "charts.timeline(findings=f) [kit rules]",
        lambda: fx.charts.timeline(trail, brush=False, findings=kit),
        t0,
    )
    print(table(rows, ["call", "median wall s", "median CPU s", "added wall s"]))


if __name__ == "__main__":
    main()
