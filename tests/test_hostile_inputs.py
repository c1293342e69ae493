"""The hostile-input corpus (``tools/hostile_corpus.py``, generated into a temp folder): the
folder loads, every file is accounted for, one bad file never costs the rest (issue 13)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading

import pytest
from _loader_helpers import record
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from tools.hostile_corpus import CASES, write_corpus

NEEDS_FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")


def _load_with_deadline(*args, seconds: float = 120, **kwargs):
    """fx.load in a thread: a hang (a FIFO read) fails the test instead of blocking it."""
    out: list = []
    err: list = []

    def run():
        try:
            out.append(fx.load(*args, **kwargs))
        except BaseException as exc:
            err.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "fx.load hung"
    if err:
        raise err[0]
    return out[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return folder, write_corpus(folder)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fast", ["1", ""])
def test_the_corpus_loads_and_every_file_is_accounted_for(corpus, workers, fast, monkeypatch):
    folder, cases = corpus
    if fast:
        monkeypatch.delenv("FORENSICS_PURE_PYTHON", raising=False)
    else:
        monkeypatch.setenv("FORENSICS_PURE_PYTHON", "1")
    trail = _load_with_deadline(folder, cache=False, workers=workers)
    failed = {f.path: f.reason for f in trail.report.files_failed}
    by_file = trail.events.group_by(trail.events["source_file"].cast(str)).len()
    counts = dict(by_file.iter_rows())
    for path, case in cases.items():
        if case.failed:
            assert path in failed, f"{case.name} should be reported as failed"
            if case.reason:
                assert case.reason in failed[path], (case.name, failed[path])
        else:
            assert path not in failed, (case.name, failed.get(path))
            assert counts.get(path, 0) == case.records, (case.name, counts.get(path))
    assert len(trail) == sum(c.records for c in cases.values() if not c.failed)


def test_every_case_once_alone(tmp_path):
    """Each file on its own: the reason is the file's own, never a crash."""
    for case in CASES:
        if case.content is None:
            continue
        folder = tmp_path / case.name.replace(".", "_")
        write = folder / case.name
        folder.mkdir()
        write.write_bytes(case.content())
        try:
            trail = fx.load(write, cache=False, workers=1)
        except fx.LoadError:
            assert case.failed, case.name
            continue
        assert len(trail) == case.records, case.name
        if case.note:
            assert any(case.note in n for n in trail.report.lines()), (
                case.name,
                trail.report.lines(),
            )


# -- one test per item, so that a regression names its item ----------------------------------


def test_item4_a_record_nested_1000_deep_costs_nothing(tmp_path):
    from tools.hostile_corpus import _deep_record

    (tmp_path / "deep.json").write_bytes(_deep_record())
    (tmp_path / "good.json").write_text(json.dumps({"Records": [record(1)]}))
    trail = fx.load(tmp_path, cache=False, workers=1)
    assert len(trail) == 3


@NEEDS_FIFO
@pytest.mark.parametrize("name", ["pipe.json", "pipe"])
def test_item5_a_fifo_is_reported_not_read(tmp_path, name):
    os.mkfifo(tmp_path / name)
    (tmp_path / "good.json").write_text(json.dumps({"Records": [record(1)]}))
    trail = _load_with_deadline(tmp_path, cache=False, workers=1, seconds=60)
    assert len(trail) == 1
    assert any("not a regular file" in f.reason for f in trail.report.files_failed)
    # named directly, too
    trail = _load_with_deadline(
        tmp_path / name, tmp_path / "good.json", cache=False, workers=1, seconds=60
    )
    assert len(trail) == 1 and not trail.report.ok


def test_item8_payloads_share_one_inflation_cap_per_file(tmp_path):
    """Each payload below the cap, all of them together far above it."""
    big = record(1, userAgent="x" * 400_000)
    payload = {"messageType": "DATA_MESSAGE", "logEvents": [{"message": json.dumps(big)}]}
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    lines = "".join(json.dumps({"awslogs": {"data": data}}) + "\n" for _ in range(20))
    (tmp_path / "bomb.jsonl").write_text(lines)
    trail = fx.load(tmp_path, cache=False, workers=1, max_file_bytes=2_000_000)
    assert 1 <= len(trail) <= 5  # what fits in the cap, not 20 x 400 kB
    reasons = " ".join(trail.report.lines())
    assert "for the whole file" in reasons


@pytest.mark.parametrize("pure", ["", "1"])
def test_item12_repeated_keys_are_reported_by_both_readers(tmp_path, monkeypatch, pure):
    from tools.hostile_corpus import _duplicate_field, _duplicate_records_key

    if pure:
        monkeypatch.setenv("FORENSICS_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("FORENSICS_PURE_PYTHON", raising=False)
    (tmp_path / "a.json").write_bytes(_duplicate_records_key())
    trail = fx.load(tmp_path / "a.json", cache=False, workers=1)
    assert len(trail) == 2  # both arrays read
    assert any('"Records" arrays' in line for line in trail.report.lines())
    (tmp_path / "b.json").write_bytes(_duplicate_field())
    trail = fx.load(tmp_path / "b.json", cache=False, workers=1)
    assert trail.events["event_name"].to_list() == ["DeleteBucket"]  # JSON's last value...
    assert any(
        "duplicate keys" in line and "eventName" in line for line in trail.report.lines()
    )  # ...and said so


def _one(tmp_path, name, content, **kwargs):
    path = tmp_path / name
    path.write_bytes(content)
    return fx.load(path, cache=False, workers=1, **kwargs)


def test_item13_a_bom_on_every_jsonl_line(tmp_path):
    from tools.hostile_corpus import _bom_lines

    trail = _one(tmp_path, "bom.jsonl", _bom_lines())
    assert len(trail) == 3 and not trail.report.records_skipped


def test_item14_records_kept_as_json_strings(tmp_path):
    from tools.hostile_corpus import _raw_strings

    trail = _one(tmp_path, "splunk.json", _raw_strings())
    assert len(trail) == 3
    lines = "".join(
        json.dumps({"_raw": json.dumps({"Records": [record(i)]})}) + "\n" for i in range(2)
    )
    assert len(_one(tmp_path, "cribl.jsonl", lines.encode())) == 2


def test_item15_an_eventbridge_rule_pattern_is_not_an_event(tmp_path):
    from tools.hostile_corpus import _eventbridge_pattern, _pattern_records

    for name, content in (
        ("rule.json", _eventbridge_pattern()),
        ("patterns.json", _pattern_records()),
    ):
        trail = _one(tmp_path, name, content)
        assert len(trail) == 0
        assert "not CloudTrail" in trail.report.files_failed[0].reason
    mixed = json.dumps({"Records": [record(1), record(2, eventName=["A", "B"])]}).encode()
    trail = _one(tmp_path, "mixed.json", mixed)
    assert len(trail) == 1 and trail.report.records_skipped


def test_item16_s3_notifications_say_so(tmp_path):
    from tools.hostile_corpus import _s3_notifications

    trail = _one(tmp_path, "n.json", _s3_notifications())
    assert "aws:s3 event notification" in trail.report.files_failed[0].reason


@pytest.mark.parametrize("reader", ["c", "msgspec", "reference"])
def test_item17_insight_records_name_their_call(tmp_path, monkeypatch, reader):
    from tools.hostile_corpus import _insight

    data = _insight()
    if reader == "msgspec":
        monkeypatch.setenv("FORENSICS_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("FORENSICS_PURE_PYTHON", raising=False)
    if reader == "reference":  # pretty-printed: neither fast reader takes it
        data = json.dumps(json.loads(data), indent=2).encode()
    trail = _one(tmp_path, "insight.json", data)
    row = trail.events.row(0, named=True)
    assert (row["event_name"], row["event_source"]) == ("RunInstances", "ec2.amazonaws.com")
    assert row["event_category"] == "Insight"


def test_item18_a_big_load_then_exit_prints_no_worker_traceback(tmp_path):
    """1,000+ files start the worker processes ahead of the load; a script that ends at once
    used to print forkserver ``FileNotFoundError`` tracebacks from half-started workers."""
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1100):
        (folder / f"f{i:04d}.json").write_text(json.dumps({"Records": [record(i)]}))
    code = (
        "import forensics as fx\n"
        f"t = fx.load({str(folder)!r}, cache=False, workers=2)\n"
        "print(len(t))\n"
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).parents[1],
        )
        assert done.returncode == 0 and done.stdout.strip() == "1100"
        assert "Traceback" not in done.stderr, done.stderr[-1500:]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=6),
    st.sampled_from(["_raw", "message", "Message", "log", "event", "raw", "body"]),
    st.booleans(),
    st.booleans(),
)
def test_records_kept_as_text_by_any_shipper_shape(n, key, as_records_file, bom_lines):
    """Item 14 (and 13) as a property: whatever the shipper's field, one record or a Records
    file per item, JSON lines with or without a BOM on each line."""
    from forensics.sources._formats import extract_records

    recs = [record(i) for i in range(n)]
    if as_records_file:
        items = [{key: json.dumps({"Records": recs}), "host": "h"}]
    else:
        items = [{key: json.dumps(r), "sourcetype": "aws:cloudtrail"} for r in recs]
    bom = "\ufeff" if bom_lines else ""
    data = "".join(bom + json.dumps(item) + "\n" for item in items).encode()
    found = extract_records(data, "x.jsonl")
    assert [r["eventID"] for r in found.records] == [r["eventID"] for r in recs]
    assert not found.skipped
