"""Scale benchmark: how each step grows from 1M to 10M events on one machine, same run.

    python bench/scale.py [--sizes 1000000,3000000,10000000] [--runs 1] [--skip-duckdb]
                          [--only-load]

For every size (trails generated once by the kit's own generator, kept in bench/data/), each
step runs in a fresh process and reports its wall time and peak RSS (the parent's ``VmHWM``,
and the worker processes' own peak for the load): the first load writing the Parquet cache,
DuckDB's best route over the same files (the baseline of the load ratio), re-opening the cache
(lazily: len, one day, a principal, a session key), ``principals()``,
``for_principal(derived=True)``, a blast radius, the
graph build, ``fx.detect`` when the installed kit has it, ``actors()``, ``credentials()``,
``resources()``, the baselines (``fx.insights``, ``fx.first_seen``), ``coverage()`` and a
ticket export of the blast radius. Then the growth slope per step:
the ratio of the largest size's time to the smallest's, against the ratio of the sizes
(linear growth: equal ratios).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure, table, trail_dir
from ingest import DUCKDB, FX_FIRST_CACHE

#: Re-opening never collects the whole table here: at 10M events that is ~9 GB (what a
#: bounded-memory trail exists to avoid); a day, a principal and a session key are what a
#: responder asks for.
_REOPEN = """
import forensics as fx
#--timed--
t = fx.load('{root}', cache_dir='{cache}')
{step}
"""
REOPEN_STEPS = {
    "re-open (lazy) + len": "RESULT = len(t)",
    "re-open + one day (.events)": ("RESULT = t.between('{day}', '{day_after}').events.height"),
    "re-open + principal filter": "RESULT = t.where(principal='{principal}').events.height",
    "re-open + session key filter": "RESULT = t.where(access_key_id='{session_key}').events.height",
}

_ANALYSIS = """
import forensics as fx
t = fx.load('{root}', cache_dir='{cache}')
#--timed--
{step}
"""

STEPS = {
    "principals()": "RESULT = t.principals().height",
    "for_principal(derived=True)": (
        "RESULT = len(t.for_principal('{principal}', derived=True).events)"
    ),
    "blast_radius(seed key)": "RESULT = len(fx.blast_radius(t, '{key}').events)",
    "graph()": "RESULT = t.graph().number_of_nodes()",
    "detect()": "RESULT = len(fx.detect(t))",
    "actors()": "RESULT = t.actors().height",
    "credentials()": "RESULT = t.credentials().height",
    "resources()": "RESULT = t.resources().height",
    "insights()": "RESULT = fx.insights(t).height",
    "first_seen()": "RESULT = fx.first_seen(t).height",
    "coverage()": "RESULT = t.coverage().delivery.height",
    # the ticket of a blast radius (the blast radius itself is the step above; subtract it)
    "blast_radius + ticket()": (
        "import tempfile\n"
        "RESULT = len(fx.export.ticket(fx.blast_radius(t, '{key}'), tempfile.mkdtemp()))"
    ),
}


def _probe(root: Path, cache: Path) -> dict[str, object]:
    """A busy principal and one of its access keys, a session key of median use, a day in the
    middle of the trail, and the number of events."""
    from datetime import timedelta

    import polars as pl

    import forensics as fx

    trail = fx.load(root, cache_dir=cache)
    top = (
        trail.lazy.filter(pl.col("access_key_id").str.starts_with("AKIA"))
        .group_by("principal", "access_key_id")
        .len()
        .sort("len", descending=True)
        .collect()
    )
    principal, key = top.row(min(3, top.height - 1))[:2]
    sessions = (
        trail.lazy.filter(pl.col("access_key_id").str.starts_with("ASIA"))
        .group_by("access_key_id")
        .len()
        .sort("len", "access_key_id")
        .collect()
    )
    session_key = sessions.row(sessions.height // 2)[0] if sessions.height else key
    lo, hi = trail.report.time_min, trail.report.time_max
    day = (lo + (hi - lo) / 2).date()
    return {
        "principal": principal,
        "key": key,
        "session_key": session_key,
        "n": len(trail),
        "day": day.isoformat(),
        "day_after": (day + timedelta(days=1)).isoformat(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,3000000,10000000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument(
        "--only-load",
        action="store_true",
        help="the load steps only (first load, DuckDB, re-open, principal filter)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    has_detect = importlib.util.find_spec("forensics.detect") is not None

    rows: list[list[str]] = []
    by_step: dict[str, dict[int, float]] = {}
    for size in sizes:
        root = trail_dir(size).resolve()
        cache = root.parent / f"{root.name}.scale-cache"
        shutil.rmtree(cache, ignore_errors=True)
        fmt = {"root": str(root), "cache": str(cache)}
        results = [
            measure(f"{size:,}: first load, writes cache", FX_FIRST_CACHE.format(**fmt), args.runs)
        ]
        if not args.skip_duckdb:
            results.append(
                measure(
                    f"{size:,}: DuckDB best route", DUCKDB.replace("{root}", str(root)), args.runs
                )
            )
        probe = _probe(root, cache)
        n = probe.pop("n")
        fmt.update({k: str(v) for k, v in probe.items()})
        for name, step in REOPEN_STEPS.items():
            code = _REOPEN.format(**fmt, step=step.format(**fmt))
            results.append(measure(f"{size:,}: {name}", code, args.runs))
        for name, step in STEPS.items():
            if args.only_load:
                break
            if name == "detect()" and not has_detect:
                continue
            code = _ANALYSIS.format(**fmt, step=step.format(**fmt))
            results.append(measure(f"{size:,}: {name}", code, args.runs))
        duck = next((r["wall"] for r in results if "DuckDB" in r["name"]), None)
        for r in results:
            step = r["name"].split(": ", 1)[1]
            by_step.setdefault(step, {})[size] = r["wall"]
            ratio = f"{r['wall'] / duck:.2f}" if duck and "first load" in step else ""
            rows.append(
                [
                    f"{n:,}",
                    step,
                    f"{r['wall']:.2f}",
                    f"{r['rss_mb'] / 1024:.2f}",
                    f"{r['child_rss_mb'] / 1024:.2f}",
                    ratio,
                ]
            )
    print()
    print(table(rows, ["events", "step", "wall s", "peak RSS GB", "workers GB", "vs DuckDB"]))
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        print(f"\ngrowth from {lo:,} to {hi:,} events (sizes x{hi / lo:.1f}; linear = same):")
        growth = [
            [step, f"x{walls[hi] / walls[lo]:.1f}"]
            for step, walls in by_step.items()
            if lo in walls and hi in walls and walls[lo] > 0
        ]
        print(table(growth, ["step", "time ratio"]))


if __name__ == "__main__":
    main()
