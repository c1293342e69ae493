"""The person or workload behind every event: ``actor``, propagated down the credential lineage.

The loader fills ``actor`` from each record's own ``userIdentity`` (an IAM user, root signed in
for real, a SAML / web-identity subject, an Identity Center user, ``onBehalfOf`` on a role
session, a Lambda function from ``inScopeOf``, an EC2 instance for instance-profile sessions, an
AWS service) and leaves it null where only the lineage can tell: role sessions, root sessions
made with ``sts:AssumeRoot``, the role owner's copy of a cross-account call. The loader sees
files one at a time, so the propagation runs here, lazily, over the whole trail:

1. aliases: a SAML ``nameQualifier`` key becomes the issuer key where an
   ``AssumeRoleWithSAML`` response shows both; an Identity Center user seen by name only (the
   pre-2025 ``Unknown`` form) becomes the user-id key where a record shows name and id;
2. every access key gets the actor of its own events, else the actor of the key it was minted
   from (recursively: role chaining, across accounts, AssumeRoot), else the actor of the call
   that minted it (a SAML / web-identity caller, an AWS service);
3. an event's actor is its own, else its key's, else (an ``AWSAccount`` copy of a cross-account
   call) the other copy's by ``sharedEventID``, else ``assumed-root:<account>`` for an
   AssumeRoot session whose minting is not in the trail, else its ``principal``: never null.

Links are by key only, never by role or session name.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from forensics._schema import is_denied
from forensics.identity._mint import clean_key, trail_mints
from forensics.identity._portal import portal_links

if TYPE_CHECKING:
    from polars._typing import EngineType

    from forensics._trail import Trail

__all__ = [
    "ACTOR_INPUTS",
    "actor_directory",
    "actor_groups",
    "actors",
    "key_actors",
    "sessions",
    "with_actors",
]

_STRS = pl.List(pl.String)
_KEY_CACHE: weakref.WeakKeyDictionary[Trail, tuple[dict[str, str], pl.DataFrame]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_CACHE: weakref.WeakKeyDictionary[Trail, pl.DataFrame] = weakref.WeakKeyDictionary()
_COPY = pl.col("identity_type") == "AWSAccount"
#: Columns the loader derives from the userIdentity text alone (identity_row).
IDENTITY_FROM_TEXT = (
    "access_key_id",
    "identity_type",
    "account_id",
    "assumed_root",
    "credential_id",
    "session_issuer_arn",
    "principal_arn",
    "sign_in_session_arn",
)


#: Identity Center sign-in events; a successful one names the user in
#: ``additionalEventData.UserName`` (IAM Identity Center, "Username in sign-in CloudTrail events").
SIGN_IN_NAMED = ("CredentialChallenge", "CredentialVerification", "UserAuthentication")
_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def _sign_in_names(lazy: pl.LazyFrame) -> pl.DataFrame:
    """(local actor, account, user id, name) from Identity Center sign-in events that carry the
    user name in ``additionalEventData`` (only those few rows' JSON is read)."""
    rows = (
        lazy.filter(
            pl.col("event_name").is_in(SIGN_IN_NAMED)
            & pl.col("actor").is_not_null()
            & pl.col("additional_event_data").str.contains('"UserName"', literal=True)
        )
        .select("actor", "account_id", "on_behalf_of_user_id", "additional_event_data")
        .unique()
        .collect()
    )
    return (
        rows.select(
            "actor",
            "account_id",
            "on_behalf_of_user_id",
            pl.col("additional_event_data").str.json_path_match("$.UserName").alias("name"),
        )
        .filter(pl.col("name").is_not_null() & (pl.col("name") != _HIDDEN))
        .unique()
    )


def _aliases(lazy: pl.LazyFrame) -> dict[str, str]:
    """Local actor keys -> the canonical key of the same person (see the module's step 1)."""
    rows = (
        lazy.filter(
            pl.col("identity_type").is_in(["SAMLUser", "IdentityCenterUser", "Unknown"])
            | pl.col("on_behalf_of_user_id").is_not_null()
        )
        .select(
            "identity_type",
            "actor",
            "user_name",
            "account_id",
            "on_behalf_of_user_id",
            "identity_store_arn",
            pl.when(pl.col("identity_type") == "SAMLUser").then(pl.col("response_elements")),
        )
        .unique()
        .collect()
    )
    out: dict[str, str] = {}
    saml = rows.filter(
        (pl.col("identity_type") == "SAMLUser")
        & pl.col("response_elements").str.contains('"issuer"', literal=True)
    )
    if saml.height:
        resp = pl.col("response_elements")
        pairs = saml.select(
            resp.str.json_path_match("$.nameQualifier").alias("nq"),
            resp.str.json_path_match("$.issuer").alias("issuer"),
            resp.str.json_path_match("$.subject").alias("subject"),
        ).drop_nulls()
        for nq, issuer, subject in pairs.unique().iter_rows():
            out[f"saml:{nq}/{subject}"] = f"saml:{issuer}/{subject}"
    named = rows.filter(
        pl.col("user_name").is_not_null() & pl.col("on_behalf_of_user_id").is_not_null()
    ).drop("response_elements", "identity_type")
    signed_in = _sign_in_names(lazy).filter(pl.col("on_behalf_of_user_id").is_not_null())
    named = pl.concat(
        [
            named.select(
                "actor", "user_name", "account_id", "on_behalf_of_user_id", "identity_store_arn"
            ),
            signed_in.select(
                "actor",
                pl.col("name").alias("user_name"),
                "account_id",
                "on_behalf_of_user_id",
                pl.lit(None, dtype=pl.String).alias("identity_store_arn"),
            ),
        ]
    )
    # a name (or a bare user id) that links to two people is left alone: never a guess
    found: dict[str, set[str]] = {}
    for actor, name, account, user_id, _store in named.iter_rows():
        if actor and actor.startswith("identitycenter:"):
            if account:
                found.setdefault(f"identitycenter:{account}/{name}", set()).add(actor)
            if user_id and not actor.startswith("identitycenter:unknown/"):
                found.setdefault(f"identitycenter:unknown/{user_id}", set()).add(actor)
    out.update({k: next(iter(v)) for k, v in found.items() if len(v) == 1})
    return out


def key_actors(trail: Trail) -> tuple[dict[str, str], pl.DataFrame]:
    """``(aliases, keys)``: the alias map of step 1 and one row per access key with its
    ``actor`` (step 2); cached per trail."""
    cached = _KEY_CACHE.get(trail)
    if cached is not None:
        return cached
    lazy = trail.lazy
    aliases = _aliases(lazy)
    own = dict(
        lazy.filter(pl.col("actor").is_not_null())
        .select(clean_key(pl.col("access_key_id")).alias("k"), "actor")
        .drop_nulls("k")
        .group_by("k")
        .agg(pl.col("actor").first())
        .collect()
        .iter_rows()
    )
    mints = trail_mints(trail).filter(pl.col("relation") == "minted")
    minted = {
        k: (parent, by_actor)
        for k, parent, by_actor in mints.select(
            "access_key_id", "parent_key", "minted_by_actor"
        ).iter_rows()
    }
    # a permission-set key tied to the portal call that made it (GetRoleCredentials): the
    # caller's sign-in credential is its parent, the caller (an Identity Center user) its origin
    for k, cred, by_actor in (
        portal_links(trail).select("access_key_id", "_cred", "_by_actor").iter_rows()
    ):
        if k not in minted:
            minted[k] = (cred, by_actor)
    resolved: dict[str, str] = {}
    for key in {*own, *minted}:
        chain: list[str] = []
        cur, actor = key, None
        while cur not in chain:
            if cur in resolved:
                actor = resolved[cur]
                break
            chain.append(cur)
            if cur in own:
                actor = own[cur]
                break
            if cur not in minted:
                break
            parent, by_actor = minted[cur]
            if parent is None or (parent not in own and parent not in minted):
                actor = by_actor  # the origin: whoever made the minting call
                break
            cur = parent
        if actor is not None:
            actor = aliases.get(actor, actor)
            for k in chain:
                resolved.setdefault(k, actor)
    keys = pl.DataFrame(
        {"access_key_id": list(resolved), "_key_actor": list(resolved.values())},
        schema={"access_key_id": pl.String, "_key_actor": pl.String},
    )
    _KEY_CACHE[trail] = (aliases, keys)
    return aliases, keys


def _actor_expr(aliases: dict[str, str]) -> pl.Expr:
    local = pl.col("actor")
    if aliases:
        local = local.replace(list(aliases), list(aliases.values()))
    return local


def _shared_actors(
    trail: Trail, aliases: dict[str, str], keys: pl.DataFrame, only: pl.Series | None = None
) -> pl.DataFrame:
    """``shared_event_id`` -> the actor of the caller's copy, for the cross-account calls whose
    owner's copy (``AWSAccount``) is in the trail (step 3); ``only`` these ids when given (not
    cached), unless the whole trail's are cached already."""
    cached = _SHARED_CACHE.get(trail)
    if cached is not None:
        return cached
    lazy = trail.lazy
    shared = pl.col("shared_event_id")
    wanted = _COPY & shared.is_not_null()
    if only is not None:
        only = only.drop_nulls().unique()
        if only.len() == 0:
            return pl.DataFrame(schema={"shared_event_id": pl.String, "_shared_actor": pl.String})
        wanted = wanted & shared.is_in(only.implode())
    copies = lazy.filter(wanted).select(shared).unique()
    callers = (
        lazy.filter(~_COPY & shared.is_not_null())
        .join(copies, on="shared_event_id", how="semi")
        .select("shared_event_id", "actor", "access_key_id")
        .collect()
    )
    frame = (
        callers.with_columns(pl.coalesce(_local(aliases), _by_key(keys)).alias("_shared_actor"))
        .drop_nulls("_shared_actor")
        .unique("shared_event_id", keep="first")
        .select("shared_event_id", "_shared_actor")
    )
    if only is None:
        _SHARED_CACHE[trail] = frame
    return frame


def _local(aliases: dict[str, str]) -> pl.Expr:
    """The record's own actor, under its canonical key."""
    return _actor_expr(aliases)


def _by_key(keys: pl.DataFrame) -> pl.Expr:
    """The actor of the event's access key (a hash lookup, not a join: no other column moves)."""
    if keys.height == 0:
        return pl.lit(None, dtype=pl.String)
    return pl.col("access_key_id").replace_strict(
        keys["access_key_id"], keys["_key_actor"], default=None, return_dtype=pl.String
    )


#: What decides an event's actor besides the caller's copy of a cross-account call (the
#: keys :func:`actor_groups` groups by).
_DECIDES = ("actor", "access_key_id", "identity_type", "principal", "account_id", "assumed_root")
#: The columns :func:`actor_expr` reads.
ACTOR_INPUTS = (*_DECIDES, "shared_event_id")


def actor_expr(trail: Trail, rows: pl.DataFrame | None = None) -> pl.Expr:
    """The propagated ``actor`` of each event as one expression over the events table.

    ``rows``: the only events it will be evaluated on (a few matched rows, with the
    :data:`ACTOR_INPUTS` columns): the caller's copy of a cross-account call is then looked up
    for the owner's copies among them only, not for the whole trail's.
    """
    aliases, keys = key_actors(trail)
    only = None
    if rows is not None:
        only = rows.filter(_COPY)["shared_event_id"]
    shared = _shared_actors(trail, aliases, keys, only)
    by_shared = None
    if shared.height:
        by_shared = pl.col("shared_event_id").replace_strict(
            shared["shared_event_id"],
            shared["_shared_actor"],
            default=None,
            return_dtype=pl.String,
        )
    return _propagate(_local(aliases), _by_key(keys), by_shared)


def _propagate(local: pl.Expr, by_key: pl.Expr, by_shared: pl.Expr | None) -> pl.Expr:
    """Step 3 of the module docstring: the first of the record's own actor, its key's, the
    caller's copy's (an ``AWSAccount`` copy only), the AssumeRoot fallback, the principal."""
    parts = [local, by_key]
    if by_shared is not None:
        parts.append(pl.when(_COPY).then(by_shared))
    fallback = (
        pl.when(pl.col("assumed_root").fill_null(False) & (pl.col("identity_type") == "Root"))
        .then(pl.lit("assumed-root:") + pl.col("account_id").fill_null("unknown"))
        .otherwise(pl.col("principal"))
    )
    return pl.coalesce(*parts, fallback, pl.lit("unknown")).alias("actor")


def propagated(trail: Trail) -> pl.LazyFrame:
    """The trail's events with ``actor`` propagated (same columns, same order)."""
    return trail.lazy.with_columns(actor_expr(trail))


def with_actors(trail: Trail) -> Trail:
    """The trail with ``actor`` propagated down the lineage (see the module docstring).

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> alice = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
    ...          "accessKeyId": "AKIAALICE0000000"}
    >>> t = fx.Trail(normalize_records([
    ...     {"eventTime": "2024-01-01T00:00:00Z", "eventName": "AssumeRole", "userIdentity": alice,
    ...      "responseElements": {"credentials": {"accessKeyId": "ASIAHOP100000000"}}},
    ...     {"eventTime": "2024-01-01T00:01:00Z", "eventName": "DeleteBucket", "userIdentity": {
    ...         "type": "AssumedRole", "accessKeyId": "ASIAHOP100000000",
    ...         "arn": "arn:aws:sts::111122223333:assumed-role/Admin/x"}}], "x.json"))
    >>> with_actors(t).events["actor"].to_list()
    ['arn:aws:iam::111122223333:user/alice', 'arn:aws:iam::111122223333:user/alice']
    """
    # type(trail): the same class, so analyses never import Trail at run time (layers)
    return type(trail)(
        propagated(trail),
        trail.report,
        originals=trail._originals,  # the same data, one more derived column
        filters=trail.filters,
    )


def actor_directory(trail: Trail) -> pl.DataFrame:
    """One row per actor named by the records themselves: ``actor`` (canonical), ``aliases``
    (other keys of the same person), ``names`` (user names / subjects seen with it) and
    ``user_ids`` (Identity Center user ids): what :func:`~forensics.identity.for_principal`
    matches a name against."""
    aliases, keys = key_actors(trail)
    local = (
        trail.lazy.filter(pl.col("actor").is_not_null())
        .group_by("actor")
        .agg(
            pl.col("user_name").drop_nulls().unique(),
            pl.col("on_behalf_of_user_id").drop_nulls().unique(),
        )
        .collect()
    )
    signed_in = (
        _sign_in_names(trail.lazy)
        .group_by("actor")
        .agg(
            pl.col("name").alias("user_name"), pl.lit([], dtype=_STRS).alias("on_behalf_of_user_id")
        )
    )
    canon = pl.concat([local, signed_in], how="diagonal_relaxed").with_columns(
        _actor_expr(aliases).alias("_canon"),
        pl.col("actor").alias("_alias"),
    )
    extra = pl.DataFrame({"_canon": keys["_key_actor"].unique()}, schema={"_canon": pl.String})
    return (
        pl.concat([canon.drop("actor"), extra], how="diagonal")
        .group_by("_canon")
        .agg(
            pl.col("_alias").drop_nulls().unique().alias("aliases"),
            pl.col("user_name").explode().drop_nulls().unique().sort().alias("names"),
            pl.col("on_behalf_of_user_id").explode().drop_nulls().unique().sort().alias("user_ids"),
        )
        .rename({"_canon": "actor"})
        .sort("actor")
    )


def _combos(trail: Trail, *columns: str, by: tuple[pl.Expr, ...] = ()) -> pl.DataFrame:
    """The distinct combinations of what decides an event's actor and of ``columns``, with
    per-combination counts, and the propagated ``actor`` of each: the analyses aggregate these
    (far fewer rows than events) instead of the events themselves."""
    return actor_groups(
        trail,
        trail.lazy,
        columns,
        [
            pl.col("event_time").min().alias("_first"),
            pl.col("event_time").max().alias("_last"),
            pl.len().alias("_events"),
            pl.col("error_code").is_not_null().sum().alias("_errors"),
            is_denied(pl.col("error_code")).fill_null(False).sum().alias("_denied"),
            pl.col("mfa_authenticated").any().alias("_mfa"),
        ],
        by=by,
        engine="auto",
    )


def actor_groups(
    trail: Trail,
    lazy: pl.LazyFrame,
    columns: Sequence[str],
    aggs: Sequence[pl.Expr],
    *,
    by: Sequence[pl.Expr] = (),
    engine: EngineType = "streaming",
) -> pl.DataFrame:
    """``lazy`` (rows of ``trail``) grouped by what decides an event's actor, ``columns`` and
    ``by``, aggregated with ``aggs``, and the propagated ``actor`` of each group: an
    aggregation over the actor of every event, without working the actor out per event.

    The actor is a lookup per row (:func:`actor_expr`), which Polars' streaming engine runs
    over the whole column in memory (2.6 GB for 10M events); on the groups (a few hundred
    thousand rows at most) it is cheap. Re-aggregate the result by ``actor``.
    """
    keys = list(dict.fromkeys((*_DECIDES, *columns)))
    firsts: list[str] = []
    if not lazy.select(pl.col("user_identity").is_null().any()).collect(engine=engine).item():
        # The identity columns are functions of the userIdentity text, which every loaded row
        # keeps (categorical: grouping on its codes is cheap); principal and actor also depend
        # on a few other fields (refine_identity), so they stay keys.
        derived = set(IDENTITY_FROM_TEXT)
        firsts = [k for k in keys if k in derived]
        keys = ["user_identity", *(k for k in keys if k not in derived)]
    frame = (
        lazy.group_by(
            *keys,
            # only an owner's copy needs its sharedEventID (step 3): others group together
            pl.when(_COPY).then(pl.col("shared_event_id")).alias("shared_event_id"),
            *by,
        )
        .agg(*(pl.col(c).first() for c in firsts), *aggs)
        .collect(engine=engine)
    )
    return frame.with_columns(actor_expr(trail))


def actors(trail: Trail) -> pl.DataFrame:
    """One row per actor: the person or workload at the origin of each event's credentials.

    Columns: ``actor``, ``kind`` (iam-user, root, assumed-root, saml, webidentity,
    identitycenter, federated, ec2, lambda, service, account, other), ``names`` (user names /
    subjects seen), ``principals``, ``roles`` (role ARNs used), ``accounts``, ``access_keys``,
    ``sessions`` (distinct keys and sign-in credentials), ``first_seen``, ``last_seen``,
    ``events``, ``errors``, ``access_denied``, ``source_ips``, ``user_agents``. Sorted by
    refusals, errors, then events, most first.

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> t = fx.Trail(normalize_records([{"eventTime": "2024-01-01T00:00:00Z",
    ...     "eventName": "ListAccounts", "userIdentity": {"type": "IdentityCenterUser",
    ...     "accountId": "1", "onBehalfOf": {"userId": "u-1", "identityStoreArn": "s"}}}], "x"))
    >>> actors(t).select("actor", "kind", "events").row(0)
    ('identitycenter:s/u-1', 'identitycenter', 1)
    """
    combos = _combos(
        trail,
        "credential_id",
        "recipient_account_id",
        "session_issuer_arn",
        "source_ip",
        "user_agent",
    )
    key = clean_key(pl.col("access_key_id"))
    role = pl.when(pl.col("identity_type") == "AssumedRole").then(pl.col("session_issuer_arn"))

    def listed(expr: pl.Expr) -> pl.Expr:
        return expr.drop_nulls().unique().sort()

    frame = combos.group_by("actor").agg(
        pl.col("_first").min().alias("first_seen"),
        pl.col("_last").max().alias("last_seen"),
        pl.col("_events").sum().cast(pl.UInt32).alias("events"),
        pl.col("_errors").sum().cast(pl.UInt32).alias("errors"),
        pl.col("_denied").sum().cast(pl.UInt32).alias("access_denied"),
        listed(pl.col("principal")).alias("principals"),
        listed(role).alias("roles"),
        listed(pl.coalesce("recipient_account_id", "account_id")).alias("accounts"),
        listed(key).alias("access_keys"),
        pl.coalesce(key, pl.col("credential_id"))
        .drop_nulls()
        .n_unique()
        .cast(pl.UInt32)
        .alias("sessions"),
        listed(pl.col("source_ip")).alias("source_ips"),
        listed(pl.col("user_agent")).alias("user_agents"),
    )
    names = actor_directory(trail).select("actor", "names")
    kind = (
        pl.when(pl.col("actor").str.contains(r"^arn:[^:]*:iam::\d*:user/"))
        .then(pl.lit("iam-user"))
        .when(pl.col("actor").str.contains(r"^arn:[^:]*:iam::\d*:root$"))
        .then(pl.lit("root"))
        .when(pl.col("actor").str.contains(r"^arn:[^:]*:lambda:"))
        .then(pl.lit("lambda"))
        .when(pl.col("actor").str.contains(r"^arn:[^:]*:iam::\d*:role/"))
        .then(pl.lit("role"))
        .otherwise(
            pl.col("actor")
            .str.extract(
                r"^(saml|webidentity|identitycenter|federated|ec2|service|account|assumed-root):", 1
            )
            .fill_null("other")
        )
    )
    return (
        frame.join(names, on="actor", how="left")
        .with_columns(
            kind.alias("kind"),
            pl.col("names").fill_null(pl.lit([], dtype=_STRS)),
        )
        .select(
            "actor",
            "kind",
            "names",
            "principals",
            "roles",
            "accounts",
            "access_keys",
            "sessions",
            "first_seen",
            "last_seen",
            "events",
            "errors",
            "access_denied",
            "source_ips",
            "user_agents",
        )
        .sort(
            ["access_denied", "errors", "events", "actor"],
            descending=[True, True, True, False],
        )
    )


#: The AWS Sign-In call that starts a sign-in session (``aws login``, an agent's OAuth grant):
#: the ``signInSessionArn`` on it may name the session it makes, not the one it was made in.
SIGN_IN_GRANTS = ("CreateOAuth2Token",)


def _sign_in_session(trail: Trail) -> pl.Expr:
    """The event's ``sign_in_session_arn``, except on a grant that starts one (see above)."""
    present = trail.lazy.select(pl.col("sign_in_session_arn").is_not_null().any()).collect()
    if not present.item():  # most trails so far: nothing to group by
        return pl.lit(None, dtype=pl.String).alias("_sis")
    grant = (pl.col("event_source") == "signin.amazonaws.com") & pl.col("event_name").is_in(
        SIGN_IN_GRANTS
    )
    return (
        pl.when(grant.fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("sign_in_session_arn"))
        .alias("_sis")
    )


def sessions(trail: Trail) -> pl.DataFrame:
    """One row per session: an AWS Sign-In session (``signInSessionArn``: a console sign-in,
    ``aws login``, with every key used in it), else a credential in use (an access key), else
    a console / portal sign-in session without a key (Identity Center's ``credentialId``).

    A key belongs to the sign-in session any of its events names (AWS may stamp the ARN on some
    services' records only); a grant that starts a sign-in session (AWS Sign-In
    ``CreateOAuth2Token``) stays in the session that made it.

    Columns: ``session`` (the sign-in session ARN, key or credential id), ``kind`` ("sign-in
    session" / "access key" / "sign-in credential"), ``actor``, ``principal``,
    ``principal_arn`` (the session ARN at first use), ``start``, ``end``, ``duration``,
    ``events``, ``errors``, ``access_denied``, ``source_ips``, ``user_agents``, ``regions``,
    ``accounts``, ``mfa`` (any event said MFA), ``assumed_root``, ``access_keys`` (the keys
    used in it). Sorted by ``start``.

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> bob = {"type": "IAMUser", "arn": "arn:aws:iam::1:user/bob", "accessKeyId": "AKIABOB000000000"}
    >>> t = fx.Trail(normalize_records([{"eventTime": "2024-01-01T00:00:00Z",
    ...     "eventName": "ListBuckets", "userIdentity": bob}], "x"))
    >>> sessions(t).select("session", "actor", "events").row(0)
    ('AKIABOB000000000', 'arn:aws:iam::1:user/bob', 1)
    """
    combos = _combos(
        trail,
        "credential_id",
        "principal_arn",
        "recipient_account_id",
        "source_ip",
        "user_agent",
        "aws_region",
        by=(_sign_in_session(trail),),
    )
    key = clean_key(pl.col("access_key_id"))
    first = pl.col("_first")
    combos = combos.with_columns(key.alias("_key"))
    by_key = (
        combos.filter(pl.col("_key").is_not_null() & pl.col("_sis").is_not_null())
        .group_by("_key")
        .agg(pl.col("_sis").sort_by(first).first().alias("_key_sis"))
    )
    frame = (
        combos.join(by_key, on="_key", how="left")
        .with_columns(
            pl.coalesce("_key_sis", "_sis").alias("_in_sis"),
        )
        .with_columns(pl.coalesce("_in_sis", "_key", pl.col("credential_id")).alias("session"))
        .filter(pl.col("session").is_not_null())
        .group_by("session")
        .agg(
            pl.col("_in_sis").is_not_null().any().alias("_signed"),
            pl.col("access_key_id").is_not_null().any().alias("_keyed"),
            *(pl.col(c).sort_by(first).first() for c in ("actor", "principal")),
            pl.col("principal_arn").sort_by(first).drop_nulls().first(),
            first.min().alias("start"),
            pl.col("_last").max().alias("end"),
            pl.col("_events").sum().cast(pl.UInt32).alias("events"),
            pl.col("_errors").sum().cast(pl.UInt32).alias("errors"),
            pl.col("_denied").sum().cast(pl.UInt32).alias("access_denied"),
            *(
                pl.col(src).drop_nulls().unique().sort().alias(name)
                for name, src in (
                    ("source_ips", "source_ip"),
                    ("user_agents", "user_agent"),
                    ("regions", "aws_region"),
                    ("access_keys", "_key"),
                )
            ),
            pl.coalesce("recipient_account_id", "account_id")
            .drop_nulls()
            .unique()
            .sort()
            .alias("accounts"),
            pl.col("_mfa").any().alias("mfa"),
            pl.col("assumed_root").any(),
        )
    )
    return (
        frame.with_columns(
            pl.when(pl.col("_signed"))
            .then(pl.lit("sign-in session"))
            .when(pl.col("_keyed"))
            .then(pl.lit("access key"))
            .otherwise(pl.lit("sign-in credential"))
            .alias("kind"),
            (pl.col("end") - pl.col("start")).alias("duration"),
        )
        .select(
            "session",
            "kind",
            "actor",
            "principal",
            "principal_arn",
            "start",
            "end",
            "duration",
            "events",
            "errors",
            "access_denied",
            "source_ips",
            "user_agents",
            "regions",
            "accounts",
            "mfa",
            "assumed_root",
            "access_keys",
        )
        .sort("start", "session", nulls_last=True)
    )
