"""Builders for hand-written CloudTrail records used by the identity / lineage tests.

Each builder returns one record (a dict shaped like CloudTrail's), so a test reads as the story it
tells: who called what, with which key, and what key came back.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import forensics as fx
from forensics.ingest._identity_keys import link_identities
from forensics.ingest._normalize import normalize_records

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(minutes: float) -> str:
    """An eventTime ``minutes`` after T0."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(account: str, name: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    ui = {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper()}",
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "userName": name,
    }
    if key:
        ui["accessKeyId"] = key
    ui.update(extra)
    return ui


def root(account: str, key: str | None = None) -> dict[str, Any]:
    ui = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
    }
    if key:
        ui["accessKeyId"] = key
    return ui


def session(account: str, role: str, name: str, key: str, path: str = "/") -> dict[str, Any]:
    """An AssumedRole identity of role ``role`` (with ``path``) and session ``name``."""
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{role.upper()}:{name}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{role.upper()}",
                "arn": f"arn:aws:iam::{account}:role{path}{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2024-03-01T08:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def service(name: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": name}


def event(
    when: float,
    name: str,
    identity: dict[str, Any] | None,
    *,
    source: str = "ec2.amazonaws.com",
    ip: str = "198.51.100.7",
    agent: str = "aws-cli/2.15.0",
    region: str = "us-east-1",
    recipient: str | None = None,
    error: str | None = None,
    request: Any = None,
    response: Any = None,
    shared: str | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": at(when),
        "eventID": event_id or f"evt-{next(_ids):05d}",
        "eventName": name,
        "eventSource": source,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "userIdentity": identity,
        "requestParameters": request,
        "responseElements": response,
        "recipientAccountId": recipient or (identity or {}).get("accountId") or "111111111111",
        "eventType": "AwsApiCall",
    }
    if error:
        record["errorCode"] = error
        record["errorMessage"] = f"{error}: not allowed"
    if shared:
        record["sharedEventID"] = shared
    record.update(extra)
    return record


def assume_role(
    when: float,
    caller: dict[str, Any],
    role_arn: str,
    session_name: str,
    new_key: str | None,
    **kw: Any,
) -> dict[str, Any]:
    """An sts:AssumeRole call by ``caller`` returning ``new_key`` (None: a failed call)."""
    account = role_arn.split(":")[4]
    role = role_arn.rsplit("/", 1)[1]
    response = None
    if new_key and not kw.get("error"):
        response = {
            "credentials": {
                "accessKeyId": new_key,
                "sessionToken": "IQoJb3JpZ2luX2VjE...",
                "expiration": "Mar 1, 2024, 10:00:00 AM",
            },
            "assumedRoleUser": {
                "assumedRoleId": f"AROA{role.upper()}:{session_name}",
                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session_name}",
            },
        }
    return event(
        when,
        "AssumeRole",
        caller,
        source="sts.amazonaws.com",
        request={"roleArn": role_arn, "roleSessionName": session_name},
        response=response,
        **kw,
    )


def create_access_key(
    when: float, caller: dict[str, Any], user_name: str | None, new_key: str, **kw: Any
) -> dict[str, Any]:
    return event(
        when,
        "CreateAccessKey",
        caller,
        source="iam.amazonaws.com",
        request={"userName": user_name} if user_name else None,
        response={
            "accessKey": {
                "accessKeyId": new_key,
                "status": "Active",
                "userName": user_name or "self",
                "createDate": "Mar 1, 2024 9:00:00 AM",
            }
        },
        **kw,
    )


def trail(records: list[dict[str, Any]]) -> fx.Trail:
    """A Trail over the records, sorted by time and linked like a loaded one."""
    frame = link_identities(normalize_records(records, "scenario.json"))
    return fx.Trail(frame.sort("event_time"))
