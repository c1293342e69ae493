"""Running one query on Athena (:class:`AthenaEngine`): start, poll, results, scan budget.

The engines (this one, and the DuckDB stand-ins of the tests) share the :class:`Engine` protocol.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import polars as pl
from sqlglot import exp

from forensics._errors import SourceError
from forensics.ingest.athena._query import Filters, trino

__all__ = ["DEFAULT_MAX_SCAN_BYTES", "AthenaEngine", "Engine"]

_ONE_DAY = timedelta(days=1)

#: The scan budget when none is given: 10 GiB (about $0.05 at $5 per TB scanned).
DEFAULT_MAX_SCAN_BYTES = 10 * 1024**3


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
