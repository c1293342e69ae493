"""What a responder sees, checked on the drawn SVG and the widgets' state (issue 19).

Charts are rendered with vl-convert (the same Vega as the browser) and read back: no axis with
two equal labels, no legend with two equal texts, no "drag to select" where nothing can be
dragged, gaps drawn as gaps, the blast-radius picture's labels on separate rows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from _svg_helpers import axis_labels, duplicates, legend_labels, text_marks

import forensics as fx
from forensics._schema import conform
from forensics.charts._blast_picture import ROW, blast_picture_data
from forensics.charts._timeline import _totals


def _svg(chart) -> str:
    return vlc.vegalite_to_svg(chart.to_dict())


def _events(times: list[datetime], **cols) -> pl.DataFrame:
    n = len(times)
    base = {
        "event_time": times,
        "principal": cols.pop("principal", ["arn:aws:iam::111122223333:user/alice"] * n),
        "event_source": cols.pop("event_source", ["s3.amazonaws.com"] * n),
        "event_name": ["GetObject"] * n,
        "event_id": [f"ev-{i}" for i in range(n)],
    }
    return conform(pl.DataFrame({**base, **cols}))


def _assert_axes_distinct(svg: str) -> None:
    for labels in axis_labels(svg):
        assert not duplicates(labels), f"repeated axis labels: {labels}"


def _assert_legends_distinct(svg: str) -> None:
    for labels in legend_labels(svg):
        assert not duplicates(labels), f"repeated legend labels: {labels}"


# -- time axes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minutes", "every"),
    [(3, "1m"), (12, "1m"), (55, "1m"), (55, "5m"), (180, None), (2 * 1440, None), (40, None)],
)
def test_time_axes_never_repeat_a_label(minutes, every):
    start = datetime(2023, 7, 10, 11, 40, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in range(0, minutes * 60 + 1, max(1, minutes))]
    ev = _events(times)
    with alt.renderers.enable("default"):
        live = fx.charts.timeline(ev, by="event_source", every=every)
    static = fx.charts.timeline(ev, by="event_source", every=every, brush=False)
    for chart in (live, static):
        svg = _svg(chart)
        _assert_axes_distinct(svg)
        time_axes = [labels for labels in axis_labels(svg) if any(":" in x for x in labels)]
        assert time_axes and all(len(x) >= 2 for x in time_axes), "a time axis lost its ticks"
    names = ev.with_columns(pl.format("Call{}", pl.int_range(pl.len()) % 17).alias("event_name"))
    _assert_axes_distinct(_svg(fx.charts.first_seen(names)))


def test_overview_strip_draws_empty_minutes_at_zero():
    start = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    ev = _events([start, start + timedelta(minutes=10), start + timedelta(minutes=10)])
    data, every = fx.charts.timeline_data(ev, every="1m")
    totals = _totals(data, every)
    assert totals.height == 12  # 10:00 .. 10:10 and the closing bin
    assert totals.get_column("events").to_list() == [1] + [0] * 9 + [2, 0]
    with alt.renderers.enable("default"):
        spec = fx.charts.timeline(ev, every="1m").to_dict()
    strip = spec["vconcat"][1]
    rows = spec["datasets"][strip["data"]["name"]]
    assert [r["events"] for r in rows] == [1] + [0] * 9 + [2, 0]


def test_drag_to_select_only_where_a_brush_works():
    ev = _events([datetime(2024, 1, 1, h, tzinfo=UTC) for h in range(6)])
    with alt.renderers.enable("svg"):  # a picture: nothing can be dragged
        static = fx.charts.timeline(ev).to_json()
    assert "drag to select" not in static and '"brush"' not in static
    with alt.renderers.enable("default"):
        live = fx.charts.timeline(ev).to_json()
    assert "drag to select" in live and '"brush"' in live
    forced = fx.charts.timeline(ev, brush=True).to_json()
    assert '"brush"' in forced


# -- legends, scales, numbers ------------------------------------------------------------------
def test_legends_never_show_two_series_with_the_same_text():
    long_role = "role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
    who = [f"arn:aws:iam::{acct}:{long_role}" for acct in ("111122223333", "222233334444")]
    who += ["arn:aws:iam::111122223333:user/alice"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ev = _events([start + timedelta(minutes=i) for i in range(30)], principal=[*who * 10])
    for chart in (
        fx.charts.timeline(ev, by="principal", brush=False),
        fx.charts.first_seen(ev),
        fx.charts.top(ev, "principal"),
    ):
        svg = _svg(chart)
        _assert_legends_distinct(svg)
        _assert_axes_distinct(svg)
    data, _ = fx.charts.timeline_data(ev, by="principal")
    labels = data.select("category", "label").unique()
    assert labels.get_column("label").n_unique() == 3
    assert all(len(label) <= 40 for label in labels.get_column("label"))


def test_heatmap_colour_scale_starts_at_zero_and_numbers_are_formatted_once():
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    ev = _events([start] * 2000 + [start + timedelta(hours=1)] * 2200)
    chart = fx.charts.heatmap(ev)
    scale = chart.to_dict()["encoding"]["color"]["scale"]
    assert scale.get("domainMin") == 0 or scale.get("zero") is True
    svg = _svg(chart)
    legend = [label for labels in legend_labels(svg) for label in labels]
    assert legend and legend[0] == "0"
    for label in legend:
        assert label.count(",") <= 1 and len(label) <= 6, f"run-together number {label!r}"


# -- first_seen on a real trail ------------------------------------------------------------------
def test_first_seen_is_readable_on_the_invictus_trail(external):
    trail = fx.load(external / "invictus-ir-aws_dataset", cache=False)
    chart = fx.charts.first_seen(trail)
    svg = _svg(chart)
    _assert_axes_distinct(svg)
    _assert_legends_distinct(svg)
    services = trail.events.get_column("event_source").str.replace(r"\.amazonaws\.com$", "")
    shown = {label for labels in axis_labels(svg) for label in labels}
    assert set(services.unique().to_list()) <= shown  # every service labelled, uncut
    spec = chart.to_dict()
    assert spec["encoding"]["color"]["legend"]["orient"] == "top"  # inside the chart's width


# -- the blast-radius picture -------------------------------------------------------------------
class _Closure:
    """A duck-typed closure of ``n`` credentials (a chain) touching ``m`` S3 objects each."""

    def __init__(self, n: int, m: int = 3) -> None:
        start = datetime(2024, 3, 1, tzinfo=UTC)
        keys = [f"ASIA{i:016d}" for i in range(n)]
        self.seed = keys[0]
        self.credentials = pl.DataFrame(
            {
                "access_key_id": keys,
                "joined_by": ["seed"] + ["minted"] * (n - 1),
                "via_access_key_id": [None, *keys[:-1]],
                "depth": list(range(n)),
                "principal": [f"arn:aws:iam::111122223333:role/r{i}" for i in range(n)],
                "first_used": [start + timedelta(minutes=n - i) for i in range(n)],
                "last_used": [start + timedelta(hours=1)] * n,
                "minted_at": [None] + [start] * (n - 1),
                "events": [10] * n,
                "source_ips": [["203.0.113.9", "s3.amazonaws.com"]] * n,
            }
        )
        arns = [f"arn:aws:s3:::b/{k}/{j}" for k in keys for j in range(m)]
        arns += [f"arn:aws:ec2:us-east-1:1:instance/i-{i}" for i in range(5)]
        arns += [f"arn:aws:svc{i}:us-east-1:1:thing/t" for i in range(40)]
        self.resources = pl.DataFrame(
            {
                "arn": arns,
                "service": [a.split(":")[2] for a in arns],
                "resource_type": [
                    "AWS::S3::Object" if ":s3:" in a else f"AWS::X::{a.split(':')[2]}" for a in arns
                ],
                "wrote": [i % 7 == 0 for i in range(len(arns))],
                "denied_only": [i % 11 == 0 for i in range(len(arns))],
                "events": [1] * len(arns),
                "access": ["read"] * len(arns),
            }
        )
        self.event_resources = pl.DataFrame(
            {
                "access_key_id": [a.split("/")[1] if ":s3:" in a else keys[0] for a in arns],
                "arn": arns,
                "access": ["read"] * len(arns),
            }
        )


def _assert_labels_apart(svg: str) -> None:
    columns: dict[tuple[str, int], list[float]] = {}
    for _text, anchor, x, y in text_marks(svg):
        columns.setdefault((anchor, round(x / 50)), []).append(y)
    assert columns, "no labels drawn"
    for ys in columns.values():
        ys.sort()
        gaps = [b - a for a, b in pairwise(ys)]
        assert all(g >= 12 for g in gaps), f"labels closer than a line: {gaps[:5]}"


def test_blast_picture_credentials_in_time_order_groups_with_counts():
    closure = _Closure(5)
    nodes, links = blast_picture_data(closure)
    creds = nodes.filter(pl.col("side") == "credential").sort("row")
    # first_used runs backwards in key order: the picture orders by time, the seed first
    assert creds.get_column("id").to_list()[0] == closure.seed
    assert creds.get_column("id").to_list()[1:] == sorted(
        closure.credentials["access_key_id"][1:], reverse=True
    )
    groups = nodes.filter(pl.col("side") == "resource")
    assert groups.height <= 30
    assert any(label.startswith("s3 Object ×15") for label in groups.get_column("label"))
    assert nodes.get_column("detail").str.len_chars().min() > 0  # every node named on hover
    assert "s3.amazonaws.com" not in " ".join(nodes.get_column("detail"))  # IPs only
    assert set(links.get_column("relation")) >= {"minted", "touched: read"}


@pytest.mark.parametrize("n", [6, 100])
def test_blast_picture_stays_readable_up_to_a_hundred_credentials(n):
    closure = _Closure(n)
    chart = fx.charts.blast_graph(closure)  # the widget's tab: the same drawing
    assert chart.to_dict()["layer"] == closure_chart(closure)["layer"]
    svg = _svg(chart)
    _assert_labels_apart(svg)
    _assert_legends_distinct(svg)
    nodes, _ = blast_picture_data(closure)
    assert nodes.get_column("row").max() * ROW <= 70 * ROW  # at most 60 credentials + "more"
    if n > 60:
        assert any("more credentials" in label for label in nodes.get_column("label"))


def closure_chart(closure) -> dict:
    from forensics.charts._blast import blast_chart

    return blast_chart(closure, "graph").to_dict()


def test_blast_picture_of_the_sample_incident(sample):
    trail, info = sample
    br = fx.blast_radius(trail, info.story["leaked_access_key_id"])
    svg = _svg(br.chart("graph"))
    _assert_labels_apart(svg)
    _assert_legends_distinct(svg)
    for key in info.story["closure_access_key_ids"]:
        assert key in svg


# -- widgets ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    info = fx.sample.write(out, events=2_500, days=2, file_minutes=60)
    return fx.load(out, cache=False), info


def test_blast_widget_clears_its_results_when_a_new_seed_fails(sample, tmp_path):
    trail, info = sample
    ui = fx.ui.blast_radius(trail, info.story["leaked_access_key_id"])
    assert ui.result is not None and not ui.export.disabled
    graph0 = ui.graph.spec
    ui.seed.value = "AKIANOSUCHKEY0000000"
    assert ui.result is None
    assert "fx-problem" in ui.status.value
    assert info.story["leaked_access_key_id"] not in ui.credentials.value + ui.events_table.value
    assert ui.summary.value == "" and ui.export.disabled
    assert ui.graph.spec != graph0
    assert all("(" not in ui.tabs.get_title(i) for i in range(len(ui.tabs.children)))


def test_explorer_row_click_opens_that_event(sample, tmp_path):
    trail, _ = sample
    ui = fx.ui.explore(trail, annotations=tmp_path / "a.json")
    assert ui.event not in ui.children  # no second list of the same rows
    ui.table.selected = 3  # what a click on the fourth row sends
    row = ui._page_rows.row(3, named=True)
    assert row["event_id"] in ui.record.value
    assert ui.annotate.layout.display != "none"


def test_explorer_counts_follow_the_selection(sample, tmp_path):
    trail, _ = sample
    ui = fx.ui.explore(trail, annotations=None)
    busiest = trail.events.group_by("principal").len().sort("len").item(-1, "principal")
    ui.principal.value = busiest
    counts = {v: label for label, v in ui.service.options}
    mine = trail.events.filter(pl.col("principal") == busiest)
    top = mine.group_by("event_source").len().sort("len").row(-1)
    assert counts[top[0]].endswith(f"({top[1]:,})")
    assert sum(v != "" for v in counts) == mine.get_column("event_source").n_unique()
    errors = dict((v, label) for label, v in ui.error.options)
    failed = mine.get_column("error_code").is_not_null().sum()
    assert errors["error"].endswith(f"({failed:,})")
    ui.service.value = top[0]  # its own filter: the others still count
    assert len(ui.service.options) > 2


def test_explorer_derived_toggle_pivots_and_search(sample):
    trail, info = sample
    user = info.story["compromised_user_arn"]
    ui = fx.ui.explore(trail, principal=user, annotations=None)
    direct = ui.filtered.height
    ui.derived.value = True
    assert ui.filtered.height == len(trail.for_principal(user, derived=True)) > direct
    ip = info.story["attacker_ips"][0]
    ui.ip.value = ip
    assert ui.filtered.height > 0 and set(ui.filtered.get_column("source_ip")) == {ip}
    ui.ip.value = ""
    agent = info.story["attacker_user_agents"][0][:12]
    ui.agent.value = agent
    assert ui.filtered.height > 0
    assert ui.filtered.get_column("user_agent").str.contains(agent, literal=True).all()
    ui.agent.value = ""
    bucket = info.story["sensitive_bucket"]
    ui.grep.value = bucket.upper()  # plain text: case-insensitive
    hits = ui.filtered.height
    assert hits > 0
    assert ui.filtered.get_column("request_parameters").str.contains(bucket).any()
    ui.grep.value = "/" + bucket[:4] + ".*" + bucket[-3:] + "/"
    assert ui.filtered.height >= hits
    ui.grep.value = "/[unclosed/"
    assert "fx-problem" in ui.status.value


def test_explorer_times_in_utc_unless_asked_and_the_zone_is_always_shown(sample):
    trail, _ = sample
    ui = fx.ui.explore(trail, annotations=None)
    assert "time (UTC)" in ui.table.value and "Z</td>" in ui.table.value
    first = ui._page_rows.item(0, "event_time")
    ui.tz.value = 120
    shifted = (first + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S") + "+02:00"
    assert "time (UTC+02:00)" in ui.table.value and shifted in ui.table.value


def test_annotations_are_kept_beside_the_notebook_and_go_into_the_ticket(sample, tmp_path):
    trail, info = sample
    path = tmp_path / "annotations.json"
    ui = fx.ui.explore(trail, principal=info.story["compromised_user_arn"], annotations=path)
    ui.table.selected = 0
    event_id = ui._page_rows.item(0, "event_id")
    ui.star.value = True
    ui.tags.value = "exfil, <b>bold</b>"
    ui.note.value = "first call | from the attacker's IP"
    ui.save_note.click()
    saved = json.loads(path.read_text())["events"][event_id]
    assert saved["starred"] and saved["tags"] == ["<b>bold</b>", "exfil"]
    assert "★" in ui.table.value
    again = fx.ui.explore(trail, annotations=path)  # read back by a new widget
    assert again.notes.get(event_id)["note"].startswith("first call")

    files = fx.export.ticket(
        trail.for_principal(info.story["compromised_user_arn"]),
        tmp_path / "ticket",
        annotations=path,
    )
    md = (tmp_path / "ticket" / "annotations.md").read_text()
    assert event_id in md and "★" in md and "<b>" not in md and "\\|" in md
    assert "annotations.md" in files
    elsewhere = fx.export.ticket(
        trail.where(principal="nobody-at-all"), tmp_path / "other", annotations=path
    )
    assert "annotations.md" not in elsewhere  # notes on other events stay out


# -- the report and the summary -------------------------------------------------------------------
def test_report_of_a_100k_event_principal_fits_a_laptop_and_5_mb(tmp_path):
    from _ui_helpers import synthetic_events

    events = synthetic_events(100_000, days=3, principals=1).with_columns(
        request_parameters=pl.format('{{"bucketName": "b", "key": "{}"}}', pl.col("event_id")),
        source_file=pl.lit(None, dtype=pl.String).cast(pl.Categorical),
    )
    files = fx.export.ticket(fx.Trail(events), tmp_path / "t")
    page = files["report.html"].read_text("utf-8")
    assert files["report.html"].stat().st_size <= 5 * 1024 * 1024
    assert files["summary.md"].stat().st_size <= 4096
    assert page.count("<table>") == page.count('<div class="scroll"><table>')  # never cut off
    assert "<details><summary>events 1–100</summary>" in page  # paginated, collapsed
    assert "<details><summary><h3>ARNs" in page or "ARNs" in page
    # no cell longer than a few lines of text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert max(len(c) for c in cells) <= 240 * 6 + 1


def test_summary_counts_agree_with_the_indicator_lists(tmp_path, sample):
    trail, info = sample
    br = fx.blast_radius(trail, info.story["leaked_access_key_id"])
    files = fx.export.ticket(br, tmp_path / "t")
    text = files["summary.md"].read_text("utf-8")
    assert len(text.encode()) <= 4096
    for title, count in (("Source IP addresses", "source IPs"), ("Regions", "regions")):
        listed = int(re.search(rf"### {title}[^(]*\((\d+)\)", text).group(1))
        assert f"| {count} | {listed:,} |" in text
    ips = [
        r for r in files["indicators.csv"].read_text().splitlines() if r.startswith('"source_ips"')
    ]
    assert ips and not any("amazonaws.com" in r for r in ips)
    assert "also acted via" in text  # the seed's owner had another key in the window


def test_blast_summary_says_when_the_owner_acted_through_other_credentials(sample):
    trail, info = sample
    br = fx.blast_radius(trail, info.story["leaked_access_key_id"])
    assert br.owner_elsewhere.height >= 1
    assert info.story["leaked_access_key_id"] not in br.owner_elsewhere["access_key_id"].to_list()
    note = [x for x in br.summary().splitlines() if x.startswith("Note:")]
    assert note and info.story["compromised_user_arn"] in note[0]
