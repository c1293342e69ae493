"""``principals(trail)``: who is in the trail, one row per durable identity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from forensics._schema import is_denied
from forensics.identity._mint import clean_key

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["principals"]

#: Sign-in events counted in ``console_logins`` / ``failed_console_logins``: the console, and
#: IAM Identity Center's sign-in steps ("Understanding IAM Identity Center sign-in events").
_SIGN_IN = ("ConsoleLogin", "CredentialChallenge", "CredentialVerification", "UserAuthentication")


def _clean(name: str) -> pl.Expr:
    return clean_key(pl.element()).drop_nulls() if name == "access_keys" else pl.element()


def _most_frequent(combos: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Per principal, the non-null value of ``column`` seen in the most events (ties: smallest)."""
    return (
        combos.filter(pl.col(column).is_not_null())
        .group_by("principal", column)
        .agg(pl.col("events").sum().alias("_n"))
        .sort(["_n", column], descending=[True, False])
        .group_by("principal", maintain_order=True)
        .agg(pl.col(column).first())
    )


def principals(trail: Trail) -> pl.DataFrame:
    """One row per ``principal`` (the durable identity events are attributed to).

    Columns: ``principal``, ``identity_type`` (the most frequent), ``account_id``,
    ``first_seen``, ``last_seen`` (UTC), ``events``, ``errors``, ``access_denied``,
    ``console_logins`` (successful ConsoleLogin / Identity Center UserAuthentication),
    ``failed_console_logins`` (failed sign-in steps, Identity Center's included), and the
    distinct sorted lists
    ``source_ips``, ``user_agents``, ``regions``, ``services`` (event sources),
    ``access_keys`` (keys used), ``session_arns`` (the ARNs it acted as: assumed-role sessions,
    federated users) and ``source_identities``.

    Sorted with the principals that were refused most first (``access_denied``), then by
    ``errors`` and ``events``, most first: the usual first look of a responder.

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> alice = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}
    >>> t = fx.Trail(normalize_records([
    ...     {"eventTime": "2024-01-01T00:00:00Z", "eventName": "ListBuckets", "userIdentity": alice},
    ...     {"eventTime": "2024-01-01T00:01:00Z", "eventName": "GetObject", "userIdentity": alice,
    ...      "errorCode": "AccessDenied"}], "x.json"))
    >>> principals(t).select("principal", "events", "access_denied").row(0)
    ('arn:aws:iam::111122223333:user/alice', 2, 1)
    """
    lazy = trail.lazy
    session = pl.col("identity_type").is_in(["AssumedRole", "FederatedUser"])
    lists = {
        "source_ips": pl.col("source_ip"),
        "user_agents": pl.col("user_agent"),
        "regions": pl.col("aws_region"),
        "services": pl.col("event_source"),
        "access_keys": pl.col("access_key_id"),
        "session_arns": pl.when(session).then(pl.col("principal_arn")),
        "source_identities": pl.col("source_identity"),
    }
    # Two levels: the distinct combinations of the listed values are far fewer than events.
    combos = (
        lazy.group_by(
            pl.col("principal").fill_null("unknown"),
            "identity_type",
            "account_id",
            *(expr.alias(name) for name, expr in lists.items()),
        )
        .agg(
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.len().alias("events"),
        )
        .cache()
    )
    main = combos.group_by("principal").agg(
        pl.col("first_seen").min(),
        pl.col("last_seen").max(),
        pl.col("events").sum(),
        *(pl.col(name).drop_nulls().unique() for name in lists),
    )
    # Errors and console logins are few: count them on their own rows only.
    errors = (
        lazy.filter(pl.col("error_code").is_not_null())
        .group_by(pl.col("principal").fill_null("unknown"))
        .agg(
            pl.len().alias("errors"),
            is_denied(pl.col("error_code")).fill_null(False).sum().alias("access_denied"),
        )
    )
    failed = (
        pl.col("error_code").is_not_null()
        | pl.col("response_elements")
        .str.contains('"ConsoleLogin":"Failure"', literal=True)
        .fill_null(False)
        # Identity Center sign-in steps: serviceEventDetails {"CredentialVerification": "Failure"}
        | pl.col("extra").str.contains(':"Failure"', literal=True).fill_null(False)
    )
    logins = (
        lazy.filter(pl.col("event_name").is_in(_SIGN_IN))
        .group_by(pl.col("principal").fill_null("unknown"))
        .agg(
            # successes: a console sign-in, or Identity Center's UserAuthentication (the end
            # of its sign-in steps); failures: any failed step
            (~failed & pl.col("event_name").is_in(["ConsoleLogin", "UserAuthentication"]))
            .sum()
            .alias("console_logins"),
            failed.sum().alias("failed_console_logins"),
        )
    )
    counts = ("errors", "access_denied", "console_logins", "failed_console_logins")
    return (
        main.join(_most_frequent(combos, "identity_type"), on="principal", how="left")
        .join(_most_frequent(combos, "account_id"), on="principal", how="left")
        .join(errors, on="principal", how="left")
        .join(logins, on="principal", how="left")
        .select(
            "principal",
            "identity_type",
            "account_id",
            "first_seen",
            "last_seen",
            pl.col("events").cast(pl.UInt32),
            *(pl.col(c).fill_null(0).cast(pl.UInt32) for c in counts),
            *(pl.col(name).list.eval(_clean(name)).list.sort() for name in lists),
        )
        .sort(
            ["access_denied", "errors", "events", "principal"],
            descending=[True, True, True, False],
        )
        .collect(engine="streaming")
    )
