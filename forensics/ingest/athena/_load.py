"""``athena://database.table`` -> a ``Trail``: one pushed-down query, its rows as events.

>>> parse_url("athena://security.cloudtrail_logs")
('security', 'cloudtrail_logs')
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import polars as pl

from forensics._errors import LoadError
from forensics._trail import Trail
from forensics.ingest._identity_keys import link_identities
from forensics.ingest._report import LoadReport
from forensics.ingest.athena._engine import DEFAULT_MAX_SCAN_BYTES, AthenaEngine, Engine
from forensics.ingest.athena._query import Filters, build
from forensics.ingest.athena._rows import to_events

__all__ = ["DEFAULT_MAX_SCAN_BYTES", "AthenaEngine", "Engine", "load", "parse_url", "query_trail"]

_URL = re.compile(
    r"^athena://(?:(?P<catalog>[A-Za-z0-9_-]+)/)?"
    r"(?P<db>[A-Za-z_][A-Za-z0-9_]*)\.(?P<table>[A-Za-z_][A-Za-z0-9_]*)$"
)


def parse_url(url: str) -> tuple[str, str]:
    """``athena://db.table`` -> ``(db, table)``; a clear error for anything else."""
    m = _URL.match(url.strip())
    if not m:
        raise LoadError(
            f"{url!r}: write the Athena table as athena://DATABASE.TABLE "
            "(e.g. athena://security.cloudtrail_logs)"
        )
    return m["db"], m["table"]


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
        from forensics.ingest.athena._ocsf import load_athena as load_ocsf

        return load_ocsf(f"{db}.{name}", engine, filters=f, source=url)
    report = LoadReport(sources=[url])
    events, _ran = query_trail(f"{db}.{name}", f, engine, source=url, report=report)
    events = link_identities(events)  # as fx.load does for files (identity: other records)
    report.notes.extend(getattr(engine, "notes", []))
    report.records_loaded = events.height
    if events.height:
        times = events.get_column("event_time")
        report.time_min, report.time_max = times.min(), times.max()  # type: ignore[assignment]
    report.seconds = time.perf_counter() - began
    return Trail(events, report, filters=tuple(f"athena: {d}" for d in describe_filters(f)))
