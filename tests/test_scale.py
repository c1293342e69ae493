"""Large trails: analyses read the events in bounded batches and give the same answers.

The batch sizes are forced tiny here so that a small trail crosses many batch boundaries; the
result must be the same table / graph as with one batch (the in-memory answer).
"""

from __future__ import annotations

import networkx as nx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
import forensics.resources._extract as extract
from forensics._progress import progress, progress_enabled, set_progress
from forensics.graph import build_graph
from forensics.resources import event_resources
from tests._identity_helpers import event, trail, user

ACCT = "111122223333"
ALICE = user(ACCT, "alice", "AKIAALICE0000000001")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> fx.Trail:
    out = tmp_path_factory.mktemp("scale") / "trail"
    fx.sample.write(out, events=3_000, days=1, file_minutes=60)
    loaded = fx.load(out, cache=False)
    # a lazy trail, as a re-opened cache is: nothing collected up front
    return fx.Trail(loaded.events.lazy())


def _graph_data(g: nx.MultiDiGraph) -> tuple[dict, dict]:
    return (
        dict(g.nodes(data=True)),
        {(u, v, k): d for u, v, k, d in g.edges(keys=True, data=True)},
    )


def test_resources_in_small_batches_equal_one_batch(
    sample: fx.Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = event_resources(sample)
    monkeypatch.setattr(extract, "BATCH_ROWS", 97)
    batched = event_resources(sample)
    assert whole.height > 1_000
    assert_frame_equal(batched, whole)


def test_graph_in_small_batches_equals_one_batch(
    sample: fx.Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _graph_data(build_graph(sample))
    monkeypatch.setattr(extract, "BATCH_ROWS", 113)
    assert _graph_data(build_graph(sample)) == whole
    # and built from a resources table given up front
    assert _graph_data(build_graph(sample, resources=event_resources(sample))) == whole


def test_short_names_complete_across_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # the short role name comes first, the full ARN (with its path) batches later
    short = event(
        0,
        "AttachRolePolicy",
        ALICE,
        source="iam.amazonaws.com",
        request={"roleName": "deploy", "policyArn": "arn:aws:iam::aws:policy/Admin"},
    )
    filler = [
        event(
            i,
            "GetObject",
            ALICE,
            source="s3.amazonaws.com",
            request={"bucketName": "b", "key": f"k{i}"},
            readOnly=True,
        )
        for i in range(1, 8)
    ]
    full = event(
        9,
        "CreateRole",
        ALICE,
        source="iam.amazonaws.com",
        request={"roleName": "deploy", "path": "/ci/"},
        response={"role": {"arn": f"arn:aws:iam::{ACCT}:role/ci/deploy"}},
    )
    t = trail([short, *filler, full])
    whole = event_resources(t)
    monkeypatch.setattr(extract, "BATCH_ROWS", 2)
    batched = event_resources(t)
    assert_frame_equal(batched, whole)
    roles = set(batched.filter(pl.col("resource_type") == "AWS::IAM::Role")["arn"])
    assert roles == {f"arn:aws:iam::{ACCT}:role/ci/deploy"}


def test_touched_counts_an_event_id_once_across_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # two differing records sharing an event id (an ID collision the load keeps), far apart
    rec = [
        event(
            i,
            "GetObject",
            ALICE,
            source="s3.amazonaws.com",
            request={"bucketName": "b", "key": "k"},
            readOnly=True,
        )
        for i in range(6)
    ]
    rec[5]["eventID"] = rec[0]["eventID"]
    rec[5]["userAgent"] = "other"
    t = trail(rec)
    assert build_graph(t).nodes["arn:aws:s3:::b/k"]["touched"] == 5
    monkeypatch.setattr(extract, "BATCH_ROWS", 2)
    assert build_graph(t).nodes["arn:aws:s3:::b/k"]["touched"] == 5


def test_empty_trail_graph_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "BATCH_ROWS", 2)
    assert build_graph(trail([])).number_of_nodes() == 0
    assert event_resources(trail([])).height == 0


def test_progress_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("FORENSICS_PROGRESS", raising=False)
    assert not progress_enabled()  # pytest captures stderr: not a terminal
    monkeypatch.setenv("FORENSICS_PROGRESS", "1")
    assert progress_enabled()
    assert list(progress(range(3), "test bar")) == [0, 1, 2]
    assert "test bar" in capsys.readouterr().err
    set_progress(False)
    try:
        assert not progress_enabled()
    finally:
        set_progress(None)


def _sorted_findings(findings) -> pl.DataFrame:
    frame = findings.frame
    flat = [c for c in frame.columns if not isinstance(frame.schema[c], pl.List)]
    return frame.sort([*flat, pl.col("event_ids").list.join(",")])


def test_detect_in_small_batches_equals_the_whole_table(
    sample: fx.Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    import forensics.detect._engine as engine

    whole = _sorted_findings(fx.detect(sample.with_actors().events))  # in memory, one frame
    assert whole.height > 0
    assert (whole["kind"] == "correlation").any()  # correlations run over the kept rows too
    monkeypatch.setattr(engine, "BATCH_ROWS", 89)
    assert_frame_equal(_sorted_findings(fx.detect(sample)), whole)


def test_a_filtered_trail_is_batched_once_through_a_file_not_rescanned(
    sample: fx.Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slicing a filtered plan re-runs the filter from the first row (quadratic): its rows are
    written once to a temporary file and sliced there, with the same answers."""
    import forensics._batches as b

    filtered = sample.where(read_only=True)
    whole = event_resources(filtered)
    sunk: list[str] = []
    real = pl.LazyFrame.sink_parquet

    def spy(self, path, *args, **kwargs):
        sunk.append(str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", spy)
    monkeypatch.setattr(extract, "BATCH_ROWS", 101)
    assert_frame_equal(event_resources(filtered), whole)
    assert sunk  # the filtered plan went through a file
    sunk.clear()
    assert_frame_equal(event_resources(sample), event_resources(sample))
    assert not sunk  # a plain scan is sliced as it is
    assert b._rescans(filtered.lazy) and not b._rescans(sample.lazy)
