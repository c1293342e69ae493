"""Security Lake: OCSF 1.1 API Activity (class 6003) CloudTrail data -> the events table.

Security Lake stores CloudTrail management events as OCSF ``API Activity`` records in Parquet
(``.../region=<r>/accountId=<a>/eventDay=<yyyymmdd>/*.parquet``). Each record is mapped back to
the CloudTrail record it came from by AWS's documented CloudTrail -> OCSF 1.1 field mapping
(:data:`MAPPING`, read right to left), and goes through the same normalizer and principal rule
as a CloudTrail file. Fields the mapping leaves to OCSF's ``unmapped`` object (``sharedEventID``,
``readOnly``, ``managementEvent``, ``additionalEventData``, the session issuer's type, ...) are
read from it when Security Lake kept them, and are null otherwise (``docs/scale.md`` lists
them). Parquet files are read locally or from ``s3://``; :func:`query` pushes the same filters
into one Athena query over the Security Lake table.

>>> rec = records([{"api": {"operation": "GetObject", "service": {"name": "s3.amazonaws.com"}},
...                 "actor": {"user": {"type": "IAMUser", "uid": "arn:aws:iam::1:user/a"}},
...                 "time": 1700000000000, "class_uid": 6003}])[0]
>>> rec["eventName"], rec["userIdentity"]["arn"], rec["eventTime"]
('GetObject', 'arn:aws:iam::1:user/a', '2023-11-14T22:13:20Z')
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from sqlglot import exp

from forensics._schema import EVENTS_SCHEMA, conform
from forensics._trail import Trail
from forensics.ingest._normalize import normalize_records
from forensics.ingest._report import LoadReport
from forensics.ingest.athena._query import Filters, _in, _s
from forensics.ingest.athena._rows import exact

__all__ = [
    "MAPPING",
    "NOT_IN_OCSF",
    "UNMAPPED",
    "load_athena",
    "query",
    "read_security_lake",
    "records",
    "to_events",
]

#: AWS's CloudTrail -> OCSF 1.1 API Activity mapping: (OCSF path, CloudTrail path).
MAPPING: tuple[tuple[str, str], ...] = (
    ("actor.user.account.uid", "userIdentity.accountId"),
    ("actor.user.credential_uid", "userIdentity.accessKeyId"),
    ("actor.user.name", "userIdentity.userName"),
    ("actor.user.type", "userIdentity.type"),
    ("actor.user.uid_alt", "userIdentity.principalId"),
    ("actor.user.uid", "userIdentity.arn"),
    ("actor.session.created_time_dt", "userIdentity.sessionContext.attributes.creationDate"),
    ("actor.session.is_mfa", "userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ("actor.session.issuer", "userIdentity.sessionContext.sessionIssuer.arn"),
    ("actor.invoked_by", "userIdentity.invokedBy"),
    ("actor.idp.name", "userIdentity.identityProvider"),
    ("actor.idp.uid", "userIdentity.onBehalfOf.identityStoreArn"),
    ("src_endpoint.uid", "vpcEndpointId"),
    ("api.request.uid", "requestID"),
    ("api.service.name", "eventSource"),
    ("api.version", "apiVersion"),
    ("api.operation", "eventName"),
    ("cloud.region", "awsRegion"),
    ("cloud.account.uid", "recipientAccountId"),
    ("http_request.user_agent", "userAgent"),
    ("metadata.product.version", "eventVersion"),
    ("metadata.uid", "eventID"),
    ("metadata.event_code", "eventType"),
    ("metadata.product.feature.name", "eventCategory"),
    ("time_dt", "eventTime"),
    ("api.response.error", "errorCode"),
    ("api.response.message", "errorMessage"),
    ("api.request.data", "requestParameters"),
    ("api.response.data", "responseElements"),
    ("src_endpoint.ip", "sourceIPAddress"),  # or src_endpoint.domain (a service's name)
)
#: CloudTrail fields OCSF leaves to ``unmapped`` (read from it when present, else null).
UNMAPPED: tuple[str, ...] = (
    "sharedEventID",
    "readOnly",
    "managementEvent",
    "additionalEventData",
    "userIdentity.sessionContext.sessionIssuer.type",
    "userIdentity.sessionContext.sourceIdentity",
)
#: Events-table columns that an OCSF record cannot fill when ``unmapped`` lacks them.
NOT_IN_OCSF: tuple[str, ...] = (
    "shared_event_id", "read_only", "management_event", "additional_event_data",
    "session_issuer_type", "source_identity", "extra", "source_index",
)  # fmt: skip

_JSON_FIELDS = ("requestParameters", "responseElements", "additionalEventData")


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


def _unmapped(value: Any) -> dict[str, Any]:
    """OCSF ``unmapped``: a map (Parquet: a list of key/value pairs) or an object."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {i["key"]: i["value"] for i in value if isinstance(i, dict) and "key" in i}
    return {}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _time(value: Any) -> str | None:
    """OCSF time (epoch milliseconds, or a datetime) as CloudTrail's eventTime text."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):  # a timestamp as JSON text ("2026-03-02 23:09:13+00", ...)
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        return text + "Z"
    return str(value)


def records(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CloudTrail records OCSF API Activity rows were made from (as far as OCSF carries)."""
    out = []
    for row in rows:
        rec: dict[str, Any] = {}
        for ocsf, field in MAPPING:
            value = _get(row, ocsf)
            if field == "sourceIPAddress" and value is None:
                value = _get(row, "src_endpoint.domain")
            if field == "eventTime":
                value = _time(value if value is not None else row.get("time"))
            elif field == "userIdentity.sessionContext.attributes.creationDate":
                value = _time(
                    value if value is not None else _get(row, "actor.session.created_time")
                )
            elif field == "userIdentity.sessionContext.attributes.mfaAuthenticated":
                value = None if value is None else ("true" if value else "false")
            elif field in _JSON_FIELDS:
                value = _json(value)
            if value is not None:
                _put(rec, field, value)
        user = rec.get("userIdentity", {})
        if user.get("type") == "IdentityCenterUser" and "principalId" in user:
            # OCSF puts onBehalfOf.userId in uid_alt for Identity Center users
            user.setdefault("onBehalfOf", {})["userId"] = user["principalId"]
        extra = _unmapped(row.get("unmapped"))
        for field in UNMAPPED:
            value = extra.get(field)
            if value is not None:
                _put(rec, field, _json(value) if field in _JSON_FIELDS else value)
        res = row.get("resources")
        if isinstance(res, list):
            rec["resources"] = [
                {
                    k: v
                    for k, v in (
                        ("ARN", _get(r, "uid")),
                        ("accountId", _get(r, "owner.account.uid")),
                        ("type", _get(r, "type")),
                    )
                    if v is not None
                }
                for r in res
                if isinstance(r, dict)
            ]
        out.append(rec)
    return out


def to_events(
    rows: list[dict[str, Any]], sources: list[str | None], f: Filters | None = None
) -> pl.DataFrame:
    """OCSF rows -> the events table (``sources``: the object each row was read from)."""
    if not rows:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    frame = normalize_records(records(rows), "").with_columns(
        pl.Series("source_file", sources, dtype=pl.String),
        pl.lit(None, pl.Int64).alias("source_index"),
    )
    if f is not None:
        frame = exact(frame, f)
    frame = frame.sort(
        "event_time", pl.col("source_file").cast(pl.String), nulls_last=True, maintain_order=True
    )
    return conform(frame)  # type: ignore[return-value]


_PART = re.compile(r"region=([^/]+)/accountId=([^/]+)/eventDay=(\d{8})/", re.IGNORECASE)


def _wanted(path: str, f: Filters) -> bool:
    """Partition pruning by the Security Lake layout (a file outside it is read)."""
    m = _PART.search(path.replace(os.sep, "/"))
    if not m:
        return True
    region, account, day = m.groups()
    d = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    if f.regions is not None and region not in f.regions:
        return False
    if f.accounts is not None and account not in f.accounts:
        return False
    if f.start is not None and d < (f.start - timedelta(days=1)).date():
        return False
    return not (f.end is not None and d > (f.end + timedelta(days=1)).date())


def _read(data: bytes | str, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    frame = pl.read_parquet(io.BytesIO(data) if isinstance(data, bytes) else data)
    rows = frame.to_dicts()
    return rows, [name] * len(rows)


def read_security_lake(
    path: str | os.PathLike[str],
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    principals: Iterable[str] | None = None,
    access_keys: Iterable[str] | None = None,
    event_names: Iterable[str] | None = None,
    session: Any = None,
    profile: str | None = None,
) -> Trail:
    """Read Security Lake CloudTrail (OCSF 1.1 API Activity) Parquet into a ``Trail``.

    ``path`` is a folder or an ``s3://bucket/prefix`` in Security Lake's layout (only the
    partitions of the window, accounts and regions are read) or one Parquet file.

    Examples
    --------
    >>> import forensics as fx
    >>> trail = fx.athena.read_security_lake(
    ...     "s3://aws-security-data-lake-us-east-1-abc/aws/CLOUD_TRAIL_MGMT/2.0/",
    ...     start="2026-03-04", accounts=["111122223333"])  # doctest: +SKIP
    """
    f = Filters.of(
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        principals=principals,
        access_keys=access_keys,
        event_names=event_names,
    )
    rows: list[dict[str, Any]] = []
    names: list[str | None] = []
    report = LoadReport(sources=[os.fspath(path)])
    text = os.fspath(path)
    if text.startswith("s3://"):
        from forensics.sources._athena import _objects, split_s3
        from forensics.sources._aws import Backoff, make_session

        s3 = make_session(session, profile).client("s3")
        bucket, prefix = split_s3(text)
        backoff = Backoff()
        for key, _size in _objects(s3, bucket, prefix, backoff):
            if not key.endswith(".parquet") or not _wanted(key, f):
                report.files_pruned += key.endswith(".parquet")
                continue
            body = backoff.call(
                lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            )
            got, src = _read(body, f"s3://{bucket}/{key}")
            rows += got
            names += src
            report.files_read += 1
    else:
        files = [Path(text)] if Path(text).is_file() else sorted(Path(text).rglob("*.parquet"))
        for file in files:
            if not _wanted(str(file), f):
                report.files_pruned += 1
                continue
            got, src = _read(str(file), str(file))
            rows += got
            names += src
            report.files_read += 1
    keep = [i for i, r in enumerate(rows) if r.get("class_uid") in (None, 6003)]
    events = to_events([rows[i] for i in keep], [names[i] for i in keep], f)
    if f.event_names is not None:
        events = events.filter(pl.col("event_name").is_in(list(f.event_names)))
    if f.access_keys is not None:
        events = events.filter(pl.col("access_key_id").is_in(list(f.access_keys)))
    report.records_read = len(rows)
    report.records_loaded = events.height
    return Trail(events, report)


# -- the same filters, as one Athena query over the Security Lake table ----------------------
_OCSF_COLUMNS = (
    "metadata",
    "time",
    "time_dt",
    "cloud",
    "api",
    "actor",
    "http_request",
    "src_endpoint",
    "resources",
    "class_uid",
    "unmapped",
)


def _c(path: str) -> exp.Expression:
    parts = path.split(".")
    node: exp.Expression = exp.column(parts[0])
    for part in parts[1:]:
        node = exp.Dot(this=node, expression=exp.to_identifier(part))
    return node


def query(table: str, f: Filters) -> exp.Select:
    """The SELECT over a Security Lake CloudTrail table (partitions ``region``, ``accountid``,
    ``eventday``) for filters ``f``; every struct comes back as JSON text."""
    select = []
    for col in _OCSF_COLUMNS:
        if col in ("time", "class_uid"):
            select.append(exp.alias_(exp.cast(exp.column(col), "VARCHAR"), col))
        elif col == "time_dt":
            continue
        else:
            select.append(
                exp.alias_(exp.func("JSON_FORMAT", exp.cast(exp.column(col), "JSON")), col)
            )
    select.append(exp.alias_(exp.column("$path", quoted=True), "source_object"))
    where: list[exp.Expression] = [
        exp.EQ(this=exp.column("class_uid"), expression=exp.Literal.number(6003))
    ]
    if f.accounts is not None:
        where.append(_in("accountid", f.accounts))
    if f.regions is not None:
        where.append(_in("region", f.regions))
    if f.start is not None:
        where.append(
            exp.GTE(
                this=exp.column("eventday"),
                expression=_s((f.start - timedelta(days=1)).strftime("%Y%m%d")),
            )
        )
    if f.end is not None:
        where.append(
            exp.LTE(
                this=exp.column("eventday"),
                expression=_s((f.end + timedelta(days=1)).strftime("%Y%m%d")),
            )
        )
    if f.event_names is not None:
        where.append(_in("api.operation", f.event_names))
    if f.access_keys is not None:
        where.append(_in("actor.user.credential_uid", f.access_keys))
    if f.principals is not None:
        ors: list[exp.Expression] = []
        for p in f.principals:
            ors += [
                exp.EQ(this=_c("actor.user.uid"), expression=_s(p)),
                exp.EQ(this=_c("actor.session.issuer"), expression=_s(p)),
            ]
            ors.append(
                exp.EQ(this=_c("actor.user.type"), expression=_s(p.split(":", 1)[0]))
                if not p.startswith("arn:")
                else exp.false()
            )
            if ":role/" in p:
                name = p.rsplit("/", 1)[-1].replace("%", "\\%").replace("_", "\\_")
                ors.append(
                    exp.Escape(
                        this=exp.Like(
                            this=_c("actor.user.uid"), expression=_s(f"%:assumed-role/{name}/%")
                        ),
                        expression=_s("\\"),
                    )
                )
            if ":user/" in p:
                ors.append(exp.EQ(this=_c("actor.user.name"), expression=_s(p.rsplit("/", 1)[-1])))
            if p.endswith(":root"):
                ors.append(exp.EQ(this=_c("actor.user.type"), expression=_s("Root")))
        where.append(exp.or_(*ors) if ors else exp.false())
    return exp.select(*select).from_(exp.to_table(table)).where(exp.and_(*where))


def rows_to_events(rows: pl.DataFrame, f: Filters) -> pl.DataFrame:
    """Query rows (JSON text per struct) -> the events table."""
    docs = []
    for row in rows.iter_rows(named=True):
        doc: dict[str, Any] = {}
        for col in _OCSF_COLUMNS:
            value = row.get(col)
            if value is None:
                continue
            if col == "time":
                doc[col] = int(float(value))
            elif col == "class_uid":
                doc[col] = int(value)
            else:
                doc[col] = _json(value)
        docs.append(_drop_nulls(doc))
    return to_events(docs, rows.get_column("source_object").to_list(), f)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def load_athena(
    table: str,
    engine: Any = None,
    *,
    filters: Filters | None = None,
    source: str | None = None,
    **kw: Any,
) -> Trail:
    """The events of a Security Lake table on Athena (or the DuckDB stand-in) for the filters.

    ``table`` is ``db.table`` (or ``athena://db.table``); ``engine`` is an
    :class:`~forensics.ingest.athena.AthenaEngine` (built from ``remote=`` options when not given).
    Also reached through ``fx.load("athena://<db>.<..._cloud_trail_mgmt_...>", ...)``.
    """
    if table.startswith("athena://"):
        source = source or table
        table = table[len("athena://") :]
    f = (
        filters
        if filters is not None
        else Filters.of(
            **{k: v for k, v in kw.items() if k not in ("remote", "workgroup", "output")}
        )
    )
    if engine is None:
        from forensics.ingest.athena._engine import AthenaEngine

        db = table.rpartition(".")[0]
        engine = AthenaEngine(
            database=db,
            workgroup=kw.get("workgroup"),
            output=kw.get("output"),
            **(kw.get("remote") or {}),
        )
    ran = engine.run(query(table, f), f)
    events = rows_to_events(ran.rows, f)
    report = LoadReport(
        sources=[source or table], records_read=ran.rows.height, records_loaded=events.height
    )
    report.notes.append(
        f"{source or table}: query {ran.query_id}, "
        f"{ran.bytes_scanned:,} bytes scanned"
        + (f", results in {ran.output}" if getattr(ran, "output", None) else "")
    )
    report.notes.extend(getattr(engine, "notes", []))
    return Trail(events, report)
