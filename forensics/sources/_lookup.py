"""CloudTrail event history (``LookupEvents``) into the events table.

Event history is what a responder has before anyone finds the trail bucket: the last 90 days of
*management* events of one region per call, at most 2 requests per second per account and
region, 50 events per page. :func:`fetch_lookup_events` pages through it in every requested region (one
thread per region, each within that rate, backing off on throttling), keeps each raw page as JSON
in a cache folder and returns them; :mod:`forensics.ingest._remote` reads them through
:func:`forensics.load`, so the table, the report and :meth:`Trail.original` are the same as for files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forensics._errors import SourceError
from forensics._schema import to_utc
from forensics.sources._aws import (
    Backoff,
    Pages,
    RateLimiter,
    describe,
    make_session,
    run_folder,
    write_json,
)

__all__ = ["HISTORY_DAYS", "LOOKUP_ATTRIBUTES", "fetch_lookup_events"]

#: How far back event history goes.
HISTORY_DAYS = 90
#: The attribute keys LookupEvents filters on (it accepts exactly one per call).
LOOKUP_ATTRIBUTES = frozenset(
    {
        "EventId",
        "EventName",
        "ReadOnly",
        "Username",
        "ResourceType",
        "ResourceName",
        "EventSource",
        "AccessKeyId",
    }
)
#: AWS documents 2 LookupEvents requests per second per account per region.
DEFAULT_RATE = 2.0
_PAGE_SIZE = 50

WHAT_HISTORY_LACKS = (
    "event history (LookupEvents) holds management events only: no data events (S3 object "
    "reads/writes, Lambda invokes, DynamoDB items, ...), no network-activity events and no "
    "Insights events; nothing older than 90 days; and only the regions queried (global-service "
    "events such as IAM and STS usually appear in us-east-1). Load the trail from S3 or "
    "CloudWatch Logs for the rest."
)

_LIMITERS: dict[tuple[object, str], RateLimiter] = {}


def _limiter(who: object, region: str, rate: float) -> RateLimiter:
    """One limiter per (credentials source, region) for the life of the process: back-to-back
    calls from a notebook share it, so together they stay within the account's rate."""
    key = (who, region)
    lim = _LIMITERS.get(key)
    if lim is None or abs(lim.interval - 1.0 / rate) > 1e-9:
        lim = _LIMITERS[key] = RateLimiter(rate)
    return lim


def _attributes(attributes: Any) -> list[dict[str, str]]:
    if not attributes:
        return []
    if isinstance(attributes, Mapping):
        items = [{"AttributeKey": k, "AttributeValue": v} for k, v in attributes.items()]
    elif isinstance(attributes, tuple) and len(attributes) == 2 and isinstance(attributes[0], str):
        items = [{"AttributeKey": attributes[0], "AttributeValue": attributes[1]}]
    else:
        items = [dict(a) for a in attributes]
    if len(items) > 1:
        raise ValueError(
            "LookupEvents filters on exactly one attribute; pass one (e.g. "
            "attributes={'Username': 'alice'}) and filter the rest with trail.where(...)"
        )
    for a in items:
        if a.get("AttributeKey") not in LOOKUP_ATTRIBUTES:
            raise ValueError(
                f"unknown LookupEvents attribute {a.get('AttributeKey')!r}; use one of "
                + ", ".join(sorted(LOOKUP_ATTRIBUTES))
            )
        a["AttributeValue"] = str(a.get("AttributeValue", ""))
    return items


def _regions(regions: str | Iterable[str] | None, boto: Any) -> list[str]:
    if regions is None:
        return [boto.region_name or "us-east-1"]
    if isinstance(regions, str):
        if regions == "all":
            return sorted(boto.get_available_regions("cloudtrail"))
        return [regions]
    return list(dict.fromkeys(regions))


def _one_region(
    boto: Any,
    region: str,
    folder: Path,
    args: dict[str, Any],
    limiter: RateLimiter,
    retry: Backoff,
) -> tuple[list[Path], int, int, str | None]:
    """Page through one region; returns (files, events, pages, error)."""
    client = boto.client("cloudtrail", region_name=region)
    out = folder / region
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    events = pages = 0
    token: str | None = None
    while True:
        call = dict(args, MaxResults=_PAGE_SIZE)
        if token:
            call["NextToken"] = token

        def once(call: dict[str, Any] = call) -> dict[str, Any]:
            limiter.wait()
            return client.lookup_events(**call)

        try:
            page = retry.call(once)
        except Exception as exc:
            return files, events, pages, describe(exc)
        pages += 1
        items = page.get("Events", []) or []
        if items:
            path = out / f"page-{pages:05d}.json"
            write_json(path, {"Events": items})
            files.append(path)
            events += len(items)
        token = page.get("NextToken")
        if not token:
            return files, events, pages, None


def fetch_lookup_events(
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    regions: str | Iterable[str] | None = None,
    attributes: Any = None,
    session: Any = None,
    profile: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    rate: float = DEFAULT_RATE,
    attempts: int = 8,
    backoff: float = 1.0,
) -> Pages:
    """The LookupEvents pages for :func:`forensics.ingest._remote.lookup_events` (its docstring says all)."""
    lo, hi = to_utc(start), to_utc(end)
    attrs = _attributes(attributes)
    boto = make_session(session, profile)
    who = id(session) if session is not None else f"profile:{profile or ''}"
    names = _regions(regions, boto)
    args: dict[str, Any] = {}
    if lo is not None:
        args["StartTime"] = lo
    if hi is not None:
        args["EndTime"] = hi
    if attrs:
        args["LookupAttributes"] = attrs
    folder = run_folder(cache_dir, "lookup")
    retry = Backoff(attempts=attempts, base=backoff)
    notes = [WHAT_HISTORY_LACKS]
    oldest = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    if lo is None or lo < oldest:
        notes.append(
            f"event history starts around {oldest:%Y-%m-%d %H:%M} UTC (90 days ago); "
            "anything earlier needs the trail's S3 copy"
        )

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(names)))) as pool:
        results = list(
            pool.map(
                lambda r: _one_region(boto, r, folder, args, _limiter(who, r, rate), retry), names
            )
        )
    if all(error is not None and pages == 0 for _, _, pages, error in results):
        errors = "; ".join(f"{r}: {res[3]}" for r, res in zip(names, results, strict=True))
        raise SourceError(
            f"LookupEvents failed in every region asked for ({errors}); check the credentials, "
            "the region names and cloudtrail:LookupEvents in the policy (docs/iam-policy.json)"
        )
    files: list[Path] = []
    failures: list[tuple[str, str]] = []
    for region, (found, events, pages, error) in zip(names, results, strict=True):
        files.extend(found)
        notes.append(f"LookupEvents {region}: {events:,} event(s) in {pages:,} page(s)")
        if error is not None:
            failures.append(
                (
                    f"cloudtrail:LookupEvents {region}",
                    f"stopped after {pages:,} page(s) ({events:,} events kept): {error}; "
                    f"the region's older events in the window are missing",
                )
            )
    if retry.retries:
        notes.append(
            f"LookupEvents: {retry.retries:,} request(s) retried after throttling or server errors"
        )
    if attrs:
        a = attrs[0]
        notes.append(f"LookupEvents filtered on {a['AttributeKey']} = {a['AttributeValue']!r}")
    notes.append(f"raw pages kept in {folder}")
    sources = [f"cloudtrail:LookupEvents {r}" for r in names]
    filters = tuple(f"LookupEvents {a['AttributeKey']} = {a['AttributeValue']!r}" for a in attrs)
    return Pages(
        files, start=lo, end=hi, sources=sources, notes=notes, failures=failures, filters=filters
    )
