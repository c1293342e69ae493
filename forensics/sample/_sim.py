"""The background simulation: actors acting over time, window by window, in time order.

Each delivery window (5 minutes by default) gets its share of the requested events, weighted by
who is active at that hour (people and CI in working hours, services all the time). Actors are
drawn by weight; each act signs with the actor's credential, which is minted first (its minting
event written to the trail) whenever it is missing or about to expire. A use is never earlier
than the mint: ``use time = max(t, cred.minted + 1)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from forensics.sample._ids import iso
from forensics.sample._records import Cred, Emitter

__all__ = ["Actor", "Sim", "run"]

_VPCE_SERVICES = frozenset(
    {
        "s3.amazonaws.com",
        "ssm.amazonaws.com",
        "kms.amazonaws.com",
        "secretsmanager.amazonaws.com",
        "ec2messages.amazonaws.com",
    }
)
_MARGIN = 10  # acts start at least this many seconds before a window ends


@dataclass(eq=False)
class Actor:
    """Someone or something that makes API calls with one credential source."""

    name: str
    source: Any  # forensics.sample._creds.Source, or None for AWS service events
    ip: str
    uas: tuple[str, ...]
    ops: list[Callable[..., None]]
    op_weights: list[float]
    regions: tuple[str, ...] = ("eu-west-1",)
    region_weights: tuple[float, ...] | None = None
    day: float = 1.0  # weight in working hours (weekdays, ramping 06-20 UTC)
    night: float = 1.0  # weight otherwise
    burst: int = 1  # up to this many calls per act, a second apart
    data: dict[str, Any] = field(default_factory=dict)
    vpce: str | None = None
    vpce_ip: str = ""
    agent_ua: str | None = None
    ua: str = ""
    op_cum: list[float] = field(default_factory=list)
    region_cum: list[float] | None = None

    def __post_init__(self) -> None:
        acc = 0.0
        self.op_cum = []
        for w in self.op_weights:
            acc += w
            self.op_cum.append(acc)
        if self.region_weights is not None:
            acc, self.region_cum = 0.0, []
            for w in self.region_weights:
                acc += w
                self.region_cum.append(acc)
        self.ua = self.uas[0]

    def act(self, sim: Sim, t: int) -> None:
        rng = sim.rng
        if len(self.uas) > 1:
            self.ua = rng.choice(self.uas)
        if self.source is None:  # AWS service events: no credential
            self.ops[0](sim, self, None, t, self.regions[0])
            return
        cred = self.source.get(sim, t)
        ts = max(t, cred.minted + 1)
        n = 1 if self.burst == 1 else rng.randint(1, self.burst)
        deny = self.data.get("deny", 0.0)
        for i in range(n):
            op = rng.choices(self.ops, cum_weights=self.op_cum)[0]
            if self.region_cum is None:
                region = self.regions[0]
            else:
                region = rng.choices(self.regions, cum_weights=self.region_cum)[0]
            before = len(sim.out)
            op(sim, self, cred, ts + i, region)
            if deny and len(sim.out) == before + 1 and rng.random() < deny:
                sim.out[-1] = _denied(sim.out[-1], cred.arn)


def _denied(r: dict[str, Any], arn: str) -> dict[str, Any]:
    """The same call refused: a missing permission (everyday noise, not an attack)."""
    if "errorCode" in r:
        return r
    action = f"{r['eventSource'].split('.', 1)[0]}:{r['eventName'].rstrip('0123456789v')}"
    out: dict[str, Any] = {}
    for k, v in r.items():
        if k == "responseElements":
            v = None
        out[k] = v
        if k == "userAgent":
            out["errorCode"] = "AccessDenied"
            out["errorMessage"] = (
                f"User: {arn} is not authorized to perform: {action} because "
                f"no identity-based policy allows the {action} action"
            )
    return out


class Sim:
    """Shared state of one generation run: the rng, the emitter and the current output."""

    def __init__(self, world: Any, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.em = Emitter(rng)
        self.out: list[dict[str, Any]] = []

    def emit(self, record: dict[str, Any]) -> None:
        self.out.append(record)

    def call(
        self,
        a: Actor,
        cred: Cred,
        ts: int,
        region: str,
        source: str,
        name: str,
        *,
        req: Any = None,
        resp: Any = None,
        ro: bool | None = None,
        error=None,
        additional: dict[str, Any] | None = None,
        resources=None,
        mgmt: bool = True,
        host: str | None = None,
        shared: str | None = None,
        agent: bool = False,
    ) -> None:
        vpce = a.vpce if (a.vpce is not None and source in _VPCE_SERVICES) else None
        self.out.append(
            self.em.record(
                ts,
                cred.identity,
                source,
                name,
                region,
                a.vpce_ip if vpce else a.ip,
                a.agent_ua if (agent and a.agent_ua) else a.ua,
                cred.account,
                req=req,
                resp=resp,
                read_only=ro,
                error=error,
                additional=additional,
                resources=resources,
                management=mgmt,
                shared_event_id=shared,
                vpce=vpce,
                host=host,
                console=cred.console,
            )
        )


#: How much of its working-hours weight an actor has at each hour of a weekday (UTC): the
#: working day ramps up from 06:00 and down until 20:00; nights and weekends use ``night``.
_WORKDAY = (0, 0, 0, 0, 0, 0, 0.3, 0.75, 1, 1, 1, 1, 0.9, 1, 1, 1, 1, 0.9, 0.6, 0.3, 0.1, 0, 0, 0)


def _workday_share(ts: int) -> float:
    day, sod = divmod(ts, 86400)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return _WORKDAY[sod // 3600] if weekday < 5 else 0.0


def _cum(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _is_mint(r: dict[str, Any]) -> bool:
    resp = r.get("responseElements")
    return r["eventName"] == "ConsoleLogin" or (
        isinstance(resp, dict) and ("credentials" in resp or "accessKey" in resp)
    )


def run(
    world: Any,
    rng: random.Random,
    *,
    events: int,
    start: int,
    days: int,
    window: int,
    scripted: list[dict[str, Any]],
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield ``(window_start, records)`` for every delivery window, records in time order.

    ``scripted`` records (the incident) are merged into their windows as they are; background
    activity makes up the rest, so that exactly ``events`` records are produced in all.
    """
    sim = Sim(world, rng)
    actors: list[Actor] = world.actors
    cums = {f: _cum([a.night + (a.day - a.night) * f for a in actors]) for f in set(_WORKDAY)}
    service_actor = world.service_actor
    n_windows = days * 86400 // window
    bg_total = events - len(scripted)
    if bg_total < 0:
        raise ValueError(f"events={events} is smaller than the incident ({len(scripted)} events)")
    weights = [cums[_workday_share(start + i * window)][-1] for i in range(n_windows)]
    total_w = sum(weights)
    scripted = sorted(scripted, key=lambda r: r["eventTime"])
    by_window: dict[int, list[dict[str, Any]]] = {}
    bounds = [iso(start + i * window) for i in range(n_windows + 1)]
    j = 0
    for i in range(n_windows):
        hi = bounds[i + 1]
        while j < len(scripted) and scripted[j]["eventTime"] < hi:
            by_window.setdefault(i, []).append(scripted[j])
            j += 1
    if j < len(scripted):
        raise ValueError("incident events fall outside the sampled days")

    produced = 0
    cum_w = 0.0
    per_act = 1.2  # records per act, tracked as we go
    for i in range(n_windows):
        w0 = start + i * window
        cum_w += weights[i]
        target = bg_total if i == n_windows - 1 else round(bg_total * cum_w / total_w)
        want = target - produced
        sim.out = []
        if want > 0:
            m = max(1, round(want / per_act))
            cum = cums[_workday_share(w0)]
            times = sorted(w0 + rng.randrange(window - _MARGIN) for _ in range(m))
            chosen = rng.choices(actors, cum_weights=cum, k=m)
            for t, actor in zip(times, chosen, strict=True):
                actor.act(sim, t)
            got = len(sim.out)
            per_act = 0.9 * per_act + 0.1 * max(1.0, got / m)
        excess = produced + len(sim.out) - bg_total
        if excess > 0:  # never more than asked: drop the latest plain calls (not a mint)
            keep = []
            for r in reversed(sim.out):
                if excess > 0 and not _is_mint(r) and "sharedEventID" not in r:
                    excess -= 1
                    continue
                keep.append(r)
            sim.out = keep[::-1]
        if i == n_windows - 1:
            while produced + len(sim.out) < bg_total:
                service_actor.act(sim, w0 + rng.randrange(window - _MARGIN))
        produced += len(sim.out)
        records = sim.out
        extra = by_window.get(i)
        if extra:
            records = records + extra
        records.sort(key=_time_key)
        yield w0, records


def _time_key(r: dict[str, Any]) -> str:
    return r["eventTime"]
