"""``trail.report`` as text, HTML (escaped) and a dict; ``forensics load`` on the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from _loader_helpers import record, s3_path, write_json

import forensics as fx
from forensics.cli import main

HOSTILE = '<img src=x onerror="alert(1)">&'


def _mixed_trail(root: Path) -> fx.Trail:
    write_json(s3_path(root), {"Records": [record(1), record(2)]}, gz=True)
    write_json(root / "copy.json", [record(2)])  # a duplicate
    write_json(root / "rule.json", {"Tests": [{"Log": record(3)}]})  # nested
    (root / f"{HOSTILE}.json").write_text("{nope")  # a failure with a hostile path
    write_json(root / "config.json", {"configurationItems": [{HOSTILE: 1}], "fileVersion": "1"})
    no_time = record(4)
    del no_time["eventTime"]
    write_json(root / "odd.json", [no_time, 17, {"detail-type": HOSTILE, "detail": {}}])
    digest_dir = root / "AWSLogs" / "111122223333" / "CloudTrail-Digest" / "eu-west-1" / "2024"
    write_json(
        digest_dir / "03" / "05" / "d.json.gz",
        {"digestStartTime": "a", "digestEndTime": "b"},
        gz=True,
    )
    return fx.load(root, cache=False)


def test_report_counts_and_text(tmp_path):
    trail = _mixed_trail(tmp_path)
    r = trail.report
    assert (r.files_seen, r.files_read, len(r.files_failed), r.digests) == (7, 4, 2, 1)
    assert (r.records_loaded, r.duplicates_dropped, r.records_nested) == (4, 1, 1)
    assert sum(r.records_skipped.values()) == 2
    assert r.missing_event_time == 1 and r.unparsed_event_time == 1
    text = str(r)
    assert "files: 7 seen, 4 read, 2 failed, 1 digests" in text
    assert "records: 4 loaded, 2 skipped, 1 duplicates dropped" in text
    assert "time range: 2024-03-05 10:00:01 UTC .. 2024-03-05 10:00:03 UTC" in text
    assert f"FAILED {tmp_path / (HOSTILE + '.json')}: invalid JSON" in text
    assert "looks like an AWS Config snapshot" in text
    assert f"skipped in {tmp_path / 'odd.json'}: 1: not a JSON object (int)" in text
    assert f"nested {tmp_path / 'rule.json'}: 1 record, first at $.Tests[0].Log" in text
    assert not r.ok


def test_report_html_escapes_everything(tmp_path):
    page = _mixed_trail(tmp_path).report._repr_html_()
    assert "<img" not in page and 'onerror="' not in page
    assert html_unescaped_count(page, HOSTILE) >= 2  # the failed path and the skip reason
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in page
    assert page.startswith("<div class='fx-load-report'>")


def html_unescaped_count(page: str, text: str) -> int:
    import html

    return html.unescape(page).count(text)


def test_report_as_dict_is_json_data(tmp_path):
    d = _mixed_trail(tmp_path).report.to_dict()
    again = json.loads(json.dumps(d))
    assert again == d
    assert d["time_min"] == "2024-03-05T10:00:01+00:00"
    assert {Path(f["path"]).name for f in d["files_failed"]} == {f"{HOSTILE}.json", "config.json"}
    assert all(f["reason"] for f in d["files_failed"])
    assert d["nested_by_file"] == [
        {"path": str(tmp_path / "rule.json"), "count": 1, "where": "first at $.Tests[0].Log"}
    ]
    assert d["digests"] == 1 and d["duplicates_dropped"] == 1
    assert sum(d["records_skipped"].values()) == 2


def test_clean_load_report_is_ok(tmp_path):
    write_json(tmp_path / "a.json", [record(1)])
    r = fx.load(tmp_path, cache=False).report
    assert r.ok and "FAILED" not in str(r)


# -- the command line ---------------------------------------------------------------------------


def test_cli_load_prints_report_and_summary(tmp_path, capsys):
    write_json(s3_path(tmp_path), {"Records": [record(i) for i in range(6)]}, gz=True)
    write_json(
        tmp_path / "bob.json",
        [
            record(
                9,
                eventName="GetObject",
                userIdentity={
                    "type": "AssumedRole",
                    "arn": "arn:aws:sts::444455556666:assumed-role/Ops/bob",
                    "accountId": "444455556666",
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "arn": "arn:aws:iam::444455556666:role/Ops",
                        }
                    },
                },
                recipientAccountId="444455556666",
                awsRegion="us-east-1",
            )
        ],
    )
    assert main(["load", str(tmp_path), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "records: 7 loaded" in out
    assert "events: 7" in out
    assert "time range: 2024-03-05 10:00:00 UTC .. 2024-03-05 10:00:09 UTC" in out
    assert "accounts: 111122223333 (6), 444455556666 (1)" in out
    assert "regions: eu-west-1 (6), us-east-1 (1)" in out
    assert (
        "top principals: arn:aws:iam::111122223333:user/alice (6), "
        "arn:aws:iam::444455556666:role/Ops (1)"
    ) in out
    assert "top event names: ListBuckets (6), GetObject (1)" in out


def test_cli_load_filters(tmp_path, capsys):
    write_json(s3_path(tmp_path), {"Records": [record(i) for i in range(6)]}, gz=True)
    code = main(
        [
            "load",
            str(tmp_path),
            "--no-cache",
            "--start",
            "2024-03-05T10:00:03Z",
            "--region",
            "eu-west-1",
            "--account",
            "111122223333",
        ]
    )
    assert code == 0
    assert "events: 3" in capsys.readouterr().out


def test_cli_bad_path_is_a_clear_message_and_exit_2(tmp_path, capsys):
    code = main(["load", str(tmp_path / "no-such-trail"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-trail" in err and "no such file or folder" in err
    assert "Traceback" not in err


def test_cli_bad_time_is_a_usage_error(tmp_path, capsys):
    assert main(["load", str(tmp_path), "--start", "last tuesday"]) == 2
    assert "cannot read 'last tuesday' as a time" in capsys.readouterr().err


def test_cli_strict_names_the_bad_file(tmp_path, capsys):
    write_json(tmp_path / "good.json", [record(1)])
    (tmp_path / "bad.json").write_text("{")
    assert main(["load", str(tmp_path), "--no-cache", "--strict"]) == 2
    assert f"{tmp_path / 'bad.json'}: invalid JSON" in capsys.readouterr().err


def test_cli_neutralises_terminal_escapes(tmp_path, capsys):
    write_json(tmp_path / "a.json", [record(1, eventName="\x1b[2J\x1b]0;pwned\x07Get")])
    assert main(["load", str(tmp_path), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert re.search(r"\\x1b\[2J\\x1b\]0;pwned\\x07Get \(1\)", out)


def test_a_file_name_cannot_forge_report_lines(tmp_path):
    evil = tmp_path / "x.json\n  FAILED nothing: all good"
    evil.write_text("{")
    text = str(fx.load(evil, cache=False).report)
    assert text.count("\n  FAILED") == 1
    assert "x.json\\x0a  FAILED nothing: all good: invalid JSON" in text


def test_report_survives_the_cache(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _mixed_trail(data)
    first = fx.load(data, cache_dir=tmp_path / "cache")
    again = fx.load(data, cache_dir=tmp_path / "cache")
    a, b = first.report.to_dict(), again.report.to_dict()
    for volatile in ("seconds", "files_from_cache", "worker_peak_rss_mb"):
        a.pop(volatile), b.pop(volatile)
    assert a == b
    assert again.events.equals(first.events)
