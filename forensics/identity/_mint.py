"""The calls that bring a credential into being, read from the trail by key.

Two relations, kept apart on purpose:

* **minted**: an STS call (``AssumeRole``, ``AssumeRoleWithSAML``, ``AssumeRoleWithWebIdentity``,
  ``GetSessionToken``, ``GetFederationToken``, ``AssumeRoot``: a root session in a member account) returned a temporary key in
  ``responseElements.credentials.accessKeyId``; its parent is the caller's ``accessKeyId``
  (none for SAML / web identity callers and for AWS services: "service-issued").
* **created**: ``iam:CreateAccessKey`` returned a long-term key in
  ``responseElements.accessKey.accessKeyId``; it was created *by* the caller's key
  (persistence, not a session).

Linking is by key only: a role name or session name never links two credentials. The two copies
of a cross-account call (caller's and owner's trail) share ``sharedEventID``; they are read as
one call, each copy filling in what the other lacks.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = [
    "CREATE_EVENTS",
    "MINT_EVENTS",
    "clean_key",
    "mint_events",
    "trail_mints",
]

_MINTS: weakref.WeakKeyDictionary[Trail, pl.DataFrame] = weakref.WeakKeyDictionary()


def trail_mints(trail: Trail) -> pl.DataFrame:
    """:func:`mint_events` of a trail, computed once per ``Trail`` (several analyses need it)."""
    found = _MINTS.get(trail)
    if found is None:
        found = _MINTS[trail] = mint_events(trail.lazy)
    return found


#: STS calls whose response carries a new temporary key.
MINT_EVENTS: tuple[str, ...] = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
)
#: IAM calls whose response carries a new long-term key.
CREATE_EVENTS: tuple[str, ...] = ("CreateAccessKey",)

_MINT_COLUMNS = (
    "event_time",
    "event_id",
    "shared_event_id",
    "event_name",
    "identity_type",
    "invoked_by",
    "principal",
    "actor",
    "principal_arn",
    "access_key_id",
    "account_id",
    "recipient_account_id",
    "request_parameters",
    "response_elements",
)

#: The columns of :func:`mint_events`.
MINT_SCHEMA = pl.Schema(
    {
        "access_key_id": pl.String,
        "relation": pl.String,
        "minted_by": pl.String,
        "minted_by_event_id": pl.String,
        "minted_at": pl.Datetime("us", "UTC"),
        "parent_key": pl.String,
        "minted_by_principal": pl.String,
        "minted_by_principal_arn": pl.String,
        "session_principal": pl.String,
        "session_arn": pl.String,
        "session_account": pl.String,
        "minted_by_actor": pl.String,
    }
)


def clean_key(expr: pl.Expr) -> pl.Expr:
    """An access key id, or null when it cannot identify one credential.

    Empty or short strings and redacted keys (``AKIA****************``, as in anonymised samples) would
    merge unrelated credentials into one, so they are not keys.

    >>> pl.select(clean_key(pl.lit("AKIA****"))).item() is None
    True
    """
    return (
        pl.when((expr.str.len_bytes() >= 8) & ~expr.str.contains("*", literal=True))
        .then(expr)
        .otherwise(None)
    )


def _account_of(arn: pl.Expr) -> pl.Expr:
    return arn.str.extract(r"^arn:[^:]*:[^:]*:[^:]*:(\d{12}):", 1)


def _role_from_session(arn: pl.Expr) -> pl.Expr:
    """``arn:aws:sts::A:assumed-role/R/S`` -> ``arn:aws:iam::A:role/R``."""
    return arn.str.replace(
        r"^arn:([^:]*):sts::([^:]*):assumed-role/([^/]+)/.*$", "arn:${1}:iam::${2}:role/${3}"
    )


def mint_events(lazy: pl.LazyFrame) -> pl.DataFrame:
    """One row per key minted or created by a successful call in the trail.

    Columns: ``access_key_id`` (the new key), ``relation`` ("minted" / "created"),
    ``minted_by`` (the call, or "service-issued" when an AWS service assumed the role),
    ``minted_by_event_id``, ``minted_at``, ``parent_key`` (the caller's key), the caller's
    ``minted_by_principal`` / ``minted_by_principal_arn``, and what the new key belongs to:
    ``session_principal``, ``session_arn``, ``session_account``.

    Only the minting events are parsed (JSON path on their ``responseElements``), never the
    whole table.
    """
    names = (*MINT_EVENTS, *CREATE_EVENTS)
    raw = (
        lazy.filter(
            pl.col("event_name").is_in(names)
            & pl.col("error_code").is_null()
            & (pl.col("response_elements").is_not_null() | pl.col("shared_event_id").is_not_null())
        )
        .select(_MINT_COLUMNS)
        .collect(engine="streaming")
    )
    if raw.height == 0:
        return pl.DataFrame(schema=MINT_SCHEMA)

    created = pl.col("event_name").is_in(CREATE_EVENTS)
    resp = pl.col("response_elements")
    req = pl.col("request_parameters")
    frame = raw.with_columns(
        clean_key(
            pl.when(created)
            .then(resp.str.json_path_match("$.accessKey.accessKeyId"))
            .otherwise(resp.str.json_path_match("$.credentials.accessKeyId"))
        ).alias("_new_key"),
        clean_key(pl.col("access_key_id")).alias("_caller_key"),
        pl.coalesce(
            resp.str.json_path_match("$.assumedRoleUser.arn"),
            resp.str.json_path_match("$.federatedUser.arn"),
        ).alias("_new_arn"),
        req.str.json_path_match("$.roleArn").alias("_role_arn"),
        # AssumeRoot: the member account (an account id or a principal ARN in it).
        req.str.json_path_match("$.targetPrincipal").alias("_target"),
        # CreateAccessKey without userName makes a key for the caller itself.
        req.str.json_path_match("$.userName").alias("_user_name"),
    )
    # The two copies of a cross-account call: borrow what one copy lacks from the other.
    shared = pl.col("shared_event_id")
    borrow = [
        pl.when(shared.is_not_null())
        .then(pl.col(c).max().over(shared))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("_new_key", "_caller_key", "_new_arn", "_role_arn", "_target", "actor")
    ]
    frame = frame.with_columns(borrow).filter(pl.col("_new_key").is_not_null())

    service = (pl.col("identity_type") == "AWSService") | (
        pl.col("identity_type").is_null()
        & pl.col("invoked_by").is_not_null()
        & pl.col("_caller_key").is_null()
    )
    target = pl.coalesce(
        pl.col("_target").str.extract(r"^(\d{12})$", 1), _account_of(pl.col("_target"))
    )
    account = pl.coalesce(
        target,
        _account_of(pl.col("_new_arn")),
        _account_of(pl.col("_role_arn")),
        pl.col("recipient_account_id"),
        pl.col("account_id"),
    )
    user_arn = pl.concat_str(
        pl.lit("arn:aws:iam::"),
        pl.coalesce("recipient_account_id", "account_id"),
        pl.lit(":user/"),
        pl.col("_user_name"),
    )
    session_principal = (
        pl.when(created)
        .then(
            pl.when(pl.col("_user_name").is_not_null())
            .then(user_arn)
            .otherwise(pl.col("principal"))
        )
        .when(pl.col("event_name").is_in(["GetSessionToken", "GetFederationToken"]))
        .then(pl.col("principal"))
        .when(pl.col("event_name") == "AssumeRoot")
        .then(pl.concat_str(pl.lit("arn:aws:iam::"), target, pl.lit(":root")))
        .otherwise(pl.coalesce(pl.col("_role_arn"), _role_from_session(pl.col("_new_arn"))))
    )
    session_arn = (
        pl.when(created)
        .then(
            pl.when(pl.col("_user_name").is_not_null())
            .then(user_arn)
            .otherwise(pl.col("principal_arn"))
        )
        .when(pl.col("event_name") == "GetSessionToken")
        .then(pl.col("principal_arn"))
        .when(pl.col("event_name") == "AssumeRoot")
        .then(pl.concat_str(pl.lit("arn:aws:iam::"), target, pl.lit(":root")))
        .otherwise(pl.col("_new_arn"))
    )
    out = frame.select(
        pl.col("_new_key").alias("access_key_id"),
        pl.when(created).then(pl.lit("created")).otherwise(pl.lit("minted")).alias("relation"),
        pl.when(service & ~created)
        .then(pl.lit("service-issued"))
        .otherwise(pl.col("event_name"))
        .alias("minted_by"),
        pl.col("event_id").alias("minted_by_event_id"),
        pl.col("event_time").alias("minted_at"),
        pl.col("_caller_key").alias("parent_key"),
        pl.col("principal").alias("minted_by_principal"),
        pl.col("principal_arn").alias("minted_by_principal_arn"),
        session_principal.alias("session_principal"),
        session_arn.alias("session_arn"),
        account.alias("session_account"),
        pl.col("actor").alias("minted_by_actor"),
        # Prefer the caller's copy of a cross-account call (its eventID is the one the caller saw).
        (pl.col("recipient_account_id") != pl.col("account_id")).fill_null(True).alias("_copy"),
    )
    return (
        out.sort("minted_at", "_copy", nulls_last=True)
        .unique(subset="access_key_id", keep="first", maintain_order=True)
        .drop("_copy")
        .cast(MINT_SCHEMA)  # type: ignore[arg-type]
    )
