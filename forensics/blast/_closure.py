"""The closure of a seed: every credential that descends from it, followed by key, never by name.

A credential joins the closure when

* it is the seed (an access key id), or a key of the seed principal / session ARN;
* a closure key **minted** it (``parent_access_key_id``: AssumeRole, GetSessionToken, ...;
  across accounts, since a key is one credential wherever it is used);
* a closure key **created** it (``created_by_access_key_id``: CreateAccessKey, e.g. for a new
  backdoor user);
* it belongs to an identity (user, role) a closure call **created**, and was first used after
  that call (the identity's key-less calls, e.g. console sign-ins, join too);
* it is a **console sign-in** session of a user whose login profile a closure key created or
  reset (CreateLoginProfile / UpdateLoginProfile), begun after that call: the password is
  the credential the attacker holds.

With ``since``/``until``, keys minted or created outside the window do not join (the seed
always does).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime

import polars as pl

from forensics._errors import PrincipalError
from forensics._progress import progress

__all__ = ["closure", "seed_keys"]

_KEY = re.compile(r"^(AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{8,}$")
_LOGIN_PROFILE_EVENTS = ("CreateLoginProfile", "UpdateLoginProfile")


def seed_keys(creds: pl.DataFrame, seed: str) -> tuple[list[str], list[str]]:
    """(access keys, principals) a seed stands for; raises ``PrincipalError`` if none."""
    seed = seed.strip()
    if not seed:
        raise PrincipalError("empty seed: give an access key id, a principal ARN or a session ARN")
    if _KEY.match(seed):
        if seed not in set(creds["access_key_id"].to_list()):
            raise PrincipalError(
                f"access key {seed!r} does not appear in this trail (no event used, minted or "
                "created it); check the key id and the trail's time window",
                candidates=_near(creds, "access_key_id", seed),
            )
        return [seed], []
    if seed.startswith("arn:"):
        if ":assumed-role/" in seed:
            keys = creds.filter(pl.col("principal_arn") == seed)["access_key_id"].to_list()
            principals: list[str] = []
        else:
            keys = creds.filter((pl.col("principal") == seed) | (pl.col("principal_arn") == seed))[
                "access_key_id"
            ].to_list()
            principals = [seed]
        return keys, principals
    raise PrincipalError(
        f"cannot read {seed!r} as a seed: give an access key id (AKIA.../ASIA...), a principal "
        "ARN (arn:aws:iam::123456789012:user/name, role/name or root) or an assumed-role "
        "session ARN (arn:aws:sts::123456789012:assumed-role/role/session)",
        candidates=_near(creds, "principal", seed),
    )


def _near(creds: pl.DataFrame, column: str, text: str) -> list[str]:
    if not text:
        return []
    probe = text[-6:]
    return (
        creds.filter(pl.col(column).str.contains(probe, literal=True))[column]
        .unique()
        .sort()
        .head(10)
        .to_list()
    )


def _in_window(col: str, since: datetime | None, until: datetime | None) -> pl.Expr:
    ok = pl.lit(True)
    if since is not None:
        ok = ok & (pl.col(col) >= since)
    if until is not None:
        ok = ok & (pl.col(col) < until)
    return ok.fill_null(True)


_CREATE_IDENTITY = {
    "CreateUser": "$.user.arn",
    "CreateRole": "$.role.arn",
}


def _frontier_events(
    lazy: pl.LazyFrame, keys: list[str], principals: list[str], names: tuple[str, ...]
) -> pl.LazyFrame:
    """Successful calls named ``names`` made with a frontier key, or key-less by a frontier
    principal."""
    actor = pl.col("access_key_id").is_in(keys)
    if principals:
        actor = actor | (pl.col("access_key_id").is_null() & pl.col("principal").is_in(principals))
    return lazy.filter(actor & pl.col("event_name").is_in(names) & pl.col("error_code").is_null())


def closure(
    lazy: pl.LazyFrame,
    creds: pl.DataFrame,
    seeds: list[str],
    *,
    principals: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Breadth-first closure over ``credentials()`` rows (see the module docstring).

    Returns ``(keys, identities)``: ``keys`` has ``access_key_id``, ``joined_by``,
    ``via_access_key_id``, ``via_event_id``, ``depth``; ``identities`` the key-less actors
    followed (the seed principals and identities the closure created), with ``principal``,
    ``joined_by``, ``since`` (their events count from then), ``via_event_id``.
    """
    creds = creds.with_columns(
        pl.coalesce("minted_at", "first_used").alias("_joined_at"),
        pl.col("principal_arn").str.extract(r":user/(?:.*/)?([^/]+)$", 1).alias("_user_name"),
    )
    members: dict[str, tuple[str, str | None, str | None, int]] = {
        k: ("seed", None, None, 0) for k in seeds
    }
    identities: dict[str, tuple[str, datetime | None, str | None]] = {
        p: ("seed", None, None) for p in principals or []
    }
    frontier = list(seeds)
    frontier_principals = list(principals or [])
    for depth in progress(itertools.count(1), "blast radius: rounds", unit="round"):
        if not (frontier or frontier_principals):
            break
        found: dict[str, tuple[str, str | None, str | None, int]] = {}
        new_identities: dict[str, tuple[str, datetime | None, str | None]] = {}
        by_key = pl.col("parent_access_key_id").is_in(frontier) | pl.col(
            "created_by_access_key_id"
        ).is_in(frontier)
        by_principal = (
            pl.col("minted_by_principal").is_in(frontier_principals)
            & pl.col("parent_access_key_id").is_null()
            & pl.col("created_by_access_key_id").is_null()
        )
        children = creds.filter(
            (by_key | by_principal)
            & ~pl.col("access_key_id").is_in(list(members))
            & _in_window("_joined_at", since, until)
        ).select(
            "access_key_id",
            "parent_access_key_id",
            "created_by_access_key_id",
            "minted_by_event_id",
            "minted_by",
        )
        for key, parent, creator, event_id, how in children.iter_rows():
            if parent in frontier:
                found[key] = ("minted", parent, event_id, depth)
            elif creator in frontier:
                found[key] = ("created", creator, event_id, depth)
            else:
                kind = "created" if how == "CreateAccessKey" else "minted"
                found[key] = (kind, None, event_id, depth)
        # Identities the frontier created: their keys (after creation) and key-less calls.
        made = (
            _frontier_events(lazy, frontier, frontier_principals, tuple(_CREATE_IDENTITY))
            .select(
                pl.when(pl.col("event_name") == "CreateUser")
                .then(pl.col("response_elements").str.json_path_match("$.user.arn"))
                .otherwise(pl.col("response_elements").str.json_path_match("$.role.arn"))
                .alias("_arn"),
                pl.col("event_time").alias("_at"),
                pl.col("event_id").alias("_by_event"),
                pl.col("access_key_id").alias("_by"),
            )
            .filter(pl.col("_arn").is_not_null() & _in_window("_at", since, until))
            .collect(engine="streaming")
        )
        for arn, at, event_id, _by in made.iter_rows():
            if arn not in identities:
                new_identities[arn] = ("created", at, event_id)
        if made.height:
            owned = (
                creds.join(made, left_on="principal", right_on="_arn")
                .filter(
                    (pl.col("_joined_at") >= pl.col("_at"))
                    & ~pl.col("access_key_id").is_in(list(members) + list(found))
                    & _in_window("_joined_at", since, until)
                )
                .unique("access_key_id", keep="first")
            )
            for key, by, event_id in owned.select("access_key_id", "_by", "_by_event").iter_rows():
                found.setdefault(key, ("created identity", by, event_id, depth))
        # Console sessions opened with a password the closure set.
        profiles = (
            _frontier_events(lazy, frontier, frontier_principals, _LOGIN_PROFILE_EVENTS)
            .select(
                pl.col("request_parameters").str.json_path_match("$.userName").alias("_user"),
                pl.coalesce("recipient_account_id", "account_id").alias("_acct"),
                pl.col("event_time").alias("_set_at"),
                pl.col("access_key_id").alias("_by"),
                pl.col("event_id").alias("_by_event"),
            )
            .filter(pl.col("_user").is_not_null() & _in_window("_set_at", since, until))
            .collect(engine="streaming")
        )
        if profiles.height:
            sessions = (
                creds.filter(
                    (pl.col("minted_by") == "console sign-in")
                    & ~pl.col("access_key_id").is_in(list(members) + list(found))
                )
                .join(
                    profiles,
                    left_on=["_user_name", "account_id"],
                    right_on=["_user", "_acct"],
                )
                .filter(pl.col("_joined_at") >= pl.col("_set_at"))
                .filter(_in_window("_joined_at", since, until))
                .unique("access_key_id", keep="first")
            )
            for key, by, event_id in sessions.select(
                "access_key_id", "_by", "minted_by_event_id"
            ).iter_rows():
                found.setdefault(key, ("console sign-in", by, event_id, depth))
        members.update(found)
        identities.update(new_identities)
        frontier = list(found)
        frontier_principals = list(new_identities)
    keys = pl.DataFrame(
        {
            "access_key_id": list(members),
            "joined_by": [v[0] for v in members.values()],
            "via_access_key_id": [v[1] for v in members.values()],
            "via_event_id": [v[2] for v in members.values()],
            "depth": [v[3] for v in members.values()],
        },
        schema={
            "access_key_id": pl.String,
            "joined_by": pl.String,
            "via_access_key_id": pl.String,
            "via_event_id": pl.String,
            "depth": pl.Int32,
        },
    )
    actors = pl.DataFrame(
        {
            "principal": list(identities),
            "joined_by": [v[0] for v in identities.values()],
            "since": [v[1] for v in identities.values()],
            "via_event_id": [v[2] for v in identities.values()],
        },
        schema={
            "principal": pl.String,
            "joined_by": pl.String,
            "since": pl.Datetime("us", "UTC"),
            "via_event_id": pl.String,
        },
    )
    return keys, actors
