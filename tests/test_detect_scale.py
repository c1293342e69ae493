"""detect on a large trail: the shortcuts taken for speed give the same findings.

* the propagated ``actor`` is worked out for the matched rows only (not for every event);
* a JSON path named by several values of one rule is decoded once per evaluation;
* a correlation skips the groups whose whole count cannot meet a ``gte``/``gt`` condition.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
import forensics.detect._correlate as correlate_mod
import forensics.detect._engine as engine
import forensics.detect._fields as fields
from forensics.detect import load_rules
from forensics.detect._rules import Correlation
from tests._identity_helpers import assume_role, event, session, trail, user

ACCT = "111122223333"
ALICE = user(ACCT, "alice", "AKIAALICE0000000001")
ROLE = f"arn:aws:iam::{ACCT}:role/admin"
HOP = session(ACCT, "admin", "alice-session", "ASIAHOP0000000000001")


def _rule(folder: Path, name: str, detection: str, extra: str = "") -> Path:
    body = textwrap.dedent(
        f"""\
        title: {name}
        id: 11111111-2222-3333-4444-{sum(map(ord, name)):012d}
        logsource: {{product: aws, service: cloudtrail}}
        level: high
        detection:
        """
    )
    path = folder / f"{name}.yml"
    path.write_text(body + textwrap.indent(textwrap.dedent(detection), "    ") + extra)
    return path


def _sorted(findings: fx.detect.Findings) -> pl.DataFrame:
    frame = findings.frame
    flat = [c for c in frame.columns if not isinstance(frame.schema[c], pl.List)]
    return frame.sort([*flat, pl.col("event_ids").list.join(",")])


def test_the_actor_of_a_finding_is_propagated_on_a_lazy_trail_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        assume_role(0, ALICE, ROLE, "alice-session", "ASIAHOP0000000000001"),
        *[event(1 + i, "DescribeInstances", HOP) for i in range(7)],
        event(9, "StopLogging", HOP, source="cloudtrail.amazonaws.com"),
        event(10, "StopLogging", ALICE, source="cloudtrail.amazonaws.com"),
    ]
    t = trail(records)
    lazy = fx.Trail(t.events.lazy())
    rules = load_rules(
        [_rule(tmp_path, "stop", "s: {eventName: StopLogging}\ncondition: s")], builtin=False
    )
    whole = _sorted(fx.detect(t.with_actors().events, rules))  # in memory, actor on every row
    monkeypatch.setattr(engine, "BATCH_ROWS", 3)
    batched = _sorted(fx.detect(lazy, rules))
    assert_frame_equal(batched, whole)
    # the role session's call is alice's: the actor went down the lineage
    assert batched["actor"].to_list() == [f"arn:aws:iam::{ACCT}:user/alice"] * 2
    assert ROLE in set(batched["principal"].cast(pl.String))


def test_a_json_path_named_by_many_values_is_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        event(i, "RunInstances", ALICE, request={"instanceType": kind})
        for i, kind in enumerate(["p3.2xlarge", "t3.micro", "g5.xlarge", "m5.large"])
    ]
    rule = _rule(
        tmp_path,
        "gpu",
        """\
        s:
          eventName: RunInstances
          requestParameters.instanceType|startswith: [p2., p3., p4, g4, g5, x1]
        condition: s
        """,
    )
    calls: list[int] = []
    real = fields._json_values

    def counted(series: pl.Series, keys: tuple[str, ...]) -> pl.Series:
        calls.append(series.len())
        return real(series, keys)

    monkeypatch.setattr(fields, "_json_values", counted)
    found = fx.detect(trail(records), load_rules([rule], builtin=False))
    assert sorted(found.frame["time"].dt.minute().to_list()) == [0, 2]
    assert len(calls) == 1  # six values, one decoding of the path
    # outside an evaluation nothing is remembered
    assert fields._decoded is None


def test_decoding_once_tells_frames_apart_by_rows_and_column() -> None:
    a = fields.json_path("request_parameters", ("k",))
    one = pl.DataFrame({"request_parameters": ['{"k": "x"}']})
    two = pl.DataFrame({"request_parameters": ['{"k": "y"}', '{"k": "z"}']})
    with fields.decoding_once():
        assert one.select(a).item().to_list() == ["x"]
        assert two.select(a).to_series().to_list() == [["y"], ["z"]]


def _burst_frame() -> pl.DataFrame:
    """Key A: 6 denied calls in 5 minutes (a burst of >= 5); key B: 4 (never 5); key C: 5
    spread over an hour (5 in the group, never 5 in a window)."""
    rows = []
    for key, minutes in (
        ("AKIAA", [0, 1, 2, 3, 4, 5]),
        ("AKIAB", [0, 1, 2, 3]),
        ("AKIAC", [0, 15, 30, 45, 60]),
    ):
        rows += [{"access_key_id": key, "minute": m} for m in minutes]
    frame = pl.DataFrame(rows).with_row_index(correlate_mod._ROW)
    return frame.with_columns(
        (pl.datetime(2024, 3, 1, time_zone="UTC") + pl.duration(minutes=pl.col("minute"))).alias(
            "event_time"
        )
    )


@pytest.mark.parametrize(
    ("kind", "op", "count"),
    [
        ("event_count", "gte", 5),
        ("event_count", "gt", 4),
        ("event_count", "lte", 4),
        ("value_count", "gte", 2),
    ],
)
def test_pruned_correlation_groups_give_the_same_hits(
    monkeypatch: pytest.MonkeyPatch, kind: str, op: str, count: int
) -> None:
    frame = _burst_frame()
    if kind == "value_count":  # distinct keys within the whole trail's window
        corr = Correlation(kind, ("base",), (), 600, op, count, ("userIdentity.accessKeyId",))
    else:
        corr = Correlation(kind, ("base",), (("userIdentity.accessKeyId",),), 600, op, count, None)
    matches = {"base": frame[correlate_mod._ROW]}
    pruned = correlate_mod.correlate(frame, corr, matches)
    monkeypatch.setattr(correlate_mod, "_GROWING", ())
    full = correlate_mod.correlate(frame, corr, matches)
    assert sorted(pruned.to_list()) == sorted(full.to_list())
    if (kind, op) != ("event_count", "lte"):
        assert pruned.len() >= 1


def test_a_group_that_cannot_pass_is_left_out_before_the_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = _burst_frame()
    corr = Correlation(
        "event_count", ("base",), (("userIdentity.accessKeyId",),), 600, "gte", 5, None
    )
    seen: list[set[str]] = []
    real = pl.DataFrame.rolling

    def spy(self: pl.DataFrame, *args, **kwargs):
        seen.append(set(self["__g0"]))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "rolling", spy)
    hits = correlate_mod.correlate(frame, corr, {"base": frame[correlate_mod._ROW]})
    assert seen == [{"AKIAA", "AKIAC"}]  # B has 4 events: no window of 5
    assert hits.to_list() == [[0, 1, 2, 3, 4, 5]]


def test_an_owner_copy_among_the_matched_rows_takes_the_callers_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cross-account lookup is made for the matched owner's copies only: still the
    caller's actor, as with the actor worked out on every event."""
    member, dev, prod = "444455556666", "777788889999", "123412341234"
    role = f"arn:aws:iam::{member}:role/Shared"
    alice = user(dev, "alice", "AKIAALICE0000001")
    bob = user(prod, "bob", "AKIABOB000000001")

    def owner_copy(when: int, caller_account: str, shared: str) -> dict:
        return event(
            when,
            "AssumeRole",
            {"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": caller_account},
            source="sts.amazonaws.com",
            recipient=member,
            shared=shared,
            request={"roleArn": role, "roleSessionName": "s"},
        )

    records = [
        assume_role(0, alice, role, "s", "ASIASHARED000001", shared="sh-1", recipient=dev),
        owner_copy(0, dev, "sh-1"),
        assume_role(1, bob, role, "s", "ASIASHARED000002", shared="sh-2", recipient=prod),
        owner_copy(1, prod, "sh-2"),
        *[event(2 + i, "DescribeInstances", alice) for i in range(5)],
    ]
    t = trail(records)
    rules = load_rules(
        [
            _rule(
                tmp_path,
                "assume",
                "s: {eventName: AssumeRole, userIdentity.type: AWSAccount}\ncondition: s",
            )
        ],
        builtin=False,
    )
    whole = _sorted(fx.detect(t.with_actors().events, rules))
    monkeypatch.setattr(engine, "BATCH_ROWS", 2)
    batched = _sorted(fx.detect(fx.Trail(t.events.lazy()), rules))
    assert_frame_equal(batched, whole)
    assert sorted(batched["actor"].cast(pl.String)) == [
        f"arn:aws:iam::{prod}:user/bob",
        f"arn:aws:iam::{dev}:user/alice",
    ]


def test_actor_inputs_name_every_column_the_actor_reads() -> None:
    from forensics.identity._actors import ACTOR_INPUTS, actor_expr

    t = trail([assume_role(0, ALICE, ROLE, "s", "ASIAHOP0000000000001"), event(1, "X", HOP)])
    assert set(actor_expr(t).meta.root_names()) <= set(ACTOR_INPUTS)


def test_decoding_once_blocks_run_one_at_a_time_across_threads() -> None:
    """Two threads evaluating frames of the same height never share decoded values."""
    from concurrent.futures import ThreadPoolExecutor

    a = fields.json_path("request_parameters", ("k",))

    def run(letter: str) -> list[list[str]]:
        frame = pl.DataFrame({"request_parameters": [f'{{"k": "{letter}{i}"}}' for i in range(50)]})
        out = []
        for _ in range(60):
            with fields.decoding_once():
                out.append(frame.select(a.list.first()).to_series().to_list())
        return out

    with ThreadPoolExecutor(2) as pool:
        xs, ys = pool.map(run, ["x", "y"])
    assert all(v == [f"x{i}" for i in range(50)] for v in xs)
    assert all(v == [f"y{i}" for i in range(50)] for v in ys)
