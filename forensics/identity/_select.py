"""``for_principal(trail, who)``: the events of one principal, and of what it minted."""

from __future__ import annotations

import difflib
import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from forensics._errors import PrincipalError
from forensics.identity._actors import actor_directory, key_actors, with_actors
from forensics.identity._mint import clean_key, trail_mints

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["Match", "for_principal", "resolve"]

_KEY = re.compile(r"^A[SK]IA[A-Z0-9]{8,}$")
_SESSION_ARN = re.compile(r"^arn:[^:]*:sts::[^:]*:(assumed-role|federated-user)/")
_IAM_ARN = re.compile(r"^arn:([^:]*):iam::(\d*):(user|role)/(?:.*/)?([^/]+)$")
_PREFIXES = (
    "service:",
    "account:",
    "saml:",
    "webidentity:",
    "identitycenter:",
    "federated:",
    "ec2:",
    "assumed-root:",
    "hidden-user:",
)
#: Principal keys that name a person or workload: selecting one selects that actor.
_PERSON = ("saml:", "webidentity:", "identitycenter:", "federated:")
#: ``user/ci-deploy``, ``role/ops/Admin``: the short names the kit prints.
_SHORT = re.compile(r"^(user|role)/(.+)$")


@dataclass(frozen=True)
class Match:
    """What ``who`` resolved to: ``kind`` is "principal", "session", "key" or "actor";
    ``values`` the one or more (a ``*`` prefix) values of that kind."""

    kind: str
    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return self.values[0]

    @property
    def column(self) -> str:
        return {
            "principal": "principal",
            "session": "principal_arn",
            "key": "access_key_id",
            "actor": "actor",
        }[self.kind]

    @property
    def predicate(self) -> pl.Expr:
        if len(self.values) == 1:
            return pl.col(self.column) == self.values[0]
        return pl.col(self.column).is_in(list(self.values))

    @property
    def description(self) -> str:
        label = {
            "principal": "principal",
            "session": "session",
            "key": "access key",
            "actor": "actor",
        }[self.kind]
        if len(self.values) == 1:
            return f"{label} = {self.values[0]}"
        return f"{label} in [{', '.join(self.values)}]"


def _distinct(lazy: pl.LazyFrame, column: str) -> list[str]:
    return (
        lazy.select(pl.col(column).drop_nulls().unique())
        .collect(engine="streaming")
        .to_series()
        .to_list()
    )


def _not_found(who: str, what: str, pool: list[str]) -> PrincipalError:
    close = difflib.get_close_matches(who, pool, n=5, cutoff=0.6)
    if not close:
        low = who.lower()
        close = sorted(p for p in pool if low in p.lower())[:5]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return PrincipalError(f"no {what} {who!r} in this trail{hint}", candidates=close)


def _ambiguous(who: str, candidates: list[str]) -> PrincipalError:
    listed = "\n  ".join(candidates)
    return PrincipalError(
        f"{who!r} matches {len(candidates)} principals; pass one of these ARNs instead:\n  {listed}",
        candidates=candidates,
    )


def _name_of(principal: pl.Expr) -> pl.Expr:
    """The user / role name at the end of a principal key (``service:x`` -> ``x``)."""
    last = principal.str.replace(r"^[a-z]+:", "").str.split("/").list.last()
    # a web-identity subject may hold "/" (GitHub's repo:org/name:ref:refs/heads/x): all of it
    web = principal.str.splitn("/", 2).struct.field("field_1")
    return (
        pl.when(principal.str.starts_with("webidentity:"))
        .then(web)
        .otherwise(last)
        .alias("principal")
    )


def _actors_named(trail: Trail, text: str, *, prefix: bool = False) -> list[str]:
    """Actors whose key, an alias, a user name / subject, a user id, or the subject part of the
    key is ``text`` (or starts with it, with ``prefix``)."""
    directory = actor_directory(trail)
    if directory.height == 0:
        return []
    actor = pl.col("actor")
    # the subject of a web-identity key may hold "/" (GitHub: repo:org/name:ref:refs/heads/x):
    # it is everything after the issuer; other keys end in an id without "/"
    web = actor.str.starts_with("webidentity:")
    subject = (
        pl.when(web)
        .then(actor.str.splitn("/", 2).struct.field("field_1"))
        .otherwise(actor.str.split("/").list.last())
    )

    def hit(expr: pl.Expr) -> pl.Expr:
        return expr.str.starts_with(text) if prefix else expr == text

    def hit_list(column: str) -> pl.Expr:
        return pl.col(column).list.eval(hit(pl.element())).list.any()

    found = directory.filter(
        hit(pl.col("actor"))
        | hit_list("aliases")
        | hit_list("names")
        | hit_list("user_ids")
        | hit(subject).fill_null(False)
    )
    return sorted(found["actor"].to_list())


def _canonical_actor(trail: Trail, key: str) -> str:
    aliases, _ = key_actors(trail)
    return aliases.get(key, key)


def _one(who: str, kind: str, candidates: list[str]) -> Match:
    if len(candidates) == 1:
        return Match(kind, (candidates[0],))
    raise _ambiguous(who, candidates)


def resolve(trail: Trail, who: str) -> Match:
    """Read ``who`` as an access key id, a session ARN, a principal ARN / key, an actor (an
    Identity Center user name or id, an email, a SAML subject, a web-identity ``sub`` such as
    GitHub's ``repo:org/name:ref:...``), a short name the kit prints (``user/x``, ``role/x``),
    or a name; a trailing ``*`` selects every principal or actor starting with the rest.

    Raises :class:`~forensics.PrincipalError` when it matches nothing (listing close matches)
    or, for a bare name, more than one principal (listing the candidates).
    """
    text = who.strip() if isinstance(who, str) else ""
    if not text:
        raise PrincipalError(f"expected a principal ARN, name or access key id, got {who!r}")
    lazy = trail.lazy

    if _KEY.match(text):
        used = (
            lazy.filter(pl.col("access_key_id") == text)
            .select(pl.len())
            .collect(engine="streaming")
            .item()
        )
        if used or trail_mints(trail)["access_key_id"].is_in([text]).any():
            return Match("key", (text,))
        raise _not_found(text, "access key", _distinct(lazy, "access_key_id"))

    if text.endswith("*") and len(text) > 1:
        return _by_prefix(trail, text)

    if _SESSION_ARN.match(text):
        arns = _distinct(lazy, "principal_arn")
        if text in arns:
            return Match("session", (text,))
        raise _not_found(text, "session", [a for a in arns if _SESSION_ARN.match(a)])

    principals = _distinct(lazy, "principal")
    if text in principals:
        if text.startswith(_PERSON):
            return Match("actor", (_canonical_actor(trail, text),))
        return Match("principal", (text,))

    if text.startswith(_PREFIXES) or text.startswith("arn:aws:lambda:"):
        named = _actors_named(trail, _canonical_actor(trail, text))
        if named:
            return _one(text, "actor", named)
        if not text.startswith("arn:"):
            raise _not_found(text, "principal or actor", principals)

    if text.startswith("arn:"):
        iam = _IAM_ARN.match(text)
        if iam:  # the same user / role written with or without its path
            _, account, kind, name = iam.groups()
            candidates = sorted(
                p
                for p in principals
                if (m := _IAM_ARN.match(p)) and m.group(2, 3, 4) == (account, kind, name)
            )
            if candidates:
                return _one(text, "principal", candidates)
        arns = _distinct(lazy, "principal_arn")
        if text in arns:
            return Match("session", (text,))
        raise _not_found(text, "principal", principals)

    short = _SHORT.match(text)
    if short:  # user/ci-deploy, role/ops/Admin: any account, the path optional
        kind, rest = short.groups()
        candidates = sorted(
            p
            for p in principals
            if (m := _IAM_ARN.match(p))
            and m.group(3) == kind
            and (p.endswith(f":{kind}/{rest}") or p.endswith(f"/{rest}"))
        )
        if candidates:
            return _one(text, "principal", candidates)

    # A bare name: user, role, federated-user name, service, SAML subject... IAM names are
    # unique whatever their case, so a name that matches nothing exactly is tried without case.
    frame = pl.DataFrame({"principal": principals}, schema={"principal": pl.String})
    name = _name_of(pl.col("principal"))
    is_root = (text.lower() == "root") & pl.col("principal").str.ends_with(":root")
    exact = sorted(
        frame.filter((name == text) | (pl.col("principal") == f"service:{text}") | is_root)[
            "principal"
        ].to_list()
    )
    people = [p for p in exact if p.startswith(_PERSON)]
    if people and len(people) < len(exact):  # an IAM name and a person's subject alike
        raise _ambiguous(text, exact)
    if exact and not people:
        return _one(text, "principal", exact)
    named = _actors_named(trail, text)
    if named:
        return _one(text, "actor", named)
    if text.startswith("repo:") and text.count(":") == 1:  # a GitHub repo: every ref / env
        named = _actors_named(trail, text + ":", prefix=True)
        if named:
            return Match("actor", tuple(named))
    candidates = sorted(
        frame.filter(name.str.to_lowercase() == text.lower())["principal"].to_list()
    )
    if candidates:
        return _one(text, "principal", candidates)
    names = frame.select(name.unique())["principal"].to_list()
    raise _not_found(text, "principal, actor or name", sorted({*principals, *names}))


def _by_prefix(trail: Trail, text: str) -> Match:
    """``who`` ending in ``*``: every principal (or else every actor) starting with the rest."""
    head = text[:-1]
    principals = _distinct(trail.lazy, "principal")
    short = _SHORT.match(head)
    if short:
        kind, rest = short.groups()
        chosen = [
            p
            for p in principals
            if (m := _IAM_ARN.match(p))
            and m.group(3) == kind
            and (p.split(f":{kind}/", 1)[-1].startswith(rest) or m.group(4).startswith(rest))
        ]
    else:
        chosen = [p for p in principals if p.startswith(head) and not p.startswith(_PERSON)]
    if chosen:
        return Match("principal", tuple(sorted(chosen)))
    named = _actors_named(trail, head, prefix=True)
    if named:
        return Match("actor", tuple(named))
    raise _not_found(text, "principal or actor starting with", principals)


def derived_keys(trail: Trail, match: Match) -> set[str]:
    """Every key minted, recursively, from the matched principal's keys (minted relation only).

    The seeds are the keys the matched events were made with, plus the keys minted by matched
    calls that used no key (a SAML or web-identity user, an AWS service).
    """
    lazy = trail.lazy
    mints = trail_mints(trail).filter(pl.col("relation") == "minted")
    if mints.height == 0:
        return set()
    seeds = set(
        lazy.filter(match.predicate)
        .select(clean_key(pl.col("access_key_id")).drop_nulls().unique())
        .collect(engine="streaming")
        .to_series()
        .to_list()
    )
    caller_column = {
        "principal": "minted_by_principal",
        "session": "minted_by_principal_arn",
        "key": "parent_key",
    }[match.kind]
    direct = set(
        mints.filter(pl.col(caller_column).is_in(list(match.values)))["access_key_id"].to_list()
    )

    children: dict[str, list[str]] = {}
    for child, parent in (
        mints.filter(pl.col("parent_key").is_not_null())
        .select("access_key_id", "parent_key")
        .iter_rows()
    ):
        children.setdefault(parent, []).append(child)

    found: set[str] = set(direct)
    queue = deque([*seeds, *direct])
    visited = set(queue)
    while queue:
        for child in children.get(queue.popleft(), ()):
            if child not in visited:
                visited.add(child)
                found.add(child)
                queue.append(child)
    return found - seeds


def for_principal(trail: Trail, who: str, *, derived: bool = False) -> Trail:
    """The events of one principal, as a new lazy :class:`~forensics.Trail`.

    Parameters
    ----------
    trail : Trail
        The trail to filter (filters already applied are kept).
    who : str
        A user / role / root ARN (with or without the role or user path), an assumed-role or
        federated-user session ARN, a principal or actor key (``service:ec2.amazonaws.com``,
        ``saml:<issuer>/<subject>`` ...), an actor by name (an Identity Center user name or id,
        an email, a SAML subject, a web-identity ``sub`` such as ``repo:org/name:ref:...``),
        ``user/<name>`` / ``role/<name>``, a user or role name, or an access key id. A trailing
        ``*`` selects every principal (else every actor) starting with the rest.
    derived : bool
        Also keep the events made with every credential minted, recursively, from the
        principal's credentials (role chaining, in every account). Keys created with
        ``CreateAccessKey`` are another principal's and are not followed; see
        :func:`~forensics.identity.lineage` or ``fx.blast_radius`` for them. The keys are
        found in this trail as filtered so far: narrow the time window after this call, not
        before, to keep sessions minted earlier.

    Raises
    ------
    PrincipalError
        ``who`` matches nothing (the message lists close matches), or a name matches several
        principals (``.candidates`` lists their ARNs).

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
    >>> len(for_principal(t, "alice")), len(for_principal(t, "alice", derived=True))
    (1, 2)
    """
    match = resolve(trail, who)
    if match.kind == "actor":
        return _for_actor(trail, match, derived=derived)
    # a trail stored in segments scans only those holding the principal / keys
    within = {match.column: match.values} if match.kind in ("principal", "key") else None
    if not derived:
        return trail.filter(match.predicate, description=match.description, within=within)
    keys = sorted(derived_keys(trail, match))
    if not keys:
        return trail.filter(
            match.predicate,
            description=f"{match.description}, and keys minted from it (none)",
            within=within,
        )
    n = len(keys)
    return trail.filter(
        match.predicate | pl.col("access_key_id").is_in(keys),
        description=f"{match.description}, and the {n} key{'s' if n != 1 else ''} minted from it",
        within={**within, "access_key_id": [*within.get("access_key_id", ()), *keys]}
        if within
        else None,
    )


def _for_actor(trail: Trail, match: Match, *, derived: bool) -> Trail:
    """An actor's events: those its own records name (``derived=False``), or with the actor
    propagated down the lineage, every event made with credentials that came from it, in every
    account (``derived=True``; the result's ``actor`` column is the propagated one)."""
    aliases, _ = key_actors(trail)
    wanted = set(match.values)
    if not derived:
        names = sorted(wanted | {a for a, c in aliases.items() if c in wanted})
        return trail.filter(
            pl.col("actor").is_in(names), description=f"{match.description} (own records)"
        )
    return with_actors(trail).filter(
        match.predicate,
        description=f"{match.description}, and every credential that came from it",
    )
