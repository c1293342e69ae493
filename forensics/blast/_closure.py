"""The closure of a seed: every credential that descends from it, followed by key, never by name.

A credential joins the closure when

* it is the seed (an access key id), or a key of the seed principal / session ARN;
* a closure key **minted** it (``parent_access_key_id``: AssumeRole, GetSessionToken, ...;
  across accounts, since a key is one credential wherever it is used);
* a closure key **created** it (``created_by_access_key_id``: CreateAccessKey, e.g. for a new
  backdoor user);
* it is a **console sign-in** session of a user whose login profile a closure key created or
  reset (CreateLoginProfile / UpdateLoginProfile), begun after that call: the password is
  the credential the attacker holds.

With ``since``/``until``, keys minted or created outside the window do not join (the seed
always does).
"""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl

from forensics._errors import PrincipalError

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
            keys = creds.filter(
                (pl.col("principal") == seed) | (pl.col("principal_arn") == seed)
            )["access_key_id"].to_list()
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


def closure(
    lazy: pl.LazyFrame,
    creds: pl.DataFrame,
    seeds: list[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """Breadth-first closure over ``credentials()`` rows (see the module docstring)."""
    creds = creds.with_columns(
        pl.coalesce("minted_at", "first_used").alias("_joined_at"),
        pl.col("principal_arn").str.extract(r":user/(?:.*/)?([^/]+)$", 1).alias("_user_name"),
    )
    members: dict[str, tuple[str, str | None, str | None, int]] = {
        k: ("seed", None, None, 0) for k in seeds
    }
    frontier = list(seeds)
    depth = 0
    while frontier:
        depth += 1
        found: dict[str, tuple[str, str | None, str | None, int]] = {}
        children = creds.filter(
            (
                pl.col("parent_access_key_id").is_in(frontier)
                | pl.col("created_by_access_key_id").is_in(frontier)
            )
            & ~pl.col("access_key_id").is_in(list(members))
            & _in_window("_joined_at", since, until)
        ).select(
            "access_key_id", "parent_access_key_id", "created_by_access_key_id",
            "minted_by_event_id",
        )
        for key, parent, creator, event_id in children.iter_rows():
            if parent in frontier:
                found[key] = ("minted", parent, event_id, depth)
            else:
                found[key] = ("created", creator, event_id, depth)
        # Console sessions opened with a password the closure set.
        profiles = (
            lazy.filter(
                pl.col("access_key_id").is_in(frontier)
                & pl.col("event_name").is_in(_LOGIN_PROFILE_EVENTS)
                & pl.col("error_code").is_null()
            )
            .select(
                pl.col("request_parameters").str.json_path_match("$.userName").alias("_user"),
                pl.coalesce("recipient_account_id", "account_id").alias("_acct"),
                pl.col("event_time").alias("_set_at"),
                pl.col("access_key_id").alias("_by"),
                pl.col("event_id").alias("_by_event"),
            )
            .filter(_in_window("_set_at", since, until))
            .collect()
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
        frontier = list(found)
    return pl.DataFrame(
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
