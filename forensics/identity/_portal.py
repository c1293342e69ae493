"""Permission-set sessions and the access portal call that made them (``GetRoleCredentials``).

An Identity Center permission set is an IAM role ``AWSReservedSSO_<set>_<16 hex>`` in each
account it is assigned to. The access portal's ``GetRoleCredentials`` (portal API; CloudTrail
source ``sso.amazonaws.com``) returns the role's credentials, but CloudTrail hides them: the new
key is never in the record. What the record does show is who called (the Identity Center user,
``onBehalfOf.userId`` / the pre-2025 ``userName``), when, and ``requestParameters.accountId`` /
``roleName`` (the permission set).

**Matching rule.** A permission-set key whose minting is not in the trail is tied to a call
when (1) the call succeeded, names the key's account and permission set, and precedes the key's
first use by at most 12 hours (the longest permission-set session); (2) that call is the only
one that fits the key; and (3) no other key has that same call as its only fit (one call
returns one set of credentials). Anything else is left untied: two people fetching the same
permission set in the same window, or a call outside the loaded trail (another Region's or
account's trail, before the start), are never guessed between.

**Limits.** The rule assumes the minting call is in the trail: a key whose real call is
missing can be tied to another call of the same account and permission set if that one is the
only fit. Only ``GetRoleCredentials`` is matched (the CLI / SDK path); other portal calls are
not read for this. Records made since July 2025 carry ``onBehalfOf`` on the permission-set
session itself, which names the person without any matching.
"""

from __future__ import annotations

import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from forensics.identity._mint import clean_key

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["PORTAL_SESSION", "SSO_ROLE", "portal_links"]

#: How long a portal-issued role session may be in use after its GetRoleCredentials (12 h).
PORTAL_SESSION = timedelta(hours=12)
#: A permission-set role ARN: group 1 the account, group 2 the permission set name.
SSO_ROLE = r"^arn:[^:]*:iam::(\d{12}):role/(?:.*/)?AWSReservedSSO_(.+)_[0-9a-f]{16}$"

_CACHE: weakref.WeakKeyDictionary[Trail, pl.DataFrame] = weakref.WeakKeyDictionary()
_SCHEMA = pl.Schema(
    {
        "access_key_id": pl.String,
        "_eid": pl.String,
        "_t": pl.Datetime("us", "UTC"),
        "_by": pl.String,
        "_cred": pl.String,
        "_by_actor": pl.String,
    }
)


def portal_links(trail: Trail) -> pl.DataFrame:
    """One row per permission-set key tied to its ``GetRoleCredentials`` call (module rule):
    ``access_key_id``, ``_eid`` (the call's event id), ``_t`` (its time), ``_by`` (the caller's
    principal), ``_cred`` (the caller's sign-in credential id) and ``_by_actor`` (the caller's
    record-local actor). Computed once per trail.
    """
    found = _CACHE.get(trail)
    if found is not None:
        return found
    lazy = trail.lazy
    keys = (
        lazy.filter(
            pl.col("principal").str.contains("AWSReservedSSO_", literal=True)
            & pl.col("access_key_id").is_not_null()
        )
        .group_by("access_key_id", "principal")
        .agg(pl.col("event_time").min().alias("first_used"))
        .collect()
        .select(
            clean_key(pl.col("access_key_id")).alias("access_key_id"),
            "first_used",
            pl.col("principal").str.extract(SSO_ROLE, 1).alias("_acct"),
            pl.col("principal").str.extract(SSO_ROLE, 2).alias("_set"),
        )
        .drop_nulls()
        .group_by("access_key_id", "_acct", "_set")
        .agg(pl.col("first_used").min())
    )
    if keys.height == 0:
        found = _CACHE[trail] = pl.DataFrame(schema=_SCHEMA)
        return found
    req = pl.col("request_parameters")
    calls = (
        lazy.filter((pl.col("event_name") == "GetRoleCredentials") & pl.col("error_code").is_null())
        .select(
            req.str.json_path_match("$.accountId").alias("_acct"),
            req.str.json_path_match("$.roleName").alias("_set"),
            pl.col("event_time").alias("_t"),
            pl.col("event_id").alias("_eid"),
            pl.col("principal").alias("_by"),
            pl.col("credential_id").alias("_cred"),
            pl.col("actor").alias("_by_actor"),
        )
        .collect()
        .with_row_index("_call")
    )
    pairs = keys.join(calls, on=["_acct", "_set"], how="inner").filter(
        (pl.col("_t") <= pl.col("first_used"))
        & (pl.col("_t") >= pl.col("first_used") - PORTAL_SESSION)
    )
    only = pairs.filter(pl.len().over("access_key_id") == 1)  # (2) the one call that fits
    found = only.filter(pl.len().over("_call") == 1).select(_SCHEMA.names())  # (3) one key each
    found = _CACHE[trail] = found.cast(_SCHEMA)  # type: ignore[arg-type]
    return found
