"""Shared benchmark helpers: the benchmark trail, isolated timed runs, medians, a table.

Every measurement runs in a fresh Python process so that its peak RSS is its own
(``VmHWM`` of that process, and the workers' own ``ru_maxrss``, reported separately).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "data"


def trail_dir(events: int, seed: int = 1) -> Path:
    """The benchmark trail (S3 layout, .json.gz), generated once by the kit's own generator."""
    out = DATA / f"trail-{events}-s{seed}"
    done = out / ".complete"
    if not done.exists():
        import forensics as fx

        print(f"generating {events:,} events into {out} ...", flush=True)
        began = time.perf_counter()
        fx.sample.write(out, events=events, seed=seed, overwrite=True)
        done.write_text(f"{time.perf_counter() - began:.1f}\n")
        print(f"  generated in {time.perf_counter() - began:.1f} s", flush=True)
    return out


def corpus_stats(root: Path) -> dict[str, float]:
    """Files, compressed bytes of the trail files (digests excluded)."""
    files = [p for p in root.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p)]
    return {"files": len(files), "gz_bytes": sum(p.stat().st_size for p in files)}


_RUNNER = r"""
import json, resource, sys, time
code = sys.argv[1]
ns = {}
setup, _, timed = code.partition("\n#--timed--\n")
exec(setup, ns)
t0 = time.perf_counter()
exec(timed, ns)
wall = time.perf_counter() - t0
ns.get("_cleanup", lambda: None)()  # untimed: e.g. a cache table finished in the background
# VmHWM: this process's own peak, cleanup included (ru_maxrss can carry the forking parent's
# peak over exec)
with open("/proc/self/status") as fh:
    self_kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("@@RESULT@@" + json.dumps({"wall": wall, "rss_mb": self_kb / 1024,
      "child_rss_mb": child_kb / 1024, "out": ns.get("RESULT")}))
"""


def run_isolated(code: str, *, timeout: float = 1800) -> dict:
    """Run ``setup \\n#--timed--\\n timed`` in a fresh interpreter; time only the second part."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    raise RuntimeError(f"benchmark child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def measure(name: str, code: str, runs: int) -> dict:
    """Median wall time and max peak RSS of ``runs`` isolated runs."""
    results = []
    for i in range(runs):
        r = run_isolated(code)
        if isinstance(r["out"], list):  # [result, workers' own peak RSS] from fx.load
            r["child_rss_mb"] = max(r["child_rss_mb"], r["out"][1])
        results.append(r)
        print(
            f"  {name} run {i + 1}/{runs}: {r['wall']:.2f} s, {r['rss_mb']:.0f} MB "
            f"(workers {r['child_rss_mb']:.0f} MB)",
            flush=True,
        )
    return {
        "name": name,
        "wall": statistics.median(r["wall"] for r in results),
        "walls": [r["wall"] for r in results],
        "rss_mb": max(r["rss_mb"] for r in results),
        "child_rss_mb": max(r["child_rss_mb"] for r in results),
        "out": results[-1]["out"],
    }


def table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return (
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"
        )

    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    )
