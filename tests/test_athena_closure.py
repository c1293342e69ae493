"""Org-scale closure: the blast radius over an Athena source, expanded in rounds of narrow
queries, is exactly the local blast radius on the same data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
from forensics import athena

SAMPLE = Path("data/sample")
WINDOW = {"start": "2026-03-04", "end": "2026-03-06"}
SEED = "AKIA2MQW7K2WUMLBECXI"
SINCE = "2026-03-04T13:52:17Z"


@pytest.fixture(scope="module")
def engine() -> athena.DuckDBEngine:
    if not (SAMPLE / ".complete").exists():
        pytest.skip("data/sample missing: run `make sample`")
    return athena.DuckDBEngine(SAMPLE, materialize=True)


@pytest.fixture(scope="module")
def local() -> fx.Trail:
    return fx.load(SAMPLE, cache=False, **WINDOW)


def same_radius(a: fx.BlastRadius, b: fx.BlastRadius) -> None:
    def events(br: fx.BlastRadius) -> pl.DataFrame:
        return br.events.drop("source_index").with_columns(
            pl.col("source_file").cast(pl.String)).sort("event_id", "source_file")

    assert_frame_equal(events(a), events(b))
    assert_frame_equal(a.credentials.sort("access_key_id"), b.credentials.sort("access_key_id"))
    assert_frame_equal(a.resources.sort("arn"), b.resources.sort("arn"))
    assert_frame_equal(a.denied.drop("source_index").with_columns(
        pl.col("source_file").cast(pl.String)).sort("event_id"),
        b.denied.drop("source_index").with_columns(
        pl.col("source_file").cast(pl.String)).sort("event_id"))


def test_blast_radius_over_athena_equals_local(engine, local, capsys) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, **WINDOW)
    remote = fx.blast_radius(src, SEED, since=SINCE)
    here = fx.blast_radius(local, SEED, since=SINCE)
    same_radius(here, remote)
    assert here.credentials.height >= 4  # the sample's chain: minted, cross-account, created
    rounds = src.rounds
    assert len(rounds) >= 3 and rounds[-1].closure_keys == here.credentials.height
    assert all(r.bytes_scanned > 0 for r in rounds)
    shown = capsys.readouterr().err
    assert "round 1:" in shown and "bytes scanned" in shown
    # each round asks only for what is new
    ids = [r.query_id for r in rounds]
    assert len(set(ids)) == len(ids)
    sql = [run.sql for run in engine.runs[-len(rounds):]]
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
    def norm(df: pl.DataFrame) -> pl.DataFrame:
        return df.drop("source_index").with_columns(
            pl.col("source_file").cast(pl.String)).sort("event_id", "source_file")

    assert here.height > 0
    assert_frame_equal(norm(here), norm(remote))


def test_names_are_refused_over_athena(engine) -> None:
    src = athena.Source("athena://forensics.cloudtrail", engine=engine, progress=False, **WINDOW)
    with pytest.raises(fx.PrincipalError, match="access key id, a principal ARN"):
        src.closure("ci-deploy")
