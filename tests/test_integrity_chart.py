"""The delivery heatmap: delivered, empty, logging-off and tampered cells, small specs."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

import forensics as fx
from tests._integrity_helpers import build


def test_delivery_marks_tampering_and_missing_digests(tmp_path):
    b = build(tmp_path, hours=5, regions=("us-east-1", "eu-west-1"))
    b.path(b.logs[0]).unlink()  # 10:05 us-east-1, listed in the first digest
    b.path(b.digests[6]).unlink()  # us-east-1's digest for 13:00-14:00 ...
    for k in b.logs[18:21]:  # ... and the log files it listed: the hour is simply gone
        assert "us-east-1_20260304T13" in k
        b.path(k).unlink()
    assert "us-east-1_20260304T1405" in b.logs[24]
    b.path(b.logs[24]).unlink()  # listed in the next digest
    trail = fx.load(tmp_path, cache=False)
    v = trail.verify()
    assert v.verdict == "tampered"
    data = fx.charts.delivery_data(trail, v)
    cell = {(r, s.hour): st for r, s, st in data.select("row", "start", "status").iter_rows()}
    assert cell[("111122223333 us-east-1", 10)] == "tampered"
    assert cell[("111122223333 us-east-1", 13)] == "digest missing"
    assert cell[("111122223333 eu-west-1", 13)] == "delivered"
    assert cell[("111122223333 us-east-1", 14)] == "tampered"
    chart = fx.charts.delivery(trail, v)
    assert fx.charts.chart_rows(chart) == data.height == 10
    spec = chart.to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"][0] == "tampered"


def test_delivery_marks_empty_hours_while_logging_was_off():
    from forensics.ingest._normalize import normalize_records

    def rec(t, name="DescribeInstances", source="ec2.amazonaws.com", params=None):
        return {
            "eventTime": t,
            "eventName": name,
            "eventSource": source,
            "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
            "requestParameters": params,
            "userIdentity": {"type": "Root"},
        }

    trail = fx.Trail(
        normalize_records(
            [
                rec("2026-03-04T10:05:00Z"),
                rec(
                    "2026-03-04T10:30:00Z", "StopLogging", "cloudtrail.amazonaws.com", {"name": "t"}
                ),
                rec(
                    "2026-03-04T14:10:00Z",
                    "StartLogging",
                    "cloudtrail.amazonaws.com",
                    {"name": "t"},
                ),
            ],
            "x.json",
        )
    )
    data = fx.charts.delivery_data(trail)
    got = dict(data.select(pl.col("start").dt.hour(), "status").iter_rows())
    assert got == {
        10: "delivered",
        11: "logging off",
        12: "logging off",
        13: "logging off",
        14: "delivered",
    }
    assert (
        data.filter(pl.col("status") == "logging off")["detail"][0] == "trail t off (StopLogging)"
    )


def test_long_trails_are_drawn_per_day():
    from forensics.ingest._normalize import normalize_records

    recs = [
        {
            "eventTime": datetime(2026, 1, d, 12, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventName": "X",
            "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
        }
        for d in range(1, 29)
    ]
    data = fx.charts.delivery_data(fx.Trail(normalize_records(recs, "x.json")))
    assert data.height == 28
