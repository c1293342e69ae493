"""The Athena API flow against moto's server on loopback: start, poll, fail, cancel, results
(injected the way moto documents, ``POST /moto-api/static/athena/query-results``), pagination,
throttling, UNLOAD to Parquet and the scan budget."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest

import forensics as fx
from forensics import athena
from forensics.ingest.athena._query import Filters, build
from forensics.sources._athena import ScanBudgetError, run_query
from tests import _aws_helpers
from tests._athena_helpers import assert_same_events
from tests._aws_helpers import ACCOUNT, Request, Server, json_error

moto_server = _aws_helpers.moto_server  # fixtures
aws = _aws_helpers.aws

SAMPLE = Path("data/sample")
WINDOW = {
    "start": "2026-03-04T13:00:00Z",
    "end": "2026-03-04T15:00:00Z",
    "regions": ["us-east-2", "sa-east-1"],
}


def _post(server: Server, path: str, doc: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()


def inject_rows(server: Server, rows: pl.DataFrame) -> None:
    """Queue ``rows`` as the next query's results, with the header row Athena puts first."""

    def cell(v: Any) -> dict[str, str]:
        return {} if v is None else {"VarCharValue": str(v)}

    data = [{"Data": [cell(c) for c in rows.columns]}]
    data += [{"Data": [cell(v) for v in row]} for row in rows.iter_rows()]
    info = [
        {
            "Name": c,
            "Label": c,
            "Type": "varchar",
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": True,
        }
        for c in rows.columns
    ]
    _post(
        server,
        "/moto-api/static/athena/query-results",
        {
            "account_id": ACCOUNT,
            "region": "us-east-1",
            "results": [{"rows": data, "column_info": info}],
        },
    )


def slow_states(server: Server, times: int) -> None:
    """Each state (QUEUED, RUNNING) lasts ``times`` GetQueryExecution calls."""
    _post(
        server,
        "/moto-api/state-manager/set-transition",
        {
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": times},
        },
    )


@pytest.fixture(scope="module")
def sample_rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows the query gives for WINDOW (run by the DuckDB stand-in on the sample), and the
    local load with the same filters."""
    if not (SAMPLE / ".complete").exists():
        pytest.skip("data/sample missing: run `make sample`")
    engine = athena.DuckDBEngine(SAMPLE)
    f = Filters.of(**WINDOW)
    rows = engine.run(build(engine.table, filters=f), f).rows
    local = fx.load(SAMPLE, cache=False, **WINDOW).events
    return rows, local


def no_sleep(_: float) -> None:
    pass


@pytest.fixture(autouse=True)
def athena_json_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """botocore >= 1.44 calls Athena with rest-json; moto 5.2.5 serves only its awsJson1_1
    protocol (X-Amz-Target: AmazonAthena.*), which AWS keeps serving for older SDKs. Give
    botocore the same Athena model declared as awsJson1_1 (AWS_DATA_PATH), so the real client
    code runs against moto unchanged."""
    import gzip

    import botocore

    src = Path(botocore.__file__).parent / "data" / "athena" / "2017-05-18"
    model = json.loads(gzip.decompress((src / "service-2.json.gz").read_bytes()))
    model["metadata"].update(
        protocol="json", protocols=["json"], jsonVersion="1.1", targetPrefix="AmazonAthena"
    )
    for op in model["operations"].values():
        op["http"] = {"method": "POST", "requestUri": "/"}
    root = tmp_path_factory.mktemp("botocore-data")
    folder = root / "athena" / "2017-05-18"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(root))


def test_results_api_gives_the_events_of_a_local_load(aws, sample_rows) -> None:
    rows, local = sample_rows
    assert 0 < rows.height < 1000
    inject_rows(aws, rows)
    slow_states(aws, 2)
    trail = fx.load(
        "athena://security.cloudtrail_logs",
        workgroup="primary",
        output="s3://athena-results/",
        remote={"sleep": no_sleep},
        **WINDOW,
    )
    assert_same_events(local, trail.events)
    starts = [r for r in aws.faults.requests if r.target.endswith(".StartQueryExecution")]
    assert len(starts) == 1 and aws.faults.calls("GetQueryExecution") >= 3
    note = " ".join(trail.report.notes)
    assert re.search(
        r"query [0-9a-f-]{36}, 0 bytes scanned, results in s3://athena-results/", note
    ), note


def test_the_sql_sent_is_the_tested_query(aws, monkeypatch) -> None:
    sent: list[str] = []
    engine = athena.AthenaEngine(database="security", output="s3://r/", max_scan_bytes=None)
    real = engine.athena.start_query_execution

    def record(**kw: Any) -> Any:
        sent.append(kw["QueryString"])
        return real(**kw)

    monkeypatch.setattr(engine.athena, "start_query_execution", record)
    fx.load(
        "athena://security.cloudtrail_logs",
        access_keys=["AKIA2MQW7K2WUMLBECXI"],
        remote={"engine": engine},
    )
    assert sent == [
        athena.trino(build("security.cloudtrail_logs", access_keys=["AKIA2MQW7K2WUMLBECXI"]))
    ]


def test_results_are_read_page_by_page(aws) -> None:
    rows = pl.DataFrame({"a": [str(i) for i in range(2500)], "b": [None] * 2500})
    pages = [rows.slice(0, 1000), rows.slice(1000, 1000), rows.slice(2000, 500)]

    def paged(req: Request) -> tuple[int, dict[str, str], bytes] | None:
        if not req.target.endswith(".GetQueryResults"):
            return None
        n = len([r for r in aws.faults.requests if r.target.endswith(".GetQueryResults")]) - 1
        page = pages[n]
        data = [{"Data": [{"VarCharValue": "a"}, {"VarCharValue": "b"}]}] if n == 0 else []
        data += [{"Data": [{"VarCharValue": a}, {}]} for a, _ in page.iter_rows()]
        body: dict[str, Any] = {
            "ResultSet": {
                "Rows": data,
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {"Name": "a", "Type": "varchar"},
                        {"Name": "b", "Type": "varchar"},
                    ]
                },
            }
        }
        if n < 2:
            body["NextToken"] = f"page-{n + 1}"
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()

    aws.faults.rules.append(paged)
    client = boto3.client("athena", region_name="us-east-1")
    run = run_query(client, "SELECT a, b FROM t", output="s3://r/", sleep=no_sleep)
    assert run.rows.equals(rows)
    assert aws.faults.calls("GetQueryResults") == 3


def test_a_failed_query_says_why(aws) -> None:
    def failed(req: Request) -> tuple[int, dict[str, str], bytes] | None:
        if not req.target.endswith(".GetQueryExecution"):
            return None
        body = {
            "QueryExecution": {
                "QueryExecutionId": "q",
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "TABLE_NOT_FOUND: line 1:15: Table "
                    "'awsdatacatalog.security.nope' does not exist",
                    "AthenaError": {"ErrorCategory": 2, "ErrorType": 1301},
                },
            }
        }
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()

    aws.faults.rules.append(failed)
    with pytest.raises(fx.SourceError, match=r"FAILED: TABLE_NOT_FOUND.*check the table name"):
        fx.load(
            "athena://security.nope",
            output="s3://r/",
            remote={"sleep": no_sleep, "max_scan_bytes": None},
        )


def test_interrupting_the_cell_stops_the_query(aws) -> None:
    slow_states(aws, 50)
    calls = {"n": 0}

    def interrupt(_: float) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fx.load(
            "athena://security.cloudtrail_logs",
            output="s3://r/",
            remote={"sleep": interrupt, "max_scan_bytes": None},
        )
    assert aws.faults.calls("StopQueryExecution") == 1
    client = boto3.client("athena", region_name="us-east-1")
    (qid,) = client.list_query_executions()["QueryExecutionIds"]
    state = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
    assert state["State"] == "CANCELLED"


def test_throttling_is_retried(aws, sample_rows) -> None:
    rows, local = sample_rows
    inject_rows(aws, rows)
    left = {"StartQueryExecution": 2, "GetQueryExecution": 2, "GetQueryResults": 2}

    def throttle(req: Request) -> tuple[int, dict[str, str], bytes] | None:
        op = req.target.rsplit(".", 1)[-1]
        if left.get(op, 0) > 0:
            left[op] -= 1
            return json_error("ThrottlingException")
        return None

    aws.faults.rules.append(throttle)
    trail = fx.load(
        "athena://security.cloudtrail_logs",
        output="s3://r/",
        remote={"sleep": no_sleep, "max_scan_bytes": None},
        **WINDOW,
    )
    assert_same_events(local, trail.events)
    assert left == {"StartQueryExecution": 0, "GetQueryExecution": 0, "GetQueryResults": 0}
    assert aws.faults.calls("StartQueryExecution") == 3


def test_scan_budget_stops_a_running_query(aws) -> None:
    slow_states(aws, 50)

    def scanning(req: Request) -> tuple[int, dict[str, str], bytes] | None:
        if not req.target.endswith(".GetQueryExecution"):
            return None
        body = {
            "QueryExecution": {
                "QueryExecutionId": "q",
                "Status": {"State": "RUNNING"},
                "Statistics": {"DataScannedInBytes": 5_000_000},
            }
        }
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()

    aws.faults.rules.append(scanning)
    with pytest.raises(ScanBudgetError, match="passed the scan budget"):
        fx.load(
            "athena://security.cloudtrail_logs",
            output="s3://r/",
            remote={"sleep": no_sleep, "max_scan_bytes": 1_000_000},
        )
    assert aws.faults.calls("StopQueryExecution") == 1


def test_scan_budget_is_estimated_from_the_partitions_before_running(aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    root = "AWSLogs/o-a1b2c3d4e5/"
    for account in ("111122223333", "222233334444"):
        for d in ("2026/03/03", "2026/03/04", "2026/03/05", "2026/03/06", "2026/03/20"):
            s3.put_object(
                Bucket="trail",
                Key=f"{root}{account}/CloudTrail/us-east-1/{d}/x.json.gz",
                Body=b"x" * 1000,
            )
    engine = athena.AthenaEngine(
        database="security", output="s3://r/", location=f"s3://trail/{root}", max_scan_bytes=5000
    )
    f = Filters.of(start="2026-03-04", end="2026-03-05", accounts=["111122223333"])
    assert engine.estimate("security.t", f) == (4000, 4)  # 03/03..03/06 (one day of margin)
    f = Filters.of(start="2026-03-04", end="2026-03-05")
    with pytest.raises(ScanBudgetError, match="would scan about"):
        fx.load(
            "athena://security.t", start="2026-03-04", end="2026-03-05", remote={"engine": engine}
        )
    assert aws.faults.calls("StartQueryExecution") == 0


def test_unload_reads_the_parquet_it_wrote(aws, sample_rows) -> None:
    rows, local = sample_rows
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="athena-results")

    def unload(req: Request) -> None:
        if req.target.endswith(".StartQueryExecution"):
            pending.append(True)
        return None

    pending: list[bool] = []
    aws.faults.rules.append(unload)
    engine = athena.AthenaEngine(
        database="security",
        output="s3://athena-results/x/",
        unload=True,
        max_scan_bytes=None,
        sleep=no_sleep,
    )
    real = engine.athena.start_query_execution

    def start(**kw: Any) -> Any:  # Athena writes the Parquet files; here we do, where it would
        target = re.search(r"TO '(s3://[^']+)'", kw["QueryString"]).group(1)
        bucket, _, key = target[5:].partition("/")
        for i, part in enumerate((rows.slice(0, rows.height // 2), rows.slice(rows.height // 2))):
            buf = io.BytesIO()
            part.write_parquet(buf)
            s3.put_object(Bucket=bucket, Key=f"{key}part-{i}.parquet", Body=buf.getvalue())
        return real(**kw)

    engine.athena.start_query_execution = start  # type: ignore[method-assign]
    trail = fx.load("athena://security.cloudtrail_logs", remote={"engine": engine}, **WINDOW)
    assert_same_events(local, trail.events)
    assert pending and "UNLOAD (SELECT" in engine.runs[-1].sql
    assert "WITH (format = 'PARQUET')" in engine.runs[-1].sql
