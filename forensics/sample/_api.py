"""``write()`` and ``generate()``: the public entry points of the sample generator."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics._errors import ForensicsError
from forensics.sample._sim import run
from forensics.sample._world import ACCOUNTS, ORG_ID, REGIONS, TRAIL_NAME, build_world
from forensics.sample._writer import TrailWriter

__all__ = ["START", "STORY", "SampleInfo", "generate", "ground_truth", "write"]

#: The sample's first day (a Monday, 00:00 UTC).
START = datetime(2026, 3, 2, tzinfo=UTC)

STORY = """\
A CI user's old access key, rotated out of use but never deactivated, leaks in a public
repository. From a new IP address and a Kali Linux aws-cli, the attacker checks who the key
belongs to and what it can do (GetCallerIdentity, ListBuckets, ListRoles, DescribeInstances in
several regions, and many calls refused with AccessDenied), assumes the CI's deploy role in the
platform account with the CI's own session name, chains from it into the data account's
pipeline role, reads the customer-exports bucket, a database secret and SSM parameters, creates
a backdoor user with an access key, a console password and AdministratorAccess, uses that new
key (assuming the backup-admin role and sharing an EBS snapshot with an outside account), and
tries to blind the defenders (StopLogging and GuardDuty DeleteDetector refused; the data
account's own trail reconfigured and deleted). Meanwhile the real CI keeps deploying with the
user's other key, Jenkins assumes the same role with the same session name, and the ETL job and
an analyst read the same bucket: none of that is part of the incident.
"""


@dataclass(frozen=True)
class SampleInfo:
    """What :func:`write` produced.

    Attributes
    ----------
    path
        The folder written (holds ``AWSLogs/``).
    events
        Records written (background + incident).
    files, digests
        Log files and digest files written.
    start, end
        The sampled period (UTC), ``end`` exclusive.
    accounts, regions
        Account ids (with names) and regions in the trail.
    seed
        The seed the sample was drawn from.
    story
        The embedded incident's ground truth (empty when ``incident=False``); see
        ``docs/sample-incident.md``.
    bytes_json, bytes_gz
        Uncompressed and compressed size of the log files.
    """

    path: Path
    events: int
    files: int
    digests: int
    start: datetime
    end: datetime
    accounts: dict[str, str]
    regions: tuple[str, ...]
    seed: int
    story: dict[str, Any] = field(default_factory=dict)
    bytes_json: int = 0
    bytes_gz: int = 0

    @property
    def mean_record_bytes(self) -> float:
        """Mean size of one record as JSON (bytes)."""
        return self.bytes_json / self.events if self.events else 0.0


def _check(events: int, days: int, file_minutes: int) -> None:
    if not isinstance(events, int) or events < 1:
        raise ValueError(f"events must be a positive integer, got {events!r}")
    if not isinstance(days, int) or not 1 <= days <= 366:
        raise ValueError(f"days must be an integer from 1 to 366, got {days!r}")
    if file_minutes not in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60):
        raise ValueError(f"file_minutes must divide an hour, got {file_minutes!r}")


def _windows(
    *,
    events: int,
    days: int,
    seed: int,
    incident: bool,
    file_minutes: int,
    story_out: dict[str, Any] | None = None,
) -> Iterator[tuple[int, list[dict]]]:
    _check(events, days, file_minutes)
    world = build_world(seed)
    start = int(START.timestamp())
    scripted: list[dict[str, Any]] = []
    if incident:
        from forensics.sample._incident import build_incident

        scripted, story = build_incident(world, seed, start=start, days=days)
        if story_out is not None:
            story_out.update(story)
    rng = random.Random(seed * 1_000_003 + 11)
    yield from run(
        world,
        rng,
        events=events,
        start=start,
        days=days,
        window=file_minutes * 60,
        scripted=scripted,
    )


def ground_truth(*, days: int = 7, seed: int = 7) -> dict[str, Any]:
    """The incident's ground truth for a sample written with ``days`` and ``seed``.

    The same dict as ``write(...).story`` (it does not depend on ``events``), computed in
    milliseconds without writing anything: notebooks opened on an existing sample use it.

    Examples
    --------
    >>> import forensics as fx
    >>> truth = fx.sample.ground_truth()
    >>> truth["first_malicious_event_time"], len(truth["closure_access_key_ids"])
    ('2026-03-04T13:52:17Z', 6)
    """
    from forensics.sample._incident import build_incident

    _check(1_000, days, 5)
    _, story = build_incident(build_world(seed), seed, start=int(START.timestamp()), days=days)
    return story


def generate(
    events: int = 60_000,
    *,
    days: int = 7,
    seed: int = 7,
    incident: bool = True,
    file_minutes: int = 5,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the sample's records in time order, one list per delivery window.

    Nothing big is kept in memory, so this scales to millions of events (benchmarks). The
    records are exactly those :func:`write` puts in files, with the same arguments.

    Examples
    --------
    >>> import forensics as fx
    >>> n = sum(len(batch) for batch in fx.sample.generate(2_000, days=1))
    >>> n
    2000
    """
    for _, records in _windows(
        events=events, days=days, seed=seed, incident=incident, file_minutes=file_minutes
    ):
        if records:
            yield records


def write(
    out: str | os.PathLike[str],
    *,
    events: int = 60_000,
    days: int = 7,
    seed: int = 7,
    incident: bool = True,
    file_minutes: int = 5,
    overwrite: bool = False,
) -> SampleInfo:
    """Write the sample trail under ``out`` in the S3 delivery layout.

    Parameters
    ----------
    out
        Folder to write (created if missing); files go under ``out/AWSLogs/``.
    events
        Total records (background + the incident's, which has a fixed size).
    days
        Days of activity, from :data:`START` (Monday 2 March 2026, 00:00 UTC).
    seed
        Same seed and arguments -> byte-identical files.
    incident
        Embed the incident (and its decoys); ``False`` writes background activity only.
    file_minutes
        Delivery window of one log file per account and region (CloudTrail: about 5).
    overwrite
        Replace a sample already in ``out`` (only its ``AWSLogs/`` folder is removed). Without
        it, a folder that already holds ``AWSLogs/`` is refused, so that two samples are never
        mixed.

    Returns
    -------
    SampleInfo
        Counts, period, and ``story``: the incident's ground truth.

    Examples
    --------
    >>> import forensics as fx, tempfile
    >>> info = fx.sample.write(tempfile.mkdtemp(), events=2_000, days=1)
    >>> info.events, info.story["leaked_access_key_id"].startswith("AKIA")
    (2000, True)
    """
    _check(events, days, file_minutes)
    logs = Path(out) / "AWSLogs"
    if logs.exists():
        if not overwrite:
            raise ForensicsError(
                f"{logs} already exists: write the sample to an empty folder, or pass "
                "overwrite=True (command line: --force) to replace it"
            )
        shutil.rmtree(logs)
    story: dict[str, Any] = {}
    world_rng = random.Random(seed * 7_919 + 3)
    writer = TrailWriter(
        out,
        org_id=ORG_ID,
        accounts=list(ACCOUNTS),
        regions=REGIONS,
        trail_name=TRAIL_NAME,
        trail_region="us-east-1",
        bucket="acme-org-cloudtrail-logs",
        rng=world_rng,
    )
    window = file_minutes * 60
    for w0, records in _windows(
        events=events,
        days=days,
        seed=seed,
        incident=incident,
        file_minutes=file_minutes,
        story_out=story,
    ):
        writer.window(w0 + window, records)
    writer.close()
    start = START
    end = datetime.fromtimestamp(START.timestamp() + days * 86400, UTC)
    return SampleInfo(
        Path(out),
        writer.records,
        writer.files,
        writer.digests,
        start,
        end,
        dict(ACCOUNTS),
        REGIONS,
        seed,
        story,
        writer.bytes_json,
        writer.bytes_gz,
    )
