"""Benchmark: every SigmaHQ + Suzaku + shipped rule over the 1M-event trail, against alternatives.

Three ways to run the same rules over the same events, in the same run:

* ``fx.detect``: the kit's engine (rules batched by event name, one parallel ``select`` per
  batch, JSON paths only on the rows the cheap predicates kept), building the ``Findings``;
* **pySigma's SQLite backend** (``pySigma-backend-sqlite``, SigmaHQ's own): each rule converted
  to SQL and run on SQLite over the same events (a ``logs`` view whose columns are the Sigma field
  names, JSON paths through ``json_extract``; text columns ``COLLATE NOCASE`` as Sigma matching
  is case-insensitive, with an index on ``eventName`` and ``eventSource`` that the backend's
  equality predicates use). Its correlations need its own ingest pipeline and are not run;
* **naive Polars**: the same compiled expressions, one ``filter`` per rule over the whole table.

The trail is generated once by the kit's generator (``bench/_common.trail_dir``, the same one as
``bench/ingest.py``) and loaded through the Parquet cache; rule loading (YAML + pySigma) is timed
separately, once. Reported: the median of ``--runs`` runs for ``fx.detect`` and the naive
filters, one run for SQLite (its set-up, loading 1M rows into SQLite, is not timed).

    .venv/bin/python bench/detect.py [--events 1000000] [--runs 3] [--rules ../shared/data/rules]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import polars as pl
from _common import REPO, table, trail_dir

import forensics as fx
from forensics.detect import load_rules
from forensics.detect._fields import COLUMN_FIELDS, DERIVED_FIELDS, JSON_FIELDS


def _timed(fn, runs: int) -> tuple[float, list[float], object]:
    walls, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), walls, out


def _sigma_fields(paths: list[Path]) -> tuple[list, set[str]]:
    """The SigmaRule objects of every file (detections only) and every field they name."""
    import yaml
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule
    from sigma.types import SigmaFieldReference

    rules, fields = [], set()
    for path in paths:
        for d in yaml.load_all(
            path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        ):
            if not isinstance(d, dict) or "correlation" in d:
                continue
            try:
                rule = SigmaCollection.from_dicts([d]).rules[0]
            except Exception:
                continue
            if not isinstance(rule, SigmaRule):
                continue
            rules.append(rule)
            for det in rule.detection.detections.values():
                stack = list(det.detection_items)
                while stack:
                    item = stack.pop()
                    if hasattr(item, "detection_items"):
                        stack.extend(item.detection_items)
                    elif item.field:
                        fields.add(item.field)
                        fields.update(
                            v.field for v in item.value if isinstance(v, SigmaFieldReference)
                        )
    return rules, fields


def _sqlite(frame: pl.DataFrame, fields: set[str]) -> sqlite3.Connection:
    """The events in SQLite, and a ``logs`` view naming them as the rules do."""
    con = sqlite3.connect(":memory:")
    con.create_function(
        "regexp", 2, lambda p, s: s is not None and re.search(p, s) is not None, deterministic=True
    )
    text_cols = [c for c, t in frame.schema.items() if t == pl.String]
    bool_cols = [c for c, t in frame.schema.items() if t == pl.Boolean]
    cols = [*text_cols, *bool_cols]
    con.execute(
        "CREATE TABLE events ("
        + ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in text_cols)
        + "".join(f', "{c}" INTEGER' for c in bool_cols)
        + ")"
    )
    data = frame.select(cols).with_columns(pl.col(bool_cols).cast(pl.Int8))
    con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(cols))})", data.iter_rows())
    con.execute("CREATE INDEX by_name ON events (event_name COLLATE NOCASE, event_source)")
    select = []
    for f in sorted(fields):
        col = COLUMN_FIELDS.get(f)
        head, _, rest = f.partition(".")
        if col in cols:
            expr = f'"{col}"'
        elif f in DERIVED_FIELDS:
            expr = "NULL"  # derived in Polars; no rule in the sets reads these
        elif head in JSON_FIELDS:
            src = JSON_FIELDS[head]
            expr = f'"{src}"' if not rest else f"json_extract(\"{src}\", '$.{rest}')"
        else:
            expr = "NULL"
        select.append(f'{expr} AS "{f}"')
    con.execute(f"CREATE VIEW logs AS SELECT event_id AS eventID, {', '.join(select)} FROM events")
    return con


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rules", type=Path, default=REPO.parent / "shared" / "data" / "rules")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument(
        "--naive", action="store_true", help="also time one filter per rule (slow: minutes at 1M)"
    )
    args = ap.parse_args()

    root = trail_dir(args.events)
    frame = fx.load(root).events  # through the Parquet cache (written on the first run)
    print(f"trail: {root} — {frame.height:,} events", flush=True)

    t0 = time.perf_counter()
    rules = load_rules([args.rules])
    load_s = time.perf_counter() - t0
    n_det = sum(1 for r in rules if r.plan is not None)
    n_corr = sum(1 for r in rules if r.correlation is not None)
    print(
        f"rules: {len(rules)} loaded ({n_det} detections, {n_corr} correlations), "
        f"{len(rules.problems)} reported, in {load_s:.2f} s",
        flush=True,
    )

    fx.detect(frame.head(1000), rules)  # warm-up: imports, regex compilation caches
    from forensics.detect._engine import match_rows

    mmed, _, _ = _timed(lambda: match_rows(frame, rules), args.runs)
    print(f"matching only (no findings table): {mmed:.2f} s", flush=True)
    cpu0 = time.process_time()
    med, walls, found = _timed(lambda: fx.detect(frame, rules), args.runs)
    cpu = (time.process_time() - cpu0) / args.runs
    print(
        f"fx.detect: {', '.join(f'{w:.2f}' for w in walls)} s; {len(found):,} findings", flush=True
    )
    rows = [
        [
            f"fx.detect (all rules, Findings built; CPU {cpu:.1f} s)",
            f"{med:.2f} s",
            f"{frame.height / med / 1e6:.2f}M",
            f"{n_det} + {n_corr} corr.",
            f"{len(found):,}",
            "1.0",
        ],
        [
            "fx.detect: matching only (no findings table)",
            f"{mmed:.2f} s",
            f"{frame.height / mmed / 1e6:.2f}M",
            f"{n_det} + {n_corr} corr.",
            "",
            f"{mmed / med:.2f}",
        ],
    ]

    naive_s = None
    if args.naive:
        plans = [r.plan for r in rules if r.plan is not None]

        def naive() -> int:
            return sum(frame.filter(p.expr).height for p in plans)

        naive_s, nwalls, nhits = _timed(naive, 1)
        print(f"naive Polars: {nwalls[0]:.2f} s; {nhits:,} rows", flush=True)
        rows.append(
            [
                "naive Polars (one filter per rule, whole table)",
                f"{naive_s:.2f} s",
                f"{frame.height / naive_s / 1e6:.2f}M",
                f"{len(plans)}",
                f"{nhits:,} rows",
                f"{naive_s / med:.1f}",
            ]
        )

    if not args.skip_sqlite:
        from sigma.backends.sqlite import sqliteBackend

        files = [
            *sorted(args.rules.rglob("*.yml")),
            *sorted((REPO / "forensics/detect/rules").glob("*.yml")),
        ]
        sigma_rules, fields = _sigma_fields(files)
        backend = sqliteBackend()
        queries, failed = [], 0
        for rule in sigma_rules:
            try:
                for q in backend.convert_rule(rule):
                    queries.append(q.replace("SELECT * FROM logs", "SELECT eventID FROM logs", 1))
            except Exception:
                failed += 1
        t0 = time.perf_counter()
        con = _sqlite(frame, fields)
        print(
            f"sqlite: {len(queries)} queries ({failed} rules not converted); "
            f"loaded in {time.perf_counter() - t0:.1f} s (not timed)",
            flush=True,
        )

        errors: list[str] = []

        def run_sql() -> int:
            n = 0
            for q in queries:
                try:
                    n += len(con.execute(q).fetchall())
                except sqlite3.Error as e:  # e.g. a field the view does not name
                    errors.append(str(e))
            return n

        sql_s, swalls, shits = _timed(run_sql, 1)
        print(
            f"sqlite: {swalls[0]:.2f} s; {shits:,} rows; {len(errors)} queries failed", flush=True
        )
        rows.append(
            [
                "pySigma SQLite backend (indexed, NOCASE)",
                f"{sql_s:.2f} s",
                f"{frame.height / sql_s / 1e6:.2f}M",
                f"{len(queries)}",
                f"{shits:,} rows",
                f"{sql_s / med:.1f}",
            ]
        )

    print()
    print(
        f"{frame.height:,} events; rule loading (YAML + pySigma + compile, once): {load_s:.2f} s; "
        f"fx.detect median of {args.runs}"
    )
    print(table(rows, ["engine", "time", "events/s", "rules", "hits", "× fx.detect"]))


if __name__ == "__main__":
    sys.exit(main())
