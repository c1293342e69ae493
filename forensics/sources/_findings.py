"""GuardDuty findings and Security Hub (ASFF) findings as investigation seeds.

``findings_from(path)`` reads the JSON that GuardDuty's ``GetFindings`` returns
(``{"Findings": [...]}``, PascalCase), the console's / CLI's exports (a list, or one finding;
the console and EventBridge use camelCase), EventBridge events (``detail`` is the finding;
Security Hub's ``detail.findings[]``) and Security Hub's ``GetFindings`` output (ASFF), and
returns one :class:`Seed` per finding: the access key, the principal, the time window and the
source IPs, ready for ``trail.for_principal(seed.key)`` or ``fx.blast_radius(trail, seed.key,
since=seed.since)``.

>>> seeds = findings_from_documents([{"Type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
...     "Id": "f1", "Severity": 8.0, "AccountId": "111122223333", "Region": "us-east-1",
...     "Resource": {"AccessKeyDetails": {"AccessKeyId": "AKIAEXAMPLE", "UserName": "bob",
...                                       "UserType": "IAMUser"}},
...     "Service": {"EventFirstSeen": "2026-03-04T13:52:17Z"}}])
>>> seeds[0].key, seeds[0].level, seeds[0].principal_arn
('AKIAEXAMPLE', 'high', 'arn:aws:iam::111122223333:user/bob')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Seed", "findings_from", "findings_from_documents"]


@dataclass(frozen=True)
class Seed:
    """Where an investigation starts, from one GuardDuty or Security Hub finding."""

    source: str  # "guardduty" | "securityhub"
    finding_id: str
    title: str
    finding_type: str
    level: str  # informational | low | medium | high | critical
    account_id: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    principal_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None
    principal_arn: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    source_ips: tuple[str, ...] = ()
    api_calls: tuple[str, ...] = ()
    instance_id: str | None = None  # EC2 findings: the instance (its role sessions are named so)
    instance_profile_arn: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str | None:
        """What to follow: the access key, else the principal ARN, else the user name."""
        return self.access_key_id or self.principal_arn or self.user_name or self.principal_id

    @property
    def since(self) -> datetime | None:
        """When the finding's activity began (for ``blast_radius(..., since=)``)."""
        return self.first_seen

    def as_row(self) -> dict[str, Any]:
        """The seed as a flat dict (one row of a table)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "raw"} | {
            "key": self.key
        }


def _get(doc: Any, *path: str) -> Any:
    """Follow ``path`` through dicts, matching keys case-insensitively (PascalCase/camelCase)."""
    cur = doc
    for name in path:
        if not isinstance(cur, dict):
            return None
        if name in cur:
            cur = cur[name]
            continue
        low = name.lower()
        cur = next((v for k, v in cur.items() if isinstance(k, str) and k.lower() == low), None)
    return cur


def _str(value: Any) -> str | None:
    """A non-empty string, else None (a finding's fields are typed by AWS, not by the file)."""
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, (int, float)):
        try:  # epoch seconds or milliseconds
            return datetime.fromtimestamp(value / (1000 if value > 1e11 else 1), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _gd_level(severity: Any) -> str:
    # GuardDuty: 1.0-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical
    try:
        s = float(severity)
    except (TypeError, ValueError):
        return "medium"
    return "critical" if s >= 9 else "high" if s >= 7 else "medium" if s >= 4 else "low"


_ASFF_LEVELS = {"INFORMATIONAL": "informational", "LOW": "low", "MEDIUM": "medium",
                "HIGH": "high", "CRITICAL": "critical"}  # fmt: skip


def _arn_for(account: str | None, user_type: str | None, name: str | None) -> str | None:
    if not account or not user_type:
        return None
    if user_type == "Root":
        return f"arn:aws:iam::{account}:root"
    if user_type == "IAMUser" and name:
        return f"arn:aws:iam::{account}:user/{name}"
    if user_type == "AssumedRole" and name:
        return f"arn:aws:iam::{account}:role/{name}"
    return None


def _guardduty(f: dict[str, Any]) -> Seed:
    key = _get(f, "Resource", "AccessKeyDetails") or {}
    action = _get(f, "Service", "Action") or {}
    ips: list[str] = []
    apis: list[str] = []
    call = _get(action, "AwsApiCallAction")
    if isinstance(call, dict):
        ip = _str(_get(call, "RemoteIpDetails", "IpAddressV4")) or _str(
            _get(call, "RemoteIpDetails", "IpAddressV6")
        )
        if ip:
            ips.append(ip)
        api = _str(_get(call, "Api"))
        if api:
            apis.append(f"{_str(_get(call, 'ServiceName')) or '?'}:{api}")
    account = _str(_get(f, "AccountId"))
    user_type, name = _str(_get(key, "UserType")), _str(_get(key, "UserName"))
    instance = _get(f, "Resource", "InstanceDetails") or {}
    return Seed(
        source="guardduty",
        finding_id=str(_get(f, "Id") or ""),
        title=str(_get(f, "Title") or _get(f, "Type") or ""),
        finding_type=str(_get(f, "Type") or ""),
        level=_gd_level(_get(f, "Severity")),
        account_id=account,
        region=_str(_get(f, "Region")),
        access_key_id=_str(_get(key, "AccessKeyId")),
        principal_id=_str(_get(key, "PrincipalId")),
        user_name=name,
        user_type=user_type,
        principal_arn=_arn_for(account, user_type, name),
        first_seen=_time(_get(f, "Service", "EventFirstSeen") or _get(f, "CreatedAt")),
        last_seen=_time(_get(f, "Service", "EventLastSeen") or _get(f, "UpdatedAt")),
        source_ips=tuple(ips),
        api_calls=tuple(apis),
        instance_id=_str(_get(instance, "InstanceId")),
        instance_profile_arn=_str(_get(instance, "IamInstanceProfile", "Arn")),
        raw=f,
    )


def _securityhub(f: dict[str, Any]) -> Seed:
    access_key = principal_id = user_name = user_type = principal_arn = None
    instance_id = profile_arn = None
    for res in _list(_get(f, "Resources")):
        rtype = _get(res, "Type")
        rid = str(_get(res, "Id") or "")
        if rtype == "AwsIamAccessKey":
            d = _get(res, "Details", "AwsIamAccessKey") or {}
            access_key = (
                access_key
                or _get(d, "AccessKeyId")
                or (
                    rid.rsplit(":", 1)[-1].strip()
                    if rid.rsplit(":", 1)[-1].strip()[:4] in ("AKIA", "ASIA")
                    else None
                )
            )
            principal_id = principal_id or _str(_get(d, "PrincipalId"))
            user_name = user_name or _str(_get(d, "PrincipalName")) or _str(_get(d, "UserName"))
            user_type = user_type or _str(_get(d, "PrincipalType"))
        elif rtype in ("AwsIamUser", "AwsIamRole") and rid.startswith("arn:"):
            principal_arn = principal_arn or rid
        elif rtype == "AwsEc2Instance":
            instance_id = instance_id or rid.rsplit("/", 1)[-1] or None
            profile_arn = profile_arn or _str(
                _get(res, "Details", "AwsEc2Instance", "IamInstanceProfileArn")
            )
    account = _str(_get(f, "AwsAccountId"))
    principal_arn = principal_arn or _arn_for(account, user_type, user_name)
    ips: list[str] = []
    ip = _str(_get(f, "Network", "SourceIpV4")) or _str(_get(f, "Network", "SourceIpV6"))
    if ip:
        ips.append(ip)
    call = _get(f, "Action", "AwsApiCallAction")
    apis = []
    if isinstance(call, dict):
        rip = _str(_get(call, "RemoteIpDetails", "IpAddressV4"))
        if rip and rip not in ips:
            ips.append(rip)
        if _str(_get(call, "Api")):
            apis.append(f"{_str(_get(call, 'ServiceName')) or '?'}:{_get(call, 'Api')}")
    severity = _get(f, "Severity") or {}
    label = _get(severity, "Label") or _get(severity, "Normalized")
    if isinstance(label, (int, float)):
        level = _gd_level(label / 10)
    else:
        level = _ASFF_LEVELS.get(str(label).upper(), "medium")
    types = _list(_get(f, "Types"))
    return Seed(
        source="securityhub",
        finding_id=str(_get(f, "Id") or ""),
        title=str(_get(f, "Title") or ""),
        finding_type=str(types[0] if types else _get(f, "GeneratorId") or ""),
        level=level,
        account_id=account,
        region=_str(_get(f, "Region")),
        access_key_id=access_key,
        principal_id=principal_id,
        user_name=user_name,
        user_type=user_type,
        principal_arn=principal_arn,
        first_seen=_time(_get(f, "FirstObservedAt") or _get(f, "CreatedAt")),
        last_seen=_time(_get(f, "LastObservedAt") or _get(f, "UpdatedAt")),
        source_ips=tuple(ips),
        api_calls=tuple(apis),
        instance_id=instance_id,
        instance_profile_arn=profile_arn,
        raw=f,
    )


def _findings_in(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return [x for item in doc for x in _findings_in(item)]
    if not isinstance(doc, dict):
        return []
    if "detail" in doc and isinstance(doc["detail"], dict):  # EventBridge event
        inner = doc["detail"]
        return _findings_in(inner.get("findings", inner))
    for k in ("Findings", "findings"):
        if isinstance(doc.get(k), list):
            return _findings_in(doc[k])
    if _get(doc, "SchemaVersion") and _get(doc, "ProductArn"):
        return [doc]
    if _get(doc, "Type") and (
        _get(doc, "Resource") is not None or _get(doc, "Service") is not None
    ):
        return [doc]
    return []


def findings_from_documents(docs: Any) -> list[Seed]:
    """Seeds from already-parsed JSON (a finding, a list, ``{"Findings": [...]}``, an event)."""
    seeds = []
    for f in _findings_in(docs):
        is_asff = _get(f, "SchemaVersion") is not None and _get(f, "ProductArn") is not None
        seeds.append(_securityhub(f) if is_asff else _guardduty(f))
    return seeds


def findings_from(*paths: str | Path) -> list[Seed]:
    """Seeds from GuardDuty / Security Hub JSON files (JSON or JSON Lines).

    Raises ``ValueError`` naming the file when it holds no finding of either shape.
    """
    seeds: list[Seed] = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"findings file {p} not found")
        text = p.read_text(encoding="utf-8")
        try:
            docs: Any = json.loads(text)
        except json.JSONDecodeError:
            try:
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: not JSON or JSON Lines ({exc})") from None
        found = findings_from_documents(docs)
        if not found:
            raise ValueError(
                f"{p}: no GuardDuty or Security Hub finding found (expected GetFindings output "
                '{"Findings": [...]}, an exported list of findings, or an EventBridge event)'
            )
        seeds.extend(found)
    return seeds
