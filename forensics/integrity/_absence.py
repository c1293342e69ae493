"""Not seen vs not logged: whether an empty answer means "it did not happen" or "the trail could
not have recorded it".

CloudTrail records management events by default; data events (S3 object-level calls, Lambda
Invoke, DynamoDB items, ...) only for the resources the trail's selectors name; a trail may cover
one region; logging may have been stopped. An empty answer to "did X read objects of bucket B?"
proves nothing when the trail holds no data event for B at all.

>>> import polars as pl
>>> from forensics._trail import Trail
>>> from forensics.ingest._normalize import normalize_records
>>> t = Trail(normalize_records([{"eventTime": "2024-01-01T00:00:00Z", "eventName": "ListBuckets",
...     "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1",
...     "recipientAccountId": "111122223333", "userIdentity": {"type": "Root"}}], "x.json"))
>>> a = could_have_logged(t, event_name="GetObject", resource="arn:aws:s3:::secrets/a.txt")
>>> a.verdict
'may not have been logged'
>>> "no S3 data events" in a.reasons[0]
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from forensics._schema import in_window

__all__ = ["DATA_EVENT_APIS", "Absence", "could_have_logged"]

#: Event names CloudTrail records only as data events (when selectors ask for them), by source.
DATA_EVENT_APIS: dict[str, frozenset[str]] = {
    "s3.amazonaws.com": frozenset(
        {
            "GetObject",
            "PutObject",
            "DeleteObject",
            "DeleteObjects",
            "HeadObject",
            "CopyObject",
            "GetObjectAcl",
            "PutObjectAcl",
            "GetObjectTagging",
            "PutObjectTagging",
            "DeleteObjectTagging",
            "GetObjectAttributes",
            "GetObjectRetention",
            "GetObjectLegalHold",
            "PutObjectRetention",
            "PutObjectLegalHold",
            "RestoreObject",
            "SelectObjectContent",
            "CreateMultipartUpload",
            "UploadPart",
            "UploadPartCopy",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "ListParts",
            "ListObjects",
            "ListObjectsV2",
            "ListObjectVersions",
            "ListMultipartUploads",
            "HeadBucket",
        }
    ),
    "lambda.amazonaws.com": frozenset({"Invoke", "InvokeWithResponseStream"}),
    "dynamodb.amazonaws.com": frozenset(
        {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
            "ExecuteStatement",
            "BatchExecuteStatement",
            "ExecuteTransaction",
        }
    ),
    "sqs.amazonaws.com": frozenset(
        {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch"}
    ),
    "sns.amazonaws.com": frozenset({"Publish", "PublishBatch"}),
    "kinesis.amazonaws.com": frozenset(
        {"PutRecord", "PutRecords", "GetRecords", "SubscribeToShard"}
    ),
    "ebs.amazonaws.com": frozenset(
        {"GetSnapshotBlock", "ListSnapshotBlocks", "ListChangedBlocks", "PutSnapshotBlock"}
    ),
    "secretsmanager.amazonaws.com": frozenset(),  # GetSecretValue is a management event
}
_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "Select",
    "Scan",
    "Query",
    "BatchGet",
    "Receive",
)


@dataclass
class Absence:
    """The answer to "could the trail have recorded this?"."""

    question: dict[str, Any]
    seen: int
    verdict: str  # "seen" | "not seen, would have been logged" | "may not have been logged"
    reasons: list[str] = field(default_factory=list)

    @property
    def could_be_missing(self) -> bool:
        """True when an empty answer proves nothing (some reason it would not be logged)."""
        return bool(self.reasons)

    def __str__(self) -> str:
        from forensics.integrity._result import _safe

        asked = ", ".join(f"{k}={v}" for k, v in self.question.items() if v is not None)
        lines = [
            f"{asked or 'anything'}: {self.verdict}"
            + (f" ({self.seen:,} event(s))" if self.seen else "")
        ]
        lines.extend(f"  - {r}" for r in self.reasons)
        return _safe("\n".join(lines))


def _base_of(trail: Any) -> Any:
    """The trail before its filters (``is None``, not truthiness: ``len()`` of a trail scans it)."""
    base = getattr(trail, "_base", None)
    return trail if base is None else base


def _bucket_of(resource: str | None) -> str | None:
    if resource and resource.startswith("arn:aws:s3:::"):
        return resource[len("arn:aws:s3:::") :].split("/", 1)[0] or None
    return None


def _arn_parts(resource: str | None) -> tuple[str | None, str | None, str | None]:
    """``(service, region, account)`` of an ARN (None where it has none)."""
    if not resource or not resource.startswith("arn:"):
        return None, None, None
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return None, None, None
    return parts[2] or None, parts[3] or None, parts[4] or None


def could_have_logged(
    trail: Any,
    *,
    event_name: str | None = None,
    event_source: str | None = None,
    resource: str | None = None,
    region: str | None = None,
    account: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
) -> Absence:
    """Whether ``trail`` could have recorded an event of this kind (for an empty answer).

    ``trail`` may be filtered (``trail.for_principal(...)``): what it holds is counted as
    "seen", and the checks run on the trail before its filters, since what the trail records
    does not depend on who is asked about.

    Reasons given when it could be missing: an S3 object-level (or other data-plane) call with
    no data events for that bucket / service in the trail; a region or account the trail holds
    nothing from; a window outside the trail's span, inside a period in which logging was off
    (a successful StopLogging / DeleteTrail), or in which no log file was delivered; read-only
    calls where the trail holds no read-only management events (a WriteOnly selector).

    Examples
    --------
    >>> import forensics as fx
    >>> trail = fx.load("data/sample")                                  # doctest: +SKIP
    >>> fx.integrity.could_have_logged(trail, event_name="GetObject",
    ...                                resource="arn:aws:s3:::payroll")  # doctest: +SKIP
    """
    from forensics._schema import to_utc
    from forensics.integrity._coverage import coverage

    lo, hi = to_utc(start), to_utc(end)
    service, arn_region, arn_account = _arn_parts(resource)
    region = region or arn_region
    account = account or arn_account
    bucket = _bucket_of(resource)
    if event_source is None and service:
        event_source = f"{service}.amazonaws.com"
    question = {
        "event_name": event_name,
        "event_source": event_source,
        "resource": resource,
        "region": region,
        "account": account,
        "start": lo,
        "end": hi,
    }

    # -- what the (filtered) trail holds --------------------------------------------------------
    preds = []
    if event_name:
        preds.append(pl.col("event_name") == event_name)
    if event_source:
        preds.append(pl.col("event_source") == event_source)
    if region:
        preds.append(pl.col("aws_region") == region)
    window = in_window(lo, hi)
    if window is not None:
        preds.append(window)
    if resource:
        arns = pl.col("resources").list.eval(pl.element().struct.field("arn"))
        by_arn = arns.list.eval(pl.element().str.starts_with(resource)).list.any().fill_null(False)
        if bucket:  # S3 names its bucket and key in the request too (resources[] may be absent)
            params = pl.col("request_parameters")
            same = params.str.json_path_match("$.bucketName") == bucket
            key = (resource or "")[len("arn:aws:s3:::") + len(bucket) + 1 :]
            if key:
                same = same & params.str.json_path_match("$.key").str.starts_with(key)
            by_arn = by_arn | same.fill_null(False)
        preds.append(by_arn)
    lazy = trail.lazy.filter(*preds) if preds else trail.lazy
    seen = lazy.select(pl.len()).collect().item()
    if seen:
        return Absence(question, seen, "seen")

    # -- could it have been recorded at all? ----------------------------------------------------------
    base = _base_of(trail)
    reasons: list[str] = []
    facts = (
        base.lazy.select(
            pl.col("aws_region").unique().implode().alias("regions"),
            pl.coalesce("recipient_account_id", "account_id").unique().implode().alias("accounts"),
            pl.col("event_time").min().alias("first"),
            pl.col("event_time").max().alias("last"),
        )
        .collect()
        .row(0, named=True)
    )
    if region and region not in (facts["regions"] or []):
        reasons.append(
            f"no event at all from region {region}: the trail may not cover it "
            "(a single-region trail), or logs from it were not loaded"
        )
    if account and account not in (facts["accounts"] or []):
        reasons.append(f"no event at all from account {account}: not in this trail")
    if facts["first"] is not None:
        if hi is not None and hi <= facts["first"]:
            reasons.append(
                f"the window ends before the trail's first event "
                f"({facts['first']:%Y-%m-%d %H:%M:%S} UTC)"
            )
        if lo is not None and lo > facts["last"]:
            reasons.append(
                f"the window starts after the trail's last event "
                f"({facts['last']:%Y-%m-%d %H:%M:%S} UTC)"
            )
    elif facts["first"] is None:
        reasons.append("the trail holds no events")

    data_names = DATA_EVENT_APIS.get(event_source or "", frozenset())
    is_data = bool(event_name) and (
        event_name in data_names
        or (event_source is None and any(event_name in s for s in DATA_EVENT_APIS.values()))
    )
    is_data = is_data or (
        bucket is not None and "/" in (resource or "")[len("arn:aws:s3:::") :] and not event_name
    )
    cov = coverage(base)
    if is_data or bucket:
        data = cov.data_resources
        if bucket:
            mine = data.filter(pl.col("resource").str.starts_with(f"arn:aws:s3:::{bucket}"))
            s3 = data.filter(pl.col("event_source") == "s3.amazonaws.com")
            if is_data and mine.height == 0:
                reasons.append(
                    f"no S3 data events for bucket {bucket} in this trail"
                    + (
                        " (there are for other buckets: the selectors may leave it out)"
                        if s3.height
                        else " (none at all: data events are off by default)"
                    )
                    + f": object-level calls such as {event_name or 'GetObject'} would not be "
                    "recorded"
                )
            elif is_data and event_name:
                names = {n for ns in mine["event_names"].to_list() for n in ns}
                read = event_name.startswith(_READ_PREFIXES)
                if names and all(n.startswith(_READ_PREFIXES) != read for n in names):
                    reasons.append(
                        f"bucket {bucket} has only "
                        f"{'write' if read else 'read'} data events in this trail: "
                        f"its selector may record {'writes' if read else 'reads'} only"
                    )
            if is_data and mine.height:
                first = mine["first"].min()
                turned_on = cov.changes.filter(
                    pl.col("event_name").is_in(["PutEventSelectors", "PutAdvancedEventSelectors"])
                    & pl.col("error_code").is_null()
                    & pl.col("selectors").str.contains(bucket, literal=True)
                    & (pl.col("event_time") <= first)
                )
                if turned_on.height and (lo is None or lo < turned_on["event_time"][-1]):
                    when = turned_on["event_time"][-1]
                    reasons.append(
                        f"data events for bucket {bucket} start with {turned_on['event_name'][-1]}"
                        f" at {when:%Y-%m-%d %H:%M:%S} UTC: object-level calls before it were "
                        "not recorded"
                    )
        elif is_data:
            source = event_source or next(
                s for s, ns in DATA_EVENT_APIS.items() if event_name in ns
            )
            if data.filter(pl.col("event_source") == source).height == 0:
                reasons.append(
                    f"no data events from {source} in this trail: {event_name} is a "
                    "data event, recorded only when the trail's selectors ask for it"
                )
    elif event_name and event_name.startswith(_READ_PREFIXES):
        read_only = base.lazy.filter(pl.col("read_only")).select(pl.len())
        if read_only.collect().item() == 0:
            reasons.append(
                "the trail holds no read-only management events (a WriteOnly "
                f"selector?): {event_name} would not be recorded"
            )

    for row in cov.logging_off(lo, hi).iter_rows(named=True):
        if account and row["account"] != account:
            continue
        to = f"{row['to']:%Y-%m-%d %H:%M:%S} UTC" if row["to"] is not None else "the end"
        reasons.append(
            f"trail {row['trail']} was off from {row['from']:%Y-%m-%d %H:%M:%S} UTC "
            f"to {to} ({row['opened_by'].split()[0]})"
        )
    if lo is not None or hi is not None:
        gaps = cov.gaps()
        if region:
            gaps = gaps.filter(pl.col("region") == region)
        if account:
            gaps = gaps.filter(pl.col("account") == account)
        if lo is not None:
            gaps = gaps.filter(pl.col("end") > lo)
        if hi is not None:
            gaps = gaps.filter(pl.col("start") < hi)
        for row in gaps.head(5).iter_rows(named=True):
            reasons.append(
                f"no log file delivered for {row['account']} {row['region']} from "
                f"{row['start']:%Y-%m-%d %H:%M} to {row['end']:%Y-%m-%d %H:%M} UTC"
            )
    verdict = "may not have been logged" if reasons else "not seen, would have been logged"
    return Absence(question, 0, verdict, reasons)


def window_notes(
    trail: Any, lo: datetime | None, hi: datetime | None, touched: pl.DataFrame | None = None
) -> list[str]:
    """What ``trail`` could not have recorded in ``[lo, hi)``: periods in which a trail was off,
    and the S3 buckets among ``touched`` (rows with an ``arn`` column) with no data event at
    all. Two narrow queries, cheap enough for every blast radius summary."""
    from forensics.integrity._coverage import CONFIG_EVENTS, _selectors, _trail_name, _windows

    base = _base_of(trail)
    notes: list[str] = []
    changes = (
        base.lazy.filter(
            (pl.col("event_source") == "cloudtrail.amazonaws.com")
            & pl.col("event_name").is_in(list(CONFIG_EVENTS))
        )
        .select(
            "event_time",
            pl.coalesce("recipient_account_id", "account_id").alias("account"),
            "event_name",
            "error_code",
            "request_parameters",
            "event_id",
        )
        .sort("event_time")
        .collect()
    )
    if changes.height:
        changes = changes.with_columns(
            pl.col("request_parameters")
            .map_elements(_trail_name, return_dtype=pl.String)
            .alias("trail"),
            pl.col("request_parameters")
            .map_elements(_selectors, return_dtype=pl.String)
            .alias("selectors"),
        )
        off = _windows(changes, pl.DataFrame()).filter(pl.col("state") == "off")
        if lo is not None:
            off = off.filter(pl.col("to").is_null() | (pl.col("to") > lo))
        if hi is not None:
            off = off.filter(pl.col("from") < hi)
        for row in off.iter_rows(named=True):
            to = f"{row['to']:%Y-%m-%d %H:%M:%S} UTC" if row["to"] is not None else "the end"
            notes.append(
                f"trail {row['trail']} ({row['account']}) was off from "
                f"{row['from']:%Y-%m-%d %H:%M:%S} UTC to {to} "
                f"({row['opened_by'].split()[0]})"
            )
    if touched is not None and "arn" in touched.columns and touched.height:
        buckets = sorted({b for a in touched["arn"].drop_nulls().to_list() if (b := _bucket_of(a))})
        if buckets:
            with_data = set(
                base.lazy.filter(
                    (pl.col("event_source") == "s3.amazonaws.com")
                    & ((pl.col("event_category") == "Data") | pl.col("management_event").not_())
                )
                .select(pl.col("request_parameters").str.json_path_match("$.bucketName"))
                .unique()
                .collect()
                .to_series()
                .drop_nulls()
                .to_list()
            )
            blind = [b for b in buckets if b not in with_data]
            if blind:
                notes.append(
                    f"no S3 data events for {len(blind)} bucket(s) touched "
                    f"({', '.join(blind[:8])}{', ...' if len(blind) > 8 else ''}): object reads "
                    "and writes in them would not be in the trail"
                )
    return notes
