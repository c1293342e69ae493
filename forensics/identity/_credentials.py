"""``credentials(trail)``: one row per access key, with how it came to be and where it was used."""

from __future__ import annotations

import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from forensics._schema import TIME_DTYPE
from forensics.identity._mint import clean_key, trail_mints

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["CREDENTIALS_SCHEMA", "MINTED_BY", "credentials"]

#: Every value of the ``minted_by`` column.
MINTED_BY: tuple[str, ...] = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoot",
    "GetRoleCredentials",
    "console sign-in",
    "sign-in",
    "service-issued",
    "CreateAccessKey",
    "unknown",
)

_STRS = pl.List(pl.String)

#: The columns of :func:`credentials`, in order.
CREDENTIALS_SCHEMA = pl.Schema(
    {
        "access_key_id": pl.String,
        "kind": pl.String,
        "principal": pl.String,
        "principal_arn": pl.String,
        "account_id": pl.String,
        "minted_by": pl.String,
        "minted_by_event_id": pl.String,
        "parent_access_key_id": pl.String,
        "created_by_access_key_id": pl.String,
        "first_used": TIME_DTYPE,
        "last_used": TIME_DTYPE,
        "events": pl.UInt32,
        "source_ips": _STRS,
        "user_agents": _STRS,
        "accounts": _STRS,
        "regions": _STRS,
        "minted_at": TIME_DTYPE,
        "minted_by_principal": pl.String,
        "identity_type": pl.String,
        "actor": pl.String,
    }
)

#: Identity Center / console calls that start (or renew) a sign-in credential.
SIGN_IN_EVENTS: tuple[str, ...] = (
    "UserAuthentication",
    "CredentialVerification",
    "CredentialChallenge",
    "Authenticate",
    "CreateToken",
    "CreateTokenWithIAM",
    "ConsoleLogin",
)
#: How long after a ConsoleLogin its session keys may still be in use (the console maximum).
CONSOLE_SESSION = timedelta(hours=12)

_CACHE: weakref.WeakKeyDictionary[Trail, pl.DataFrame] = weakref.WeakKeyDictionary()


#: list column of :func:`credentials` -> the events column its distinct values come from.
_LISTS = {
    "source_ips": "source_ip",
    "user_agents": "user_agent",
    "accounts": "_account",
    "regions": "aws_region",
}


def _usage(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """Per key: owner at first use, first/last use, count, distinct IPs, agents, accounts, regions.

    Two levels: one pass groups the events by (key, IP, agent, region, account), which leaves far
    fewer rows than events; the per-key lists and totals are then built from those combinations.
    Keys are checked after grouping (few keys, many rows).
    """
    account = pl.coalesce("recipient_account_id", "account_id").alias("_account")
    combos = (
        lazy.filter(pl.col("access_key_id").is_not_null())
        .group_by("access_key_id", "source_ip", "user_agent", "aws_region", account)
        .agg(
            pl.col("principal").first(),
            pl.col("principal_arn").first(),
            pl.col("account_id").first(),
            pl.col("identity_type").first(),
            pl.col("event_time").min().alias("first_used"),
            pl.col("event_time").max().alias("last_used"),
            pl.len().alias("events"),
        )
    )
    at_first = pl.col("first_used")
    return (
        combos.group_by("access_key_id")
        .agg(
            *(
                pl.col(c).sort_by(at_first).first()
                for c in ("principal", "principal_arn", "account_id", "identity_type")
            ),
            pl.col("first_used").min(),
            pl.col("last_used").max(),
            pl.col("events").sum().cast(pl.UInt32),
            *(pl.col(src).drop_nulls().unique().sort().alias(name) for name, src in _LISTS.items()),
        )
        .with_columns(clean_key(pl.col("access_key_id")).alias("access_key_id"))
        .filter(pl.col("access_key_id").is_not_null())
    )


def _console_user_agent(ua: pl.Expr) -> pl.Expr:
    return (
        ua.str.starts_with("console.")
        | ua.str.starts_with("signin.amazonaws.com")
        | (ua == "AWS Internal")
    )


def _console_keys(lazy: pl.LazyFrame) -> pl.DataFrame:
    """Temporary keys of IAM users / root with ``sessionCredentialFromConsole`` on an event.

    Only those users' temporary-key events are read; the JSON is parsed on the few rows that
    mention the field (after collecting, so the parse is not pushed down to every row).
    """
    hinted = (
        lazy.filter(
            pl.col("identity_type").is_in(["IAMUser", "Root"])
            & pl.col("access_key_id").str.starts_with("ASIA")
            & pl.col("extra").str.contains("sessionCredentialFromConsole", literal=True)
        )
        .select("access_key_id", "extra")
        .collect(engine="streaming")
    )
    value = pl.col("extra").str.json_path_match("$.sessionCredentialFromConsole")
    return (
        hinted.filter(value.str.to_lowercase() == "true")
        .select("access_key_id")
        .unique()
        .with_columns(pl.lit(True).alias("_console"))
    )


def _console_logins(lazy: pl.LazyFrame) -> pl.DataFrame:
    """Successful ConsoleLogin events of IAM users and root: (principal_arn, time, event_id)."""
    return (
        lazy.filter(
            (pl.col("event_name") == "ConsoleLogin")
            & pl.col("error_code").is_null()
            & pl.col("identity_type").is_in(["IAMUser", "Root"])
            & ~pl.col("response_elements").str.contains("Failure", literal=True).fill_null(False)
        )
        .select(
            pl.col("principal_arn").alias("_login_arn"),
            pl.col("event_time").alias("_login_time"),
            pl.col("event_id").alias("_login_event_id"),
        )
        .drop_nulls(["_login_arn", "_login_time"])
        .sort("_login_time")
        .collect(engine="streaming")
    )


def credentials(trail: Trail) -> pl.DataFrame:
    """One row per access key seen in the trail: kind, owner, how it was minted, where used.

    A key is "seen" when an event was made with it, or a call in the trail minted or created it
    (such keys may have ``events == 0``). Temporary keys are linked to the call that minted them
    through that call's ``responseElements.credentials.accessKeyId``, never by role or session
    name; ``parent_access_key_id`` is the key that made the call. Long-term keys made by
    ``CreateAccessKey`` carry ``created_by_access_key_id`` instead (persistence, not a session).
    A key used in several accounts' trails is one row (``accounts`` lists them).

    Columns: ``access_key_id``, ``kind`` ("long-term" AKIA / "temporary" ASIA / "unknown"),
    ``principal``, ``principal_arn``, ``account_id``, ``minted_by`` (see :data:`MINTED_BY`),
    ``minted_by_event_id``, ``parent_access_key_id``, ``created_by_access_key_id``,
    ``first_used``, ``last_used``, ``events``, ``source_ips``, ``user_agents``, ``accounts``,
    ``regions``, then ``minted_at``, ``minted_by_principal`` (who made the minting call),
    ``identity_type`` and ``actor`` (the person or workload its lineage leads to). Sorted by
    when the key was first seen (minted or used).

    Identity Center adds two kinds of row: a "sign-in credential" per ``credentialId`` (the
    person's portal / console session; ``minted_by`` "sign-in" or "CreateToken"), and
    permission-set role keys marked "GetRoleCredentials" (see :func:`_link_portal`).

    ``minted_by`` for a key whose minting call is not in the trail: "console sign-in" for an IAM
    user's or root's temporary key used from the console (``sessionCredentialFromConsole`` or a
    console user agent; ``minted_by_event_id`` is then their latest ConsoleLogin in the 12 hours
    before), otherwise "unknown". Console hints: ``sessionCredentialFromConsole``, a
    ``console.*`` / ``signin.amazonaws.com`` user agent, or ``AWS Internal`` (calls the console's
    back end makes with the session).

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> records = [
    ...     {"eventTime": "2024-01-01T00:00:00Z", "eventName": "AssumeRole", "eventID": "e1",
    ...      "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
    ...                       "accessKeyId": "AKIAALICE0000000"},
    ...      "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/Admin"},
    ...      "responseElements": {"credentials": {"accessKeyId": "ASIASESSION00001"}}}]
    >>> creds = credentials(fx.Trail(normalize_records(records, "x.json")))
    >>> creds.filter(pl.col("access_key_id") == "ASIASESSION00001").select(
    ...     "minted_by", "parent_access_key_id", "principal").row(0)
    ('AssumeRole', 'AKIAALICE0000000', 'arn:aws:iam::111122223333:role/Admin')
    """
    cached = _CACHE.get(trail)
    if cached is not None:
        return cached
    lazy = trail.lazy
    minted = trail_mints(trail)
    used, console = _usage(lazy).collect(engine="streaming"), _console_keys(lazy)
    frame = used.join(minted, on="access_key_id", how="full", coalesce=True).join(
        console, on="access_key_id", how="left"
    )

    key = pl.col("access_key_id")
    kind = (
        pl.when(key.str.starts_with("AKIA"))
        .then(pl.lit("long-term"))
        .when(key.str.starts_with("ASIA"))
        .then(pl.lit("temporary"))
        .otherwise(pl.lit("unknown"))
    )
    from_console = (
        pl.col("minted_by").is_null()
        & key.str.starts_with("ASIA")
        & pl.col("identity_type").is_in(["IAMUser", "Root"])
        & (
            pl.col("_console").fill_null(False)
            | pl.col("user_agents").list.eval(_console_user_agent(pl.element())).list.any()
        )
    )
    minted_rel = pl.col("relation") == "minted"
    frame = frame.with_columns(
        kind.alias("kind"),
        pl.coalesce("principal", "session_principal").alias("principal"),
        pl.coalesce("principal_arn", "session_arn").alias("principal_arn"),
        pl.coalesce("account_id", "session_account").alias("account_id"),
        pl.when(from_console)
        .then(pl.lit("console sign-in"))
        .otherwise(pl.col("minted_by").fill_null("unknown"))
        .alias("minted_by"),
        pl.when(minted_rel).then(pl.col("parent_key")).alias("parent_access_key_id"),
        pl.when(~minted_rel).then(pl.col("parent_key")).alias("created_by_access_key_id"),
        pl.col("events").fill_null(0),
        *(
            pl.col(c).fill_null(pl.lit([], dtype=_STRS))
            for c in ("source_ips", "user_agents", "accounts", "regions")
        ),
    )
    frame = _link_console(frame, lazy)
    frame = _link_portal(frame, trail)
    frame = _with_actor(frame, trail)
    frame = pl.concat([frame, _sign_in_credentials(lazy, trail)], how="diagonal_relaxed")
    frame = (
        frame.sort(pl.coalesce("minted_at", "first_used"), "access_key_id", nulls_last=True)
        .select(CREDENTIALS_SCHEMA.names())
        .cast(CREDENTIALS_SCHEMA)  # type: ignore[arg-type]
    )
    _CACHE[trail] = frame
    return frame


def _link_console(frame: pl.DataFrame, lazy: pl.LazyFrame) -> pl.DataFrame:
    """Point console sign-in keys at the user's latest ConsoleLogin before their first use."""
    is_console = pl.col("minted_by") == "console sign-in"
    if not frame.select(is_console.any()).item():
        return frame
    logins = _console_logins(lazy)
    if logins.height == 0:
        return frame
    console_rows = (
        frame.filter(is_console & pl.col("first_used").is_not_null())
        .select("access_key_id", "principal_arn", "first_used")
        .sort("first_used")
    )
    linked = console_rows.join_asof(
        logins,
        left_on="first_used",
        right_on="_login_time",
        by_left="principal_arn",
        by_right="_login_arn",
        strategy="backward",
        tolerance=CONSOLE_SESSION,
        check_sortedness=False,
    ).select("access_key_id", "_login_event_id", "_login_time")
    return (
        frame.join(linked, on="access_key_id", how="left")
        .with_columns(
            pl.coalesce("minted_by_event_id", "_login_event_id").alias("minted_by_event_id"),
            pl.coalesce("minted_at", "_login_time").alias("minted_at"),
        )
        .drop("_login_event_id", "_login_time")
    )


def _with_actor(frame: pl.DataFrame, trail: Trail) -> pl.DataFrame:
    """``actor``: the person or workload the key's lineage leads to (see ``with_actors``)."""
    from forensics.identity._actors import key_actors

    _, keys = key_actors(trail)
    return frame.join(keys, on="access_key_id", how="left").rename({"_key_actor": "actor"})


def _sign_in_credentials(lazy: pl.LazyFrame, trail: Trail) -> pl.DataFrame:
    """One row per Identity Center sign-in credential (``userIdentity.credentialId``): the
    portal / console session of a person, started by a sign-in or ``CreateToken`` call. Its
    ``kind`` is "sign-in credential"; the id stands in ``access_key_id`` (AWS shows no key)."""
    from forensics.identity._actors import key_actors

    aliases, _ = key_actors(trail)
    events = lazy.filter(pl.col("credential_id").is_not_null())
    if aliases:
        events = events.with_columns(pl.col("actor").replace(list(aliases), list(aliases.values())))
    start = pl.col("event_name").is_in(SIGN_IN_EVENTS)
    frame = (
        events.group_by("credential_id")
        .agg(
            pl.col("principal").first(),
            pl.col("principal_arn").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first(),
            pl.col("identity_type").first(),
            pl.col("actor").first(),
            pl.col("event_time").min().alias("first_used"),
            pl.col("event_time").max().alias("last_used"),
            pl.len().cast(pl.UInt32).alias("events"),
            pl.col("event_id").filter(start).first().alias("minted_by_event_id"),
            pl.col("event_time").filter(start).min().alias("minted_at"),
            pl.col("event_name").filter(start).first().alias("_how"),
            *(
                pl.col(src).drop_nulls().unique().sort().alias(name)
                for name, src in _LISTS.items()
                if src != "_account"
            ),
            pl.coalesce("recipient_account_id", "account_id")
            .drop_nulls()
            .unique()
            .sort()
            .alias("accounts"),
        )
        .collect(engine="streaming")
    )
    return frame.select(
        pl.col("credential_id").alias("access_key_id"),
        pl.lit("sign-in credential").alias("kind"),
        "principal",
        "principal_arn",
        "account_id",
        pl.when(pl.col("_how") == "CreateToken")
        .then(pl.lit("CreateToken"))
        .otherwise(pl.lit("sign-in"))
        .alias("minted_by"),
        "minted_by_event_id",
        pl.lit(None, dtype=pl.String).alias("parent_access_key_id"),
        pl.lit(None, dtype=pl.String).alias("created_by_access_key_id"),
        "first_used",
        "last_used",
        "events",
        "source_ips",
        "user_agents",
        "accounts",
        "regions",
        "minted_at",
        pl.col("principal").alias("minted_by_principal"),
        "identity_type",
        "actor",
    )


def _link_portal(frame: pl.DataFrame, trail: Trail) -> pl.DataFrame:
    """Permission-set sessions (``AWSReservedSSO_<set>_<hash>`` roles) come from the access
    portal's ``GetRoleCredentials``, whose response hides the key. The key is marked
    "GetRoleCredentials"; it is tied to one call (``minted_by_event_id``, and the caller's
    sign-in credential as ``parent_access_key_id``) by the rule of
    :mod:`forensics.identity._portal`: never a guess between two people."""
    from forensics.identity._portal import SSO_ROLE, portal_links

    sso = pl.col("principal").str.extract(SSO_ROLE, 2)
    unknown = (pl.col("minted_by") == "unknown") & sso.is_not_null()
    if not frame.select(unknown.any()).item():
        return frame
    links = portal_links(trail).drop("_by_actor")
    out = frame.join(links, on="access_key_id", how="left")
    tied = unknown & pl.col("_eid").is_not_null()
    return out.with_columns(
        pl.when(unknown)
        .then(pl.lit("GetRoleCredentials"))
        .otherwise(pl.col("minted_by"))
        .alias("minted_by"),
        *(
            pl.when(tied).then(pl.col(src)).otherwise(pl.col(dst)).alias(dst)
            for dst, src in (
                ("minted_by_event_id", "_eid"),
                ("minted_at", "_t"),
                ("minted_by_principal", "_by"),
                ("parent_access_key_id", "_cred"),
            )
        ),
    ).drop("_eid", "_t", "_by", "_cred")
