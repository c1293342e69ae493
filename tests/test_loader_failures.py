"""The failure matrix: every bad file is reported (path + reason) and every other file loads."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import polars as pl
import pytest
from _loader_helpers import record, write_json, write_lines

import forensics as fx
from forensics.sources import _formats

CONFIG_SNAPSHOT = {
    "fileVersion": "1.0",
    "configSnapshotId": "c0ffee",
    "configurationItems": [
        {
            "configurationItemVersion": "1.3",
            "awsAccountId": "111122223333",
            "resourceType": "AWS::S3::Bucket",
            "resourceId": "b",
            "awsRegion": "eu-west-1",
            "configuration": {"name": "b"},
            "relatedEvents": [],
        }
    ],
}


def _bad_files(root: Path) -> dict[str, str]:
    """Write one file of each bad kind; return name -> a word its reason must contain."""
    good = gzip.compress(json.dumps({"Records": [record(i) for i in range(50)]}).encode())
    (root / "truncated.json.gz").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[20:30] = b"\x00" * 10
    (root / "corrupt.json.gz").write_bytes(bytes(corrupt))
    (root / "invalid.json").write_text('{"Records": [{"eventName": "x",')
    (root / "pretty-truncated.json").write_text(
        json.dumps({"Records": [record(1)]}, indent=2)[:-40]
    )
    write_json(root / "config.json", CONFIG_SNAPSHOT)
    (root / "empty.json").write_bytes(b"")
    (root / "blank.jsonl").write_text("\n \n")
    return {
        "truncated.json.gz": "truncated gzip",
        "corrupt.json.gz": "gzip",
        "invalid.json": "invalid JSON",
        "pretty-truncated.json": "invalid JSON",
        "config.json": "AWS Config snapshot",
        "empty.json": "empty file",
        "blank.jsonl": "empty file",
    }


def test_each_bad_file_is_reported_and_every_other_file_loads(tmp_path):
    expected = _bad_files(tmp_path)
    write_json(tmp_path / "good.json", {"Records": [record(1), record(2)]})
    write_lines(tmp_path / "good.jsonl.gz", [record(3)], gz=True)
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 3
    failed = {Path(f.path).name: f.reason for f in trail.report.files_failed}
    assert set(failed) == set(expected)
    for name, word in expected.items():
        assert word in failed[name], (name, failed[name])
    assert trail.report.files_read == 2
    assert trail.report.files_seen == 2 + len(expected)
    text = str(trail.report)
    for name in expected:
        assert f"FAILED {tmp_path / name}:" in text


@pytest.mark.parametrize("name", ["truncated.json.gz", "invalid.json", "config.json", "empty.json"])
def test_strict_raises_naming_the_file(tmp_path, name):
    _bad_files(tmp_path)
    with pytest.raises(fx.CorruptFileError) as err:
        fx.load(tmp_path / name, cache=False, strict=True)
    assert err.value.path == str(tmp_path / name)
    assert str(tmp_path / name) in str(err.value)
    assert isinstance(err.value, fx.LoadError)


def test_strict_raises_for_skipped_records_naming_the_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record(1)) + "\n" + json.dumps(record(2)) + "\n" + '{"eventNa')
    trail = fx.load(path, cache=False)
    assert len(trail) == 2
    assert trail.report.records_skipped == {
        "JSON-lines line that is not valid JSON (the last line: a truncated write?)": 1
    }
    with pytest.raises(fx.LoadError, match=str(path)):
        fx.load(path, cache=False, strict=True)


def test_permission_denied_is_reported(tmp_path, monkeypatch):
    write_json(tmp_path / "good.json", [record(1)])
    locked = write_json(tmp_path / "locked.json", [record(2)])
    real_open = _formats._open_regular  # how the reader opens files (regular files only)

    def fake_open(path, *args, **kwargs):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    # simulated: the suite may run as root, where chmod 000 denies nothing
    monkeypatch.setattr(_formats, "_open_regular", fake_open)
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 1
    (failure,) = trail.report.files_failed
    assert failure.path == str(locked) and "permission denied" in failure.reason


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="running as root: chmod 000 does not deny root (simulated above)",
)
def test_permission_denied_for_real(tmp_path):
    write_json(tmp_path / "good.json", [record(1)])
    locked = write_json(tmp_path / "locked.json", [record(2)])
    locked.chmod(0)
    try:
        trail = fx.load(tmp_path, cache=False)
    finally:
        locked.chmod(0o600)
    assert len(trail) == 1
    assert "permission denied" in trail.report.files_failed[0].reason


def test_decompression_bomb_is_stopped_by_the_size_cap(tmp_path):
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb") as fh:  # ~60 KB on disk, 64 MiB inflated
        chunk = b" " * (1024 * 1024)
        for _ in range(64):
            fh.write(chunk)
    assert bomb.stat().st_size < 1024 * 1024
    write_json(tmp_path / "good.json", [record(1)])
    trail = fx.load(tmp_path, cache=False, max_file_bytes=8 * 1024 * 1024)
    assert len(trail) == 1
    (failure,) = trail.report.files_failed
    assert failure.path == str(bomb)
    assert "max_file_bytes" in failure.reason and "8,388,608" in failure.reason


def test_plain_file_above_the_cap_is_refused(tmp_path):
    big = write_json(tmp_path / "big.json", [record(i) for i in range(200)])
    trail = fx.load(big, cache=False, max_file_bytes=1000)
    assert "max_file_bytes" in trail.report.files_failed[0].reason


def test_missing_path_and_nothing_to_load(tmp_path):
    write_json(tmp_path / "good.json", [record(1)])
    trail = fx.load(tmp_path, tmp_path / "nope", cache=False)
    assert len(trail) == 1
    assert "no such file" in trail.report.files_failed[0].reason
    with pytest.raises(fx.LoadError, match="nope"):
        fx.load(tmp_path / "nope", cache=False)


def test_records_without_event_time_use_timestamp_fallback_and_are_counted(tmp_path):
    no_time = record(1)
    del no_time["eventTime"]
    no_time["@timestamp"] = "2020-09-14T01:00:38.123Z"
    nothing = record(2)
    del nothing["eventTime"]
    garbled = record(3, eventTime="yesterday-ish")
    write_json(tmp_path / "x.json", [no_time, nothing, garbled, record(4)])
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 4  # all kept
    r = trail.report
    assert (r.missing_event_time, r.event_time_fallback, r.unparsed_event_time) == (2, 1, 2)
    times = dict(
        trail.events.select(
            pl.col("request_parameters").str.json_path_match("$.n").cast(int), "event_time"
        ).rows()
    )
    assert times[1].isoformat() == "2020-09-14T01:00:38.123000+00:00"
    assert times[2] is None and times[3] is None
    assert "2 have no usable time" in str(r)


def test_an_unexpected_reader_error_fails_only_that_file(tmp_path, monkeypatch):
    write_json(tmp_path / "a.json", [record(1)])
    write_json(tmp_path / "b.json", [record(2)])
    real = _formats.extract_records

    def flaky(data, path, **kwargs):
        if path.endswith("b.json"):
            raise RuntimeError("boom")
        return real(data, path, **kwargs)

    monkeypatch.setattr("forensics.ingest._read.extract_records", flaky)
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 1
    assert "RuntimeError: boom" in trail.report.files_failed[0].reason


def test_a_bomb_inside_a_cloudwatch_logs_payload_is_stopped_too(tmp_path):
    import base64

    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (16 * 1024 * 1024) + b"]")).decode()
    write_json(tmp_path / "lambda.json", {"awslogs": {"data": bomb}})
    write_json(tmp_path / "good.json", [record(1)])
    trail = fx.load(tmp_path, cache=False, max_file_bytes=4 * 1024 * 1024)
    assert len(trail) == 1
    (reason,) = trail.report.records_skipped
    assert reason.startswith("awslogs.data that cannot be read") and "max_file_bytes" in reason


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path, monkeypatch):
    write_json(tmp_path / "ok" / "a.json", [record(1)])
    write_json(tmp_path / "locked" / "b.json", [record(2)])
    real_scandir = os.scandir

    def fake_scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)  # simulated: the suite may run as root
    trail = fx.load(tmp_path, cache=False)
    assert len(trail) == 1
    (failure,) = trail.report.files_failed
    assert failure.path == str(tmp_path / "locked")
    assert failure.reason == "cannot list folder: Permission denied"
