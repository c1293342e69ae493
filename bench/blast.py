"""Benchmark: resources, graph build and blast radius on a 1M-event trail (medians, printed table).

    .venv/bin/python bench/blast.py                    # synthetic 1M events (bench/_blast_synth.py)
    .venv/bin/python bench/blast.py --source sample    # forensics.sample's trail (1M), written
                                                       # once under bench/data/, then loaded
    .venv/bin/python bench/blast.py --events 200000 --repeat 5

Times are wall-clock and CPU (this process, all threads) medians of ``--repeat`` runs on a trail already loaded (``Trail`` over an
in-memory events table). "cold" blast radius includes ``credentials()`` (a new ``Trail`` each
run, so its cache is empty); "warm" reuses the trail, as a notebook does after the first call.
Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import forensics as fx  # noqa: E402
from forensics.graph import build_graph  # noqa: E402
from forensics.resources import event_resources  # noqa: E402


def _sample_events(events: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """forensics.sample's trail, written once under bench/data/ and loaded with fx.load."""
    import json

    out = HERE / "data" / f"sample-{events}"
    story_file = out / "story.json"
    if not story_file.exists():
        info = fx.sample.write(out, events=events, days=7, file_minutes=60)
        story_file.write_text(json.dumps(info.story, default=str))
    story = json.loads(story_file.read_text())
    return fx.load(str(out)).events, story


def _synth_events(events: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    from _blast_synth import LEAKED, synth_events

    return synth_events(events), {"leaked_access_key_id": LEAKED,
                                  "first_malicious_event_time": None}


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds (CPU: this process, all threads) of ``repeat`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        result = None  # free the previous result outside the timed region
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def _loadavg() -> str:
    try:
        import os

        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=("synth", "sample"), default="synth")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    events, story = (_sample_events if args.source == "sample" else _synth_events)(args.events)
    prepared = time.perf_counter() - t0
    seed = story["leaked_access_key_id"]
    since = story["first_malicious_event_time"]
    busy = (
        events.filter(pl.col("identity_type") == "AssumedRole")
        .group_by("principal").len().sort("len", descending=True)["principal"][0]
    )
    rows: list[tuple[str, float, float, str]] = []

    secs, cpu, res = _median(lambda: event_resources(fx.Trail(events)), args.repeat)
    rows.append(("event_resources (all events)", secs, cpu, f"{res.height:,} rows"))
    secs, cpu, g = _median(lambda: build_graph(fx.Trail(events), resources=res), args.repeat)
    rows.append(("build_graph (resources given)", secs, cpu,
                 f"{g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges"))
    del g
    secs, cpu, _ = _median(lambda: fx.Trail(events).credentials(), args.repeat)
    rows.append(("credentials() (issue 3, for reference)", secs, cpu, ""))
    secs, cpu, br = _median(lambda: fx.blast_radius(fx.Trail(events), seed, since=since),
                       args.repeat)
    rows.append(("blast_radius, leaked key, cold", secs, cpu, repr(br)))
    trail = fx.Trail(events)
    trail.credentials()
    secs, cpu, br = _median(lambda: fx.blast_radius(trail, seed, since=since), args.repeat)
    rows.append(("blast_radius, leaked key, warm", secs, cpu, repr(br)))
    secs, cpu, br = _median(lambda: fx.blast_radius(trail, busy), args.repeat)
    rows.append(("blast_radius, busiest role ARN, warm", secs, cpu, repr(br)))

    print(f"source={args.source} events={events.height:,} repeat={args.repeat} "
          f"(prepared in {prepared:.1f} s)")
    width = max(len(r[0]) for r in rows)
    print(f"load average at start: {_loadavg()}")
    print(f"{'step':<{width}}  {'wall s':>8}  {'cpu s':>8}  result")
    for name, secs, cpu, note in rows:
        print(f"{name:<{width}}  {secs:>8.3f}  {cpu:>8.3f}  {note}")


if __name__ == "__main__":
    main()
