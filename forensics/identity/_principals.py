"""``principals(trail)``: who is in the trail, one row per durable identity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from forensics._trail import is_denied
from forensics.identity._mint import clean_key

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["principals"]


def _distinct(expr: pl.Expr) -> pl.Expr:
    return expr.drop_nulls().unique().sort()


def principals(trail: Trail) -> pl.DataFrame:
    """One row per ``principal`` (the durable identity events are attributed to).

    Columns: ``principal``, ``identity_type`` (the most frequent), ``account_id``,
    ``first_seen``, ``last_seen`` (UTC), ``events``, ``errors``, ``access_denied``,
    ``console_logins`` (successful), ``failed_console_logins``, and the distinct sorted lists
    ``source_ips``, ``user_agents``, ``regions``, ``services`` (event sources),
    ``access_keys`` (keys used), ``session_arns`` (the ARNs it acted as: assumed-role sessions,
    federated users) and ``source_identities``.

    Sorted with the principals that were refused most first (``access_denied``), then by
    ``errors`` and ``events``, most first: the usual first look of a responder.

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics._normalize import normalize_records
    >>> alice = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}
    >>> t = fx.Trail(normalize_records([
    ...     {"eventTime": "2024-01-01T00:00:00Z", "eventName": "ListBuckets", "userIdentity": alice},
    ...     {"eventTime": "2024-01-01T00:01:00Z", "eventName": "GetObject", "userIdentity": alice,
    ...      "errorCode": "AccessDenied"}], "x.json"))
    >>> principals(t).select("principal", "events", "access_denied").row(0)
    ('arn:aws:iam::111122223333:user/alice', 2, 1)
    """
    login = pl.col("event_name") == "ConsoleLogin"
    failed = pl.col("error_code").is_not_null() | pl.col("response_elements").str.contains(
        '"ConsoleLogin":"Failure"', literal=True
    ).fill_null(False)
    return (
        trail.lazy.group_by("principal")
        .agg(
            pl.col("identity_type").drop_nulls().mode().sort().first().alias("identity_type"),
            pl.col("account_id").drop_nulls().mode().sort().first().alias("account_id"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.len().alias("events"),
            pl.col("error_code").is_not_null().sum().alias("errors"),
            is_denied(pl.col("error_code")).fill_null(False).sum().alias("access_denied"),
            (login & ~failed).sum().alias("console_logins"),
            (login & failed).sum().alias("failed_console_logins"),
            _distinct(pl.col("source_ip")).alias("source_ips"),
            _distinct(pl.col("user_agent")).alias("user_agents"),
            _distinct(pl.col("aws_region")).alias("regions"),
            _distinct(pl.col("event_source")).alias("services"),
            _distinct(clean_key(pl.col("access_key_id"))).alias("access_keys"),
            _distinct(
                pl.col("principal_arn").filter(
                    pl.col("principal_arn").str.contains(":assumed-role/|:federated-user/")
                )
            ).alias("session_arns"),
            _distinct(pl.col("source_identity")).alias("source_identities"),
        )
        .with_columns(pl.col("principal").fill_null("unknown"))
        .sort(
            ["access_denied", "errors", "events", "principal"],
            descending=[True, True, True, False],
        )
        .collect()
    )
