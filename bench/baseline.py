"""Benchmark: computed Insights + first-seen over the 1M-event trail; enrichment of 100k IPs.

The trail is the deterministic sample normalised to Parquet by ``bench/identity.py``'s ``build``
(shared file ``bench/data/identity-<events>.parquet``, git-ignored). Figures are medians of
``--runs`` runs in this process, after the table is in memory. Enrichment runs over
``--ips`` distinct random addresses (10% IPv6) against a synthetic AWS ``ip-ranges.json``
(as many prefixes as the real file, ~10k) and, separately, with a MaxMind ASN database written
by ``mmdb-writer``.

    .venv/bin/python bench/baseline.py [--events 1000000] [--ips 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity import DATA, build

import forensics as fx
from forensics.baseline import first_seen, insights
from forensics.enrichment import enrich, load_ip_ranges

CPU: list[tuple[str, float]] = []  # (what, median CPU seconds of the process, all threads)


def timed(fn, runs: int) -> tuple[float, list[float], object]:
    """Median wall time, all wall times, last result; the median CPU time goes to CPU."""
    walls, cpus, out = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU.append(("", statistics.median(cpus)))
    return statistics.median(walls), walls, out


def random_ips(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        if rng.random() < 0.1:
            out.add(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        else:
            out.add(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    return sorted(out)


def ip_ranges_file(path: Path, prefixes: int = 10_000, seed: int = 2) -> Path:
    rng = random.Random(seed)
    v4 = [{"ip_prefix": str(ipaddress.ip_network((rng.getrandbits(32), ln), strict=False)),
           "region": "us-east-1", "service": rng.choice(["AMAZON", "EC2", "S3"]),
           "network_border_group": "us-east-1"}
          for ln in (rng.choice([12, 16, 20, 22, 24, 26, 28]) for _ in range(prefixes))]  # fmt: skip
    v6 = [{"ipv6_prefix": str(ipaddress.ip_network((rng.getrandbits(128), ln), strict=False)),
           "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"}
          for ln in (rng.choice([32, 40, 48, 56, 64]) for _ in range(prefixes // 3))]  # fmt: skip
    path.write_text(json.dumps({"prefixes": v4, "ipv6_prefixes": v6}))
    return path


def asn_mmdb(path: Path, networks: int = 20_000, seed: int = 3) -> Path:
    import netaddr
    from mmdb_writer import MMDBWriter

    rng = random.Random(seed)
    w = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for i in range(networks):
        net = ipaddress.ip_network((rng.getrandbits(32), 16), strict=False)
        w.insert_network(netaddr.IPSet([str(net)]), {"autonomous_system_number": 64512 + i % 1000,
                                                     "autonomous_system_organization": f"AS {i}"})  # fmt: skip
    w.to_db_file(str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--ips", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    path = DATA / f"identity-{args.events}.parquet"
    if not path.exists():
        build(path, args.events)
    trail = fx.Trail(pl.read_parquet(path))
    n = trail.events.height
    rows = []
    t_ins, w_ins, table = timed(lambda: insights(trail, compute=True), args.runs)
    rows.append(("computed Insights (call + error rate, 7-day baseline)", t_ins, w_ins,
                 f"{table.height} Insights"))  # fmt: skip
    # the same trail with a burst injected (600 CreateUser calls in 10 minutes, one principal):
    # times the whole path, Insight attributions included
    ev = trail.events
    t0 = ev["event_time"].min() + (ev["event_time"].max() - ev["event_time"].min()) * 0.8
    burst = ev.head(600).with_columns(
        pl.Series("event_time", [t0 + timedelta(seconds=i) for i in range(600)],
                  dtype=ev.schema["event_time"]),
        pl.lit("CreateUser").alias("event_name"),
        pl.lit("iam.amazonaws.com").alias("event_source"),
        pl.lit(False).alias("read_only"),
        pl.col("recipient_account_id").first(),
        pl.col("aws_region").first(),
        pl.format("burst-{}", pl.int_range(600)).alias("event_id"),
    )  # fmt: skip
    injected = fx.Trail(pl.concat([ev, burst]).sort("event_time"))
    t_bi, w_bi, tb = timed(lambda: insights(injected, compute=True), args.runs)
    rows.append(("computed Insights, same trail + an injected burst", t_bi, w_bi,
                 f"{tb.height} Insights: {', '.join(tb['event_name'].to_list())}"))  # fmt: skip
    t_fs, w_fs, fs = timed(lambda: first_seen(trail), args.runs)
    rows.append(
        ("first-seen (api, key_ip, region, user_agent)", t_fs, w_fs, f"{fs.height} findings")
    )
    rows.append(("baselines + first-seen", t_ins + t_fs, [], f"{n:,} events"))
    ips = random_ips(args.ips)
    with tempfile.TemporaryDirectory() as tmp:
        ranges = load_ip_ranges(ip_ranges_file(Path(tmp) / "ip-ranges.json"))
        db = asn_mmdb(Path(tmp) / "asn.mmdb")
        t_e, w_e, out = timed(lambda: enrich(ips, ip_ranges=ranges), args.runs)
        rows.append((f"enrich {len(ips):,} IPs: kinds + AWS ranges ({ranges.height:,} prefixes)",
                     t_e, w_e, f"{out['is_aws'].sum()} in AWS ranges"))  # fmt: skip
        t_m, w_m, out = timed(lambda: enrich(ips, ip_ranges=ranges, mmdb=db), args.runs)
        rows.append((f"enrich {len(ips):,} IPs: + MaxMind ASN .mmdb", t_m, w_m,
                     f"{out['asn'].is_not_null().sum()} with an ASN"))  # fmt: skip
    print(f"\n{n:,} events, {args.runs} runs, medians\n")
    cpu = iter(c for _, c in CPU)
    print("| what | median wall s | median CPU s | runs (wall s) | result |\n|---|---|---|---|---|")
    for name, med, walls, note in rows:
        c = f"{next(cpu):.3f}" if walls else ""
        print(f"| {name} | {med:.3f} | {c} | {' '.join(f'{w:.2f}' for w in walls)} | {note} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
