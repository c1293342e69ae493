"""Test helper: CloudTrail records -> OCSF 1.1 API Activity, by AWS's documented mapping
(:data:`forensics.ingest.athena._ocsf.MAPPING`, read left to right), written as Parquet in Security
Lake's layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from forensics.ingest._normalize import parse_time_series
from forensics.ingest.athena._ocsf import MAPPING, UNMAPPED


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


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def _when(text: Any) -> datetime | None:
    if text is None:
        return None
    return parse_time_series(pl.Series([str(text)])).item()


def to_ocsf(rec: dict[str, Any], *, unmapped: bool = True) -> dict[str, Any]:
    """One CloudTrail record as Security Lake's OCSF 1.1 API Activity (class 6003)."""
    out: dict[str, Any] = {
        "class_uid": 6003,
        "category_uid": 6,
        "metadata": {"version": "1.1.0", "product": {"name": "CloudTrail", "vendor_name": "AWS"}},
        "cloud": {"provider": "AWS"},
    }
    for ocsf, field in MAPPING:
        value = _get(rec, field)
        if value is None:
            continue
        if field == "eventTime":
            when = _when(value)
            if when is None:
                continue
            out["time"] = int(when.timestamp() * 1000)
            value = when
        elif field == "userIdentity.sessionContext.attributes.creationDate":
            value = _when(value)
        elif field == "userIdentity.sessionContext.attributes.mfaAuthenticated":
            value = str(value).lower() == "true"
        elif (
            field == "sourceIPAddress"
            and not any(c.isdigit() for c in str(value)[:1])
            and ":" not in str(value)
        ):
            ocsf = "src_endpoint.domain"  # a service's name, not an address
        elif field in ("requestParameters", "responseElements") or not isinstance(
            value, (str, bool, datetime)
        ):
            value = _text(value)
        if value is not None:
            _put(out, ocsf, value)
    user = rec.get("userIdentity") if isinstance(rec.get("userIdentity"), dict) else {}
    if user.get("type") == "IdentityCenterUser" and _get(user, "onBehalfOf.userId"):
        _put(out, "actor.user.uid_alt", _get(user, "onBehalfOf.userId"))
    if unmapped:
        kept = {f: _text(_get(rec, f)) for f in UNMAPPED if _get(rec, f) is not None}
        out["unmapped"] = [{"key": k, "value": v} for k, v in kept.items()] or None
    res = rec.get("resources")
    if isinstance(res, list):
        out["resources"] = [
            {
                "uid": r.get("ARN"),
                "type": r.get("type"),
                "owner": {"account": {"uid": r.get("accountId")}},
            }
            for r in res
            if isinstance(r, dict)
        ]
    return out


def write_security_lake(records: list[dict[str, Any]], root: Path, *, unmapped: bool = True) -> int:
    """Parquet files in Security Lake's layout (region / accountId / eventDay)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        doc = to_ocsf(rec, unmapped=unmapped)
        t = doc.get("time")
        day = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y%m%d") if t else "19700101"
        key = (
            str(rec.get("awsRegion") or "us-east-1"),
            str(rec.get("recipientAccountId") or "000000000000"),
            day,
        )
        groups.setdefault(key, []).append(doc)
    for (region, account, day), docs in groups.items():
        folder = root / f"region={region}" / f"accountId={account}" / f"eventDay={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(docs, infer_schema_length=None).write_parquet(folder / "part-0.parquet")
    return len(groups)
