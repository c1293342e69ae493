"""Conformance: every event of the external samples is loaded or accounted for, per source.

The expected counts are the external README's (and its stdlib ``count.py``'s): 4,429 events.
``count.py`` also serves as an independent reader here, to check that every duplicate the loader
drops is an identical record (same eventID, same content) and that collisions are kept.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import forensics as fx

EXPECTED = {
    "invictus-ir-aws_dataset": 2900,
    "otrf-security-datasets": 103,
    "panther-analysis": 490,
    "plaso": 6,
    "stratus-red-team": 310,
    "streamalert": 57,
    "traildiscover": 563,
}
#: Files that are not CloudTrail and must be reported as failures (the README says so).
NOT_EVENTS = {"traildiscover": {"docs/events.json"}}
#: Records found inside test-case wrappers (Panther rule tests, StreamAlert tests).
NESTED = {"panther-analysis": 463, "streamalert": 57}


@pytest.fixture(scope="module")
def trails(external) -> dict[str, fx.Trail]:
    return {src: fx.load(external / src, cache=False) for src in EXPECTED}


@pytest.fixture(scope="module")
def oracle(external) -> dict[str, list[dict]]:
    """Events per source as read by the external folder's own count.py (stdlib only)."""
    spec = importlib.util.spec_from_file_location("external_count", external / "count.py")
    count = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(count)
    out: dict[str, list[dict]] = {src: [] for src in EXPECTED}
    for path in sorted(external.rglob("*")):
        rel = path.relative_to(external).as_posix()
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        if not path.is_file() or "/" not in rel or rel in count.SKIP:
            continue
        if not name.endswith(count.PARSE_SUFFIXES):
            continue
        for doc in count.load_documents(str(path), Counter()):
            out[rel.split("/", 1)[0]].extend(ev for ev, _ in count.walk_container(doc, Counter()))
    return out


def _canon(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_every_event_is_loaded_or_accounted_for(trails, source):
    r = trails[source].report
    skipped = sum(r.records_skipped.values())
    assert r.records_loaded + r.duplicates_dropped + skipped == EXPECTED[source]
    assert r.records_read == r.records_loaded + r.duplicates_dropped
    assert len(trails[source]) == r.records_loaded
    failed = {Path(f.path).relative_to(Path(r.sources[0])).as_posix() for f in r.files_failed}
    assert failed == NOT_EVENTS.get(source, set())
    assert r.records_nested == NESTED.get(source, 0)


def test_the_not_cloudtrail_metadata_file_is_a_reported_failure(trails):
    (failure,) = trails["traildiscover"].report.files_failed
    assert failure.path.endswith("events.json")
    assert failure.reason.startswith("not CloudTrail")


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_duplicates_dropped_are_identical_records(trails, oracle, source):
    events = oracle[source]
    assert len(events) == EXPECTED[source]
    with_id = [e for e in events if e.get("eventID") is not None]
    distinct = {(str(e["eventID"]), _canon(e)) for e in with_id}
    assert trails[source].report.duplicates_dropped == len(with_id) - len(distinct)


def test_traildiscover_duplicates_are_the_same_capture_under_two_names(trails):
    r = trails["traildiscover"].report
    assert r.duplicates_dropped == 249 and r.id_collisions == 0
    assert any("duplicate record(s) dropped" in n for n in r.notes)


@pytest.mark.parametrize("source", ["panther-analysis", "streamalert"])
def test_differing_records_sharing_an_event_id_are_all_kept(trails, source):
    trail = trails[source]
    shared = (
        trail.events.filter(pl.col("event_id").is_not_null())
        .group_by("event_id")
        .len()
        .filter(pl.col("len") > 1)
        .sort("event_id")
    )
    assert shared.height > 0
    assert trail.report.id_collisions == shared.get_column("len").sum()
    for event_id, n in shared.rows():
        originals = trail.original(event_id)
        assert isinstance(originals, list) and len(originals) == n
        for a, b in itertools.combinations(originals, 2):
            assert _canon(a) != _canon(b)  # a kept collision is never an identical copy


def test_panther_hand_made_id_one_collides(trails):
    trail = trails["panther-analysis"]
    assert "1" in trail.report.id_collision_examples
    ones = trail.original("1")
    assert len(ones) == trail.events.filter(pl.col("event_id") == "1").height > 2


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_table_invariants(trails, source):
    ev = trails[source].events
    assert ev.schema == fx.EVENTS_SCHEMA
    assert ev.get_column("principal").null_count() == 0
    assert ev.get_column("source_file").null_count() == 0
    assert ev.get_column("source_index").null_count() == 0


def test_shapes_that_only_some_sources_have(trails):
    otrf = trails["otrf-security-datasets"]
    assert otrf.report.missing_event_time == 103 == otrf.report.event_time_fallback
    assert otrf.events.get_column("event_time").null_count() == 0  # @timestamp fallback
    sa = trails["streamalert"].events
    assert sa.filter(pl.col("event_category") == "Insight").height == 1
    plaso = trails["plaso"].events
    # the records' own eventTime (UTC), not the lookup items' local EventTime (+11:00)
    assert plaso.get_column("event_time").max().isoformat() == "2022-02-07T22:23:37+00:00"
    assert plaso.get_column("event_time").min().isoformat() == "2022-02-07T22:19:04+00:00"
    invictus = trails["invictus-ir-aws_dataset"].events
    assert (
        invictus.filter(pl.col("identity_type").is_null())
        .get_column("principal")
        .str.starts_with("service:")
        .all()
    )


def test_all_sources_in_one_load(external):
    trail = fx.load(external, cache=False)
    r = trail.report
    total = sum(EXPECTED.values())
    assert r.records_loaded + r.duplicates_dropped + sum(r.records_skipped.values()) == total
    assert [Path(f.path).name for f in r.files_failed] == ["events.json"]
