"""The Parquet cache shared by processes: locking, pruning what no index names.

The bug this guards against: a second load pruned the parts the first was about to read
(``FileNotFoundError`` in the first), because each pruned by its own view of the index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _loader_helpers import record, s3_path, write_json

import forensics as fx
from forensics.ingest._cache import Cache
from forensics.ingest._loader import wait_for_cache

_REPO = Path(__file__).resolve().parents[1]


def _trail(root: Path, files: int = 24, per_file: int = 20) -> int:
    for f in range(files):
        recs = [record(f * per_file + i) for i in range(per_file)]
        write_json(s3_path(root, name=f"{f:03d}"), {"Records": recs}, gz=True)
    return files * per_file


def test_a_load_waits_while_another_holds_the_folder_lock(tmp_path):
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    expected = _trail(data)
    loaded: list[fx.Trail] = []
    holder = Cache(cache_dir)
    with holder.locked():
        waiter = threading.Thread(
            target=lambda: loaded.append(fx.load(data, cache_dir=cache_dir, workers=1))
        )
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive(), "a load wrote the cache while another process held its lock"
    waiter.join(60)
    assert not waiter.is_alive()
    assert len(loaded[0]) == expected
    again = fx.load(data, cache_dir=cache_dir, workers=1)
    assert again.report.files_from_cache == again.report.files_read == 24
    assert len(again) == expected


_CHILD = """
import sys, json
sys.path.insert(0, {repo!r})
import forensics as fx
trail = fx.load({data!r}, cache_dir={cache!r}, start={start!r}, workers=1)
print(json.dumps({{"count": len(trail), "failed": len(trail.report.files_failed)}}))
"""


def test_concurrent_loads_of_one_folder_all_succeed(tmp_path):
    """Different windows mean different merged tables and parts, written at the same time."""
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    _trail(data, files=40, per_file=30)  # event n at 10:MM:SS, n = 0..1199 (20 minutes)
    starts = [None, "2024-03-05T10:05:00Z", "2024-03-05T10:10:00Z", "2024-03-05T10:15:00Z"]
    expected = [1200, 900, 600, 300]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD.format(repo=str(_REPO), data=str(data), cache=str(cache_dir), start=start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in starts
    ]
    for proc, want in zip(procs, expected, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"count": want, "failed": 0}
    # the index the last writer saved still describes every part it names
    files = json.loads((cache_dir / "files.json").read_text())["files"]
    assert len(files) == 40
    for entry in files.values():
        assert entry["part"] is None or (cache_dir / entry["part"]).exists()
    again = fx.load(data, cache_dir=cache_dir, workers=1)
    assert len(again) == 1200
    assert again.report.files_from_cache == 40


def test_old_merged_tables_nobody_names_are_pruned_after_a_day(tmp_path):
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    _trail(data, files=3, per_file=5)
    fx.load(data, cache_dir=cache_dir, workers=1)
    wait_for_cache(cache_dir)
    merged = cache_dir / "merged"
    stale, fresh = merged / "stale-format.parquet", merged / "fresh-orphan.parquet"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    _trail(data, files=4, per_file=5)  # a new file: the next load writes the cache
    assert len(fx.load(data, cache_dir=cache_dir, workers=1)) == 20
    wait_for_cache(cache_dir)  # the merged table (and this pruning) is finished in a thread
    assert not stale.exists()
    assert fresh.exists()  # may still be scanned by a notebook that opened it
    named = json.loads((cache_dir / "index.json").read_text())["merged"]
    assert all((cache_dir / entry["path"]).exists() for entry in named.values())


def test_the_merged_table_is_written_after_the_trail_is_returned(tmp_path):
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    _trail(data, files=5, per_file=10)
    first = fx.load(data, cache_dir=cache_dir, workers=1)
    assert len(first) == 50  # usable at once, in memory
    wait_for_cache(cache_dir)
    named = json.loads((cache_dir / "index.json").read_text())["merged"]
    assert len(named) == 1
    (entry,) = named.values()
    assert (cache_dir / entry["path"]).exists()
    assert not list((cache_dir / "merged").glob("*.tmp-*"))
    again = fx.load(data, cache_dir=cache_dir, workers=1)
    assert again.report.files_from_cache == 5
    assert again.events.equals(first.events)


# -- issue 13: the cache deletes only its own files, and never serves wrong data -------------


def test_an_index_naming_files_outside_the_cache_never_deletes_them(tmp_path):
    """Item 1: a planted index.json (e.g. mirrored from a bucket) names absolute and ``..``
    paths as old merged tables; evicting them must leave those files alone."""
    from forensics.ingest._cache import FORMAT

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    victims = [tmp_path / "victim-abs.txt", tmp_path / "victim-rel.txt"]
    for v in victims:
        v.write_text("precious")
    old = time.time() - 10 * 86400
    merged = {
        f"k{i}": {"path": p, "report": {}, "used": old}
        for i, p in enumerate([str(victims[0]), "../victim-rel.txt", "merged/../../victim-rel.txt"])
    }
    merged |= {  # more recently used: evicted last
        f"m{i}": {"path": f"merged/{'0' * 31}{i}.parquet", "report": {}, "used": old + 1}
        for i in range(6)
    }
    (cache_dir / "index.json").write_text(json.dumps({"format": FORMAT, "merged": merged}))
    store = Cache(cache_dir)
    store.add_merged("f" * 32, {})
    store.prune_merged()
    assert all(v.read_text() == "precious" for v in victims)
    # and the entries that point outside are never served as a table either
    assert store.merged("k0") is None and store.merged("k1") is None


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        mid = len(data) // 3
        path.write_bytes(
            data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :]
        )
    else:  # a valid Parquet file of another schema
        import polars as pl

        pl.DataFrame({"x": [1, 2]}).write_parquet(path)


@pytest.mark.parametrize("how", ["truncated", "flipped", "schema"])
@pytest.mark.parametrize("what", ["parts", "merged"])
def test_a_damaged_cache_table_is_dropped_and_its_files_read_again(tmp_path, how, what):
    """Item 9: a damaged part or merged table broke every later load with a Polars error."""
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    expected = _trail(data, files=6, per_file=10)
    first = fx.load(data, cache_dir=cache_dir, workers=1)
    wait_for_cache(cache_dir)
    if what == "parts":  # the merged table gone: the load rebuilds it from the parts
        for p in (cache_dir / "merged").glob("*.parquet"):
            p.unlink()
    targets = sorted((cache_dir / what).glob("*.parquet"))
    assert targets
    for target in targets:
        _damage(target, how)
    again = fx.load(data, cache_dir=cache_dir, workers=1)
    assert len(again.events) == expected
    assert again.events.sort("event_id").equals(first.events.sort("event_id"))
    assert any("damaged" in n for n in again.report.notes), again.report.notes
    wait_for_cache(cache_dir)
    third = fx.load(data, cache_dir=cache_dir, workers=1)  # and the cache is whole again
    assert len(third.events) == expected
    assert not any("damaged" in n for n in third.report.notes)


def test_content_changed_with_size_and_mtime_kept_is_read_again(tmp_path):
    """Item 10: the cache served the old rows of a rewritten file whose size and mtime were
    kept (``touch -r``, a restore, a copy tool)."""
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    path = write_json(data / "f.json", {"Records": [record(1, eventName="AAAA")]})
    st = path.stat()
    assert fx.load(data, cache_dir=cache_dir, workers=1).events["event_name"][0] == "AAAA"
    wait_for_cache(cache_dir)
    time.sleep(0.01)
    write_json(path, {"Records": [record(1, eventName="BBBB")]})
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert fx.load(data, cache_dir=cache_dir, workers=1).events["event_name"][0] == "BBBB"


def test_the_same_trail_spelled_two_ways_is_one_cache_entry(tmp_path, monkeypatch):
    """Item 11: an absolute and a relative path to the same trail re-read everything."""
    data, cache_dir = tmp_path / "data", tmp_path / "cache"
    expected = _trail(data, files=4, per_file=5)
    monkeypatch.chdir(tmp_path)
    first = fx.load("data", cache_dir=cache_dir, workers=1)
    wait_for_cache(cache_dir)
    again = fx.load(str(data), cache_dir=cache_dir, workers=1)
    assert again.report.files_from_cache == 4
    assert len(again) == expected
    # the rows name the files as this load spelled them, and the originals come back
    assert set(again.events["source_file"].cast(str)) == {
        str(data / p.relative_to(tmp_path / "data")) for p in sorted(data.rglob("*.json.gz"))
    }
    event_id = again.events["event_id"][0]
    assert again.original(event_id)["eventID"] == event_id
    assert first.events.height == expected
    # per-file entries too: one new file, the others from the cache under the other spelling
    write_json(s3_path(data, name="new"), {"Records": [record(900 + i) for i in range(5)]}, gz=True)
    third = fx.load("./data", cache_dir=cache_dir, workers=1)
    assert third.report.files_from_cache == 4 and len(third) == expected + 5


def test_the_cli_takes_a_cache_dir(tmp_path):
    """Item 11: the read-only-folder note tells users to pass a cache folder."""
    from forensics.cli import main

    data, cache_dir = tmp_path / "data", tmp_path / "elsewhere"
    _trail(data, files=2, per_file=3)
    assert main(["load", str(data), "--cache-dir", str(cache_dir)]) == 0
    wait_for_cache(cache_dir)
    assert (cache_dir / "index.json").exists()
    assert not (data / ".forensics-cache").exists()
