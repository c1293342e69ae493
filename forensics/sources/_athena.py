"""Athena through boto3: run one query, wait for it, read its rows; nothing else.

:func:`run_query` starts the query (``StartQueryExecution``), polls ``GetQueryExecution`` with a
growing delay, stops the query (``StopQueryExecution``) when the caller interrupts it (a
notebook cell's stop button raises ``KeyboardInterrupt``) or when the bytes it has scanned pass
the budget, and reads the rows: the results API (``GetQueryResults``, page by page) or, for an
``UNLOAD ... WITH (format = 'PARQUET')``, the Parquet objects it wrote. Throttled calls are
retried with backoff. :func:`estimate_scan` sums the sizes of the S3 objects under the partition
folders a query will read, before it runs.

This module returns rows (a ``polars.DataFrame`` of text columns) and facts about the run; it
knows nothing of the events table or ``Trail``.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from forensics._errors import SourceError
from forensics.sources._aws import Backoff, describe, error_code

__all__ = [
    "QueryRun",
    "ScanBudgetError",
    "clients",
    "estimate_scan",
    "read_unload",
    "run_query",
    "split_s3",
    "table_location",
]

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class ScanBudgetError(SourceError):
    """A query would scan (or has scanned) more bytes than allowed."""

    def __init__(self, message: str, scanned: int, budget: int) -> None:
        super().__init__(message)
        self.scanned = scanned
        self.budget = budget


@dataclass
class QueryRun:
    """One query as Athena ran it."""

    query_id: str
    sql: str
    state: str = "QUEUED"
    output: str | None = None  # the result object (s3://...csv) or the UNLOAD folder
    bytes_scanned: int = 0
    seconds: float = 0.0
    polls: int = 0
    retries: int = 0
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)


def clients(
    session: Any = None, profile: str | None = None, region: str | None = None
) -> tuple[Any, Any, Any]:
    """``(athena, s3, glue)`` clients from a ``boto3.Session``, a profile or the default chain."""
    from forensics.sources._aws import make_session

    boto = make_session(session, profile)
    return (
        boto.client("athena", region_name=region),
        boto.client("s3", region_name=region),
        boto.client("glue", region_name=region),
    )


def table_location(glue: Any, database: str, table: str) -> str:
    """The S3 root of a table with partition projection (its storage template up to the first
    ``${...}``), from the Glue Data Catalog; raises :class:`SourceError` when unknown."""
    try:
        meta = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except Exception as exc:
        raise SourceError(f"{database}.{table}: cannot read the table ({describe(exc)})") from exc
    template = meta.get("Parameters", {}).get("storage.location.template") or meta.get(
        "StorageDescriptor", {}
    ).get("Location")
    if not template:
        raise SourceError(f"{database}.{table}: the table has no S3 location")
    return template.split("${", 1)[0]


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``.

    >>> split_s3("s3://b/x/y.csv")
    ('b', 'x/y.csv')
    """
    if not url.startswith("s3://"):
        raise SourceError(f"{url!r} is not an s3:// location")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def _start(
    client: Any,
    backoff: Backoff,
    sql: str,
    database: str | None,
    workgroup: str | None,
    output: str | None,
    catalog: str | None,
) -> str:
    kw: dict[str, Any] = {"QueryString": sql}
    context: dict[str, str] = {}
    if database:
        context["Database"] = database
    if catalog:
        context["Catalog"] = catalog
    if context:
        kw["QueryExecutionContext"] = context
    if workgroup:
        kw["WorkGroup"] = workgroup
    if output:
        kw["ResultConfiguration"] = {"OutputLocation": output}
    try:
        return backoff.call(lambda: client.start_query_execution(**kw))["QueryExecutionId"]
    except Exception as exc:
        raise SourceError(f"Athena did not start the query: {describe(exc)}") from exc


def _stop(client: Any, query_id: str) -> None:
    # the query may have ended meanwhile; the caller's error matters more
    with contextlib.suppress(Exception):
        client.stop_query_execution(QueryExecutionId=query_id)


def run_query(
    client: Any,
    sql: str,
    *,
    database: str | None = None,
    workgroup: str | None = None,
    output: str | None = None,
    catalog: str | None = None,
    max_scan_bytes: int | None = None,
    unload: bool = False,
    s3: Any = None,
    poll: float = 0.2,
    poll_cap: float = 5.0,
    timeout: float | None = None,
    backoff: Backoff | None = None,
    progress: Callable[[QueryRun], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> QueryRun:
    """Run ``sql`` on Athena and return its rows (all text columns, as Athena returns them).

    Raises :class:`SourceError` when the query fails or is cancelled (with Athena's reason),
    :class:`ScanBudgetError` when it scans more than ``max_scan_bytes`` (it is stopped), and
    re-raises ``KeyboardInterrupt`` after stopping the query. ``unload=True`` reads the Parquet
    objects the query (an ``UNLOAD``) wrote under ``output`` with the ``s3`` client.
    """
    backoff = backoff or Backoff(attempts=8, base=0.3, cap=10.0, sleep=sleep)
    began = time.monotonic()
    run = QueryRun(_start(client, backoff, sql, database, workgroup, output, catalog), sql)
    delay = poll
    try:
        while True:
            try:
                info = backoff.call(
                    lambda: client.get_query_execution(QueryExecutionId=run.query_id)
                )["QueryExecution"]
            except Exception as exc:
                raise SourceError(f"Athena query {run.query_id}: {describe(exc)}") from exc
            run.polls += 1
            status = info.get("Status", {})
            run.state = status.get("State", "UNKNOWN")
            run.bytes_scanned = int(info.get("Statistics", {}).get("DataScannedInBytes") or 0)
            run.output = info.get("ResultConfiguration", {}).get("OutputLocation") or run.output
            if progress is not None:
                progress(run)
            if run.state in _DONE:
                break
            if max_scan_bytes is not None and run.bytes_scanned > max_scan_bytes:
                _stop(client, run.query_id)
                raise ScanBudgetError(
                    f"Athena query {run.query_id} passed the scan budget "
                    f"({run.bytes_scanned:,} > {max_scan_bytes:,} bytes) and was stopped; "
                    "narrow the window/accounts/regions or raise max_scan_bytes",
                    run.bytes_scanned,
                    max_scan_bytes,
                )
            if timeout is not None and time.monotonic() - began > timeout:
                _stop(client, run.query_id)
                raise SourceError(
                    f"Athena query {run.query_id} still {run.state} after "
                    f"{timeout:g} s; it was stopped"
                )
            sleep(delay)
            delay = min(poll_cap, delay * 1.5)
    except KeyboardInterrupt:
        _stop(client, run.query_id)  # cancelling the cell cancels the query (and its cost)
        raise
    run.seconds = time.monotonic() - began
    if run.state != "SUCCEEDED":
        reason = info.get("Status", {}).get("StateChangeReason") or "no reason given"
        error = info.get("Status", {}).get("AthenaError", {}).get("ErrorMessage")
        raise SourceError(
            f"Athena query {run.query_id} {run.state}: {error or reason}"
            + (
                " (check the table name, the database and the workgroup's output location)"
                if run.state == "FAILED"
                else ""
            )
        )
    if unload:
        if s3 is None or output is None:
            raise SourceError("reading an UNLOAD needs its output location and an S3 client")
        run.rows = read_unload(s3, output, backoff)
        run.output = output
    else:
        run.rows = _results(client, run.query_id, backoff)
    run.retries = backoff.retries
    return run


def _results(client: Any, query_id: str, backoff: Backoff) -> pl.DataFrame:
    """Every row of a finished query, through ``GetQueryResults`` pages (header row dropped)."""
    names: list[str] | None = None
    columns: list[list[str | None]] = []
    token: str | None = None
    first = True
    while True:
        kw: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
        if token:
            kw["NextToken"] = token
        try:
            page = backoff.call(lambda kw=kw: client.get_query_results(**kw))
        except Exception as exc:
            raise SourceError(f"Athena query {query_id}: reading results: {describe(exc)}") from exc
        result = page.get("ResultSet", {})
        if names is None:
            info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            names = [c.get("Name") or c.get("Label") for c in info]
        rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result.get("Rows", [])]
        if first and rows and (not names or rows[0] == names):
            names = names or [str(v) for v in rows[0]]
            rows = rows[1:]  # a SELECT's first row holds the column names
        first = False
        if not columns:
            columns = [[] for _ in names]
        for row in rows:
            for i in range(len(names)):
                columns[i].append(row[i] if i < len(row) else None)
        token = page.get("NextToken")
        if not token:
            break
    names = names or []
    return pl.DataFrame(
        {
            n: pl.Series(n, c, dtype=pl.String)
            for n, c in zip(names, columns or [[] for _ in names], strict=True)
        }
    )


def read_unload(s3: Any, output: str, backoff: Backoff | None = None) -> pl.DataFrame:
    """The Parquet objects an ``UNLOAD`` wrote under ``output``, as one frame."""
    backoff = backoff or Backoff()
    bucket, prefix = split_s3(output)
    frames = []
    for key in _keys(s3, bucket, prefix, backoff):
        if key.endswith("/") or key.rsplit("/", 1)[-1].startswith(("_", ".")):
            continue
        try:
            body = backoff.call(
                lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            )
        except Exception as exc:
            raise SourceError(f"s3://{bucket}/{key}: {describe(exc)}") from exc
        frames.append(pl.read_parquet(io.BytesIO(body)))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _keys(s3: Any, bucket: str, prefix: str, backoff: Backoff) -> Iterable[str]:
    for obj in _objects(s3, bucket, prefix, backoff):
        yield obj[0]


def _objects(
    s3: Any, bucket: str, prefix: str, backoff: Backoff, delimiter: str | None = None
) -> Iterable[tuple[str, int]]:
    """``(key, size)`` under ``prefix`` (with a delimiter: ``(common prefix, -1)`` too)."""
    token = None
    while True:
        kw: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kw["Delimiter"] = delimiter
        if token:
            kw["ContinuationToken"] = token
        try:
            page = backoff.call(lambda kw=kw: s3.list_objects_v2(**kw))
        except Exception as exc:
            code = error_code(exc)
            raise SourceError(
                f"s3://{bucket}/{prefix}: cannot list ({describe(exc)})"
                + ("; the estimate needs s3:ListBucket" if code == "AccessDenied" else "")
            ) from exc
        for item in page.get("Contents", []):
            yield item["Key"], int(item.get("Size", 0))
        for cp in page.get("CommonPrefixes", []):
            yield cp["Prefix"], -1
        token = page.get("NextContinuationToken")
        if not token:
            return


def estimate_scan(
    s3: Any,
    location: str,
    *,
    accounts: Iterable[str] | None,
    regions: Iterable[str] | None,
    days: Iterable[str] | None,
    stop_above: int | None = None,
    backoff: Backoff | None = None,
) -> tuple[int, int]:
    """``(bytes, objects)`` under the partition folders a query reads.

    ``location`` is the table's root (``s3://bucket/.../AWSLogs/[o-xxx/]``); accounts and
    regions that are not given are listed (one delimiter listing per level); ``days`` are
    ``yyyy/MM/dd`` folders (None: every day). Listing stops once ``stop_above`` bytes are seen.
    """
    backoff = backoff or Backoff()
    bucket, root = split_s3(location.rstrip("/") + "/")

    def children(prefix: str) -> list[str]:
        return [
            p[len(prefix) :].rstrip("/")
            for p, size in _objects(s3, bucket, prefix, backoff, delimiter="/")
            if size < 0
        ]

    total = count = 0
    for account in accounts if accounts is not None else children(root):
        base = f"{root}{account}/CloudTrail/"
        for region in regions if regions is not None else children(base):
            for day in days if days is not None else [""]:
                prefix = f"{base}{region}/{day}/" if day else f"{base}{region}/"
                for _key, size in _objects(s3, bucket, prefix, backoff):
                    total += size
                    count += 1
                    if stop_above is not None and total > stop_above:
                        return total, count
    return total, count
