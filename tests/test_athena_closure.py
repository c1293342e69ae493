"""Org-scale closure: the blast radius over an Athena source, expanded in rounds of narrow
queries, is exactly the local blast radius on the same data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
from forensics import athena
from tests._athena_helpers import _json_value

DAYS = 4
TRUTH = fx.sample.ground_truth(days=DAYS)
SEED = TRUTH["leaked_access_key_id"]
SINCE = TRUTH["first_malicious_event_time"]
WINDOW: dict[str, str] = {}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The sample incident with less background (hourly files): the same closure, fewer files."""
    out = tmp_path_factory.mktemp("sample-small")
    fx.sample.write(out, events=8000, days=DAYS, file_minutes=60)
    return out


@pytest.fixture(scope="module")
def engine(sample) -> athena.DuckDBEngine:
    return athena.DuckDBEngine(sample, materialize=True)


@pytest.fixture(scope="module")
def local(sample) -> fx.Trail:
    return fx.load(sample, cache=False)


def norm(df: pl.DataFrame) -> pl.DataFrame:
    """Events comparable across engines: no ``source_index`` (Athena cannot know it),
    ``source_file`` as text, ``user_identity`` compared as JSON (Athena rebuilds it from the
    table's struct, not from the record's bytes)."""
    return (
        df.drop("source_index")
        .with_columns(
            pl.col("source_file").cast(pl.String),
            pl.col("user_identity")
            .cast(pl.String)
            .map_elements(_json_value, return_dtype=pl.String),
        )
        .sort("event_id", "source_file")
    )


def same_radius(a: fx.BlastRadius, b: fx.BlastRadius) -> None:
    assert_frame_equal(norm(a.events), norm(b.events))
    assert_frame_equal(a.credentials.sort("access_key_id"), b.credentials.sort("access_key_id"))
    assert_frame_equal(a.resources.sort("arn"), b.resources.sort("arn"))
    assert_frame_equal(norm(a.denied), norm(b.denied))


def test_blast_radius_over_athena_equals_local(engine, local, capsys) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, **WINDOW)
    remote = fx.blast_radius(src, SEED, since=SINCE)
    here = fx.blast_radius(local, SEED, since=SINCE)
    same_radius(here, remote)
    assert set(remote.credentials["access_key_id"]) == set(TRUTH["closure_access_key_ids"])
    rounds = src.rounds
    assert len(rounds) >= 3 and rounds[-1].closure_keys == here.credentials.height
    assert all(r.bytes_scanned > 0 for r in rounds)
    shown = capsys.readouterr().err
    assert "round 1:" in shown and "bytes scanned" in shown
    # each round asks only for what is new
    ids = [r.query_id for r in rounds]
    assert len(set(ids)) == len(ids)
    sql = [run.sql for run in engine.runs[-len(rounds) :]]
    assert SEED in sql[0] and all(SEED not in s for s in sql[1:])


def test_the_fetched_events_are_a_small_part(engine, local) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, progress=False, **WINDOW)
    trail = src.closure(SEED, since=SINCE)
    assert 0 < len(trail) < len(local) / 20
    assert "closure" in trail.report.notes[-1]


def test_for_principal_derived_over_athena_equals_local(engine, local) -> None:
    who = "arn:aws:iam::222233334444:user/ci-deploy"
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, progress=False, **WINDOW)
    remote = src.for_principal(who, derived=True).events
    here = local.for_principal(who, derived=True).events

    assert here.height > 0
    assert_frame_equal(norm(here), norm(remote))


def test_names_are_refused_over_athena(engine) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, progress=False, **WINDOW)
    with pytest.raises(fx.PrincipalError, match="access key id, a principal ARN"):
        src.closure("ci-deploy")


def test_a_round_too_large_for_one_query_is_split(engine, local) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, progress=False, batch=1)
    remote = fx.blast_radius(src, SEED, since=SINCE)
    same_radius(fx.blast_radius(local, SEED, since=SINCE), remote)
    split = [r for r in src.rounds if r.keys + r.principals + r.shared > 1]
    assert split and all(
        r.query_id.count(",") == r.keys + r.principals + r.shared - 1 for r in split
    )
