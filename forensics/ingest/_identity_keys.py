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
AWSAccount                  ``account:<accountId>/<unique id>`` (the caller's IAM unique id, the
                            head of ``principalId``: ``AIDA…`` a user, ``AROA…`` a role), else
                            ``account:<accountId>``; anonymous access: ``anonymous``; the trail
                            joins it to the caller (:func:`link_identities`)
SAMLUser                    ``saml:<issuer>/<subject>`` where the AssumeRoleWithSAML response
                            names the issuer (:func:`refine_identity`); else
                            ``saml:<namequalifier>/<saml:sub>`` (per account: see actor)
WebIdentityUser             ``webidentity:<provider>/<sub>`` (issuer host, an OIDC provider ARN
                            cut to its host; the sub read from ``principalId`` when
                            ``userName`` is missing, as on refused calls)
IdentityCenterUser          ``identitycenter:<identityStoreArn>/<userId>`` (``onBehalfOf`` or
                            top-level ``userId`` / ``identityStoreArn``); name only:
                            ``identitycenter:<accountId>/<userName>``
Unknown                     an assumed-role ARN: the role (as AssumedRole); ``onBehalfOf`` or
                            a ``userName`` without ARN: the Identity Center user (the
                            pre-July-2025 form of portal and sign-in events)
IAMUser named               ``hidden-user:<accountId>`` (failed sign-in of a user name that
HIDDEN_DUE_TO_...           AWS does not reveal; never a made-up user ARN)
no type, ``invokedBy`` set  ``service:<invokedBy>``; ``AWS Internal`` (AwsServiceEvent):
                            ``service:<eventSource>`` (:func:`refine_identity`)
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

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import polars as pl

__all__ = [
    "ANONYMOUS",
    "HIDDEN",
    "UNKNOWN",
    "actor_key",
    "identity_details",
    "link_identities",
    "principal_key",
    "refine_identity",
    "role_arn_from_session_arn",
]

UNKNOWN = "unknown"
ANONYMOUS = "anonymous"
#: The user name AWS writes for a failed sign-in whose user name it will not reveal.
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
_ACCOUNT = re.compile(r"^\d{12}$")
_OIDC_ARN = re.compile(r"^arn:[^:]*:iam::\d*:oidc-provider/(.+)$")
_INSTANCE = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$")


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


def _provider(value: str | None) -> str | None:
    """An identity provider as the same text in every account: an IAM OIDC provider ARN
    (``arn:aws:iam::<account>:oidc-provider/<host>``) becomes its host or name."""
    if not value:
        return None
    m = _OIDC_ARN.match(value)
    return m.group(1) if m else value


def _web_subject(principal_id: str, provider: str | None, raw_provider: str | None) -> str:
    """The ``sub`` in a web-identity ``principalId`` (``<issuer>:<audience>:<sub>``).

    The sub may itself hold colons (GitHub: ``repo:org/name:ref:refs/heads/main``); a Cognito
    audience holds one (``us-east-1:<pool id>``).

    >>> _web_subject("accounts.google.com:app.apps.googleusercontent.com:1234",
    ...              "accounts.google.com", "accounts.google.com")
    '1234'
    """
    rest = principal_id
    for head in (raw_provider, provider):
        if head and rest.startswith(head + ":"):
            rest = rest[len(head) + 1 :]
            break
    else:
        return principal_id
    audience_parts = 2 if provider == "cognito-identity.amazonaws.com" else 1
    parts = rest.split(":", audience_parts)
    return parts[audience_parts] if len(parts) > audience_parts and parts[-1] else rest


def _federated_key(kind: str, identity: dict, user_name: str | None) -> str:
    """``saml:<provider>/<subject>`` or ``webidentity:<provider>/<subject>``.

    The provider is ``identityProvider`` (SAML: the ``saml:namequalifier``; web identity: the
    issuer, e.g. ``accounts.google.com``, or an IAM OIDC provider ARN, cut to its host); the
    subject is ``userName`` (SAML: ``saml:sub``; web identity: the ``sub``). ``principalId`` is
    ``<namequalifier>:<sub>`` for SAML and ``<issuer>:<audience>:<sub>`` for web identity, so when
    a field is missing (refused calls carry no ``userName``) both are read from it.

    >>> _federated_key("SAMLUser", {"principalId": "nq==:jdoe"}, None)
    'saml:nq==/jdoe'
    >>> _federated_key("WebIdentityUser", {"identityProvider": "accounts.google.com",
    ...     "principalId": "accounts.google.com:app1:1234"}, None)
    'webidentity:accounts.google.com/1234'
    """
    prefix = "saml" if kind == "SAMLUser" else "webidentity"
    principal_id = _s(identity.get("principalId"))
    head, sep, tail = (principal_id or "").partition(":")
    raw_provider = _s(identity.get("identityProvider")) or _s(
        _get(identity, "sessionContext", "webIdFederationData", "federatedProvider")
    )
    provider = _provider(raw_provider) or (head if sep and head else None)
    subject = user_name
    if subject is None and principal_id:
        if kind == "SAMLUser":
            subject = tail if sep and tail else principal_id
        else:
            subject = _web_subject(principal_id, provider, raw_provider)
    return f"{prefix}:{provider or 'unknown'}/{subject or 'unknown'}"


#: An IAM unique id (``AIDA…`` user, ``AROA…`` role, ``ASIA``/``AKIA`` never: those are keys).
_UNIQUE_ID = re.compile(r"^A(?:IDA|ROA|GPA|NPA|NVA|PKA)[A-Z0-9]{8,}$")


def _unique_id(identity: dict, account: str) -> str | None:
    """The caller's IAM unique id in the ``principalId`` of a role owner's copy
    (``AWSAccount``): ``AIDA…`` for a user, ``AROA…`` (before ``:<session>``) for a role.

    >>> _unique_id({"principalId": "AROAEXAMPLEID12345:alice"}, "111122223333")
    'AROAEXAMPLEID12345'
    >>> _unique_id({"principalId": "111122223333"}, "111122223333") is None
    True
    """
    head = (_s(identity.get("principalId")) or "").split(":", 1)[0]
    return head if head != account and _UNIQUE_ID.match(head) else None


def _identity_center(identity: dict, account: str | None, user_name: str | None) -> str:
    """``identitycenter:<identityStoreArn>/<userId>``; without a user id, the user name in the
    account that holds the identity store (the pre-2025 ``Unknown`` form gives only that)."""
    store = _s(_get(identity, "onBehalfOf", "identityStoreArn")) or _s(
        identity.get("identityStoreArn")
    )
    user_id = _s(_get(identity, "onBehalfOf", "userId")) or _s(identity.get("userId"))
    if user_id:
        return f"identitycenter:{store or 'unknown'}/{user_id}"
    if user_name == HIDDEN:  # a sign-in attempt with a user name AWS does not reveal
        return f"hidden-user:{account or 'unknown'}"
    if user_name:
        return f"identitycenter:{account or _account_from_arn(store) or 'unknown'}/{user_name}"
    return f"identitycenter:{store or 'unknown'}/unknown"


def _behalf_actor(identity: dict) -> str | None:
    """The person ``onBehalfOf`` names (trusted identity propagation, permission-set sessions):
    an Identity Center user, or a SAML / OIDC subject on the IAM federation path."""
    behalf = identity.get("onBehalfOf")
    if not isinstance(behalf, dict):
        return None
    if _s(behalf.get("userId")):
        return _identity_center(identity, None, None)
    subject, issuer = _s(behalf.get("subject")), _s(behalf.get("issuer"))
    if subject and issuer:
        fed = _s(behalf.get("federatedProviderArn")) or ""
        kind = "saml" if ":saml-provider/" in fed else "webidentity"
        return f"{kind}:{_provider(issuer)}/{subject}"
    return None


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
        if user_name == HIDDEN:
            return f"hidden-user:{account or 'unknown'}"
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
            uid = _unique_id(identity, account)
            return f"account:{account}/{uid}" if uid else f"account:{account}"
        return ANONYMOUS
    elif kind in ("SAMLUser", "WebIdentityUser"):
        return _federated_key(kind, identity, user_name)
    elif kind == "IdentityCenterUser":
        return _identity_center(identity, account, user_name)
    elif kind == "Unknown":
        role = role_arn_from_session_arn(arn)
        if role:
            return issuer_arn or role
        if isinstance(identity.get("onBehalfOf"), dict) or (user_name and not arn):
            return _identity_center(identity, account, user_name)
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


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _s(value)
    if text is None:
        return None
    low = text.strip().lower()
    return True if low == "true" else False if low == "false" else None


def actor_key(identity: Any) -> str | None:
    """The person or workload this ``userIdentity`` itself names, or None when only the
    credential's lineage can tell (a role session, an ``assumedRoot`` session, a cross-account
    copy): :mod:`forensics.identity` propagates actors down the lineage from there.

    ``onBehalfOf`` names the person on a role session; ``inScopeOf`` the Lambda function;
    an instance-profile session (``ec2RoleDelivery``) the EC2 instance. Root signed in for real
    is ``arn:aws:iam::<account>:root``; root via ``sts:AssumeRoot`` has no actor of its own.

    >>> actor_key({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R/s"}) is None
    True
    >>> actor_key({"type": "AssumedRole", "onBehalfOf": {"userId": "u-1",
    ...     "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1"}})
    'identitycenter:arn:aws:identitystore::1:identitystore/d-1/u-1'
    """
    if not isinstance(identity, dict):
        return None
    behalf = _behalf_actor(identity)
    if behalf:
        return behalf
    kind = _s(identity.get("type"))
    scope = identity.get("inScopeOf")
    if isinstance(scope, dict):
        issued_to = _s(scope.get("credentialsIssuedTo")) or _s(scope.get("sourceArn"))
        if issued_to:
            return issued_to
    ctx = identity.get("sessionContext")
    if kind in ("AssumedRole", "Unknown") and isinstance(ctx, dict) and ctx.get("ec2RoleDelivery"):
        arn = _s(identity.get("arn")) or ""
        instance = arn.rsplit("/", 1)[-1]
        if _INSTANCE.match(instance):
            account = _s(identity.get("accountId")) or _account_from_arn(arn)
            return f"ec2:{account or 'unknown'}/{instance}"
    if kind == "Root" and _flag(_get(ctx, "assumedRoot")):
        return None
    if kind in ("AssumedRole", "AWSAccount"):
        return None
    key = principal_key(identity)
    if kind == "Unknown" and not key.startswith("identitycenter:"):
        return None  # a session or a shape we cannot name: the lineage decides
    if kind == "FederatedUser":
        arn = _s(identity.get("arn"))
        name = arn.rsplit("/", 1)[-1] if arn and ":federated-user/" in arn else None
        return f"federated:{key}/{name}" if name else key
    if key in (UNKNOWN,) or key.endswith(":unknown/unknown"):
        return None
    return key


#: The columns :func:`identity_details` fills, in its order (after ``principal``).
DETAIL_COLUMNS: tuple[str, ...] = (
    "actor",
    "on_behalf_of_user_id",
    "identity_store_arn",
    "credential_id",
    "in_scope_of",
    "assumed_root",
    "user_identity",
    "sign_in_session_arn",
)


def identity_details(identity: Any, json_text: Any) -> tuple[Any, ...]:
    """The :data:`DETAIL_COLUMNS` of one ``userIdentity`` (``json_text`` writes the whole
    element as JSON text, the same function the other JSON columns use).

    >>> identity_details({"type": "IdentityCenterUser", "credentialId": "c1"}, str)[3]
    'c1'
    """
    if not isinstance(identity, dict):
        return (None, None, None, None, None, None, json_text(identity), None)
    behalf = identity.get("onBehalfOf")
    scope = identity.get("inScopeOf")
    return (
        actor_key(identity),
        _s(_get(behalf, "userId")) or _s(identity.get("userId")),
        _s(_get(behalf, "identityStoreArn")) or _s(identity.get("identityStoreArn")),
        _s(identity.get("credentialId")),
        (_s(scope.get("credentialsIssuedTo")) or _s(scope.get("sourceArn")))
        if isinstance(scope, dict)
        else None,
        _flag(_get(identity, "sessionContext", "assumedRoot")),
        json_text(identity),
        # AWS Sign-In session (identity-aware console sessions, ``aws login``)
        _s(_get(identity, "sessionContext", "signInSessionArn"))
        or _s(identity.get("signInSessionArn")),
    )


def refine_identity(frame: pl.DataFrame) -> pl.DataFrame:
    """The attribution rules that need more of the record than ``userIdentity`` (run by every
    reader on its rows; only the few rows concerned are touched):

    * an AwsServiceEvent's ``invokedBy: AWS Internal`` names no service: ``principal`` and
      ``actor`` become ``service:<eventSource>``;
    * an ``AssumeRoleWithSAML`` caller is keyed on the IdP ``issuer`` + ``subject`` of the
      response (stable across accounts; the ``nameQualifier`` is per account and provider).
    """
    internal = (frame.get_column("principal") == "service:AWS Internal") & frame.get_column(
        "event_source"
    ).is_not_null()
    saml = (frame.get_column("identity_type") == "SAMLUser") & frame.get_column(
        "response_elements"
    ).str.contains('"issuer"', literal=True)
    changes = []
    if internal.any():
        changes.append(pl.when(pl.lit(internal)).then(pl.lit("service:") + pl.col("event_source")))
    if saml.any():
        rows = saml.arg_true()
        resp = frame.get_column("response_elements").gather(rows)
        keys = pl.select(
            pl.concat_str(
                pl.lit("saml:"),
                resp.str.json_path_match("$.issuer"),
                pl.lit("/"),
                resp.str.json_path_match("$.subject"),
            )
        ).to_series()
        full = pl.Series([None] * frame.height, dtype=pl.String).scatter(rows, keys)
        changes.append(pl.when(pl.lit(full).is_not_null()).then(pl.lit(full)))
    if not changes:
        return frame
    for change in changes:
        frame = frame.with_columns(
            change.otherwise(pl.col("principal")).alias("principal"),
            change.otherwise(pl.col("actor")).alias("actor"),
        )
    return frame


# -- rules that need the other records of the trail ----------------------------------------------
#: Identity Center sign-in events; a successful one names the user in
#: ``additionalEventData.UserName`` ("Username in sign-in CloudTrail events").
SIGN_IN_NAMED = ("CredentialChallenge", "CredentialVerification", "UserAuthentication")
_IDC_TYPES = ("Unknown", "IdentityCenterUser")
_LINKED = ("principal", "actor")


def _account_of(arn: pl.Expr) -> pl.Expr:
    return arn.str.extract(r"^arn:[^:]*:[^:]*:[^:]*:(\d{12}):", 1)


def _idc_name_key() -> pl.Expr:
    """The name-only Identity Center key of a row, as :func:`_identity_center` builds it."""
    account = pl.coalesce(
        pl.when(pl.col("account_id").str.strip_chars() != "").then(pl.col("account_id")),
        _account_of(pl.col("principal_arn")),
        _account_of(pl.col("identity_store_arn")),
        pl.lit("unknown"),
    )
    return pl.concat_str(pl.lit("identitycenter:"), account, pl.lit("/"), pl.col("user_name"))


def _one_to_one(pairs: pl.DataFrame, key: str, value: str) -> pl.DataFrame:
    """The ``(key, value)`` rows whose key maps to exactly one value (two people, one name:
    none)."""
    return (
        pairs.drop_nulls()
        .unique()
        .group_by(key)
        .agg(pl.col(value).first(), pl.len().alias("_n"))
        .filter(pl.col("_n") == 1)
        .select(key, value)
    )


def _unambiguous(pairs: pl.DataFrame, key: str, value: str) -> dict[str, str]:
    """:func:`_one_to_one` as a dict."""
    if pairs.height == 0:
        return {}
    one = _one_to_one(pairs, key, value)
    return dict(zip(one[key].to_list(), one[value].to_list(), strict=True))


def _lookup(expr: pl.Expr, mapping: dict[str, str] | pl.DataFrame) -> pl.Expr:
    """``expr`` looked up in ``mapping`` (a dict, or a frame of key and value columns)."""
    if isinstance(mapping, pl.DataFrame):
        old, new = mapping.to_series(0), mapping.to_series(1)
    else:
        old, new = (
            pl.Series(list(mapping), dtype=pl.String),
            pl.Series(list(mapping.values()), dtype=pl.String),
        )
    return expr.replace_strict(old, new, default=None, return_dtype=pl.String)


#: Rows each rule may rewrite (row-local, so the rules also run over a lazy scan).
_IDC_ROWS = pl.col("identity_type").is_in(_IDC_TYPES) & pl.col("principal").str.starts_with(
    "identitycenter:"
)
_SAML_ROWS = pl.col("identity_type") == "SAMLUser"
_COPY_ROWS = (pl.col("identity_type") == "AWSAccount") & pl.col("principal").str.starts_with(
    "account:"
)


def _idc_rule(lazy: pl.LazyFrame) -> pl.Expr | None:
    """Name-only Identity Center key -> the user-id key (and a bare user id -> its store)."""
    sub = (
        lazy.filter(pl.col("identity_type").is_in(_IDC_TYPES))
        .select(
            "identity_type",
            "user_name",
            "account_id",
            "principal_arn",
            "identity_store_arn",
            "on_behalf_of_user_id",
            "principal",
            "event_name",
            "additional_event_data",
        )
        .collect()
    )
    if sub.height == 0:
        return None
    named = pl.col("user_name").is_not_null() & (pl.col("user_name") != HIDDEN)
    with_id = pl.col("on_behalf_of_user_id").is_not_null()
    evidence = [
        sub.filter(named & with_id).select(
            _idc_name_key().alias("name"), pl.col("principal").alias("id")
        )
    ]
    signed = sub.filter(
        with_id
        & pl.col("event_name").is_in(SIGN_IN_NAMED)
        & pl.col("additional_event_data").str.contains('"UserName"', literal=True)
    )
    if signed.height:
        evidence.append(
            signed.with_columns(
                pl.col("additional_event_data").str.json_path_match("$.UserName").alias("user_name")
            )
            .filter(named)
            .select(_idc_name_key().alias("name"), pl.col("principal").alias("id"))
        )
    links = _unambiguous(pl.concat(evidence), "name", "id")
    # a user id seen without its identity store joins the store it is seen with (one only)
    ids = (
        sub.filter(with_id)
        .select(
            pl.concat_str(pl.lit("identitycenter:unknown/"), pl.col("on_behalf_of_user_id")).alias(
                "bare"
            ),
            pl.col("principal").alias("id"),
        )
        .filter(~pl.col("id").str.starts_with("identitycenter:unknown/"))
    )
    links.update(_unambiguous(ids, "bare", "id"))
    if not links:
        return None
    name_only = pl.col("on_behalf_of_user_id").is_null() & pl.col("user_name").is_not_null()
    key = pl.when(name_only).then(_idc_name_key()).otherwise(pl.col("principal"))
    return pl.coalesce(_lookup(key, links), pl.col("principal"))


def _saml_rule(lazy: pl.LazyFrame) -> pl.Expr | None:
    """``saml:<nameQualifier>/<subject>`` -> ``saml:<issuer>/<subject>`` of refused calls.

    AWS computes ``nameQualifier = BASE64(SHA1(issuer + account id + "/" + provider name))``
    (AssumeRoleWithSAML, response elements), so a refused call, which carries no response,
    joins the issuer key of any issuer seen in a successful response, in any account: the
    account and provider name are in its own ``requestParameters.principalArn``.
    """
    sub = (
        lazy.filter(_SAML_ROWS)
        .select("principal", "principal_id", "request_parameters", "response_elements")
        .collect()
    )
    if sub.height == 0:
        return None
    resp = pl.col("response_elements")
    answered = resp.str.contains('"issuer"', literal=True).fill_null(False)
    issuers = (
        sub.filter(answered)
        .select(resp.str.json_path_match("$.issuer").alias("issuer"))
        .drop_nulls()
        .unique()
        .get_column("issuer")
        .to_list()
    )
    if not issuers:
        return None
    refused = (
        sub.filter(~answered)
        .select(
            "principal",
            pl.col("principal_id").str.extract(r"^([^:]*):", 1).alias("nq"),
            pl.col("principal_id").str.extract(r"^[^:]*:(.*)$", 1).alias("subject"),
            pl.col("request_parameters")
            .str.json_path_match("$.principalArn")
            .str.extract(r"^arn:[^:]*:iam::(\d{12}):saml-provider/(.+)$", 0)
            .alias("provider_arn"),
        )
        .drop_nulls()
        .unique()
    )
    links: dict[str, str] = {}
    for principal, nq, subject, provider_arn in refused.iter_rows():
        account, name = provider_arn.split(":")[4], provider_arn.rsplit("/", 1)[-1]
        found = {
            issuer
            for issuer in issuers
            if base64.b64encode(
                hashlib.sha1(
                    (issuer + account + "/" + name).encode(), usedforsecurity=False
                ).digest()
            ).decode()
            == nq
        }
        if len(found) == 1 and principal == f"saml:{nq}/{subject}":
            links[principal] = f"saml:{found.pop()}/{subject}"
    if not links:
        return None
    return pl.coalesce(_lookup(pl.col("principal"), links), pl.col("principal"))


def _copy_rule(lazy: pl.LazyFrame) -> pl.Expr | None:
    """The role owner's copy of a cross-account call (``AWSAccount``): the caller's principal,
    from the caller's copy (same ``sharedEventID``), else from any record of the caller's IAM
    unique id (``principalId``: ``AIDA…`` user, ``AROA…`` role), else kept as
    ``account:<caller account>/<unique id>``."""
    copies = lazy.filter(_COPY_ROWS).select("shared_event_id", "principal_id").collect()
    if copies.height == 0:
        return None
    ids = copies.get_column("shared_event_id").drop_nulls().unique()
    shared = (
        lazy.select("shared_event_id", "principal", "identity_type")
        .filter(
            pl.col("shared_event_id").is_in(ids.implode())
            & (pl.col("identity_type") != "AWSAccount")
        )
        .select("shared_event_id", "principal")
        .collect()
    )
    by_shared = _one_to_one(shared, "shared_event_id", "principal")
    uid = pl.col("principal_id").str.extract(r"^([^:]+)", 1)
    # only the unique ids of copies the shared id leaves open are looked for in the rest
    open_copies = (
        copies.filter(
            ~pl.col("shared_event_id")
            .is_in(by_shared.get_column("shared_event_id").implode())
            .fill_null(False)
        )
        .select("principal_id", uid.alias("uid"))
        .drop_nulls()
        .unique()
        .filter(pl.col("uid").str.contains(_UNIQUE_ID.pattern))
    )
    by_pid: dict[str, str] = {}
    if open_copies.height:
        wanted = open_copies.get_column("uid").unique().to_list()
        owners = (
            lazy.select("principal_id", "principal", "identity_type")
            .filter(
                pl.col("identity_type").is_in(["IAMUser", "AssumedRole"])
                & pl.col("principal_id").str.contains("^(?:" + "|".join(wanted) + ")(?::|$)")
            )
            .select(uid.alias("uid"), "principal")
            .collect()
        )
        by_uid = _unambiguous(owners, "uid", "principal")
        by_pid = {pid: by_uid[u] for pid, u in open_copies.iter_rows() if u in by_uid}
    parts = [
        _lookup(pl.col(col), m)
        for col, m in (("shared_event_id", by_shared), ("principal_id", by_pid))
        if len(m)
    ]
    return pl.coalesce(*parts, pl.col("principal")) if parts else None


def link_identities(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """The attribution rules that need other records of the trail (the loader runs this once
    on the whole table after reading every file; it is idempotent):

    * Identity Center, pre-July-2025 form (``userName``, no user id): the user-id key where a
      record links name and id (a ``userName`` with ``onBehalfOf.userId``, or a sign-in
      event's ``additionalEventData.UserName``), and only when the name in that account links
      to exactly one id; nothing links: the name key stays;
    * a refused ``AssumeRoleWithSAML`` (``saml:<nameQualifier>/<subject>``): the issuer key,
      where the ``nameQualifier`` hash of a known issuer matches;
    * the role owner's copy of a cross-account call: the caller's principal (see
      :func:`_copy_rule`).

    ``principal`` and the record-local ``actor`` are rewritten on those rows only. A
    ``LazyFrame`` (a merge streamed from the cache parts) gets the same rules as row-local
    expressions: the maps are built from a few filtered reads of it.

    >>> from forensics.ingest._normalize import normalize_records
    >>> old = {"type": "Unknown", "accountId": "111122223333", "userName": "jane"}
    >>> both = {**old, "onBehalfOf": {"userId": "u-1",
    ...     "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"}}
    >>> rows = normalize_records([{"eventTime": "2024-01-01T00:00:00Z", "userIdentity": ui}
    ...                           for ui in (old, both)], "x.json")
    >>> rows["principal"][0], link_identities(rows)["principal"][0]
    ('identitycenter:111122223333/jane', 'identitycenter:arn:aws:identitystore::111122223333:identitystore/d-1/u-1')
    """
    if isinstance(frame, pl.LazyFrame):
        lazy = frame
    elif frame.height == 0 or "principal" not in frame.columns:
        return frame
    else:
        lazy = frame.lazy()
    rules = _link_rules(lazy)
    if isinstance(frame, pl.LazyFrame):
        for rows, value, columns in rules:  # row-local: fine for a lazy plan
            frame = frame.with_columns(
                pl.when(rows).then(value).otherwise(pl.col(c)).alias(c) for c in columns
            )
        return frame
    return _apply_links(frame, rules)


def linker(lazy: pl.LazyFrame) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """:func:`link_identities` in two steps, for a table merged in pieces: the maps from the
    whole table (``lazy``), applied to each piece by the returned function.

    >>> from forensics.ingest._normalize import normalize_records
    >>> old = {"type": "Unknown", "accountId": "111122223333", "userName": "jane"}
    >>> both = {**old, "onBehalfOf": {"userId": "u-1",
    ...     "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"}}
    >>> rows = normalize_records([{"eventTime": "2024-01-01T00:00:00Z", "userIdentity": ui}
    ...                           for ui in (old, both)], "x.json")
    >>> apply = linker(rows.lazy())  # the maps, from the whole table
    >>> apply(rows.head(1))["principal"][0]  # one piece
    'identitycenter:arn:aws:identitystore::111122223333:identitystore/d-1/u-1'
    """
    if "principal" not in lazy.collect_schema().names():
        return lambda piece: piece
    rules = _link_rules(lazy)
    return lambda piece: _apply_links(piece, rules) if piece.height else piece


def _link_rules(lazy: pl.LazyFrame) -> list[tuple[pl.Expr, pl.Expr, tuple[str, ...]]]:
    """(rows concerned, new value, columns rewritten) of each rule that applies to this trail."""
    rules = [
        (_IDC_ROWS, _idc_rule(lazy), _LINKED),
        (_SAML_ROWS, _saml_rule(lazy), _LINKED),
        (_COPY_ROWS, _copy_rule(lazy), ("principal",)),
    ]
    return [(rows, value, columns) for rows, value, columns in rules if value is not None]


def _apply_links(
    frame: pl.DataFrame, rules: list[tuple[pl.Expr, pl.Expr, tuple[str, ...]]]
) -> pl.DataFrame:
    """The rules evaluated on the rows concerned only, written back in place (few of many)."""
    for rows, value, columns in rules:
        at = frame.select(rows.fill_null(False).arg_true()).to_series()
        if at.len() == 0:
            continue
        new = frame.lazy().filter(rows).select(value.alias("_new")).collect().to_series()
        frame = frame.with_columns(frame.get_column(c).scatter(at, new) for c in columns)
    return frame
