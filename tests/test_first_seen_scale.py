"""first_seen on a Trail works the propagated actor out per group of what decides it, not per
event (a lookup Polars' streaming engine runs in memory over the whole column): the findings
must be those of the per-event actor, which a DataFrame with the ``actor`` column gives."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
from forensics.baseline import first_seen
from forensics.identity._actors import actor_groups
from tests._identity_helpers import T0, assume_role, event, session, trail, user

ACCT = "111122223333"
ALICE = user(ACCT, "alice", "AKIAALICE0000000001")
ROLE = f"arn:aws:iam::{ACCT}:role/admin"
HOP = session(ACCT, "admin", "alice-session", "ASIAHOP0000000000001")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> fx.Trail:
    out = tmp_path_factory.mktemp("first-seen") / "trail"
    fx.sample.write(out, events=3_000, days=2, file_minutes=60)
    return fx.Trail(fx.load(out, cache=False).events.lazy())


@pytest.mark.parametrize("shuffled", [False, True])
def test_first_seen_on_a_trail_equals_the_per_event_actor(sample: fx.Trail, shuffled: bool) -> None:
    events = sample.with_actors().events  # the actor worked out on every row
    t = sample
    if shuffled:  # not in time order: the first event is found by time, not by row
        events = events.sample(fraction=1.0, shuffle=True, seed=5)
        t = fx.Trail(sample.events.sample(fraction=1.0, shuffle=True, seed=5).lazy())
    expected = first_seen(events, new_entities=True)
    got = first_seen(t, new_entities=True)
    assert expected.height > 20
    assert_frame_equal(got, expected)


def test_a_role_sessions_first_call_is_its_persons() -> None:
    records = [
        event(0, "DescribeInstances", ALICE),
        assume_role(60 * 30, ALICE, ROLE, "alice-session", "ASIAHOP0000000000001"),
        event(60 * 31, "DeleteTrail", HOP, source="cloudtrail.amazonaws.com"),
    ]
    f = first_seen(trail(records), until=T0 + timedelta(hours=1), pairs=["api"])
    row = f.filter(pl.col("title").cast(pl.String).str.contains("DeleteTrail")).row(0, named=True)
    assert row["actor"] == f"arn:aws:iam::{ACCT}:user/alice"
    assert row["title"] == (
        f"first call of cloudtrail.amazonaws.com:DeleteTrail by arn:aws:iam::{ACCT}:user/alice"
    )


def test_actor_groups_aggregate_like_the_per_event_actor(sample: fx.Trail) -> None:
    per_event = (
        sample.with_actors()
        .events.group_by("actor", "event_name")
        .agg(pl.len().alias("n"), pl.col("event_time").min().alias("first"))
    )
    groups = actor_groups(
        sample,
        sample.lazy,
        ["event_name"],
        [pl.len().alias("n"), pl.col("event_time").min().alias("first")],
    )
    folded = groups.group_by("actor", "event_name").agg(pl.col("n").sum(), pl.col("first").min())
    key = ["actor", "event_name"]
    assert_frame_equal(folded.sort(key), per_event.sort(key), check_dtypes=False)
