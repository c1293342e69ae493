"""Widget redraw latency on a million events: how long a filter change takes in the kernel.

Builds a synthetic 1M-event trail (polars, in memory), opens ``fx.ui.explore`` and changes one
filter at a time, timing the kernel side of each redraw (filter, timeline aggregation, chart
spec, table page) as ``Explorer.last_redraw_ms`` records it. The browser then draws the chart
from the spec (Vega, SVG renderer). Also times ``fx.ui.blast_radius`` re-runs on the sample.

Run: ``.venv/bin/python bench/ui.py [events]`` (default 1,000,000). Prints a table; the target
is a redraw under 300 ms. Never asserts.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synth import PRINCIPALS, synthetic_events

import forensics as fx


def main(n: int = 1_000_000, repeats: int = 5) -> None:
    started = time.perf_counter()
    trail = fx.Trail(synthetic_events(n))
    build = time.perf_counter() - started
    started = time.perf_counter()
    ui = fx.ui.explore(trail)
    first = time.perf_counter() - started
    busiest = trail.events.get_column("principal").value_counts(sort=True).item(0, "principal")
    steps = [
        ("principal (busiest)", ui.principal, busiest),
        ("principal (quiet)", ui.principal, PRINCIPALS[-1]),
        ("principal: all", ui.principal, ""),
        ("service = iam", ui.service, "iam.amazonaws.com"),
        ("errors: denied", ui.error, "denied"),
        ("event name ~ 'describe'", ui.event_name, "describe"),
        ("since 2024-03-04", ui.since, "2024-03-04T00:00:00Z"),
        ("until 2024-03-05", ui.until, "2024-03-05T00:00:00Z"),
        ("split by region", ui.by, "aws_region"),
        ("clear all filters", None, None),
    ]
    neutral = {id(ui.error): "all", id(ui.by): "auto"}
    for w in (ui.principal, ui.service, ui.event_name, ui.since, ui.until):
        neutral[id(w)] = ""
    rows = []
    for label, widget, value in steps:
        times = []
        for r in range(repeats):
            if widget is None:
                for w, v in ((ui.since, ""), (ui.until, ""), (ui.event_name, ""),
                             (ui.error, "all"), (ui.service, ""), (ui.by, "auto")):
                    w.value = v
                ui.refresh()
            else:
                # alternate with a neutral value so each repeat is a real change
                if r and widget.value == value:
                    widget.value = neutral[id(widget)]
                widget.value = value
            times.append(ui.last_redraw_ms)
        rows.append((label, ui.filtered.height, statistics.median(times), max(times)))

    print(f"fx.ui.explore on {n:,} synthetic events (build {build:.2f} s, "
          f"first draw incl. imports {first:.2f} s)")
    print(f"{'filter change':<26} {'events shown':>13} {'median ms':>10} {'max ms':>8}")
    for label, height, median, worst in rows:
        print(f"{label:<26} {height:>13,} {median:>10.0f} {worst:>8.0f}")

    with tempfile.TemporaryDirectory() as tmp:
        info = fx.sample.write(tmp, events=60_000, days=7)
        sample = fx.load(tmp, cache=False)
        seed = info.story["leaked_access_key_id"]
        blast = fx.ui.blast_radius(sample, seed)
        times = []
        for other in (info.story["compromised_user_arn"], seed) * 2:
            blast.seed.value = other
            times.append(blast.last_run_ms)
        print(f"\nfx.ui.blast_radius on the 60,000-event sample: re-run for a new seed "
              f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
              "(blast radius computation + tables + charts)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
