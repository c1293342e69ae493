"""Remote sources into a ``Trail``: CloudTrail event history and CloudWatch Logs.

The sources (:mod:`forensics.sources._lookup`, :mod:`forensics.sources._cloudwatch`) page
through the AWS APIs and keep every raw page as JSON in a cache folder; they return the pages
(:class:`forensics.sources._aws.Pages`), never a ``Trail``. Here those pages are read through
:func:`forensics.load`, so the table, the report and :meth:`Trail.original` are the same as for
files, and what the service did (notes, failures, its own filters) is added to the report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from forensics._schema import empty_events
from forensics._trail import Trail
from forensics.ingest._loader import load
from forensics.ingest._report import LoadReport
from forensics.sources._aws import Pages
from forensics.sources._cloudwatch import fetch_cloudwatch
from forensics.sources._lookup import DEFAULT_RATE, fetch_lookup_events

__all__ = ["load_cloudwatch", "lookup_events", "trail_of_pages"]


def trail_of_pages(pages: Pages) -> Trail:
    """Read the pages a remote source wrote through :func:`forensics.load`; merge what it did.

    >>> from forensics.sources._aws import Pages
    >>> trail_of_pages(Pages([], None, None, ["test"], ["nothing asked"])).report.notes
    ['nothing asked']
    """
    if pages.files:
        trail = load(*[str(f) for f in pages.files], start=pages.start, end=pages.end, cache=False)
        report = trail.report or LoadReport()
    else:
        report = LoadReport()
        trail = Trail(empty_events(), report)
    report.sources = pages.sources
    report.notes.extend(pages.notes)
    for path, reason in pages.failures:
        report.add_failure(path, reason)
    if pages.filters:
        trail = Trail(
            trail.lazy,
            report,
            originals=getattr(trail, "_originals", None),
            filters=(*trail.filters, *pages.filters),
        )
    return trail


def lookup_events(
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
) -> Trail:
    """Load CloudTrail event history (the last 90 days of management events) into a Trail.

    Parameters
    ----------
    start, end
        The window (UTC; ``start <= event_time < end``). Without ``start``, all 90 days.
    regions
        Region names, ``"all"`` (every region CloudTrail is offered in), or None for the
        session's region. Event history is per region.
    attributes
        One LookupEvents filter, e.g. ``{"Username": "alice"}``, ``("AccessKeyId", "AKIA...")``
        or ``[{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}]``.
    session, profile
        A ``boto3.Session`` or a profile name; otherwise boto3's default credential chain.
    cache_dir
        Where the raw pages are kept (default ``.forensics-cache/lookup`` in the current
        folder), one sub-folder per call.
    rate
        Requests per second per region (AWS allows 2).
    attempts, backoff
        Tries per request on throttling/server errors, and the backoff base in seconds.

    Returns
    -------
    Trail
        The events, with ``trail.report.notes`` saying what event history cannot hold and
        ``trail.report.files_failed`` naming regions that failed (after retries).

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> trail = fx.lookup_events(start="2026-11-01", regions=["us-east-1", "eu-west-1"],
    ...                          attributes={"AccessKeyId": "AKIAEXAMPLE"})  # doctest: +SKIP
    >>> trail.report.notes[0]  # doctest: +SKIP
    'event history (LookupEvents) holds management events only: ...'
    """
    return trail_of_pages(
        fetch_lookup_events(
            start=start,
            end=end,
            regions=regions,
            attributes=attributes,
            session=session,
            profile=profile,
            cache_dir=cache_dir,
            rate=rate,
            attempts=attempts,
            backoff=backoff,
        )
    )


def load_cloudwatch(
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
) -> Trail:
    """Load CloudTrail records from a CloudWatch Logs log group into a Trail.

    Parameters
    ----------
    log_group
        The log group the trail delivers to (e.g. ``aws-cloudtrail-logs-111122223333-1a2b``).
    start, end
        The window (UTC; ``start <= event_time < end``).
    session, profile, region
        A ``boto3.Session`` or a profile name (default: boto3's chain), and the log group's
        region (default: the session's).
    log_streams
        Only these log streams (CloudTrail names them ``<account>_CloudTrail_<region>``).
    filter_pattern
        A CloudWatch Logs filter pattern, applied by the service (e.g.
        ``'{ $.userIdentity.accessKeyId = "AKIA..." }'``).
    cache_dir
        Where the raw pages are kept (default ``.forensics-cache/cloudwatch``).
    page_size
        Log events per request (the service's default, up to 10,000, when None).
    attempts, backoff
        Tries per request on throttling/server errors, and the backoff base in seconds.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> trail = fx.load_cloudwatch("aws-cloudtrail-logs-111122223333", start="2026-11-01",
    ...                            profile="ir-readonly")  # doctest: +SKIP
    """
    return trail_of_pages(
        fetch_cloudwatch(
            log_group,
            start=start,
            end=end,
            session=session,
            profile=profile,
            log_streams=log_streams,
            filter_pattern=filter_pattern,
            region=region,
            cache_dir=cache_dir,
            page_size=page_size,
            attempts=attempts,
            backoff=backoff,
        )
    )
