"""Who an event is attributed to: the durable ``principal`` key derived from ``userIdentity``.

One function, :func:`principal_key`, used by every loader path (dicts and the fast decoder), so
that the same record always gets the same key. The rules (DESIGN.md, "principal"):

==========================  =================================================================
userIdentity.type           principal
==========================  =================================================================
IAMUser                     its ARN (built from account + userName when the ARN is missing)
Root                        ``arn:aws:iam::<account>:root``
AssumedRole                 the role ARN from sessionContext.sessionIssuer (path kept); without
                            an issuer, the role ARN rebuilt from the session ARN
FederatedUser               the session issuer (the IAM user or root that called
                            GetFederationToken); without one, the federated-user ARN
AWSService                  ``service:<invokedBy>``
AWSAccount                  ``account:<accountId>``; anonymous access: ``anonymous``
SAMLUser                    ``saml:<identityProvider>/<userName>`` (namequalifier / saml:sub;
                            read from ``principalId`` when a field is missing)
WebIdentityUser             ``webidentity:<identityProvider>/<userName>`` (issuer / user id;
                            else the issuer from ``principalId`` and ``principalId`` itself)
IdentityCenterUser          ``identitycenter:<identityStoreArn>/<userId>`` (from ``onBehalfOf``)
no type, ``invokedBy`` set  ``service:<invokedBy>`` (AwsServiceEvent records)
no type, ``accountId`` set  ``account:<accountId>``
no userIdentity at all      ``unknown``
any other type ``T``        ``T:<arn | principalId | userName | accountId>``, else ``T:unknown``
==========================  =================================================================

>>> principal_key({"type": "Root", "accountId": "111122223333"})
'arn:aws:iam::111122223333:root'
>>> principal_key({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"})
'service:ec2.amazonaws.com'
>>> principal_key(None)
'unknown'
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANONYMOUS", "UNKNOWN", "principal_key", "role_arn_from_session_arn"]

UNKNOWN = "unknown"
ANONYMOUS = "anonymous"


def _s(value: Any) -> str | None:
    """A non-empty string, or None (numbers are stringified; containers are not identities)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _get(d: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _account_from_arn(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = arn.split(":", 5)
    return parts[4] or None if len(parts) >= 6 else None


def role_arn_from_session_arn(arn: str | None) -> str | None:
    """``arn:aws:sts::A:assumed-role/R/S`` -> ``arn:aws:iam::A:role/R`` (role path unknown).

    >>> role_arn_from_session_arn("arn:aws:sts::111122223333:assumed-role/Admin/alice")
    'arn:aws:iam::111122223333:role/Admin'
    """
    if not arn or ":assumed-role/" not in arn:
        return None
    head, _, rest = arn.partition(":assumed-role/")
    parts = head.split(":")
    if len(parts) < 5:
        return None
    partition, account = parts[1] or "aws", parts[4]
    role = rest.split("/", 1)[0]
    return f"arn:{partition}:iam::{account}:role/{role}" if role else None


def _federated_key(kind: str, identity: dict, user_name: str | None) -> str:
    """``saml:<provider>/<subject>`` or ``webidentity:<provider>/<subject>``.

    The provider is ``identityProvider`` (SAML: the ``saml:namequalifier``; web identity: the
    issuer, e.g. ``accounts.google.com``); the subject is ``userName`` (SAML: ``saml:sub``; web
    identity: the user id). ``principalId`` is ``<namequalifier>:<sub>`` for SAML and
    ``<issuer>:<app id>:<user id>`` for web identity, so when a field is missing the provider is
    read from before its first colon, and a SAML subject from after it.

    >>> _federated_key("SAMLUser", {"principalId": "nq==:jdoe"}, None)
    'saml:nq==/jdoe'
    """
    prefix = "saml" if kind == "SAMLUser" else "webidentity"
    principal_id = _s(identity.get("principalId"))
    head, sep, tail = (principal_id or "").partition(":")
    provider = (
        _s(identity.get("identityProvider"))
        or _s(_get(identity, "sessionContext", "webIdFederationData", "federatedProvider"))
        or (head if sep and head else None)
    )
    subject = user_name
    if subject is None and principal_id:
        subject = tail if kind == "SAMLUser" and sep and tail else principal_id
    return f"{prefix}:{provider or 'unknown'}/{subject or 'unknown'}"


def principal_key(identity: Any) -> str:
    """The durable identity a record's ``userIdentity`` is attributed to; never None, never raises.

    >>> principal_key({"type": "AssumedRole",
    ...     "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
    ...     "sessionContext": {"sessionIssuer": {"type": "Role",
    ...         "arn": "arn:aws:iam::111122223333:role/ops/Admin"}}})
    'arn:aws:iam::111122223333:role/ops/Admin'
    >>> principal_key({"type": "AWSAccount", "accountId": "ANONYMOUS_PRINCIPAL"})
    'anonymous'
    >>> principal_key({"type": "SomethingNew", "principalId": "X1"})
    'SomethingNew:X1'
    """
    if not isinstance(identity, dict):
        return UNKNOWN
    kind = _s(identity.get("type"))
    arn = _s(identity.get("arn"))
    account = _s(identity.get("accountId")) or _account_from_arn(arn)
    user_name = _s(identity.get("userName"))
    invoked_by = _s(identity.get("invokedBy"))
    issuer_arn = _s(_get(identity, "sessionContext", "sessionIssuer", "arn"))

    if kind == "IAMUser":
        if arn:
            return arn
        if account and user_name:
            return f"arn:aws:iam::{account}:user/{user_name}"
    elif kind == "Root":
        if account:
            partition = arn.split(":")[1] if arn and arn.count(":") >= 5 else "aws"
            return f"arn:{partition or 'aws'}:iam::{account}:root"
    elif kind == "AssumedRole":
        role = issuer_arn or role_arn_from_session_arn(arn)
        if role:
            return role
    elif kind == "FederatedUser":
        if issuer_arn:
            return issuer_arn
        if arn:
            return arn
    elif kind == "AWSService":
        if invoked_by:
            return f"service:{invoked_by}"
    elif kind == "AWSAccount":
        if (
            account == "ANONYMOUS_PRINCIPAL"
            or _s(identity.get("principalId")) == "ANONYMOUS_PRINCIPAL"
        ):
            return ANONYMOUS
        if account:
            return f"account:{account}"
        return ANONYMOUS
    elif kind in ("SAMLUser", "WebIdentityUser"):
        return _federated_key(kind, identity, user_name)
    elif kind == "IdentityCenterUser":
        store = _s(_get(identity, "onBehalfOf", "identityStoreArn"))
        user_id = _s(_get(identity, "onBehalfOf", "userId")) or user_name
        return f"identitycenter:{store or 'unknown'}/{user_id or 'unknown'}"
    elif kind is None:
        if invoked_by:
            return f"service:{invoked_by}"
        if arn:
            return arn
        if account:
            return f"account:{account}"
        return UNKNOWN

    # A known type missing the fields its rule needs, or a type not seen before.
    detail = arn or _s(identity.get("principalId")) or user_name or account or invoked_by
    return f"{kind or 'unknown'}:{detail or 'unknown'}"
