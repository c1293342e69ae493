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

from _loader_helpers import record, s3_path, write_json

import forensics as fx
from forensics._cache import Cache
from forensics._loader import wait_for_cache

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
            [sys.executable, "-c", _CHILD.format(repo=str(_REPO), data=str(data),
                                                 cache=str(cache_dir), start=start)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
    from forensics._cache import FORMAT

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
