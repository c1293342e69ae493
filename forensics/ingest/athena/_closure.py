"""Org-scale credential closure: expand in rounds of narrow Athena queries, then analyse locally.

A blast radius needs, for every credential in the closure of a seed, its events, the calls that
minted or created credentials from it, and the other copy of its cross-account calls; nothing
else. :meth:`Source.closure` fetches exactly that, round by round: round 1 queries the seed's
events; after each round the local closure (:func:`forensics.blast.closure`, the same code the
local blast radius runs) is computed on everything fetched so far, and the next round queries
only what is new (keys that joined, identities created, users whose password was set, shared
event ids of cross-account calls). When a round brings no new key, the fetched events hold the
whole closure and ``fx.blast_radius`` / ``for_principal(..., derived=True)`` on them give what
they give on the full trail.

>>> src = Source("athena://security.cloudtrail_logs", start="2026-03-01")  # doctest: +SKIP
>>> br = fx.blast_radius(src, "AKIA2MQW7K2WUMLBECXI", since="2026-03-04T13:52:17Z")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from forensics._errors import PrincipalError
from forensics._schema import EVENTS_SCHEMA, to_utc
from forensics._trail import Trail
from forensics.ingest._identity_keys import link_identities
from forensics.ingest._report import LoadReport
from forensics.ingest.athena._load import AthenaEngine, Engine, parse_url, query_trail
from forensics.ingest.athena._query import Filters

__all__ = ["Round", "Source"]

_KEY = re.compile(r"^(AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{8,}$")


@dataclass
class Round:
    """One round of the expansion: what it asked for and what it brought."""

    number: int
    keys: int  # new keys queried
    principals: int  # new identities queried
    shared: int  # new shared event ids queried
    events: int  # rows this round added
    bytes_scanned: int
    query_id: str
    closure_keys: int  # keys in the closure after the round


@dataclass
class Source:
    """An Athena CloudTrail table to investigate without downloading it.

    ``start``/``end``/``accounts``/``regions`` bound every query (the partitions read);
    ``engine`` runs them (:class:`AthenaEngine` by default, built from ``remote``).
    """

    url: str
    start: datetime | date | str | None = None
    end: datetime | date | str | None = None
    accounts: Iterable[str] | None = None
    regions: Iterable[str] | None = None
    workgroup: str | None = None
    output: str | None = None
    remote: dict[str, Any] = field(default_factory=dict)
    engine: Engine | None = None
    progress: bool | Callable[[Round], None] = True
    max_rounds: int = 50
    batch: int = 2000  # keys + identities + shared ids per query (Athena: 256 KB of SQL)
    rounds: list[Round] = field(default_factory=list)

    def __post_init__(self) -> None:
        db, name = parse_url(self.url)
        self.table = f"{db}.{name}"
        if self.engine is None:
            self.engine = AthenaEngine(
                database=db, workgroup=self.workgroup, output=self.output, **self.remote
            )

    def _filters(self, **who: Any) -> Filters:
        return Filters.of(
            start=self.start,
            end=self.end,
            accounts=self.accounts,
            regions=self.regions,
            any_of=(Filters.of(**who),),
        )

    def _show(self, r: Round) -> None:
        if callable(self.progress):
            self.progress(r)
        elif self.progress:
            print(
                f"round {r.number}: +{r.keys} keys, +{r.principals} identities, "
                f"+{r.shared} shared ids -> {r.events:,} events, {r.bytes_scanned:,} bytes "
                f"scanned; closure {r.closure_keys} keys",
                file=sys.stderr,
            )

    def closure(
        self,
        seed: str,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> Trail:
        """The events the closure of ``seed`` needs, fetched in rounds (see the module).

        ``seed`` is an access key id, a principal ARN or an assumed-role session ARN;
        ``since``/``until`` are those of the blast radius (keys minted outside do not join).
        """
        # the closure is an analysis: imported here, where the source asks for it (lazily)
        from forensics.blast._closure import closure as local_closure
        from forensics.blast._closure import seed_keys
        from forensics.identity import credentials as all_credentials

        seed = seed.strip()
        if not (_KEY.match(seed) or seed.startswith("arn:") or ":" in seed):
            raise PrincipalError(
                f"{seed!r}: over Athena, give an access key id, a principal ARN or a session "
                "ARN (names are resolved in a loaded trail; load one first to look them up)"
            )
        lo, hi = to_utc(since), to_utc(until)
        keys: set[str] = {seed} if _KEY.match(seed) else set()
        principals: set[str] = set() if keys else {seed}
        shared: set[str] = set()
        asked_keys: set[str] = set()
        asked_principals: set[str] = set()
        asked_shared: set[str] = set()
        frames: list[pl.DataFrame] = []
        report = LoadReport(sources=[self.url])
        self.rounds = []
        events = pl.DataFrame(schema=EVENTS_SCHEMA)
        for number in range(1, self.max_rounds + 1):
            new_keys = sorted(keys - asked_keys)
            new_principals = sorted(principals - asked_principals)
            new_shared = sorted(shared - asked_shared)
            if not (new_keys or new_principals or new_shared):
                break
            # one query per round; past `batch` values it is split (Athena caps a query's text)
            runs = []
            for ks, ps, ss in _batches(new_keys, new_principals, new_shared, self.batch):
                f = self._filters(
                    access_keys=ks or None, principals=ps or None, shared_event_ids=ss or None
                )
                runs.append(query_trail(self.table, f, self.engine, source=self.url, report=report))
            asked_keys |= set(new_keys)
            asked_principals |= set(new_principals)
            asked_shared |= set(new_shared)
            before = events.height
            frames.extend(got for got, _ in runs)
            # attribution that needs other records (the owner's copy -> its caller, ...), as a
            # load does: on everything fetched so far, again each round as records arrive
            events = link_identities(_merge(frames))
            frames = [events]
            trail = Trail(events)
            creds = all_credentials(trail)
            closure_keys: list[str] = []
            try:
                seeds, seed_principals = seed_keys(creds, seed)
            except PrincipalError:
                seeds, seed_principals = [], []
            if seeds or seed_principals:
                members, actors = local_closure(
                    trail.lazy, creds, seeds, principals=seed_principals, since=lo, until=hi
                )
                closure_keys = members["access_key_id"].to_list()
                keys |= set(closure_keys)
                principals |= set(actors["principal"].to_list())
                principals |= _password_users(events, closure_keys)
            mine = events.filter(
                pl.col("access_key_id").is_in(sorted(keys))
                | pl.col("principal").is_in(sorted(principals))
                | pl.col("principal_arn").is_in(sorted(principals))
            )
            shared |= set(mine["shared_event_id"].drop_nulls().to_list())
            r = Round(
                number,
                len(new_keys),
                len(new_principals),
                len(new_shared),
                events.height - before,
                sum(ran.bytes_scanned for _, ran in runs),
                ",".join(ran.query_id for _, ran in runs),
                len(closure_keys),
            )
            self.rounds.append(r)
            self._show(r)
        else:
            report.notes.append(
                f"stopped after {self.max_rounds} rounds; the closure may be "
                "incomplete (raise max_rounds)"
            )
        report.records_loaded = events.height
        report.notes.append(
            f"credential closure of {seed} in {len(self.rounds)} round(s), "
            f"{sum(r.bytes_scanned for r in self.rounds):,} bytes scanned"
        )
        return Trail(
            events, report, filters=(f"athena: events of the credential closure of {seed}",)
        )

    def for_principal(self, who: str, *, derived: bool = False) -> Trail:
        """``trail.for_principal(who, derived=...)`` on the events of ``who``'s closure."""
        return self.closure(who).for_principal(who, derived=derived)


def _batches(
    keys: list[str], principals: list[str], shared: list[str], size: int
) -> list[tuple[list[str], list[str], list[str]]]:
    """The round's selectors in groups of at most ``size`` values (one query each)."""
    tagged = [(0, v) for v in keys] + [(1, v) for v in principals] + [(2, v) for v in shared]
    out = []
    for i in range(0, len(tagged), max(1, size)):
        part = tagged[i : i + max(1, size)]
        out.append(tuple([v for t, v in part if t == n] for n in range(3)))
    return out  # type: ignore[return-value]


def _password_users(events: pl.DataFrame, keys: list[str]) -> set[str]:
    """Users whose console password a closure key set: their sign-ins join the closure."""
    rows = (
        events.filter(
            pl.col("access_key_id").is_in(keys)
            & pl.col("event_name").is_in(["CreateLoginProfile", "UpdateLoginProfile"])
            & pl.col("error_code").is_null()
        )
        .select(
            pl.col("request_parameters").str.json_path_match("$.userName").alias("user"),
            pl.coalesce("recipient_account_id", "account_id").alias("account"),
        )
        .drop_nulls()
    )
    return {f"arn:aws:iam::{a}:user/{u}" for u, a in rows.iter_rows()}


def _merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Rows of every round, each once, in time order."""
    merged = pl.concat(frames, how="vertical")
    key = [c for c in merged.columns if c != "source_index"]
    return merged.unique(subset=key, keep="first", maintain_order=True).sort(
        "event_time", pl.col("source_file").cast(pl.String), nulls_last=True, maintain_order=True
    )
