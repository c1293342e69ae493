"""A trail delivered to CloudWatch Logs, read back through the Logs API into the events table.

A trail can send every record to a log group (one log event per record, the record as JSON
text). :func:`fetch_cloudwatch` pages through ``FilterLogEvents`` for the window, keeps each page
as JSON in a cache folder and returns them; :mod:`forensics.ingest._remote` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from forensics._errors import SourceError
from forensics._schema import to_utc
from forensics.sources._aws import (
    Backoff,
    Pages,
    describe,
    epoch_ms,
    error_code,
    make_session,
    run_folder,
    write_json,
)

__all__ = ["fetch_cloudwatch"]

#: A log event's timestamp is when CloudTrail delivered the record, which trails its eventTime
#: by minutes (rarely more): the query window is widened by this much and the loader then cuts
#: on eventTime exactly.
DELIVERY_MARGIN = timedelta(hours=1)
_STREAMS_PER_CALL = 100  # FilterLogEvents accepts at most 100 logStreamNames


def fetch_cloudwatch(
    log_group: str,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    session: Any = None,
    profile: str | None = None,
    log_streams: Iterable[str] | None = None,
    filter_pattern: str | None = None,
    region: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    page_size: int | None = None,
    attempts: int = 8,
    backoff: float = 1.0,
) -> Pages:
    """The FilterLogEvents pages for :func:`forensics.ingest._remote.load_cloudwatch` (its docstring says all)."""
    lo, hi = to_utc(start), to_utc(end)
    boto = make_session(session, profile)
    client = boto.client("logs", region_name=region) if region else boto.client("logs")
    base: dict[str, Any] = {"logGroupName": log_group}
    if lo is not None:
        base["startTime"] = epoch_ms(lo - DELIVERY_MARGIN)
    if hi is not None:
        base["endTime"] = epoch_ms(hi + DELIVERY_MARGIN)
    if filter_pattern:
        base["filterPattern"] = filter_pattern
    if page_size:
        base["limit"] = int(page_size)
    streams = list(dict.fromkeys(log_streams)) if log_streams is not None else None
    batches: list[dict[str, Any]] = (
        [
            dict(base, logStreamNames=streams[i : i + _STREAMS_PER_CALL])
            for i in range(0, len(streams), _STREAMS_PER_CALL)
        ]
        if streams
        else [base]
    )
    folder = run_folder(cache_dir, "cloudwatch")
    retry = Backoff(attempts=attempts, base=backoff)
    files: list[Path] = []
    failures: list[tuple[str, str]] = []
    pages = events = 0
    for batch in batches:
        token: str | None = None
        while True:
            call = dict(batch, nextToken=token) if token else batch
            try:
                page = retry.call(lambda call=call: client.filter_log_events(**call))
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException" and pages == 0:
                    raise SourceError(
                        f"log group {log_group!r} not found ({describe(exc)}); check its name "
                        "and region (the trail's CloudWatch Logs settings show both)"
                    ) from exc
                if pages == 0:
                    raise SourceError(
                        f"cannot read log group {log_group!r} ({describe(exc)}); check the "
                        "credentials and logs:FilterLogEvents in the policy (docs/iam-policy.json)"
                    ) from exc
                failures.append(
                    (
                        f"logs:FilterLogEvents {log_group}",
                        f"stopped after {pages:,} page(s) ({events:,} events kept): "
                        f"{describe(exc)}",
                    )
                )
                break
            pages += 1
            items = page.get("events", []) or []
            if items:
                path = folder / f"page-{pages:05d}.json"
                write_json(
                    path,
                    {
                        "logGroup": log_group,
                        "logEvents": [
                            {
                                "id": e.get("eventId"),
                                "timestamp": e.get("timestamp"),
                                "logStreamName": e.get("logStreamName"),
                                "message": e.get("message"),
                            }
                            for e in items
                        ],
                    },
                )
                files.append(path)
                events += len(items)
            token = page.get("nextToken")
            if not token:
                break
    notes = [
        f"CloudWatch Logs {log_group}: {events:,} log event(s) in {pages:,} page(s)"
        + (f", {len(streams):,} stream(s) asked for" if streams else ""),
        "the query window was widened by 1 h each side (log timestamps are delivery times), "
        "then cut on eventTime",
        f"raw pages kept in {folder}",
    ]
    if filter_pattern:
        notes.append(f"filter pattern applied by CloudWatch Logs: {filter_pattern}")
    if retry.retries:
        notes.append(f"FilterLogEvents: {retry.retries:,} request(s) retried")
    filters = []
    if streams:
        filters.append(
            "CloudWatch Logs streams: "
            + ", ".join(streams[:5])
            + (f" (+{len(streams) - 5} more)" if len(streams) > 5 else "")
        )
    if filter_pattern:
        filters.append(f"CloudWatch Logs filter pattern: {filter_pattern}")
    return Pages(
        files,
        start=lo,
        end=hi,
        sources=[f"logs:{log_group}"],
        notes=notes,
        failures=failures,
        filters=tuple(filters),
    )
