"""``for_principal(trail, who)``: the events of one principal, and of what it minted."""

from __future__ import annotations

import difflib
import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from forensics._errors import PrincipalError
from forensics.identity._mint import clean_key, mint_events

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["Match", "for_principal", "resolve"]

_KEY = re.compile(r"^A[SK]IA[A-Z0-9]{8,}$")
_SESSION_ARN = re.compile(r"^arn:[^:]*:sts::[^:]*:(assumed-role|federated-user)/")
_IAM_ARN = re.compile(r"^arn:([^:]*):iam::(\d*):(user|role)/(?:.*/)?([^/]+)$")
_PREFIXES = ("service:", "account:", "saml:", "webidentity:", "identitycenter:")


@dataclass(frozen=True)
class Match:
    """What ``who`` resolved to: ``kind`` is "principal", "session" or "key"."""

    kind: str
    value: str

    @property
    def column(self) -> str:
        return {"principal": "principal", "session": "principal_arn", "key": "access_key_id"}[
            self.kind
        ]

    @property
    def predicate(self) -> pl.Expr:
        return pl.col(self.column) == self.value

    @property
    def description(self) -> str:
        label = {"principal": "principal", "session": "session", "key": "access key"}[self.kind]
        return f"{label} = {self.value}"


def _distinct(lazy: pl.LazyFrame, column: str) -> list[str]:
    return lazy.select(pl.col(column).drop_nulls().unique()).collect().to_series().to_list()


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
    return principal.str.replace(r"^[a-z]+:", "").str.split("/").list.last()


def resolve(trail: Trail, who: str) -> Match:
    """Read ``who`` as an access key id, a session ARN, a principal ARN / key, or a name.

    Raises :class:`~forensics.PrincipalError` when it matches nothing (listing close matches)
    or, for a bare name, more than one principal (listing the candidates).
    """
    text = who.strip() if isinstance(who, str) else ""
    if not text:
        raise PrincipalError(f"expected a principal ARN, name or access key id, got {who!r}")
    lazy = trail.lazy

    if _KEY.match(text):
        used = lazy.filter(pl.col("access_key_id") == text).select(pl.len()).collect().item()
        if used or mint_events(lazy)["access_key_id"].is_in([text]).any():
            return Match("key", text)
        raise _not_found(text, "access key", _distinct(lazy, "access_key_id"))

    if _SESSION_ARN.match(text):
        arns = _distinct(lazy, "principal_arn")
        if text in arns:
            return Match("session", text)
        raise _not_found(text, "session", [a for a in arns if _SESSION_ARN.match(a)])

    principals = _distinct(lazy, "principal")
    if text in principals:
        return Match("principal", text)

    if text.startswith("arn:"):
        iam = _IAM_ARN.match(text)
        if iam:  # the same user / role written with or without its path
            _, account, kind, name = iam.groups()
            candidates = sorted(
                p
                for p in principals
                if (m := _IAM_ARN.match(p)) and m.group(2, 3, 4) == (account, kind, name)
            )
            if len(candidates) == 1:
                return Match("principal", candidates[0])
            if candidates:
                raise _ambiguous(text, candidates)
        arns = _distinct(lazy, "principal_arn")
        if text in arns:
            return Match("session", text)
        raise _not_found(text, "principal", principals)

    if text.startswith(_PREFIXES):
        raise _not_found(text, "principal", principals)

    # A bare name: user, role, federated-user name, service, SAML subject... IAM names are
    # unique whatever their case, so a name that matches nothing exactly is tried without case.
    frame = pl.DataFrame({"principal": principals}, schema={"principal": pl.String})
    name = _name_of(pl.col("principal"))
    is_root = (text.lower() == "root") & pl.col("principal").str.ends_with(":root")
    for same in (
        (name == text) | (pl.col("principal") == f"service:{text}") | is_root,
        name.str.to_lowercase() == text.lower(),
    ):
        candidates = sorted(frame.filter(same)["principal"].to_list())
        if len(candidates) == 1:
            return Match("principal", candidates[0])
        if candidates:
            raise _ambiguous(text, candidates)
    names = frame.select(name.unique())["principal"].to_list()
    raise _not_found(text, "principal or name", sorted({*principals, *names}))


def derived_keys(trail: Trail, match: Match) -> set[str]:
    """Every key minted, recursively, from the matched principal's keys (minted relation only).

    The seeds are the keys the matched events were made with, plus the keys minted by matched
    calls that used no key (a SAML or web-identity user, an AWS service).
    """
    lazy = trail.lazy
    mints = mint_events(lazy).filter(pl.col("relation") == "minted")
    if mints.height == 0:
        return set()
    seeds = set(
        lazy.filter(match.predicate)
        .select(clean_key(pl.col("access_key_id")).drop_nulls().unique())
        .collect()
        .to_series()
        .to_list()
    )
    caller_column = {
        "principal": "minted_by_principal",
        "session": "minted_by_principal_arn",
        "key": "parent_key",
    }[match.kind]
    direct = set(mints.filter(pl.col(caller_column) == match.value)["access_key_id"].to_list())

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
        federated-user session ARN, a principal key (``service:ec2.amazonaws.com``,
        ``saml:<provider>/<user>`` ...), a user or role name, or an access key id.
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
    if not derived:
        return trail.filter(match.predicate, description=match.description)
    keys = sorted(derived_keys(trail, match))
    if not keys:
        return trail.filter(
            match.predicate, description=f"{match.description}, and keys minted from it (none)"
        )
    n = len(keys)
    return trail.filter(
        match.predicate | pl.col("access_key_id").is_in(keys),
        description=f"{match.description}, and the {n} key{'s' if n != 1 else ''} minted from it",
    )
