"""Assembling CloudTrail records and ``userIdentity`` elements, in CloudTrail's field order."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from forensics.sample._ids import iso, request_id, s3_request_id, uuid4

__all__ = ["Cred", "Emitter", "assumed_role_identity", "user_identity"]

_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
_GLOBAL_HOSTS = {
    "iam": "iam.amazonaws.com",
    "organizations": "organizations.us-east-1.amazonaws.com",
}


@dataclass(slots=True)
class Cred:
    """A credential an actor signs requests with, and the ``userIdentity`` it produces."""

    key: str
    identity: dict[str, Any]
    account: str
    minted: int  # epoch seconds
    expires: int
    arn: str
    console: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def user_identity(
    account: str,
    user: str,
    user_id: str,
    key: str,
    *,
    mfa: bool | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """``userIdentity`` of an IAM user (long-term key, console or GetSessionToken session)."""
    ident: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": user_id,
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
        "accessKeyId": key,
        "userName": user,
    }
    if created is not None:
        ident["sessionContext"] = {
            "attributes": {
                "creationDate": iso(created),
                "mfaAuthenticated": "true" if mfa else "false",
            },
        }
    return ident


def role_arn(account: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


def assumed_role_identity(
    account: str,
    role: str,
    role_id: str,
    session: str,
    key: str,
    created: int,
    *,
    path: str = "/",
    mfa: bool = False,
    invoked_by: str | None = None,
    source_identity: str | None = None,
) -> dict[str, Any]:
    """``userIdentity`` of a role session (``arn:aws:sts::<acct>:assumed-role/<role>/<session>``)."""
    ctx: dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn(account, role, path),
            "accountId": account,
            "userName": role,
        },
        "attributes": {
            "creationDate": iso(created),
            "mfaAuthenticated": "true" if mfa else "false",
        },
    }
    if source_identity:
        ctx["sourceIdentity"] = source_identity
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": ctx,
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def host_for(source: str, region: str) -> str:
    svc = source.split(".", 1)[0]
    if svc in _GLOBAL_HOSTS:
        return _GLOBAL_HOSTS[svc]
    if svc == "sts" and region == "us-east-1":
        return "sts.amazonaws.com"
    if svc == "signin":
        return "signin.aws.amazon.com"
    return f"{svc}.{region}.amazonaws.com"


class Emitter:
    """Builds records with ids drawn from one ``random.Random``.

    Every record the sample writes goes through :meth:`record`, so field order, id shapes and
    optional fields are the same everywhere.
    """

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def record(
        self,
        ts: int,
        identity: dict[str, Any] | None,
        source: str,
        name: str,
        region: str,
        ip: str,
        ua: str,
        recipient: str,
        *,
        req: Any = None,
        resp: Any = None,
        read_only: bool | None = None,
        error: tuple[str, str] | None = None,
        additional: dict[str, Any] | None = None,
        resources: list[dict[str, str]] | None = None,
        management: bool = True,
        event_type: str = "AwsApiCall",
        shared_event_id: str | None = None,
        vpce: str | None = None,
        tls: bool = True,
        host: str | None = None,
        console: bool = False,
        version: str = "1.09",
    ) -> dict[str, Any]:
        rng = self.rng
        r: dict[str, Any] = {"eventVersion": version}
        if identity is not None:
            r["userIdentity"] = identity
        r["eventTime"] = iso(ts)
        r["eventSource"] = source
        r["eventName"] = name
        r["awsRegion"] = region
        r["sourceIPAddress"] = ip
        r["userAgent"] = ua
        if error is not None:
            r["errorCode"], r["errorMessage"] = error
        r["requestParameters"] = req
        r["responseElements"] = resp
        if additional is not None:
            r["additionalEventData"] = additional
        r["requestID"] = s3_request_id(rng) if source == "s3.amazonaws.com" else request_id(rng)
        r["eventID"] = uuid4(rng)
        if read_only is not None:
            r["readOnly"] = read_only
        if resources:
            r["resources"] = resources
        r["eventType"] = event_type
        r["managementEvent"] = management
        r["recipientAccountId"] = recipient
        if shared_event_id is not None:
            r["sharedEventID"] = shared_event_id
        if vpce is not None:
            r["vpcEndpointId"] = vpce
        r["eventCategory"] = "Management" if management else "Data"
        if (
            tls
            and event_type == "AwsApiCall"
            and not ip.endswith(".amazonaws.com")
            and ip != "AWS Internal"
        ):
            v, c = _TLS13 if rng.random() < 0.7 else _TLS12
            r["tlsDetails"] = {
                "tlsVersion": v,
                "cipherSuite": c,
                "clientProvidedHostHeader": host or host_for(source, region),
            }
        if console:
            r["sessionCredentialFromConsole"] = "true"
        return r
