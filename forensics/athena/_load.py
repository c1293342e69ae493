"""``athena://database.table`` -> a ``Trail``: one pushed-down query, its rows as events.

>>> parse_url("athena://security.cloudtrail_logs")
('security', 'cloudtrail_logs')
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import polars as pl
from sqlglot import exp

from forensics._errors import LoadError, SourceError
from forensics._report import LoadReport
from forensics._trail import Trail
from forensics.athena._query import Filters, build, trino
from forensics.athena._rows import to_events

__all__ = ["DEFAULT_MAX_SCAN_BYTES", "AthenaEngine", "Engine", "load", "parse_url", "query_trail"]

#: The scan budget when none is given: 10 GiB (about $0.05 at $5 per TB scanned).
DEFAULT_MAX_SCAN_BYTES = 10 * 1024**3
_URL = re.compile(
    r"^athena://(?:(?P<catalog>[A-Za-z0-9_-]+)/)?"
    r"(?P<db>[A-Za-z_][A-Za-z0-9_]*)\.(?P<table>[A-Za-z_][A-Za-z0-9_]*)$"
)
_ONE_DAY = timedelta(days=1)


def parse_url(url: str) -> tuple[str, str]:
    """``athena://db.table`` -> ``(db, table)``; a clear error for anything else."""
    m = _URL.match(url.strip())
    if not m:
        raise LoadError(
            f"{url!r}: write the Athena table as athena://DATABASE.TABLE "
            "(e.g. athena://security.cloudtrail_logs)"
        )
    return m["db"], m["table"]


class Engine(Protocol):
    """What runs the query: Athena (:class:`AthenaEngine`) or the DuckDB stand-in."""

    def run(self, query: Any, f: Filters) -> Any: ...


@dataclass
class _Ran:
    query_id: str
    sql: str
    rows: pl.DataFrame
    bytes_scanned: int
    files: int | None
    seconds: float
    output: str | None = None


class AthenaEngine:
    """Runs queries on Athena through boto3 (read-only: Athena query APIs, Glue catalog reads,
    S3 reads of the trail and the query results).

    Parameters
    ----------
    database, workgroup, output, catalog
        Where the query runs; ``output`` is the ``s3://`` result location (the workgroup's by
        default).
    max_scan_bytes
        Refuse a query whose partitions hold more bytes than this (estimated from S3 before it
        runs, when the table's location is known), and stop one that scans past it.
        ``None``: no budget.
    location
        The table's root (``s3://bucket/.../AWSLogs/[o-xxx/]``) for the estimate; read from the
        table's metadata when not given.
    unload
        Return rows through ``UNLOAD ... WITH (format = 'PARQUET')`` under ``output`` instead of
        the results API (faster for large results).
    session, profile, region
        AWS credentials (a ``boto3.Session`` or a profile name) and region; never stored.
    """

    def __init__(
        self,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        output: str | None = None,
        catalog: str | None = None,
        max_scan_bytes: int | None = DEFAULT_MAX_SCAN_BYTES,
        location: str | None = None,
        unload: bool = False,
        session: Any = None,
        profile: str | None = None,
        region: str | None = None,
        progress: bool | Callable[[Any], None] = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from forensics.sources._athena import clients

        self.athena, self.s3, self.glue = clients(session, profile, region)
        self.database, self.workgroup, self.output = database, workgroup, output
        self.catalog = catalog
        self.max_scan_bytes = max_scan_bytes
        self.location = location
        self.unload = unload
        self.progress = progress
        self.sleep = sleep
        self.notes: list[str] = []
        self.runs: list[_Ran] = []

    def _location(self, table: str) -> str | None:
        """The table's S3 root, from its storage template (Glue ``GetTable``)."""
        if self.location:
            return self.location
        from forensics.sources._athena import table_location

        db, _, name = table.rpartition(".")
        try:
            return table_location(self.glue, db or self.database or "", name)
        except SourceError as exc:
            self.notes.append(f"scan not estimated before running ({exc}; pass location=)")
            return None

    def estimate(self, table: str, f: Filters) -> tuple[int, int] | None:
        """``(bytes, objects)`` the query's partitions hold, or None when unknown."""
        from forensics.sources._athena import estimate_scan

        location = self._location(table)
        if location is None:
            return None
        if "/AWSLogs/" not in location + "/":
            self.notes.append(
                f"scan not estimated before running ({location} is not in the "
                "CloudTrail layout); the budget is checked while the query runs"
            )
            return None
        days = None
        if f.start is not None and f.end is not None:
            lo, hi = (f.start - _ONE_DAY).date(), (f.end + _ONE_DAY).date()
            n = (hi - lo).days + 1
            days = [(lo + timedelta(days=i)).strftime("%Y/%m/%d") for i in range(n)]
        return estimate_scan(
            self.s3,
            location,
            accounts=f.accounts,
            regions=f.regions,
            days=days,
            stop_above=self.max_scan_bytes,
        )

    def run(self, query: Any, f: Filters) -> _Ran:
        from forensics.sources._athena import ScanBudgetError, run_query

        table = query.find(exp.Table).sql(dialect="trino")
        if self.max_scan_bytes is not None:
            guess = self.estimate(table, f)
            if guess is not None and guess[0] > self.max_scan_bytes:
                raise ScanBudgetError(
                    f"the query would scan about {guess[0]:,} bytes in {guess[1]:,} objects, "
                    f"more than max_scan_bytes={self.max_scan_bytes:,}; narrow start/end, "
                    "accounts or regions, or raise max_scan_bytes (None: no budget)",
                    guess[0],
                    self.max_scan_bytes,
                )
        sql = trino(query)
        output = self.output
        if self.unload:
            if not self.output:
                raise SourceError("unload=True needs output='s3://bucket/prefix/' to write to")
            output = f"{self.output.rstrip('/')}/forensics-unload/{uuid.uuid4()}/"
            sql = f"UNLOAD ({sql}) TO '{output}' WITH (format = 'PARQUET')"
        run = run_query(
            self.athena,
            sql,
            database=self.database,
            workgroup=self.workgroup,
            output=output,
            catalog=self.catalog,
            max_scan_bytes=self.max_scan_bytes,
            unload=self.unload,
            s3=self.s3,
            progress=self._show if self.progress else None,
            sleep=self.sleep,
        )
        ran = _Ran(run.query_id, sql, run.rows, run.bytes_scanned, None, run.seconds, run.output)
        self.runs.append(ran)
        return ran

    def _show(self, run: Any) -> None:
        if callable(self.progress):
            self.progress(run)
        else:
            print(
                f"\rathena {run.query_id[:8]} {run.state:<9} {run.bytes_scanned:>14,} bytes",
                end="" if run.state not in ("SUCCEEDED", "FAILED", "CANCELLED") else "\n",
                file=sys.stderr,
            )


def describe_filters(f: Filters) -> list[str]:
    """The filters, as words for ``trail.filters`` (they go into tickets)."""
    out = []
    if f.start is not None or f.end is not None:
        out.append(f"between {f.start or '-'} and {f.end or '-'}")
    for name in ("accounts", "regions", "event_names", "access_keys", "principals"):
        value = getattr(f, name)
        if value is not None:
            out.append(f"{name} in {list(value)}")
    return out


def query_trail(
    table: str, f: Filters, engine: Engine, *, source: str, report: LoadReport | None = None
) -> tuple[pl.DataFrame, Any]:
    """Run the one query for ``f`` on ``engine``: the events and the run's facts."""
    query = build(table, filters=f)
    ran = engine.run(query, f)
    events = to_events(ran.rows, f)
    if report is not None:
        report.records_read += ran.rows.height
        report.notes.append(
            f"{source}: query {ran.query_id}, {ran.bytes_scanned:,} bytes scanned"
            + (f" in {ran.files:,} files" if ran.files is not None else "")
            + (f", results in {ran.output}" if ran.output else "")
        )
    return events, ran


def load(
    url: str,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    principals: Iterable[str] | None = None,
    access_keys: Iterable[str] | None = None,
    event_names: Iterable[str] | None = None,
    workgroup: str | None = None,
    output: str | None = None,
    session: Any = None,
    profile: str | None = None,
    remote: dict[str, Any] | None = None,
    engine: Engine | None = None,
) -> Trail:
    """Load the events of an Athena CloudTrail table that match the filters, in one query.

    Every filter is pushed into the query (partition columns for the window, accounts and
    regions); the rows come back as the events table, the same as ``fx.load`` of the files with
    the same filters. ``remote`` takes the other :class:`AthenaEngine` options
    (``max_scan_bytes``, ``unload``, ``location``, ``catalog``, ``region``, ``progress``).

    Examples
    --------
    >>> import forensics as fx
    >>> trail = fx.load("athena://security.cloudtrail_logs", start="2026-03-04",
    ...                 end="2026-03-05", accounts=["111122223333"],
    ...                 access_keys=["AKIA2MQW7K2WUMLBECXI"],
    ...                 output="s3://my-athena-results/")  # doctest: +SKIP
    """
    began = time.perf_counter()
    db, name = parse_url(url)
    f = Filters.of(
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        principals=principals,
        access_keys=access_keys,
        event_names=event_names,
    )
    options = dict(remote or {})
    engine = engine or options.pop("engine", None)
    ocsf = bool(options.pop("ocsf", False))
    if engine is None:
        engine = AthenaEngine(
            database=db,
            workgroup=workgroup,
            output=output,
            session=session,
            profile=profile,
            **options,
        )
    if ocsf or "cloud_trail_mgmt" in name:  # a Security Lake table (OCSF 1.1 API Activity)
        from forensics.athena._ocsf import load_athena as load_ocsf

        return load_ocsf(f"{db}.{name}", engine, filters=f, source=url)
    report = LoadReport(sources=[url])
    events, _ran = query_trail(f"{db}.{name}", f, engine, source=url, report=report)
    report.notes.extend(getattr(engine, "notes", []))
    report.records_loaded = events.height
    if events.height:
        times = events.get_column("event_time")
        report.time_min, report.time_max = times.min(), times.max()  # type: ignore[assignment]
    report.seconds = time.perf_counter() - began
    return Trail(events, report, filters=tuple(f"athena: {d}" for d in describe_filters(f)))
