"""The same event read twice appears once; differing records sharing an eventID are all kept;
``trail.original()`` gives each record back exactly as it was in its file."""

from __future__ import annotations

import copy
import gzip
import json

import polars as pl
import pytest
from _loader_helpers import record, s3_path, write_json, write_lines

import forensics as fx


def test_org_trail_and_account_trail_copies_appear_once(tmp_path):
    records = [record(i) for i in range(5)]
    write_json(s3_path(tmp_path / "org", org="o-abc123def4"), {"Records": records}, gz=True)
    write_json(s3_path(tmp_path / "acct"), {"Records": records[2:]}, gz=True)
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 5
    assert trail.report.duplicates_dropped == 3
    assert trail.report.id_collisions == 0
    assert trail.events.get_column("event_id").is_unique().all()


def test_key_order_and_whitespace_do_not_make_a_copy_differ(tmp_path):
    rec = record(1)
    reordered = dict(reversed(list(rec.items())))
    write_json(tmp_path / "a.json", [rec])
    (tmp_path / "b.jsonl").write_text(json.dumps(reordered, indent=None, separators=(", ", ": ")))
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 1 and trail.report.duplicates_dropped == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(readOnly="true"),  # the same value in the table, not in the file
        lambda r: r["userIdentity"].update(onBehalfOf={"userId": "u-1"}),  # no column for it
        lambda r: r["userIdentity"].update(credentialId="c-1"),
        lambda r: r.update(eventTime="2024-03-05T10:00:01.000Z"),  # same instant, other text
        lambda r: r["resources"][0].update(accountId=None),
        lambda r: r["requestParameters"].update(n=1.0),
    ],
    ids=["readOnly-type", "onBehalfOf", "credentialId", "time-text", "resources", "int-vs-float"],
)
def test_records_sharing_an_event_id_but_differing_are_all_kept(tmp_path, change):
    base = record(1, resources=[{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}])
    other = copy.deepcopy(base)
    change(other)
    assert json.dumps(other) != json.dumps(base)
    write_json(tmp_path / "a.json", [base])
    write_json(tmp_path / "b.json", [other])
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 2
    assert trail.report.duplicates_dropped == 0
    assert trail.report.id_collisions == 2
    assert trail.report.id_collision_examples == [base["eventID"]]
    assert trail.original(base["eventID"]) == [base, other]


def test_records_without_event_id_are_never_deduplicated(tmp_path):
    rec = record(1)
    del rec["eventID"]
    write_json(tmp_path / "a.json", [rec, rec])
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 2 and trail.report.duplicates_dropped == 0


def test_duplicate_kept_is_the_first_copy_and_the_report_names_both(tmp_path):
    rec = record(7)
    first = write_json(tmp_path / "1-first.json", [rec])
    second = write_json(tmp_path / "2-second.json", [record(8), rec])
    trail = fx.load(tmp_path, cache=False)
    row = trail.events.filter(pl.col("event_id") == rec["eventID"])
    assert row.get_column("source_file").cast(str).item() == str(first)
    (note,) = [n for n in trail.report.notes if "duplicate" in n]
    assert str(first) in note and str(second) in note


# -- original() ---------------------------------------------------------------------------------


def _check_original(trail: fx.Trail, rec: dict) -> None:
    got = trail.original(rec["eventID"])
    assert got == rec
    assert json.dumps(got) == json.dumps(rec)  # same keys in the same order, same types


def test_original_from_gzip_s3_file(tmp_path):
    recs = [record(i, weird={"nested": [1, 2.5, None, True]}) for i in range(3)]
    write_json(s3_path(tmp_path), {"Records": recs}, gz=True)
    trail = fx.load(tmp_path, cache=False)
    for rec in recs:
        _check_original(trail, rec)


def test_original_from_ndjson(tmp_path):
    recs = [record(i, readOnly="true") for i in range(3)]
    write_lines(tmp_path / "x.ndjson.gz", recs, gz=True)
    trail = fx.load(tmp_path, cache=False)
    _check_original(trail, recs[2])


def test_original_from_lookup_events_string(tmp_path):
    rec = record(1)
    write_lines(
        tmp_path / "lookup.jsonl",
        [
            {"EventId": "junk", "EventName": "x", "CloudTrailEvent": json.dumps(record(0))},
            {"EventId": rec["eventID"], "CloudTrailEvent": json.dumps(rec)},
        ],
    )
    trail = fx.load(tmp_path, cache=False)
    _check_original(trail, rec)


def test_original_from_a_nested_wrapper(tmp_path):
    rec = record(3)
    write_json(
        tmp_path / "rule.json",
        {
            "RuleID": "x",
            "Tests": [
                {"Name": "a", "Log": record(2)},
                {"Name": "b", "Mocks": [{"k": "v"}], "Log": rec},
            ],
        },
    )
    trail = fx.load(tmp_path, cache=False)
    _check_original(trail, rec)


def test_original_unknown_id_and_changed_file(tmp_path):
    path = write_json(tmp_path / "x.json.gz", {"Records": [record(1)]}, gz=True)
    trail = fx.load(tmp_path, cache=False)
    with pytest.raises(KeyError):
        trail.original("nope")
    path.write_bytes(gzip.compress(b'{"Records": []}'))
    with pytest.raises(fx.LoadError, match="changed or moved"):
        trail.original(record(1)["eventID"])


def test_copies_in_records_files_that_differ_only_in_bytes_are_still_duplicates(tmp_path):
    recs = [record(i) for i in range(3)]
    compact = json.dumps({"Records": recs}, separators=(",", ":"))
    spaced = json.dumps({"Records": [dict(reversed(list(r.items()))) for r in recs]}, indent=1)
    (tmp_path / "a.json").write_text(compact)
    (tmp_path / "b.json").write_text(spaced)
    changed = copy.deepcopy(recs)
    changed[1]["sourceIPAddress"] = "203.0.113.9"  # a tampered copy: kept
    (tmp_path / "c.json").write_text(json.dumps({"Records": changed}, separators=(",", ":")))
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 4
    assert trail.report.duplicates_dropped == 5
    assert trail.report.id_collisions == 2
    assert trail.original(recs[1]["eventID"]) == [recs[1], changed[1]]
