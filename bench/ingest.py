"""Ingest benchmark: fx.load against pandas and DuckDB on the same 1M-event trail, same run.

    python bench/ingest.py [--events 1000000] [--runs 3] [--data DIR] [--skip-pandas]

Prints events/s and peak RSS for: fx.load cold (no cache; with the C reader, then without it),
DuckDB's fastest route for this input
(read_json_objects + json_extract('$.Records[*]') + json_transform), pandas json_normalize; then
the first load that writes the Parquet cache (timed until the trail is returned; its merged table
is finished in a background thread, which the process waits for before it exits, untimed),
re-opening from the cache, and re-open + a
principal filter. Every figure is the median of --runs isolated processes (pandas: one run, it
takes minutes); ratios are against DuckDB and pandas measured in this same run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus_stats, measure, table, trail_dir

# The DuckDB query: one typed struct per record, the JSON blobs kept as JSON text.
_DUCK_STRUCT = """{
 "eventTime": "VARCHAR", "eventID": "VARCHAR", "requestID": "VARCHAR", "sharedEventID": "VARCHAR",
 "eventName": "VARCHAR", "eventSource": "VARCHAR", "awsRegion": "VARCHAR", "eventType": "VARCHAR",
 "eventCategory": "VARCHAR", "eventVersion": "VARCHAR", "readOnly": "BOOLEAN",
 "managementEvent": "BOOLEAN", "sourceIPAddress": "VARCHAR", "userAgent": "VARCHAR",
 "errorCode": "VARCHAR", "errorMessage": "VARCHAR", "recipientAccountId": "VARCHAR",
 "vpcEndpointId": "VARCHAR",
 "userIdentity": {"type": "VARCHAR", "arn": "VARCHAR", "principalId": "VARCHAR",
   "accountId": "VARCHAR", "accessKeyId": "VARCHAR", "userName": "VARCHAR", "invokedBy": "VARCHAR",
   "credentialId": "VARCHAR", "onBehalfOf": {"userId": "VARCHAR", "identityStoreArn": "VARCHAR"},
   "inScopeOf": {"credentialsIssuedTo": "VARCHAR"},
   "sessionContext": {"sessionIssuer": {"arn": "VARCHAR", "type": "VARCHAR"},
     "attributes": {"mfaAuthenticated": "VARCHAR", "creationDate": "VARCHAR"},
     "sourceIdentity": "VARCHAR", "assumedRoot": "VARCHAR"}},
 "requestParameters": "JSON", "responseElements": "JSON", "additionalEventData": "JSON",
 "resources": [{"ARN": "VARCHAR", "accountId": "VARCHAR", "type": "VARCHAR"}],
 "tlsDetails": "JSON"
}"""

DUCKDB = f"""
import duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")
#--timed--
q = '''
WITH files AS (
  SELECT json FROM read_json_objects('{{root}}/**/*.json.gz',
                                     format='auto', compression='gzip')
), recs AS (
  SELECT unnest(json_extract(json, '$.Records[*]')) AS rec FROM files
), typed AS (
  SELECT json_transform(rec, '{_DUCK_STRUCT.replace(chr(10), " ")}') AS r FROM recs
)
SELECT r.eventTime::TIMESTAMPTZ AS event_time, r.eventID, r.requestID, r.sharedEventID,
  r.eventName, r.eventSource, r.awsRegion, r.eventType, r.eventCategory, r.eventVersion,
  r.readOnly, r.managementEvent, r.sourceIPAddress, r.userAgent, r.errorCode, r.errorMessage,
  r.recipientAccountId, r.vpcEndpointId, r.userIdentity.type AS identity_type,
  r.userIdentity.arn AS principal_arn, r.userIdentity.principalId, r.userIdentity.accountId,
  r.userIdentity.accessKeyId, r.userIdentity.userName, r.userIdentity.invokedBy,
  r.userIdentity.sessionContext.sessionIssuer.arn AS session_issuer_arn,
  r.userIdentity.sessionContext.sessionIssuer.type AS session_issuer_type,
  r.userIdentity.sessionContext.attributes.mfaAuthenticated,
  r.userIdentity.sessionContext.attributes.creationDate,
  r.userIdentity.sessionContext.sourceIdentity,
  r.requestParameters::VARCHAR AS request_parameters,
  r.responseElements::VARCHAR AS response_elements,
  r.additionalEventData::VARCHAR AS additional_event_data,
  r.resources, r.tlsDetails::VARCHAR AS extra
FROM typed
'''
tbl = con.sql(q).to_arrow_table()
RESULT = tbl.num_rows
"""

FX_COLD = """
import forensics as fx
#--timed--
t = fx.load('{root}', cache=False)
RESULT = [len(t), t.report.worker_peak_rss_mb]
from forensics.ingest._parallel import _POOL
def _cleanup():
    if _POOL is not None:
        _POOL.shutdown(wait=True)
"""

# The same load on the pure-Python path (msgspec), as on a machine where the C reader could
# not be built.
FX_COLD_PURE = (
    """
import os
os.environ["FORENSICS_PURE_PYTHON"] = "1"
"""
    + FX_COLD
)

FX_FIRST_CACHE = """
import shutil, forensics as fx
shutil.rmtree('{cache}', ignore_errors=True)
#--timed--
t = fx.load('{root}', cache_dir='{cache}')
RESULT = [len(t), t.report.worker_peak_rss_mb]
from forensics.ingest._parallel import _POOL
def _cleanup():
    from forensics.ingest._loader import wait_for_cache
    wait_for_cache()
    if _POOL is not None:
        _POOL.shutdown(wait=True)
"""

FX_REOPEN = """
import forensics as fx
#--timed--
t = fx.load('{root}', cache_dir='{cache}')
RESULT = t.events.height
"""

FX_REOPEN_FILTER = """
import polars as pl, forensics as fx
#--timed--
t = fx.load('{root}', cache_dir='{cache}')
RESULT = t.filter(pl.col('principal') == '{principal}').events.height
"""

PANDAS = """
import glob, gzip, json
import pandas as pd
#--timed--
BLOBS = ("requestParameters", "responseElements", "additionalEventData", "resources",
         "tlsDetails")
frames = []
for path in sorted(glob.glob('{root}/**/CloudTrail/**/*.json.gz', recursive=True)):
    with gzip.open(path, 'rb') as fh:
        records = json.load(fh)['Records']
    for r in records:
        for k in BLOBS:
            if k in r:
                r[k] = json.dumps(r[k])
    frames.append(pd.json_normalize(records))
df = pd.concat(frames, ignore_index=True)
df['eventTime'] = pd.to_datetime(df['eventTime'], utc=True)
RESULT = len(df)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, help="use this trail instead of generating one")
    ap.add_argument("--skip-pandas", action="store_true")
    args = ap.parse_args()

    root = (args.data or trail_dir(args.events)).resolve()
    cache = root.parent / f"{root.name}.cache"
    stats = corpus_stats(root)
    print(f"trail: {root} — {stats['files']:,} files, {stats['gz_bytes'] / 1e6:.1f} MB gzip")
    from forensics.ingest import _native

    if not _native.available():
        print(
            "NOTE: the C reader is not built (or FORENSICS_PURE_PYTHON is set): "
            "both fx.load cold rows measure the pure-Python path"
        )

    import polars as pl

    import forensics as fx

    probe = fx.load(root, cache_dir=cache)
    n = len(probe)
    top = probe.lazy.group_by("principal").len().sort("len", descending=True).collect()
    principal = top.get_column("principal")[min(5, top.height - 1)]
    per_principal = top.filter(pl.col("principal") == principal).get_column("len")[0]
    print(f"events: {n:,}; principal filter on {principal!r} ({per_principal:,} events)")
    del probe

    fmt = {"root": str(root), "cache": str(cache), "principal": principal}
    results = [
        measure("fx.load cold (cache=False)", FX_COLD.format(**fmt), args.runs),
        measure("fx.load cold, pure Python (no C reader)", FX_COLD_PURE.format(**fmt), args.runs),
        measure(
            "DuckDB read_json_objects+json_transform",
            DUCKDB.replace("{root}", str(root)),
            args.runs,
        ),
    ]
    if not args.skip_pandas:
        results.append(measure("pandas json_normalize", PANDAS.format(**fmt), 1))
    results += [
        measure("fx.load first load, writes cache", FX_FIRST_CACHE.format(**fmt), args.runs),
        measure("fx.load re-open from cache (.events)", FX_REOPEN.format(**fmt), args.runs),
        measure("re-open + principal filter", FX_REOPEN_FILTER.format(**fmt), args.runs),
    ]
    by = {r["name"]: r for r in results}
    fx_cold = by["fx.load cold (cache=False)"]["wall"]
    duck = by["DuckDB read_json_objects+json_transform"]["wall"]
    rows = []
    for r in results:
        rate = n / r["wall"] if r["name"] != "re-open + principal filter" else float("nan")
        rows.append(
            [
                r["name"],
                f"{r['wall']:.2f}",
                " / ".join(f"{w:.2f}" for w in r["walls"]),
                f"{rate / 1000:,.0f}k" if rate == rate else "-",
                f"{r['rss_mb']:,.0f}",
                f"{r['child_rss_mb']:,.0f}",
                f"{r['wall'] / duck:.2f}",
            ]
        )
    print()
    print(
        table(
            rows,
            [
                "step",
                "median s",
                "runs s",
                "events/s",
                "peak RSS MB",
                "workers' peak MB",
                "vs DuckDB",
            ],
        )
    )
    print()
    print(f"fx.load cold / DuckDB = {fx_cold / duck:.2f} (target <= 0.75)")
    if "pandas json_normalize" in by:
        print(
            f"pandas / fx.load cold = {by['pandas json_normalize']['wall'] / fx_cold:.1f}x "
            "(target >= 10x)"
        )
    print(
        f"re-open + principal filter = {by['re-open + principal filter']['wall']:.2f} s "
        "(target < 0.5 s)"
    )
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
