"""The fast decoder gives the same table as the reference normalizer, and the loader's parallel
reading and Parquet cache change nothing about the result."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
from forensics._schema import JSON_TEXT_COLUMNS
from forensics.ingest._fast import FastPathUnsupported, decode_records_file
from forensics.ingest._normalize import normalize_records
from forensics.sources._formats import extract_records

# one stable order of the columns that hold JSON text, compared as parsed JSON
_JSON = list(JSON_TEXT_COLUMNS)


def _parsed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).map_elements(
            lambda v: json.dumps(json.loads(v), sort_keys=True), return_dtype=pl.String
        )
        for c in _JSON
    )


def _records_files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*.json")):
        head = path.read_bytes()[:64].lstrip()
        if head.startswith(b'{"Records"'):
            out.append(path)
    return out


@pytest.mark.parametrize("pure_python", [False, True], ids=["C reader", "msgspec"])
def test_fast_path_matches_reference_on_external_records_files(external, pure_python, monkeypatch):
    if pure_python:
        monkeypatch.setenv("FORENSICS_PURE_PYTHON", "1")
    files = _records_files(external / "invictus-ir-aws_dataset")
    assert len(files) == 55
    used_fast = 0
    for path in files:
        data = path.read_bytes()
        try:
            fast = decode_records_file(data, str(path))
        except FastPathUnsupported:
            continue
        used_fast += 1
        ref = normalize_records(extract_records(data, str(path)).records, str(path))
        # JSON text differs only in number spelling (the fast path keeps the file's own text)
        assert_frame_equal(_parsed(fast), _parsed(ref))
    assert used_fast >= 50  # the S3-delivered files are what the fast path is for


def _record(i: int, **extra) -> dict:
    rec = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE000000001",
            "userName": "alice",
        },
        "eventTime": f"2024-03-05T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15",
        "requestParameters": {"bucketName": "b", "key": f"k{i}"},
        "responseElements": None,
        "eventID": f"00000000-0000-0000-0000-{i:012d}",
        "readOnly": True,
        "resources": [{"ARN": f"arn:aws:s3:::b/k{i}", "type": "AWS::S3::Object"}],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "111122223333",
        "tlsDetails": {"tlsVersion": "TLSv1.3"},
    }
    rec.update(extra)
    return rec


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(orjson.dumps({"Records": records}))


def _layout(root: Path, day: int, n: int) -> Path:
    return (
        root
        / f"AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2024/03/{day:02d}"
        / f"111122223333_CloudTrail_eu-west-1_202403{day:02d}T1000Z_{n:04d}.json.gz"
    )


def test_fast_path_falls_back_for_unknown_fields_and_odd_types(tmp_path):
    recs = [_record(1, brandNewField={"x": 1}), _record(2, readOnly="true")]
    data = orjson.dumps({"Records": recs})
    with pytest.raises(FastPathUnsupported):
        decode_records_file(data, "f.json")
    path = tmp_path / "f.json"
    path.write_bytes(data)
    trail = fx.load(path, cache=False)
    assert len(trail) == 2
    extra = orjson.loads(trail.events.get_column("extra")[0])
    assert extra["brandNewField"] == {"x": 1}  # nothing lost on the slow path either
    assert trail.events.get_column("read_only").to_list() == [True, True]


def test_odd_time_format_in_one_file_is_reread_by_the_reference_path(tmp_path):
    good = [_record(i) for i in range(5)]
    odd = [_record(i + 10, eventTime="2024-03-05T10:00:00.123+00:00") for i in range(3)]
    _write(_layout(tmp_path, 5, 1), good)
    _write(_layout(tmp_path, 5, 2), odd)
    trail = fx.load(tmp_path, cache=False, workers=1)
    assert len(trail) == 8
    assert trail.events.get_column("event_time").null_count() == 0


def _corpus(root: Path, files: int = 12, per_file: int = 400) -> None:
    n = 0
    for f in range(files):
        _write(_layout(root, 1 + f % 3, f), [_record(n + i) for i in range(per_file)])
        n += per_file


def test_parallel_and_sequential_reads_give_the_same_table(tmp_path):
    _corpus(tmp_path, files=10, per_file=1500)  # big enough to use worker processes
    one = fx.load(tmp_path, cache=False, workers=1).events
    two = fx.load(tmp_path, cache=False, workers=2).events
    assert one.height == 15000
    assert_frame_equal(one, two)
    assert one.get_column("event_time").is_sorted()


def test_worker_processes_share_the_reading_and_agree(tmp_path, monkeypatch):
    """The multi-process path itself (small test data would otherwise be read in-process)."""
    from forensics.ingest import _order, _parallel
    from forensics.sources._files import discover

    _corpus(tmp_path, files=30, per_file=200)
    monkeypatch.setattr(_parallel, "_MIN_PARALLEL_BYTES", 0)
    refs, _, _ = discover([tmp_path])
    chunks = _parallel._chunks(refs, 2)
    assert [r.path for c in chunks for r in c] == sorted(r.path for r in refs)  # each once
    delivered = _parallel._chunks(refs, 2, delivered=True)  # for a merge in time buckets
    assert [r.path for c in delivered for r in c] == sorted(
        (r.path for r in refs), key=_order.delivery_key
    )
    sizes = [sum(r.size for r in c) for c in chunks]
    assert sizes[0] >= sizes[-1] and len(chunks) >= 3  # big chunks first, small ones last
    results = _parallel.read_files(refs, max_file_bytes=2**31, workers=2)
    assert len({r.pid for r in results}) == 2  # this process and a worker both read
    assert sum(r.rows for r in results) == 6000
    two = fx.load(tmp_path, cache=False, workers=2).events
    assert_frame_equal(two, fx.load(tmp_path, cache=False, workers=1).events)


def test_relative_paths_after_a_change_of_folder(tmp_path, monkeypatch):
    """Worker processes outlive a load and keep the folder they started in; a notebook that
    changes folder and loads a relative path must still get every file (a bug: they were
    reported as 'disappeared while loading')."""
    from forensics.ingest import _parallel

    monkeypatch.setattr(_parallel, "_MIN_PARALLEL_BYTES", 0)
    first, second = tmp_path / "first", tmp_path / "second"
    _corpus(first / "trail", files=8, per_file=50)
    _corpus(second / "trail", files=12, per_file=50)
    monkeypatch.chdir(first)
    assert len(fx.load("trail", cache=False, workers=2)) == 400  # the pool starts here
    monkeypatch.chdir(second)
    trail = fx.load("trail", workers=2)  # relative data and relative cache parts
    assert not trail.report.files_failed
    assert len(trail) == 600
    again = fx.load("trail", workers=2)
    assert again.report.files_from_cache == 12 and len(again) == 600
    event_id = again.events.get_column("event_id")[0]
    monkeypatch.chdir(tmp_path)  # the original record is still found from elsewhere
    assert again.original(event_id)["eventID"] == event_id
    assert trail.original(event_id)["eventID"] == event_id


def test_cache_reopen_is_lazy_and_identical(tmp_path):
    data = tmp_path / "trail"
    _corpus(data)
    cold = fx.load(data, cache=False).events
    first = fx.load(data)
    assert (data / ".forensics-cache" / "index.json").exists()
    assert_frame_equal(first.events, cold)
    again = fx.load(data)
    assert again.report.files_from_cache == again.report.files_read == 12
    assert isinstance(again.lazy, pl.LazyFrame)
    assert_frame_equal(again.events, cold)


def test_cache_rereads_only_changed_and_added_files(tmp_path):
    data = tmp_path / "trail"
    _corpus(data, files=6, per_file=100)
    fx.load(data)
    # change one file, add one
    changed = sorted(data.rglob("*.json.gz"))[0]
    _write(changed, [_record(90_000 + i) for i in range(7)])
    os.utime(changed, ns=(1, 1))
    _write(_layout(data, 9, 99), [_record(95_000 + i) for i in range(3)])
    trail = fx.load(data)
    assert trail.report.files_from_cache == 5
    assert trail.report.files_read == 7
    assert len(trail) == 5 * 100 + 7 + 3
    assert_frame_equal(trail.events, fx.load(data, cache=False).events)


def test_cache_false_writes_nothing(tmp_path):
    data = tmp_path / "trail"
    _corpus(data, files=2, per_file=10)
    fx.load(data, cache=False)
    assert not (data / ".forensics-cache").exists()


def test_unwritable_cache_folder_is_a_note_not_a_failure(tmp_path):
    data = tmp_path / "trail"
    _corpus(data, files=2, per_file=10)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    trail = fx.load(data, cache_dir=blocker / "cache")
    assert len(trail) == 20
    assert any("no cache" in n for n in trail.report.notes)


def test_load_works_from_a_script_without_main_guard(tmp_path):
    """Worker processes must not re-run the caller's script."""
    import subprocess
    import sys

    data = tmp_path / "trail"
    _corpus(data, files=10, per_file=1500)
    script = tmp_path / "script.py"
    script.write_text(
        "import forensics as fx\n"
        f"t = fx.load({str(data)!r}, cache=False, workers=2)\n"
        "print('EVENTS', len(t))\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.count("EVENTS 15000") == 1, out.stderr


def test_copy_of_a_trail_elsewhere_dedupes_exactly(tmp_path):
    """Organisation trail + account trail: the same events twice are kept once."""
    a = tmp_path / "org"
    _corpus(a, files=3, per_file=50)
    b = tmp_path / "acct"
    shutil.copytree(a, b)
    trail = fx.load(a, b, cache=False)
    assert len(trail) == 150
    assert trail.report.duplicates_dropped == 150


def test_resources_shapes_agree_between_decoders():
    recs = [
        _record(1),
        _record(2, resources=[]),
        {k: v for k, v in _record(3).items() if k != "resources"},
        _record(4, resources=[{"ARN": "arn:aws:s3:::a"}, {"accountId": "1", "type": "T"}]),
    ]
    data = orjson.dumps({"Records": recs})
    fast = decode_records_file(data, "f.json")
    ref = normalize_records(recs, "f.json")
    assert_frame_equal(fast, ref)
    assert fast.get_column("resources").to_list()[1:3] == [[], None]


def test_null_valued_extra_fields_are_kept_by_both_decoders():
    recs = [_record(1, tlsDetails=None), _record(2)]
    data = orjson.dumps({"Records": recs})
    fast = decode_records_file(data, "f.json")
    ref = normalize_records(recs, "f.json")
    assert fast.get_column("extra").to_list() == ref.get_column("extra").to_list()
    assert orjson.loads(fast.get_column("extra")[0]) == {"tlsDetails": None}


@pytest.mark.parametrize(
    "field", ["requestParameters", "userIdentity", "tlsDetails", "additionalEventData"]
)
@pytest.mark.parametrize("workers", [1, 2])
def test_invalid_utf8_inside_a_json_value_neither_crashes_nor_loses_rows(
    tmp_path, monkeypatch, field, workers
):
    """Regression: invalid UTF-8 bytes inside a value the fast path keeps as JSON text made
    Polars raise "invalid utf8" and sank the whole load. That file is now read by the reference
    normalizer (bytes replaced by U+FFFD, with a note); every other row is kept as is."""
    from forensics.ingest import _parallel

    monkeypatch.setattr(_parallel, "_MIN_PARALLEL_BYTES", 0)
    _corpus(tmp_path, files=4, per_file=50)
    recs = [_record(1000 + i) for i in range(3)]
    recs[1].pop(field, None)
    value = {
        "requestParameters": b'{"bucketName":"b\xff\xfe"}',
        "userIdentity": b'{"type":"IAMUser","userName":"al\xffce"}',
        "tlsDetails": b'{"tlsVersion":"TLS\xff"}',
        "additionalEventData": b'{"x":"\xc3"}',
    }[field]
    marker = b'"eventID":"' + recs[1]["eventID"].encode() + b'"'
    raw = orjson.dumps({"Records": recs})
    raw = raw.replace(marker, marker + b',"' + field.encode() + b'":' + value)
    bad = tmp_path / "AWSLogs/zz-bad.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(raw)
    trail = fx.load(tmp_path, cache=False, workers=workers)
    assert len(trail) == 4 * 50 + 3
    assert trail.report.files_failed == []
    assert any("U+FFFD" in note for note in trail.report.notes)
    row = trail.events.filter(pl.col("event_id") == recs[1]["eventID"])
    assert row.height == 1
    text = json.dumps(row.row(0, named=True), default=str)
    assert "\\ufffd" in text  # the bad bytes, visibly replaced


def test_rows_are_ordered_by_time_then_file_then_position(tmp_path, monkeypatch):
    """Equal times are ordered by file path, then by position in the file, whatever order the
    files were read in (the worker processes start early here: many files)."""
    from forensics.ingest import _loader, _parallel

    monkeypatch.setattr(_parallel, "_MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(_loader, "_PRESTART_FILES", 1)
    for f in range(12):
        # three distinct times only, repeated across files and within each file
        recs = [_record(i % 3) for i in range(6)]
        for i, rec in enumerate(recs):
            rec["eventID"] = f"id-{f:02d}-{i}"
        _write(_layout(tmp_path, 1 + f % 3, 11 - f), recs)
    for workers in (1, 2):
        ev = fx.load(tmp_path, cache=False, workers=workers).events
        keys = list(
            zip(
                ev.get_column("event_time").to_list(),
                ev.get_column("source_file").cast(pl.String).to_list(),
                ev.get_column("source_index").to_list(),
                strict=True,
            )
        )
        assert keys == sorted(keys) and len(keys) == 72


def test_kept_heap_restores_after_errors_and_nests():
    """The reader's glibc heap settings (forensics.ingest._heap) are undone when the last
    reader leaves, even when it leaves by an exception."""
    from forensics.ingest import _heap

    with pytest.raises(RuntimeError), _heap.kept_heap(), _heap.kept_heap():
        assert _heap._USERS[0] == (2 if _heap._LIBC is not None else 0)
        raise RuntimeError("a corrupt file")
    assert _heap._USERS[0] == 0
