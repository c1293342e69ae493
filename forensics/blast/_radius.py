"""``blast_radius``: what a compromised credential reached, and what it left behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import networkx as nx
import polars as pl

from forensics._errors import PrincipalError
from forensics._schema import TIME_DTYPE, in_window, is_denied, to_utc
from forensics.blast._closure import closure, seed_keys
from forensics.graph import build_graph
from forensics.identity import credentials as all_credentials
from forensics.resources import event_resources
from forensics.safety._text import terminal_line

if TYPE_CHECKING:
    import altair as alt

    from forensics._trail import Trail

__all__ = ["BlastRadius", "blast_radius"]

_IDENTITY_TYPES = (
    "AWS::IAM::User",
    "AWS::IAM::Role",
    "AWS::IAM::Group",
    "AWS::IAM::AccessKey",
    "AWS::IAM::LoginProfile",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::Policy",
)


def _fmt_time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, eq=False)
class BlastRadius:
    """Everything a seed credential reached (see :func:`blast_radius`).

    Frames use the events table's column names where they hold the same thing.
    """

    seed: str
    since: datetime | None
    until: datetime | None
    #: One row per credential in the closure: how it joined (``joined_by``: seed / minted /
    #: created / console sign-in, ``via_access_key_id``, ``via_event_id``, ``depth``), its
    #: ``credentials()`` facts, and ``first_used`` / ``last_used`` / ``events`` in the window.
    credentials: pl.DataFrame
    #: One row per identity: ``principal``, ``relation`` (seed / used / assumed: a role
    #: session minted in the closure / created: made by a closure call), ``identity_type``,
    #: ``account_id``, ``created_at``, ``first_seen``, ``last_seen``, ``events``,
    #: ``access_keys`` (closure keys of that identity).
    principals: pl.DataFrame
    #: One row per canonical ``arn``: ``service``, ``resource_type``, ``account_id``,
    #: ``actions`` (event names), ``events``, ``first_touched``, ``last_touched``,
    #: ``access`` (write / read / denied), ``wrote``, ``denied_only``, ``created``.
    resources: pl.DataFrame
    #: The closure's events (events-table rows), in time order.
    events: pl.DataFrame
    #: The closure's refused calls (events-table rows).
    denied: pl.DataFrame
    #: The networkx MultiDiGraph of the closure (see :func:`forensics.graph.build_graph`).
    graph: nx.MultiDiGraph = field(repr=False)
    #: Rows of :func:`forensics.resources.event_resources` for the closure's events.
    event_resources: pl.DataFrame = field(repr=False, default_factory=pl.DataFrame)
    #: What the trail could not have recorded in the window (logging off, S3 buckets touched
    #: without data events); see :func:`forensics.integrity.could_have_logged`.
    not_logged: tuple[str, ...] = ()
    #: What the seed's owner did in the window through credentials outside the closure (its
    #: other keys, console sessions): ``principal``, ``access_key_id``, ``minted_by``,
    #: ``events``. Not in the closure (they do not descend from the seed), but a responder
    #: must know the owner was active another way.
    owner_elsewhere: pl.DataFrame = field(repr=False, default_factory=pl.DataFrame)

    def __repr__(self) -> str:
        return (
            f"<BlastRadius of {self.seed}: {self.credentials.height} credentials, "
            f"{self.resources.height} resources, {self.events.height} events, "
            f"{self.denied.height} denied>"
        )

    # -- views --------------------------------------------------------------------------------
    def findings(self, rules: Any = None, *, findings: Any = None) -> Any:
        """Sigma findings among the closure's events: ``fx.detect(self.events, rules)``.

        Correlations see only the closure's events. Example: ``br.findings().summary()``.
        ``findings``: findings computed already (over the whole trail, with baselines or
        community rules; any findings table), cut to the hits naming a closure event instead.
        """
        from forensics.detect import as_findings, detect  # an analysis below, loaded on use

        if findings is not None:
            return as_findings(findings).for_events(self.events)
        return detect(self.events, rules)

    def indicators(self) -> dict[str, list[str]]:
        """Indicators for a ticket: ``source_ips``, ``access_keys``, ``arns`` (principals,
        sessions and created identities), ``user_agents``, ``regions``; sorted, distinct.
        Calls AWS services made on a key's behalf (source ``s3.amazonaws.com``, ``AWS
        Internal``) are not indicators and are left out.

        >>> # br.indicators()["access_keys"]  -> ['AKIA...', 'ASIA...']
        """
        ev = self.events

        def distinct(values: Any) -> list[str]:
            return sorted({v for v in values if v})

        arns = (
            ev["principal_arn"].to_list()
            + ev["principal"].to_list()
            + self.principals["principal"].to_list()
        )

        def is_service(value: str) -> bool:  # calls AWS made on the key's behalf
            return value.endswith(".amazonaws.com") or value == "AWS Internal"

        return {
            "source_ips": [v for v in distinct(ev["source_ip"].to_list()) if not is_service(v)],
            "access_keys": distinct(self.credentials["access_key_id"].to_list()),
            "arns": distinct(a for a in arns if a and a.startswith("arn:")),
            "user_agents": [v for v in distinct(ev["user_agent"].to_list()) if not is_service(v)],
            "regions": distinct(ev["aws_region"].to_list()),
        }

    def summary(self) -> str:
        """A short plain-text account a responder can paste into a ticket."""
        ev = self.events
        lines = [f"Blast radius of {self.seed}"]
        window = f"{_fmt_time(self.since)} -> {_fmt_time(self.until)}"
        if self.since or self.until:
            lines.append(f"Window: {window}")
        if ev.height:
            lines.append(
                f"Activity: {ev.height} events from {_fmt_time(ev['event_time'].min())} "
                f"to {_fmt_time(ev['event_time'].max())}; {self.denied.height} denied"
            )
        else:
            lines.append("Activity: no events in the window")
        lines.append("")
        lines.append(f"Credentials ({self.credentials.height}):")
        for row in self.credentials.iter_rows(named=True):
            how = row["joined_by"]
            if row["via_access_key_id"]:
                how += f" by {row['via_access_key_id']}"
            if row["joined_by"] == "minted" and row["minted_by"]:
                how += f" ({row['minted_by']})"
            lines.append(
                f"  - {row['access_key_id']} [{row['kind']}] {row['principal'] or '?'}: {how}; "
                f"{row['events']} events, {_fmt_time(row['first_used'])} .. "
                f"{_fmt_time(row['last_used'])}"
            )
        created = self.principals.filter(pl.col("relation") == "created")
        used = self.principals.filter(pl.col("events") > 0)
        if used.height:
            lines.append("")
            lines.append(f"Identities acting ({used.height}):")
            lines.extend(
                f"  - {p} [{rel}], {n} events"
                for p, rel, n in used.select("principal", "relation", "events").iter_rows()
            )
        created_res = self.resources.filter(
            pl.col("created") & ~pl.col("resource_type").fill_null("").str.starts_with("AWS::STS::")
        )
        if created.height or created_res.height:
            lines.append("")
            lines.append("Left behind (created):")
            shown = set()
            for arn, rtype in created_res.select("arn", "resource_type").iter_rows():
                shown.add(arn)
                lines.append(f"  - {rtype or 'resource'}: {arn}")
            for p in created["principal"].to_list():
                if p not in shown:
                    lines.append(f"  - identity: {p}")
        res = self.resources
        wrote = res.filter(pl.col("wrote")).height
        denied_only = res.filter(pl.col("denied_only")).height
        lines.append("")
        lines.append(
            f"Resources ({res.height}): {wrote} written, {res.height - wrote - denied_only} "
            f"read only, {denied_only} denied only"
        )
        top = res.sort(["wrote", "events"], descending=True).head(15)
        for row in top.iter_rows(named=True):
            lines.append(
                f"  - [{row['access']}] {row['arn']} ({', '.join(row['actions'][:5])}"
                f"{', ...' if len(row['actions']) > 5 else ''})"
            )
        if res.height > top.height:
            lines.append(f"  ... and {res.height - top.height} more")
        if self.denied.height:
            names = self.denied.group_by("event_name").len().sort("len", descending=True).head(8)
            lines.append("")
            lines.append("Denied attempts: " + ", ".join(f"{n} x{c}" for n, c in names.iter_rows()))
        other = self.owner_elsewhere
        if other.height:
            lines.append("")
            for who, rows in other.group_by("principal", maintain_order=True):
                consoles = rows.filter(pl.col("minted_by") == "console sign-in").height
                keys = rows.height - consoles
                how = ", ".join(
                    part
                    for part in (
                        f"{consoles} console session{'s' * (consoles != 1)}" if consoles else "",
                        f"{keys} other credential{'s' * (keys != 1)}" if keys else "",
                    )
                    if part
                )
                lines.append(
                    f"Note: {who[0]} also acted via {how}, {int(rows['events'].sum()):,} events "
                    "in the window: not in this closure (they do not descend from the seed)"
                )
        ind = self.indicators()
        lines.append("")
        lines.append("Source IPs: " + (", ".join(ind["source_ips"][:20]) or "-"))
        lines.append("User agents: " + (" | ".join(ind["user_agents"][:5]) or "-"))
        lines.append("Regions: " + (", ".join(ind["regions"]) or "-"))
        if self.not_logged:
            lines.append("")
            lines.append("Not in the trail (could not have been logged):")
            lines.extend(f"  - {note}" for note in self.not_logged)
        # event text is attacker-controlled: no value may forge a line or drive the terminal
        return "\n".join(terminal_line(line) for line in lines)

    def chart(self, kind: str = "timeline", *, width: int = 640, top: int = 25) -> alt.Chart:
        """An Altair picture of the closure (drawn by :func:`forensics.charts.blast_chart`).

        ``kind="timeline"`` (default): one row per credential, marks sized by the number of
        calls per time bucket, coloured by read / write / denied (aggregated first: small).
        ``kind="graph"``: the credential chain left to right (seed, then what it minted or
        created, by depth) and the ``top`` most-touched resources on the right, with the
        minted / created links and each credential's resource links.
        """
        # a display shortcut: charts sit above analyses, so they are imported when called
        from forensics.charts import blast_chart

        return blast_chart(self, kind, width=width, top=top)


def blast_radius(
    trail: Trail,
    seed: str,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
) -> BlastRadius:
    """What a compromised credential reached: every credential that descends from it, their
    events, the resources touched, the identities used or created, and what was refused.

    Parameters
    ----------
    trail
        The loaded trail, or an Athena source (:class:`forensics.ingest.athena.Source`): the closure
        is then fetched in rounds of narrow queries first.
    seed
        An access key id (``AKIA...`` / ``ASIA...``), a principal ARN (user, role, root) or an
        assumed-role session ARN.
    since, until
        Bound the window (UTC; ``since`` inclusive, ``until`` exclusive), e.g. from the first
        malicious call. Keys minted or created outside the window do not join the closure.

    Returns
    -------
    BlastRadius

    Examples
    --------
    >>> import forensics as fx
    >>> from forensics.ingest._normalize import normalize_records
    >>> ci = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ci",
    ...       "accountId": "111122223333", "accessKeyId": "AKIALEAKED0000001"}
    >>> admin = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/x",
    ...          "accountId": "111122223333", "accessKeyId": "ASIASESSION000001"}
    >>> records = [
    ...     {"eventTime": "2024-01-01T00:00:00Z", "eventName": "AssumeRole", "eventID": "e1",
    ...      "eventSource": "sts.amazonaws.com", "userIdentity": ci,
    ...      "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/Admin"},
    ...      "responseElements": {"credentials": {"accessKeyId": "ASIASESSION000001"}}},
    ...     {"eventTime": "2024-01-01T00:05:00Z", "eventName": "GetObject", "eventID": "e2",
    ...      "eventSource": "s3.amazonaws.com", "userIdentity": admin, "readOnly": True,
    ...      "requestParameters": {"bucketName": "loot", "key": "db.sql"}}]
    >>> br = fx.blast_radius(fx.Trail(normalize_records(records, "x.json")), "AKIALEAKED0000001")
    >>> br.credentials.select("access_key_id", "joined_by").rows()
    [('AKIALEAKED0000001', 'seed'), ('ASIASESSION000001', 'minted')]
    >>> br.resources.filter(pl.col("service") == "s3").select("arn", "access").rows()
    [('arn:aws:s3:::loot', 'read'), ('arn:aws:s3:::loot/db.sql', 'read')]
    """
    if not hasattr(trail, "lazy") and hasattr(trail, "closure"):
        # a remote source (forensics.ingest.athena.Source): fetch the closure's events in rounds
        trail = trail.closure(seed, since=since, until=until)
    lo, hi = to_utc(since), to_utc(until)
    creds = all_credentials(trail)
    keys, principals = seed_keys(creds, seed)
    lazy = trail.lazy
    if not keys and not principals:
        raise _not_found(seed, creds)
    members, actors = closure(lazy, creds, keys, principals=principals, since=lo, until=hi)
    key_list = members["access_key_id"].to_list()

    in_scope = pl.col("access_key_id").is_in(key_list)
    keyless = pl.col("access_key_id").is_null()
    if principals:
        in_scope = in_scope | (
            keyless
            & (pl.col("principal").is_in(principals) | pl.col("principal_arn").is_in(principals))
        )
    for who, joined, at in actors.select("principal", "joined_by", "since").iter_rows():
        if joined == "created":
            in_scope = in_scope | (
                keyless & (pl.col("principal") == who) & (pl.col("event_time") >= at)
            )
    window = [w] if (w := in_window(lo, hi)) is not None else []
    events = lazy.filter(in_scope, *window).collect(engine="streaming")
    if events.height == 0 and not key_list:
        raise _not_found(seed, creds)
    # The other copy of a cross-account call (the resource owner's trail records the caller as
    # an AWSAccount, without its key): same sharedEventID, or the call that minted a closure key.
    shared = events["shared_event_id"].drop_nulls().unique().to_list()
    minting = members.filter(pl.col("joined_by") == "minted")["via_event_id"].drop_nulls().to_list()
    if shared or minting:
        copies = lazy.filter(
            pl.col("access_key_id").is_null()
            & ~in_scope.fill_null(False)
            & (pl.col("shared_event_id").is_in(shared) | pl.col("event_id").is_in(minting)),
            *window,
        ).collect(engine="streaming")
        if copies.height:
            events = pl.concat([events, copies])
    events = events.sort("event_time", maintain_order=True)
    denied = events.filter(is_denied(pl.col("error_code")).fill_null(False))
    rows = event_resources(events)

    usage = events.group_by("access_key_id").agg(
        pl.col("event_time").min().alias("_first"),
        pl.col("event_time").max().alias("_last"),
        pl.len().cast(pl.UInt32).alias("_events"),
    )
    cred_frame = (
        members.join(creds, on="access_key_id", how="left")
        .join(usage, on="access_key_id", how="left")
        .with_columns(
            pl.col("_first").alias("first_used"),
            pl.col("_last").alias("last_used"),
            pl.col("_events").fill_null(0).alias("events"),
            pl.col("kind").fill_null(
                pl.when(pl.col("access_key_id").str.starts_with("AKIA"))
                .then(pl.lit("long-term"))
                .when(pl.col("access_key_id").str.starts_with("ASIA"))
                .then(pl.lit("temporary"))
                .otherwise(pl.lit("unknown"))
            ),
        )
        .drop("_first", "_last", "_events")
        .sort("depth", pl.coalesce("minted_at", "first_used"), nulls_last=True)
    )
    cred_frame = _add_created_keys(cred_frame, rows, creds)
    owners = set(principals) | set(
        cred_frame.filter(pl.col("joined_by") == "seed")["principal"].drop_nulls().to_list()
    )
    elsewhere = (
        lazy.filter(
            pl.col("principal").is_in(list(owners)),
            ~pl.col("access_key_id").is_in(cred_frame["access_key_id"].to_list()).fill_null(False),
            ~in_scope.fill_null(False),
            *window,
        )
        .group_by("principal", "access_key_id")
        .agg(pl.len().cast(pl.UInt32).alias("events"))
        .collect(engine="streaming")
        .join(creds.select("access_key_id", "minted_by"), on="access_key_id", how="left")
        .select("principal", "access_key_id", "minted_by", "events")
        .sort("principal", "access_key_id", nulls_last=True)
    )

    return BlastRadius(
        seed=seed,
        since=lo,
        until=hi,
        credentials=cred_frame,
        principals=_principals(events, rows, cred_frame, principals),
        resources=_resources(rows),
        events=events,
        denied=denied,
        graph=build_graph(events, resources=rows),
        event_resources=rows,
        not_logged=_not_logged(trail, lo, hi, rows),
        owner_elsewhere=elsewhere,
    )


def _not_logged(
    trail: Trail, lo: datetime | None, hi: datetime | None, rows: pl.DataFrame
) -> tuple[str, ...]:
    # integrity sits beside blast among the analyses: imported here, lazily
    from forensics.integrity._absence import window_notes

    return tuple(window_notes(trail, lo, hi, rows))


def _not_found(seed: str, creds: pl.DataFrame) -> PrincipalError:
    return PrincipalError(
        f"{seed!r} matches no credential or event in this trail; check the ARN (user/role ARNs "
        "are matched exactly, sessions as arn:aws:sts::<account>:assumed-role/<role>/<session>)",
        candidates=creds.filter(
            pl.col("principal").str.contains(seed.rsplit("/", 1)[-1], literal=True)
        )["principal"]
        .unique()
        .sort()
        .head(10)
        .to_list(),
    )


def _add_created_keys(
    cred_frame: pl.DataFrame, rows: pl.DataFrame, creds: pl.DataFrame
) -> pl.DataFrame:
    """Keys the closure created but that never appear in credentials() (never used)."""
    made = (
        rows.filter(
            (pl.col("resource_type") == "AWS::IAM::AccessKey")
            & pl.col("created")
            & pl.col("error_code").is_null()
        )
        .select(
            pl.col("arn").str.extract(r"access-key/(.+)$", 1).alias("access_key_id"),
            pl.col("access_key_id").alias("via_access_key_id"),
            pl.col("event_id").alias("via_event_id"),
        )
        .drop_nulls("access_key_id")
        .unique("access_key_id")
        .filter(~pl.col("access_key_id").is_in(cred_frame["access_key_id"].to_list()))
    )
    if made.height == 0:
        return cred_frame
    extra = made.join(
        creds.drop("created_by_access_key_id"), on="access_key_id", how="left"
    ).with_columns(
        pl.lit("created").alias("joined_by"),
        pl.col("kind").fill_null("long-term"),
        pl.col("minted_by").fill_null("CreateAccessKey"),
        pl.col("via_access_key_id").alias("created_by_access_key_id"),
        pl.lit(0, pl.UInt32).alias("events"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("first_used"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("last_used"),
    )
    return pl.concat([cred_frame, extra], how="diagonal_relaxed")


def _principals(
    events: pl.DataFrame, rows: pl.DataFrame, creds: pl.DataFrame, seeds: list[str]
) -> pl.DataFrame:
    """One row per identity: used by the closure, reached through a minted session, created."""
    used = (
        events.filter(pl.col("principal").is_not_null())
        .group_by("principal")
        .agg(
            pl.col("identity_type").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first(),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
            pl.len().cast(pl.UInt32).alias("events"),
        )
    )
    keys = (
        creds.filter(pl.col("principal").is_not_null())
        .group_by("principal")
        .agg(
            pl.col("access_key_id").unique().sort().alias("access_keys"),
            (pl.col("joined_by") == "minted").any().alias("_assumed"),
            pl.col("identity_type").drop_nulls().first().alias("_ctype"),
            pl.col("account_id").drop_nulls().first().alias("_cacct"),
        )
    )
    created = (
        rows.filter(
            pl.col("created")
            & pl.col("resource_type").is_in(["AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group"])
            & pl.col("error_code").is_null()
        )
        .group_by("arn")
        .agg(
            pl.col("resource_type")
            .first()
            .replace_strict(
                {"AWS::IAM::User": "IAMUser", "AWS::IAM::Role": "Role", "AWS::IAM::Group": "Group"},
                default=None,
            )
            .alias("_rtype"),
            pl.col("account_id").first().alias("_racct"),
            pl.col("event_time").min().alias("created_at"),
        )
        .rename({"arn": "principal"})
    )
    frame = (
        used.join(keys, on="principal", how="full", coalesce=True)
        .join(created, on="principal", how="full", coalesce=True)
        .with_columns(
            pl.when(pl.col("principal").is_in(seeds))
            .then(pl.lit("seed"))
            .when(pl.col("created_at").is_not_null())
            .then(pl.lit("created"))
            .when(pl.col("_assumed").fill_null(False))
            .then(pl.lit("assumed"))
            .otherwise(pl.lit("used"))
            .alias("relation"),
            pl.coalesce("identity_type", "_ctype", "_rtype").alias("identity_type"),
            pl.coalesce("account_id", "_cacct", "_racct").alias("account_id"),
            pl.col("events").fill_null(0),
            pl.col("access_keys").fill_null(pl.lit([], pl.List(pl.String))),
        )
    )
    order = pl.col("relation").replace_strict(
        {"seed": 0, "used": 1, "assumed": 2, "created": 3}, default=4
    )
    return frame.select(
        "principal",
        "relation",
        "identity_type",
        "account_id",
        pl.col("created_at").cast(TIME_DTYPE),
        pl.col("first_seen").cast(TIME_DTYPE),
        pl.col("last_seen").cast(TIME_DTYPE),
        "events",
        "access_keys",
    ).sort(order, "first_seen", nulls_last=True)


def _resources(rows: pl.DataFrame) -> pl.DataFrame:
    frame = (
        rows.group_by("arn")
        .agg(
            pl.col("service").first(),
            pl.col("resource_type").drop_nulls().first(),
            pl.col("account_id").drop_nulls().first(),
            pl.col("region").drop_nulls().first(),
            pl.col("event_name").unique().sort().alias("actions"),
            pl.col("event_id").n_unique().cast(pl.UInt32).alias("events"),
            pl.col("event_time").min().alias("first_touched"),
            pl.col("event_time").max().alias("last_touched"),
            (pl.col("access") == "write").any().alias("wrote"),
            (pl.col("access") == "read").any().alias("_read"),
            (pl.col("access") == "denied").all().alias("denied_only"),
            pl.col("created").any(),
            pl.col("access_key_id").drop_nulls().unique().sort().alias("access_keys"),
        )
        .with_columns(
            pl.when(pl.col("wrote"))
            .then(pl.lit("write"))
            .when(pl.col("_read"))
            .then(pl.lit("read"))
            .otherwise(pl.lit("denied"))
            .alias("access")
        )
        .drop("_read")
        .sort("first_touched", "arn")
    )
    return frame.select(
        "arn",
        "service",
        "resource_type",
        "account_id",
        "region",
        "access",
        "wrote",
        "denied_only",
        "created",
        "actions",
        "events",
        "first_touched",
        "last_touched",
        "access_keys",
    )
