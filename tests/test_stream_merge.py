"""A trail bigger than the memory budget is merged from the cache parts one time bucket at a
time; the table it gives is the in-memory merge's, row for row (here: tiny budgets)."""

from __future__ import annotations

import copy
import itertools
import random

import polars as pl
import pyarrow.parquet as pq
import pytest
from _loader_helpers import record, s3_path, write_json, write_lines

import forensics as fx
from forensics._errors import LoadError
from forensics.ingest import _loader, _stream

#: A budget so small that any trail streams (capped below at 100 rows a bucket).
TINY = "16K"


def _trail(
    root,
    *,
    seed: int = 3,
    days: int = 6,
    per_file: int = 40,
    files_per_day: int = 5,
    hours: int = 24,
):
    """Files over several days and regions, times out of order inside files, repeated times.
    ``hours`` < 24: file ``f`` of a day holds times from hour ``4 f`` to ``4 f + hours`` (files
    as CloudTrail delivers them: each a time range of its own, a little overlap)."""
    rng = random.Random(seed)
    n = 0
    for day in range(1, days + 1):
        for f in range(files_per_day):
            region = ["eu-west-1", "us-east-1"][f % 2]
            recs = []
            for _ in range(per_file):
                n += 1
                minute, second = rng.randrange(60), rng.randrange(3) * 20  # many equal times
                recs.append(
                    record(
                        n,
                        eventTime=f"2024-03-{day:02d}T"
                        f"{rng.randrange(24) if hours >= 24 else 4 * f + rng.randrange(hours):02d}:"
                        f"{minute:02d}:{second:02d}Z",
                        awsRegion=region,
                    )
                )
            write_json(
                s3_path(root, f"2024/03/{day:02d}", region=region, name=f"f{f}"),
                {"Records": recs},
                gz=True,
            )
    return n


def _both(tmp_path, *paths, **options):
    """The same load merged in memory and in bounded memory (separate caches)."""
    memory = fx.load(*paths, cache_dir=tmp_path / "c-mem", **options)
    streamed = fx.load(*paths, cache_dir=tmp_path / "c-stream", memory_budget=TINY, **options)
    return memory, streamed


def _report(trail) -> dict:
    doc = trail.report.to_dict()
    for key in ("seconds", "worker_peak_rss_mb"):
        doc.pop(key, None)
    doc["notes"] = [n for n in doc["notes"] if not n.startswith("merged in bounded memory")]
    return doc


@pytest.mark.parametrize(("kept_run", "hours"), [(4096, 24), (1, 24), (1, 5), (4, 5)])
def test_streamed_merge_gives_the_in_memory_table(tmp_path, monkeypatch, kept_run, hours):
    """Also with files that each cover a time range of their own (``hours``) and rows kept in
    place in runs as short as one row: the sorted parts' rows are moved only where parts
    overlap in time (forensics.ingest._order.reorder)."""
    from forensics.ingest import _order

    monkeypatch.setattr(_order, "_MIN_KEPT_RUN", kept_run)
    n = _trail(tmp_path / "data", hours=hours)
    memory, streamed = _both(tmp_path, tmp_path / "data")
    assert any(note.startswith("merged in bounded memory") for note in streamed.report.notes)
    assert streamed._collected is None  # a lazy scan of the cache, not a table in memory
    assert len(memory) == len(streamed) == n
    assert memory.events.equals(streamed.events)
    assert _report(memory) == _report(streamed)


def test_streamed_table_is_time_sorted_segments_whose_row_groups_prune_by_time(tmp_path):
    _trail(tmp_path / "data", days=8)
    streamed = fx.load(tmp_path / "data", cache_dir=tmp_path / "c", memory_budget=TINY)
    segments = sorted((tmp_path / "c" / "merged").glob("*-0*.parquet"))
    assert len(segments) > 1
    ranges = []
    for segment in segments:
        meta = pq.ParquetFile(segment).metadata
        col = meta.schema.to_arrow_schema().get_field_index("event_time")
        ranges += [
            (
                meta.row_group(i).column(col).statistics.min,
                meta.row_group(i).column(col).statistics.max,
            )
            for i in range(meta.num_row_groups)
        ]
    assert len(ranges) > len(segments)  # several row groups a segment
    assert all(lo <= hi for lo, hi in ranges)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))
    assert streamed.events.get_column("event_time").is_sorted()
    day = streamed.between("2024-03-03", "2024-03-04").events
    assert day.height and day.get_column("event_time").dt.day().unique().to_list() == [3]


def test_a_damaged_segment_is_dropped_and_the_files_read_again(tmp_path):
    _trail(tmp_path / "data", days=3)
    first = fx.load(tmp_path / "data", cache_dir=tmp_path / "c", memory_budget=TINY).events
    segment = sorted((tmp_path / "c" / "merged").glob("*-0*.parquet"))[1]
    segment.write_bytes(segment.read_bytes()[:100])
    again = fx.load(tmp_path / "data", cache_dir=tmp_path / "c", memory_budget=TINY)
    assert any("damaged" in note for note in again.report.notes)
    assert again.events.equals(first)


def test_duplicates_and_collisions_are_settled_as_in_memory(tmp_path):
    root = tmp_path / "data"
    _trail(root, days=3)
    records = [record(10_000 + i, eventTime=f"2024-03-02T0{i}:00:00Z") for i in range(6)]
    write_json(
        s3_path(root / "org", "2024/03/02", org="o-abc123def4"), {"Records": records}, gz=True
    )
    write_json(s3_path(root, "2024/03/02", name="copy"), {"Records": records[2:]}, gz=True)
    other = copy.deepcopy(records[0])
    other["requestParameters"] = {"n": -1}  # same eventID, other content: a collision
    write_lines(root / "extra" / "collide.jsonl", [other])
    memory, streamed = _both(tmp_path, root)
    assert memory.report.duplicates_dropped == 4
    assert memory.report.id_collisions == 2
    assert memory.events.equals(streamed.events)
    assert _report(memory) == _report(streamed)


def test_window_and_unparsed_times_as_in_memory(tmp_path):
    root = tmp_path / "data"
    _trail(root, days=5)
    bad = [record(20_000 + i, eventTime="not a time") for i in range(3)]
    write_lines(root / "extra" / "bad.jsonl", bad)
    memory, streamed = _both(tmp_path, root)
    assert memory.report.unparsed_event_time == 3
    assert memory.events.equals(streamed.events)  # rows without a time: last, in both
    assert streamed.events.get_column("event_time").tail(3).null_count() == 3
    assert _report(memory) == _report(streamed)
    w_memory, w_streamed = _both(tmp_path / "w", root, start="2024-03-02", end="2024-03-04")
    assert 0 < len(w_memory) < len(memory)
    assert w_memory.events.equals(w_streamed.events)
    assert w_memory.report.outside_window == w_streamed.report.outside_window > 0


def test_streamed_cache_reopens_and_reloads_only_what_changed(tmp_path):
    root = tmp_path / "data"
    n = _trail(root, days=4)
    first = fx.load(root, cache_dir=tmp_path / "c", memory_budget=TINY)
    again = fx.load(root, cache_dir=tmp_path / "c", memory_budget=TINY)
    assert again.report.files_from_cache == again.report.files_read
    assert again.events.equals(first.events)
    write_json(s3_path(root, "2024/03/09", name="new"), {"Records": [record(99_999)]}, gz=True)
    grown = fx.load(root, cache_dir=tmp_path / "c", memory_budget=TINY)
    assert len(grown) == n + 1
    fresh = fx.load(root, cache=False)
    assert grown.events.equals(fresh.events)


def test_principal_filter_on_a_streamed_trail(tmp_path):
    root = tmp_path / "data"
    _trail(root, days=3)
    write_json(
        s3_path(root, "2024/03/02", name="bob"),
        {
            "Records": [
                record(
                    50_000,
                    userIdentity={
                        "type": "IAMUser",
                        "principalId": "AIDABOB",
                        "accountId": "111122223333",
                        "arn": "arn:aws:iam::111122223333:user/bob",
                        "userName": "bob",
                        "accessKeyId": "AKIABOBKEY0000000001",
                    },
                )
            ]
        },
        gz=True,
    )
    memory, streamed = _both(tmp_path, root)
    a = memory.for_principal("bob").events
    b = streamed.for_principal("bob").events
    assert a.height == 1 and a.equals(b)


def test_no_cache_and_too_big_for_memory_is_refused_before_reading(tmp_path, monkeypatch):
    _trail(tmp_path / "data", days=1)
    monkeypatch.setattr(_stream, "available_memory", lambda: 10)
    read = []
    monkeypatch.setattr(_loader, "read_files", lambda *a, **k: read.append(1) or [])
    with pytest.raises(LoadError, match=r"too big to load without a cache.*cache_dir="):
        fx.load(tmp_path / "data", cache=False)
    assert not read


@pytest.mark.parametrize("bad", ["lots", "-1G", "0"])
def test_a_bad_memory_budget_is_named(tmp_path, bad):
    _trail(tmp_path / "data", days=1)
    with pytest.raises(LoadError, match="memory budget"):
        fx.load(tmp_path / "data", cache=False, memory_budget=bad)


def test_budget_parsing():
    assert _stream.memory_budget(4096) <= 4096
    assert _stream.memory_budget("2G") == min(2 * 1024**3, _stream.available_memory() or 1 << 62)
    assert _stream.memory_budget("1.5kb") == 1536


def test_bucket_bounds_never_split_a_time_value():
    times = pl.Series([1, 1, 1, 2, 3, 3, 4, 5, 5, 5]).cast(pl.Datetime("us", "UTC"))
    bounds = _stream._bucket_bounds(times, 2)
    assert bounds == sorted(set(bounds))
    assert times.min() == bounds[0]
    starts = set(bounds)
    # every bucket starts at a time value; equal values are in one bucket by construction
    assert starts <= set(times.to_list())


def _with_day_key(root):
    """The trail plus a session key used on one day only (as temporary keys are)."""
    _trail(root, days=6)
    ident = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:s",
        "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/Ops/s",
        "accessKeyId": "ASIADAYKEY0000000001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/Ops",
                "userName": "Ops",
                "principalId": "AROAEXAMPLE",
                "accountId": "111122223333",
            }
        },
    }
    recs = [
        record(70_000 + i, eventTime=f"2024-03-04T05:{i:02d}:00Z", userIdentity=ident)
        for i in range(5)
    ]
    write_json(s3_path(root, "2024/03/04", name="day"), {"Records": recs}, gz=True)
    return "ASIADAYKEY0000000001"


def test_a_key_selection_scans_only_the_segments_holding_it(tmp_path):
    key = _with_day_key(tmp_path / "data")
    memory, streamed = _both(tmp_path, tmp_path / "data")
    fx.load(tmp_path / "data", cache_dir=tmp_path / "c-b", memory_budget=TINY)
    reopened = fx.load(tmp_path / "data", cache_dir=tmp_path / "c-b", memory_budget=TINY)
    assert reopened.report.files_from_cache == reopened.report.files_read
    for trail in (streamed, reopened):  # as merged, and as re-opened from the cache
        segments = trail._segments
        assert segments is not None and len(segments.paths) > 3
        holding = segments.holding({"access_key_id": [key]})
        assert holding and len(holding) < len(segments.paths)
        # the other segments are not read at all: damage them, the selection still works
        for path in set(segments.paths) - set(holding):
            with open(path, "r+b") as handle:
                handle.write(b"not parquet")
        expected = memory.where(access_key_id=key).events
        assert expected.height == 5
        assert trail.where(access_key_id=key).events.equals(expected)
        assert trail.for_principal(key).events.equals(memory.for_principal(key).events)
        assert segments.holding({"access_key_id": ["ASIANOTHERE000000000"]}) == []
        assert len(trail.where(access_key_id="ASIANOTHERE000000000")) == 0
        assert segments.holding({"event_name": ["x"]}) is None  # not indexed: scan them all


def test_selection_by_principal_and_derived_keys_equals_in_memory(tmp_path):
    _with_day_key(tmp_path / "data")
    memory, streamed = _both(tmp_path, tmp_path / "data")
    for who in ("alice", "arn:aws:iam::111122223333:role/Ops"):
        for derived in (False, True):
            a = memory.for_principal(who, derived=derived).events
            b = streamed.for_principal(who, derived=derived).events
            assert a.height and a.equals(b), (who, derived)
    filtered = streamed.between("2024-03-04", "2024-03-05")  # filtered first: no narrowing
    assert filtered.where(principal="alice").events.equals(
        memory.between("2024-03-04", "2024-03-05").where(principal="alice").events
    )


def test_progress_bars_show_when_asked_and_never_when_refused(tmp_path, capsys):
    _trail(tmp_path / "data", days=2)
    fx.load(tmp_path / "data", cache_dir=tmp_path / "c", memory_budget=TINY, progress=True)
    shown = capsys.readouterr().err
    assert "reading the trail" in shown and "merging the trail" in shown
    fx.load(tmp_path / "data", cache_dir=tmp_path / "c2", memory_budget=TINY, progress=False)
    assert "trail" not in capsys.readouterr().err


def test_identities_needing_other_records_are_linked_as_in_memory(tmp_path):
    """The golden records of the two Identity Center forms and the cross-account copies, among
    enough other events to stream: the links (name -> id, owner's copy -> caller) are made from
    the whole trail in both merges."""
    import json
    from pathlib import Path

    golden = Path(__file__).parent / "golden" / "identity" / "cross_account_and_forms.json"
    records = json.loads(golden.read_text())["records"]
    root = tmp_path / "data"
    _trail(root, days=3)
    for i, rec in enumerate(records):  # one file each: the links span files (and buckets)
        write_lines(root / "golden" / f"g{i}.jsonl", [rec])
    memory, streamed = _both(tmp_path, root)
    assert memory.events.equals(streamed.events)
    ids = set(memory.where(event_id=[r["eventID"] for r in records]).events["principal"])
    assert len(ids) < len(records)  # linking merged some principals
