"""``forensics baseline``: findings printed, written, and an exit code for pipelines."""

from __future__ import annotations

import json
from datetime import timedelta

from test_alarms import T, _rec

from forensics.cli import main


def test_baseline_command(tmp_path, capsys):
    recs = [_rec(T + timedelta(hours=h), "DescribeInstances", "ec2.amazonaws.com", n=h)
            for h in range(48)]  # fmt: skip
    recs.append(_rec(T + timedelta(hours=50), "CreateAccessKey", "iam.amazonaws.com",
                     ip="203.0.113.9", n=1))  # fmt: skip
    recs.append(_rec(T + timedelta(hours=50), "DescribeInstances", "ec2.amazonaws.com",
                     ip="s3.amazonaws.com", n=2))  # a service for the caller: not an IP  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps({"Records": recs}))
    out = tmp_path / "f.json"
    rc = main(["baseline", str(tmp_path / "t.json"), "--no-cache",
               "--until", "2026-02-03T00:00:00Z", "--out", str(out), "--fail-on", "medium"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 1 and "first call of iam.amazonaws.com:CreateAccessKey" in text
    rows = json.loads(out.read_text())
    assert {r["rule_id"] for r in rows} == {"first_seen.api", "first_seen.key_ip"}
    assert all(r["details"] and "s3.amazonaws.com" not in r["title"] for r in rows)
    csv = tmp_path / "f.csv"
    assert main(["baseline", str(tmp_path / "t.json"), "--no-cache", "--until",
                 "2026-02-03T00:00:00Z", "--out", str(csv), "--fail-on", "critical"]) == 0  # fmt: skip
    assert csv.read_text().startswith("rule_id,title,level")
