"""Findings and enrichment everywhere a responder looks: one findings table for every producer,
principals()/actors() with finding counts and what their IPs are, the timeline's marks, the
explorer's finding filter, the ticket's findings section and enriched indicators."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import forensics as fx
from forensics._schema import FINDINGS_SCHEMA, conform_findings
from forensics.baseline import FINDINGS_SCHEMA as BASELINE_SCHEMA
from forensics.baseline import first_seen
from forensics.detect import FINDING_COLUMNS, Findings, concat_findings, with_findings
from forensics.enrichment import IP_SUMMARY_COLUMNS, add_ip_summary
from forensics.ingest._normalize import normalize_records
from tests._export_helpers import parse_html

HOSTILE = "<script>alert(1)</script>"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ALICE = {
    "type": "IAMUser",
    "arn": "arn:aws:iam::111122223333:user/alice",
    "accountId": "111122223333",
    "accessKeyId": "AKIAALICE0000000001",
    "userName": "alice",
}
BOB = {
    "type": "IAMUser",
    "arn": "arn:aws:iam::111122223333:user/bob",
    "accountId": "111122223333",
    "accessKeyId": "AKIABOB00000000000001",
    "userName": "bob",
}
IP_RANGES = {
    "syncToken": "1", "createDate": "2026-01-01-00-00-00",
    "prefixes": [{"ip_prefix": "3.0.0.0/9", "region": "us-east-1", "service": "EC2",
                  "network_border_group": "us-east-1"}],
    "ipv6_prefixes": [],
}  # fmt: skip


def _record(i: int, who: dict, name: str, ip: str, *, source: str = "iam.amazonaws.com",
            minutes: int = 0, **extra) -> dict:  # fmt: skip
    return {
        "eventVersion": "1.09", "eventTime": (T0 + timedelta(minutes=minutes)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"), "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15",
        "userIdentity": who, "eventID": f"ev-{i:04d}", "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333", **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def trail() -> fx.Trail:
    records = []
    # a week of routine for both, then alice stops the trail from outside AWS
    for day in range(6):
        records.append(_record(day, ALICE, "ListUsers", "3.1.2.3", minutes=day * 1440))
        records.append(_record(100 + day, BOB, "ListRoles", "10.0.0.5", minutes=day * 1440 + 5))
    records.append(_record(500, ALICE, "StopLogging", "8.8.8.8", source="cloudtrail.amazonaws.com",
                           minutes=6 * 1440 + 60,
                           requestParameters={"name": "org-trail"}))  # fmt: skip
    records.append(_record(501, ALICE, "DeleteTrail", "8.8.8.8", source="cloudtrail.amazonaws.com",
                           minutes=6 * 1440 + 61,
                           requestParameters={"name": "org-trail"}))  # fmt: skip
    return fx.Trail(normalize_records(records, "t.json"))


def _hand_findings() -> pl.DataFrame:
    """Two low hits on bob, a high and a low on alice (one outside the data), one hostile title."""
    rows = [
        ("r-low", "low rule", "low", "arn:aws:iam::111122223333:user/bob", ["ev-0100"], 0),
        ("r-low", "low rule", "low", "arn:aws:iam::111122223333:user/bob", ["ev-0101"], 1),
        ("r-bad", HOSTILE, "high", "arn:aws:iam::111122223333:user/alice", ["ev-0500"], 2),
        ("r-low", "low rule", "low", "arn:aws:iam::111122223333:user/alice", ["ev-9999"], 3),
    ]
    return pl.DataFrame(
        {
            "rule_id": [r[0] for r in rows], "title": [r[1] for r in rows],
            "level": [r[2] for r in rows], "principal": [r[3] for r in rows],
            "actor": [r[3] for r in rows], "event_ids": [r[4] for r in rows],
            "time": [T0 + timedelta(days=r[5]) for r in rows],
            "source_ip": ["10.0.0.5", "10.0.0.5", "8.8.8.8", "3.1.2.3"],
        }
    )  # fmt: skip


# -- one findings table ------------------------------------------------------------------------
def test_one_schema_for_every_producer(trail):
    assert BASELINE_SCHEMA == FINDINGS_SCHEMA == fx.detect(trail).frame.schema
    fs = first_seen(trail, until=T0 + timedelta(days=3))
    assert fs.schema == FINDINGS_SCHEMA and set(fs["kind"].cast(pl.String)) <= {"first_seen"}
    both = fx.detect(trail) | fs
    assert isinstance(both, Findings) and len(both) == len(fx.detect(trail)) + fs.height
    assert both.frame["time"].is_sorted()
    assert {"event", "first_seen"} <= set(both.frame["kind"].cast(pl.String))
    # filters of detect's Findings work on baseline rows
    assert (
        len(Findings(fs).for_principal("alice"))
        == fs.filter(pl.col("principal").cast(pl.String).str.ends_with("/alice")).height
    )


def test_detect_with_baselines_is_the_union(trail):
    sigma = fx.detect(trail)
    options = {"until": T0 + timedelta(days=3)}
    both = fx.detect(trail, baselines=options)
    base = first_seen(trail.with_actors().events, until=options["until"])
    assert len(both) >= len(sigma) + base.height  # + Insights, if any
    kinds = both.frame["kind"].cast(pl.String).value_counts()
    assert dict(kinds.rows()).get("first_seen") == base.height
    only_high = fx.detect(trail, baselines=options, min_level="high")
    assert set(only_high.frame["level"].cast(pl.String)) <= {"high", "critical"}
    with pytest.raises(TypeError, match="baselines="):
        fx.detect(trail, baselines="yes")


def test_the_first_baseline_shape_is_read():
    old = pl.DataFrame(
        {
            "rule_id": ["first_seen.api"], "title": ["t"], "level": ["medium"],
            "tags": [["attack.t1098.003", "attack.persistence", "attack.g0016", "other"]],
            "event_ids": [["a", "b"]], "time": [T0], "end_time": [T0 + timedelta(hours=1)],
            "details": ['{"x": 1}'],
        }
    )  # fmt: skip
    row = (
        Findings(old).frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).row(0, named=True)
    )
    assert row["techniques"] == ["T1098.003"] and row["tactics"] == ["persistence"]
    assert row["last_time"] == T0 + timedelta(hours=1) and row["event_count"] == 2
    assert conform_findings(old.lazy()).collect_schema() == FINDINGS_SCHEMA
    with pytest.raises(TypeError, match="findings table"):
        concat_findings(Findings(old), "not findings")  # type: ignore[arg-type]


def test_concat_keeps_problems_and_orders_by_time_then_worst():
    a = Findings(_hand_findings().head(2))
    b = Findings(_hand_findings().tail(2), problems=("p",))  # type: ignore[arg-type]
    both = b | a
    assert both.problems == ("p",)
    assert both.frame["time"].to_list() == sorted(both.frame["time"].to_list())
    same_time = concat_findings(
        _hand_findings().head(1), _hand_findings().head(1).with_columns(level=pl.lit("high"))
    )
    assert same_time.frame["level"].cast(pl.String).to_list() == ["high", "low"]


# -- principals() and actors() ------------------------------------------------------------------
def test_principals_default_is_unchanged(trail):
    plain = trail.principals()
    assert not set(FINDING_COLUMNS) & set(plain.columns)
    assert not set(IP_SUMMARY_COLUMNS) & set(plain.columns)
    assert plain.equals(fx.identity.principals(trail))


def test_principals_with_findings_counts_and_worst_level(trail):
    table = trail.principals(findings=_hand_findings())
    rows = {r["principal"]: r for r in table.iter_rows(named=True)}
    alice, bob = rows[ALICE["arn"]], rows[BOB["arn"]]
    assert (alice["findings"], alice["high_findings"], alice["finding_rules"]) == (2, 1, 2)
    assert alice["highest_level"] == "high" and bob["highest_level"] == "low"
    assert (bob["findings"], bob["high_findings"], bob["finding_rules"]) == (2, 0, 1)
    assert bob["first_finding"] == T0 and bob["last_finding"] == T0 + timedelta(days=1)
    assert table["principal"].to_list()[:2] == [ALICE["arn"], BOB["arn"]]  # worst first
    # the identity columns are those of principals(), same values
    base = trail.principals().sort("principal")
    assert table.select(base.columns).sort("principal").equals(base)


def test_principals_and_actors_with_detect(trail):
    found = fx.detect(trail)
    table = trail.principals(findings=True)
    by_hand = found.by_principal()
    for row in by_hand.iter_rows(named=True):
        got = table.filter(pl.col("principal") == row["principal"]).row(0, named=True)
        assert (got["findings"], got["highest_level"]) == (row["findings"], row["highest_level"])
    assert table.filter(pl.col("principal") == ALICE["arn"])["highest_level"].item() in (
        "high", "critical")  # fmt: skip
    actors = trail.actors(findings=found)
    alice = actors.filter(pl.col("actor") == ALICE["arn"]).row(0, named=True)
    assert (
        alice["findings"]
        == found.frame.filter(pl.col("actor").cast(pl.String) == ALICE["arn"]).height
    )
    nobody = actors.filter(pl.col("findings") == 0)
    assert nobody["highest_level"].null_count() == nobody.height


def test_with_findings_errors_name_the_problem():
    table = pl.DataFrame({"principal": ["a"]})
    with pytest.raises(ValueError, match="cannot count findings by"):
        with_findings(table, _hand_findings(), key="nope")
    with pytest.raises(ValueError, match="no column 'actor'"):
        with_findings(table, _hand_findings(), key="actor")
    with pytest.raises(ValueError, match="needs the trail"):
        with_findings(table, True)


def test_principals_enriched(trail, tmp_path):
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text(json.dumps(IP_RANGES))
    table = trail.principals(enrich={"ip_ranges": ranges})
    rows = {r["principal"]: r for r in table.iter_rows(named=True)}
    alice, bob = rows[ALICE["arn"]], rows[BOB["arn"]]
    assert alice["aws_services"] == ["EC2"] and alice["outside_aws"] is True
    assert alice["from_bogon"] is False and alice["ip_kinds"] == ["public"]
    assert bob["from_bogon"] is True and bob["outside_aws"] is False and bob["aws_services"] == []
    assert alice["asns"] is None and alice["countries"] is None  # no .mmdb: unknown, not none
    # without ip-ranges.json "outside AWS" is unknown too
    plain = trail.principals(enrich=True)
    assert plain["outside_aws"].null_count() == plain.height
    assert plain.filter(pl.col("principal") == BOB["arn"])["from_bogon"].item() is True


def test_actors_enriched_with_mmdb(trail, tmp_path):
    writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    db = writer.MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    db.insert_network(netaddr.IPSet(["8.8.8.0/24"]), {
        "autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"})  # fmt: skip
    path = tmp_path / "asn.mmdb"
    db.to_db_file(str(path))
    table = trail.actors(enrich={"mmdb": [path]}, findings=_hand_findings())
    alice = table.filter(pl.col("actor") == ALICE["arn"]).row(0, named=True)
    assert alice["asns"] == [15169] and alice["as_orgs"] == ["GOOGLE"]
    bob = table.filter(pl.col("actor") == BOB["arn"]).row(0, named=True)
    assert bob["asns"] == [] and bob["findings"] == 2


def test_ip_summary_edge_cases():
    empty = pl.DataFrame(schema={"who": pl.String, "source_ips": pl.List(pl.String)})
    out = add_ip_summary(empty)
    assert out.height == 0 and list(out.columns) == ["who", "source_ips", *IP_SUMMARY_COLUMNS]
    none = add_ip_summary(pl.DataFrame({"source_ips": [[], None]}))
    assert none["ip_kinds"].to_list() == [[], []] and none["from_bogon"].to_list() == [False] * 2
    with pytest.raises(ValueError, match="no column 'ips'"):
        add_ip_summary(empty, ips="ips")
    with pytest.raises(ValueError, match="unknown enrichment option"):
        add_ip_summary(pl.DataFrame({"source_ips": [["1.1.1.1"]]}), {"mmdbs": []})


# -- charts -----------------------------------------------------------------------------------
def _datasets(chart) -> list[list[dict]]:
    return list(chart.to_dict()["datasets"].values())


def test_timeline_marks_findings_on_its_own_events(trail):
    found = Findings(_hand_findings())
    chart = fx.charts.timeline(trail, findings=found, every="1d", brush=False, overview=False)
    marks = [d for d in _datasets(chart) if d and "by_level" in d[0]]
    assert len(marks) == 1
    rows = marks[0]
    # ev-9999 is in no event of the trail: 3 hits in 3 bins, the worst level per bin
    assert sorted(r["hits"] for r in rows) == [1, 1, 1]
    assert {r["level"] for r in rows} == {"low", "high"}
    assert any(HOSTILE in (r["rules"] or "") for r in rows)  # data, drawn as text by Vega
    spec = json.dumps(chart.to_dict())
    assert '"fill"' in spec and "finding (worst level)" in spec
    # one principal's timeline marks only that principal's findings
    bob = fx.charts.timeline(trail.for_principal(BOB["arn"]), findings=found, every="1d",
                             brush=False, overview=False)  # fmt: skip
    bob_marks = next(d for d in _datasets(bob) if d and "by_level" in d[0])
    assert {r["level"] for r in bob_marks} == {"low"} and sum(r["hits"] for r in bob_marks) == 2
    # the live chart (brush + overview strip) carries the marks too
    live = fx.charts.timeline(trail, findings=found, every="1d", brush=True)
    assert any(d and "by_level" in d[0] for d in _datasets(live))


def test_timeline_svg_escapes_finding_text(trail):
    from forensics.export._charts import chart_bytes

    found = Findings(_hand_findings())
    chart = fx.charts.timeline(trail, findings=found, every="1d", brush=False, overview=False)
    svg = chart_bytes(chart, "svg").decode()
    assert "<script" not in svg


def test_timeline_tooltips_say_what_an_ip_is(trail, tmp_path):
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text(json.dumps(IP_RANGES))
    chart = fx.charts.timeline(trail, by="source_ip", enrich={"ip_ranges": ranges},
                               brush=False, overview=False)  # fmt: skip
    rows = [r for d in _datasets(chart) for r in d if "about" in r]
    about = {r["category"]: r["about"] for r in rows}
    assert about["3.1.2.3"] == "AWS EC2 us-east-1" and about["10.0.0.5"] == "private"
    assert about["8.8.8.8"] is None
    assert "what the IP is" in json.dumps(chart.to_dict())
    # enrichment columns already on the events are used when present
    lazy = fx.enrichment.add_ip_columns(trail.lazy, columns=["ip_kind"])
    carried = fx.charts.timeline(lazy, by="source_ip", brush=False, overview=False)
    rows = [r for d in _datasets(carried) for r in d if "about" in r]
    assert {r["category"]: r["about"] for r in rows}["10.0.0.5"] == "private"
    # and nothing is added when there is none
    bare = fx.charts.timeline(trail, by="source_ip", brush=False, overview=False)
    assert not any("about" in r for d in _datasets(bare) for r in d)
    # findings' source IPs are described in the marks' tooltips
    marks = fx.charts.timeline(trail, findings=_hand_findings(), enrich=True, every="1d",
                               brush=False, overview=False)  # fmt: skip
    ips = [r["source_ips"] for d in _datasets(marks) for r in d if "by_level" in r]
    assert "10.0.0.5 (private)" in ips


# -- explorer ---------------------------------------------------------------------------------
def test_explorer_filters_by_finding(trail):
    ui = fx.ui.explore(trail, findings=_hand_findings(), annotations=None)
    values = dict((v, label) for label, v in ui.finding.options)
    assert "any" in values and "level:3" in values and "level:1" in values
    ui.finding.value = "any"
    assert sorted(ui.filtered["event_id"]) == ["ev-0100", "ev-0101", "ev-0500"]
    ui.finding.value = "level:3"
    assert ui.filtered["event_id"].to_list() == ["ev-0500"]
    assert HOSTILE not in ui.table.value and "&lt;script&gt;" in ui.table.value
    assert "finding" in ui.status.value
    rule = next(v for v, label in values.items() if v.startswith("rule:") and "low rule" in label)
    ui.finding.value = rule
    assert sorted(ui.filtered["event_id"]) == ["ev-0100", "ev-0101"]
    ui.finding.value = ""
    assert ui.filtered.height == trail.events.height
    # the dropdown's counts follow the other filters (here: bob's events only)
    ui.principal.value = BOB["arn"]
    labels = dict((v, label) for label, v in ui.finding.options)
    assert "(2 events)" in labels["any"] and "(0 events)" in labels["level:3"]
    assert labels[rule].endswith("(2)")
    ui.finding.value = "level:3"
    assert ui.filtered.height == 0
    plain = fx.ui.explore(trail, annotations=None)
    assert plain.finding.disabled and plain.finding.value == ""


# -- ticket -----------------------------------------------------------------------------------
def _section(text: str, start: str, stop: str) -> str:
    i = text.index(start)
    j = text.find(stop, i + len(start))
    return text[i : j if j > 0 else None]


def test_ticket_findings_section_in_both_reports(trail, tmp_path):
    files = fx.export.ticket(trail, tmp_path / "t")
    summary = files["summary.md"].read_text()
    page = files["report.html"].read_text()
    md = _section(summary, "## Findings", "## Indicators")
    assert "Findings (" in page or "<h2>Findings</h2>" in page
    found = fx.detect(trail)
    for title in found.summary()["title"].cast(pl.String):
        assert title in md and title in page
    # the rule's attribution (author and rule set)
    assert "trail forensics" in page and ".yml" in page


def test_ticket_given_findings_cut_to_its_events_and_escaped(trail, tmp_path):
    found = Findings(_hand_findings())
    files = fx.export.ticket(trail.for_principal(ALICE["arn"]), tmp_path / "a", findings=found)
    page = files["report.html"].read_text()
    summary = files["summary.md"].read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in summary
    # alice's own events: the hostile high rule; not bob's low rule, not the hit on ev-9999
    html_findings = _section(page, "Findings", "<h2>Indicators")
    assert "low rule" not in html_findings and "low rule" not in summary
    assert "1 hits of 1 rule(s) from the findings given" in summary
    tags = {t for t, _ in parse_html(page).tags}
    assert "script" not in tags
    nothing = fx.export.ticket(trail, tmp_path / "b", findings=False)
    assert "## Findings" not in nothing["summary.md"].read_text()
    assert ">Findings" not in nothing["report.html"].read_text()


def test_ticket_indicators_enriched(trail, tmp_path):
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text(json.dumps(IP_RANGES))
    files = fx.export.ticket(trail, tmp_path / "t", enrich={"ip_ranges": ranges})
    csv = pl.read_csv(files["indicators.csv"])
    ips = {r["value"]: r for r in csv.filter(pl.col("kind") == "source_ips").iter_rows(named=True)}
    assert ips["3.1.2.3"]["about"] == "AWS EC2 us-east-1"
    assert ips["3.1.2.3"]["aws_services"] == "EC2" and not ips["8.8.8.8"]["about"]
    assert ips["10.0.0.5"]["ip_kind"] == "private"
    summary = files["summary.md"].read_text()
    page = files["report.html"].read_text()
    assert "AWS EC2 us-east-1" in summary and "AWS EC2 us-east-1" in page
    assert "what (enrichment)" in page
    plain = fx.export.ticket(trail, tmp_path / "p")
    assert "about" not in pl.read_csv(plain["indicators.csv"]).columns


def test_cli_ticket_enrichment_options(tmp_path):
    from forensics.cli import main

    records = [_record(i, ALICE, "ListUsers", ip, minutes=i)
               for i, ip in enumerate(["3.1.2.3", "10.0.0.5"])]  # fmt: skip
    data = tmp_path / "trail.json"
    data.write_text(json.dumps({"Records": records}))
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_text(json.dumps(IP_RANGES))
    out = tmp_path / "t"
    argv = ["ticket", str(data), "--principal", "alice", "--out", str(out), "--no-cache"]
    assert main([*argv, "--ip-ranges", str(ranges)]) == 0
    summary = (out / "summary.md").read_text()
    assert "AWS EC2 us-east-1" in summary and "private" in summary
    assert main([*argv, "--mmdb", str(tmp_path / "missing.mmdb")]) == 2
    assert main([*argv, "--enrich"]) == 0
    assert "AWS EC2" not in (out / "summary.md").read_text()
    assert "private" in (out / "summary.md").read_text()


def test_findings_chart_takes_a_baseline_table(trail):
    fs = first_seen(trail, until=T0 + timedelta(days=3))
    data = fx.charts.findings_timeline_data(fs, min_level="informational")
    assert data["hits"].sum() == fs.height > 0


def test_an_empty_table_of_another_shape_gives_no_findings():
    assert len(Findings(pl.DataFrame({"foo": []}))) == 0
    assert len(Findings(pl.DataFrame({"foo": [1, 2]}))) == 2  # rows kept, columns null
    assert conform_findings(pl.LazyFrame({"x": []})).collect().height == 0


def test_cli_detect_with_baselines(trail, tmp_path, capsys):
    from forensics.cli import main

    records = [_record(i, ALICE, "ListUsers", "3.1.2.3", minutes=i * 1440) for i in range(6)]
    records.append(_record(9, ALICE, "CreateUser", "3.1.2.3", minutes=6 * 1440))
    data = tmp_path / "trail.json"
    data.write_text(json.dumps({"Records": records}))
    argv = ["detect", str(data), "--no-cache", "--format", "json", "--fail-level", "critical"]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*argv, "--baselines"]) == 0
    rows = json.loads(capsys.readouterr().out)
    added = [r for r in rows if r["kind"] == "first_seen"]
    assert len(rows) == len(plain) + len(added) and added
    assert any("CreateUser" in r["title"] for r in added)


def test_summary_and_report_list_the_same_rules_in_the_same_order(trail, tmp_path):
    files = fx.export.ticket(trail, tmp_path / "t", summary_limit=None)
    md = _section(files["summary.md"].read_text(), "## Findings", "## Indicators")
    page = files["report.html"].read_text()
    html = _section(page, "Findings (", "<h2>Indicators")
    titles = fx.detect(trail).summary()["title"].cast(pl.String).to_list()
    assert len(titles) >= 2
    assert sorted(titles, key=md.index) == titles
    assert sorted(titles, key=html.index) == titles


def test_findings_cut_to_a_trail_or_a_blast_radius(trail):
    found = Findings(_hand_findings())
    assert len(found.for_events(trail.for_principal(BOB["arn"]))) == 2
    assert len(found.for_events(trail.events)) == 3  # ev-9999 is no event of the trail
    br = fx.blast_radius(trail, ALICE["accessKeyId"])
    mine = br.findings(findings=found)
    assert set(mine.frame["rule_id"].cast(pl.String)) == {"r-bad"}
    with pytest.raises(TypeError, match="for_events"):
        found.for_events(42)


def test_a_filtered_trail_counts_its_own_findings(trail):
    found = _hand_findings()
    late = trail.between(T0 + timedelta(days=1), None).principals(findings=found)
    bob = late.filter(pl.col("principal") == BOB["arn"]).row(0, named=True)
    assert bob["findings"] == 1  # ev-0100 (day 0) is outside the window
    alice = late.filter(pl.col("principal") == ALICE["arn"]).row(0, named=True)
    assert alice["findings"] == 1 and alice["highest_level"] == "high"  # not ev-9999
