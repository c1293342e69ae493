"""fx.export.ticket and `forensics ticket`: a folder a responder can attach, safe and reproducible."""

from __future__ import annotations

import hashlib
import json
import re

import polars as pl
import pytest

import forensics as fx
from forensics.cli import main
from tests._export_helpers import (
    CSV_TRIGGERS,
    HOSTILE,
    SECRET_KEY,
    SESSION_TOKEN,
    FakeBlastRadius,
    csv_rows,
    hostile_events,
    parse_html,
)

#: What report.html may contain: plain document structure, tables, and data: images.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li", "b",
    "span", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "img",
    "div", "details", "summary",
}  # fmt: skip


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hostile_trail(folder):
    log = folder / "logs" / "hostile.json"
    log.parent.mkdir(parents=True)
    log.write_text('{"Records": []}\n')  # stands in for the input log (hashed by the manifest)
    return fx.Trail(hostile_events(str(log))).where(access_key_id="ASIAEXAMPLEKEY000001"), log


@pytest.fixture
def hostile_trail(tmp_path):
    return _hostile_trail(tmp_path)


HOSTILE_TITLE = "| x | <script>alert(1)</script>"


@pytest.fixture(scope="module")
def hostile_ticket(tmp_path_factory):
    """One ticket of the hostile trail (rendering charts costs a second; share it)."""
    folder = tmp_path_factory.mktemp("hostile")
    trail, log = _hostile_trail(folder)
    files = fx.export.ticket(trail, folder / "INC-1", title=HOSTILE_TITLE)
    return trail, log, folder / "INC-1", files


def test_ticket_folder_has_every_file(hostile_ticket):
    _, _, out, files = hostile_ticket
    names = {p.name for p in out.iterdir()}
    assert names == set(files) == {
        "summary.md", "report.html", "events.csv", "manifest.json", "indicators.csv",
        "timeline.svg", "timeline.png", "actions.svg", "actions.png",
    }  # fmt: skip
    assert (out / "timeline.png").read_bytes().startswith(b"\x89PNG")


def test_manifest_hashes_every_output_and_input(hostile_ticket):
    trail, log, out, _ = hostile_ticket
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {o["path"]: o for o in manifest["outputs"]}
    assert set(listed) == {p.name for p in out.iterdir()} - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == _sha256(out / name)
        assert entry["bytes"] == (out / name).stat().st_size
    assert manifest["inputs"] == [
        {"path": str(log), "sha256": _sha256(log), "bytes": log.stat().st_size,
         "events": len(trail)}
    ]  # fmt: skip
    assert manifest["filters"] == ["access_key_id = ASIAEXAMPLEKEY000001"]
    assert manifest["redacted"] is True
    assert manifest["title"] == HOSTILE_TITLE
    assert "generated_at" not in manifest


def test_missing_input_file_is_recorded_not_hidden(tmp_path):
    trail = fx.Trail(hostile_events("gone/never-there.json.gz"))
    fx.export.ticket(trail, tmp_path / "t")
    [entry] = json.loads((tmp_path / "t" / "manifest.json").read_text())["inputs"]
    assert entry["sha256"] is None and "FileNotFoundError" in entry["error"]


def test_summary_md_has_what_when_who_filters_indicators(tmp_path, hostile_trail):
    trail, _ = hostile_trail
    fx.export.ticket(trail.between("2024-05-01T12:01:00Z", None), tmp_path / "t")
    text = (tmp_path / "t" / "summary.md").read_text("utf-8")
    for heading in ("## What", "## When", "## Filters", "## Who", "## Indicators", "## Counts"):
        assert heading in text
    assert "access\\_key\\_id = ASIAEXAMPLEKEY000001" in text
    assert "event\\_time in \\[2024-05-01T12:01:00+00:00, +inf\\)" in text
    assert "2024-05-01 12:01:00 UTC" in text  # first observed event, with its zone
    assert "203.0.113.7" in text and "ASIAEXAMPLEKEY000001" in text
    assert "arn:aws:iam::111122223333:role/victim" in text
    assert "| events | 15 |" in text


def test_hostile_text_is_inert_in_summary_md(hostile_ticket):
    out = hostile_ticket[2]
    text = (out / "summary.md").read_text("utf-8")
    assert text.startswith("# \\| x \\| &lt;script&gt;")
    assert "<script" not in text and "<img" not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no link or image syntax
    assert "\u202e" not in text
    tables = re.findall(r"((?:^\|.*\n)+)", text, flags=re.M)
    assert len(tables) >= 7
    for table in tables:  # every row of a table keeps the table's column count
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(counts) == 1, table[:200]


def test_hostile_text_is_inert_in_report_html(hostile_ticket):
    page = (hostile_ticket[2] / "report.html").read_text("utf-8")
    parsed = parse_html(page)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs)
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith("data:image/svg+xml;base64,"), (tag, attrs)
    assert not re.search(r"(?i)<(script|link|iframe|object|embed)\b", page)
    assert not re.search(r"(?i)\b(src|href)\s*=\s*[\"']?\s*(https?:|//|javascript:)", page)
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0]["content"]
    text = "".join(parsed.text)
    assert "<script>alert(1)</script>" in text  # shown, as text
    assert HOSTILE_TITLE in text
    assert "\u202e" not in page


def test_report_html_is_self_contained(hostile_ticket):
    page = (hostile_ticket[2] / "report.html").read_text("utf-8")
    parsed = parse_html(page)
    images = [a for t, a in parsed.tags if t == "img"]
    assert len(images) == 2  # timeline and actions, embedded
    for tag, attrs in parsed.tags:
        for value in attrs.values():
            assert not re.match(r"(?i)\s*(https?:)?//", value or ""), (tag, attrs)
    assert not re.search(r"(?i)@import|url\(\s*['\"]?https?:", page)
    style = page[page.index("<style>") : page.index("</style>")]
    assert "http" not in style and "//" not in style
    # a URL appears only where the (escaped) event text shows it, never in markup
    text = "".join(parsed.text)
    for scheme in ("http://", "https://", "javascript:"):
        assert page.count(scheme) == text.count(scheme)
    assert text.count("http://") > 0


def test_events_csv_is_neutralised_and_secrets_redacted(hostile_ticket):
    trail, _, out, _ = hostile_ticket
    rows = csv_rows(out / "events.csv")
    assert len(rows) == len(trail) + 1
    assert all(not cell.startswith(CSV_TRIGGERS) for row in rows for cell in row)
    for name in ("summary.md", "report.html", "events.csv"):
        text = (out / name).read_text("utf-8")
        assert SESSION_TOKEN not in text and SECRET_KEY not in text


def test_no_redact_is_an_explicit_choice(tmp_path):
    trail = fx.Trail(hostile_events())
    fx.export.ticket(trail, tmp_path / "t", redact=False)
    assert "NOT redacted" in (tmp_path / "t" / "summary.md").read_text("utf-8")
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["redacted"] is False


def test_ticket_is_deterministic(tmp_path, hostile_trail):
    trail, _ = hostile_trail
    shuffled = fx.Trail(trail.events.sample(fraction=1.0, shuffle=True, seed=1))
    shuffled.filters = trail.filters
    fx.export.ticket(trail, tmp_path / "a")
    fx.export.ticket(shuffled, tmp_path / "b")
    for path in sorted((tmp_path / "a").iterdir()):
        if path.suffix == ".png":  # PNG depends on the installed fonts: compared as SVG
            continue
        if path.name == "manifest.json":
            a, b = (json.loads(p.read_text()) for p in (path, tmp_path / "b" / path.name))
            for m in (a, b):
                m["outputs"] = [o for o in m["outputs"] if not o["path"].endswith(".png")]
            assert a == b
            continue
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_generated_at_only_when_given(tmp_path):
    trail = fx.Trail(hostile_events())
    fx.export.ticket(trail, tmp_path / "t", generated_at="2024-06-01T08:00:00Z")
    assert "Generated: 2024-06-01 08:00:00 UTC" in (tmp_path / "t" / "summary.md").read_text()
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["generated_at"] == "2024-06-01T08:00:00+00:00"


def test_rerun_into_the_same_folder_removes_stale_outputs(tmp_path):
    events = hostile_events()
    fx.export.ticket(FakeBlastRadius(events, "ASIAEXAMPLEKEY000001"), tmp_path / "t")
    assert (tmp_path / "t" / "blast_radius.svg").exists()
    (tmp_path / "t" / "notes.txt").write_text("mine")
    fx.export.ticket(fx.Trail(events), tmp_path / "t")
    assert not (tmp_path / "t" / "blast_radius.svg").exists()
    assert not (tmp_path / "t" / "credentials.csv").exists()
    assert (tmp_path / "t" / "notes.txt").read_text() == "mine"


def test_ticket_of_a_blast_radius(tmp_path):
    events = hostile_events()
    short = fx.export.ticket(FakeBlastRadius(events, "ASIAEXAMPLEKEY000001"), tmp_path / "s")
    assert short["summary.md"].stat().st_size <= 4096  # a ticket body; the lists are attached
    indicators = short["indicators.csv"].read_text("utf-8")
    assert "arn:aws:s3:::bucket-a" in indicators and "ASIANOTINANYEVENT001" in indicators
    assert "not a fence break" in short["blast_radius.txt"].read_text("utf-8")
    # with no limit, everything is inline
    files = fx.export.ticket(
        FakeBlastRadius(events, "ASIAEXAMPLEKEY000001"), tmp_path / "t", summary_limit=None
    )
    for name in (
        "blast_radius.svg",
        "blast_radius.png",
        "credentials.csv",
        "principals.csv",
        "resources.csv",
        "denied.csv",
    ):
        assert name in files
    text = (tmp_path / "t" / "summary.md").read_text("utf-8")
    assert "# Blast radius of ASIAEXAMPLEKEY000001" in text
    assert "ASIANOTINANYEVENT001 | 0 |" in text  # an indicator no event carries is still listed
    assert "| 203.0.113.7 | 10 |" in text
    assert "| &lt;script&gt;alert\\(1\\)&lt;/script&gt; | 1 |" in text  # counted, escaped
    assert "arn:aws:s3:::bucket-a" in text
    assert "since 2020-09-14 00:00:00 UTC" in text
    assert "```\nnot a fence break" in text  # the summary text sits inside a longer fence
    resources = csv_rows(tmp_path / "t" / "resources.csv")
    assert [r[0] for r in resources[1:]] == ["arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-b"]
    denied = csv_rows(tmp_path / "t" / "denied.csv")
    assert len(denied) - 1 == events.filter(pl.col("error_code").is_not_null()).height
    assert all(not c.startswith(CSV_TRIGGERS) for row in denied for c in row)
    page = (tmp_path / "t" / "report.html").read_text("utf-8")
    assert len([t for t, _ in parse_html(page).tags if t == "img"]) == 3


def test_ticket_rejects_what_it_cannot_read(tmp_path):
    with pytest.raises(TypeError, match="Trail or a blast-radius result"):
        fx.export.ticket(object(), tmp_path / "t")


def test_hostile_strings_survive_in_every_format_as_data(tmp_path, hostile_trail):
    """Inert is not the same as lost: the JSON-lines export keeps every string exactly."""
    trail, _ = hostile_trail
    path = fx.export.events(trail, tmp_path / "e.jsonl")
    values = {json.loads(line)["user_agent"] for line in path.read_text("utf-8").splitlines()}
    assert values == set(HOSTILE)


# -- the external data --------------------------------------------------------------------------
INVICTUS = "invictus-ir-aws_dataset"
OTRF = "otrf-security-datasets"
BERT_JAN = "arn:aws:iam::123837392027:user/bert-jan"


def test_ticket_of_a_principal_on_invictus(tmp_path, external):
    trail = fx.load(external / INVICTUS, cache=False)
    fx.export.ticket(trail.where(principal=BERT_JAN), tmp_path / "t")
    text = (tmp_path / "t" / "summary.md").read_text("utf-8")
    assert "2,641" in text or "2,642" in text
    indicators = text[text.index("## Indicators") : text.index("## Counts")]
    for indicator in ("192.168.10.20", "10.8.8.10", BERT_JAN, "us-east-1"):
        assert f"| {indicator} |" in indicators
    assert "| 192.168.10.20 | 2104 |" in indicators
    # service names and "AWS Internal" are not addresses: counted, not listed as IP indicators
    assert "### Source IP addresses (3)" in indicators
    assert "| source IPs | 3 |" in text  # the count agrees with the list (was 6)
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert sum(i["events"] for i in manifest["inputs"]) == manifest["events"]
    for entry in manifest["inputs"][:5]:
        assert entry["sha256"] == _sha256(__import__("pathlib").Path(entry["path"]))


def test_cli_ticket_for_a_principal(tmp_path, external, capsys):
    pytest.importorskip("forensics.identity", reason="forensics.identity (issue 3) not merged")
    out = tmp_path / "INC-7"
    code = main(["ticket", str(external / INVICTUS), "--principal", BERT_JAN, "--out", str(out),
                 "--title", "INC-7", "--no-cache"])  # fmt: skip
    assert code == 0
    assert "summary.md" in capsys.readouterr().out
    text = (out / "summary.md").read_text("utf-8")
    assert text.startswith("# INC-7")
    assert "192.168.10.20" in text and BERT_JAN in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["events"] >= 2641
    assert {o["path"] for o in manifest["outputs"]} >= {"events.csv", "report.html", "timeline.svg"}


def test_cli_ticket_window(tmp_path, external):
    pytest.importorskip("forensics.identity", reason="forensics.identity (issue 3) not merged")
    out = tmp_path / "t"
    assert main(["ticket", str(external / INVICTUS), "--principal", BERT_JAN, "--out", str(out),
                 "--since", "2023-07-10T12:00:00Z", "--until", "2023-07-10T12:10:00Z",
                 "--no-cache"]) == 0  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["window"]["first_event"] >= "2023-07-10T12:00:00"
    assert manifest["window"]["last_event"] < "2023-07-10T12:10:00"


def test_cli_ticket_unknown_principal_is_a_clean_error(tmp_path, external, capsys):
    pytest.importorskip("forensics.identity", reason="forensics.identity (issue 3) not merged")
    code = main(["ticket", str(external / OTRF), "--principal", "arn:aws:iam::1:user/nobody",
                 "--out", str(tmp_path / "t"), "--no-cache"])  # fmt: skip
    assert code == 2
    assert "nobody" in capsys.readouterr().err


STOLEN_KEY = "ASIA5FLZVX4OPVKKVBMX"
BUCKET_ARN = "arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a"
ROLE_ARN = "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"


def test_ticket_of_the_otrf_blast_radius(tmp_path, external):
    pytest.importorskip("forensics.blast", reason="forensics.blast (issue 4) not merged")
    trail = fx.load(external / OTRF, cache=False)
    result = fx.blast_radius(trail, STOLEN_KEY)
    fx.export.ticket(result, tmp_path / "t", title="OTRF stolen key")
    text = (tmp_path / "t" / "summary.md").read_text("utf-8")
    indicators = text[text.index("## Indicators") : text.index("## Counts")]
    for indicator in (STOLEN_KEY, BUCKET_ARN, "1.2.3.4", "us-east-1"):
        assert f"| {indicator} |" in indicators, indicator
    assert len(text.encode()) <= 4096
    assert ROLE_ARN in (tmp_path / "t" / "indicators.csv").read_text()  # the whole list
    assert f"| {BUCKET_ARN}/ring.txt | 2 |" in indicators  # the object, read twice
    assert "| events | 11 |" in text
    page = (tmp_path / "t" / "report.html").read_text("utf-8")
    assert STOLEN_KEY in page and BUCKET_ARN in page
    assert (tmp_path / "t" / "blast_radius.svg").exists()
    # a second run on a fresh result gives the same bytes (PNG aside)
    fx.export.ticket(fx.blast_radius(trail, STOLEN_KEY), tmp_path / "u", title="OTRF stolen key")
    for path in sorted((tmp_path / "t").iterdir()):
        if path.suffix not in (".png", ".json"):
            assert path.read_bytes() == (tmp_path / "u" / path.name).read_bytes(), path.name


def test_cli_ticket_for_a_seed(tmp_path, external):
    pytest.importorskip("forensics.blast", reason="forensics.blast (issue 4) not merged")
    out = tmp_path / "t"
    assert main(["ticket", str(external / OTRF), "--seed", STOLEN_KEY, "--out", str(out),
                 "--no-cache"]) == 0  # fmt: skip
    text = (out / "summary.md").read_text("utf-8")
    assert STOLEN_KEY in text and BUCKET_ARN in text


def test_ticket_of_an_empty_result(tmp_path):
    with pytest.warns(UserWarning, match="no events"):  # and says so (issue 13)
        files = fx.export.ticket(fx.Trail(hostile_events().head(0)), tmp_path / "t")
    text = (tmp_path / "t" / "summary.md").read_text("utf-8")
    assert "0 CloudTrail events" in text and "No events." in text
    assert csv_rows(files["events.csv"]) == [csv_rows(files["events.csv"])[0]]
    assert json.loads(files["manifest.json"].read_text())["inputs"] == []


def _render_markdown(text: str) -> str:
    """GitHub-like rendering that lets raw HTML through: our escaping must do all the work."""
    mistune = pytest.importorskip("mistune")
    return mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])(text)


def _assert_inert_html(page: str) -> None:
    parsed = parse_html(page)
    allowed = {"h1", "h2", "h3", "p", "ul", "li", "strong", "em", "code", "pre", "br", "a",
               "table", "thead", "tbody", "tr", "th", "td"}  # fmt: skip
    assert {tag for tag, _ in parsed.tags} <= allowed
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "a":  # bare URLs in event text may be autolinked, never to script
            assert re.match(r"https?://", attrs.get("href") or ""), attrs


def test_summary_md_renders_inert(hostile_ticket, tmp_path):
    trail = hostile_ticket[0]  # every hostile value inline: no size limit
    fx.export.ticket(trail, tmp_path / "full", title=HOSTILE_TITLE, summary_limit=None)
    text = (tmp_path / "full" / "summary.md").read_text("utf-8")
    page = _render_markdown(text)
    _assert_inert_html(page)
    assert "<table>" in page
    rendered = "".join(parse_html(page).text)
    assert "<script>alert(1)</script>" in rendered  # shown as text
    assert "[x](javascript:alert(1))" in rendered


def test_markdown_events_render_inert(tmp_path, hostile_trail):
    trail, _ = hostile_trail
    text = fx.export.events(trail, tmp_path / "e.md", columns="all").read_text("utf-8")
    page = _render_markdown(text)
    _assert_inert_html(page)
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    assert len(rows) == len(trail) + 1
    assert {len(re.findall(r"<t[hd][ >]", row)) for row in rows} == {len(fx.COLUMNS)}


def test_a_chart_the_renderer_cannot_draw_leaves_a_placeholder_not_a_crash(
    tmp_path, hostile_trail, monkeypatch
):
    from forensics.export import _ticket

    real = _ticket.chart_bytes

    def refuses(chart, fmt, **kw):  # vl-convert on a chart too big for its stack
        if "could not be drawn" not in json.dumps(chart.to_dict(), default=str):
            raise RuntimeError("RangeError: Maximum call stack size exceeded")
        return real(chart, fmt, **kw)

    monkeypatch.setattr(_ticket, "chart_bytes", refuses)
    trail, _ = hostile_trail
    with pytest.warns(UserWarning, match="could not be drawn"):
        files = fx.export.ticket(trail, tmp_path / "INC-2", title="x")
    svg = (tmp_path / "INC-2" / "timeline.svg").read_text()
    assert "could not be drawn" in svg and "RangeError" in svg
    assert (tmp_path / "INC-2" / "events.csv").exists() and "report.html" in files


def test_blast_timeline_draws_the_busiest_credentials_and_one_row_for_the_rest():
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from forensics.charts._blast import MAX_CREDENTIAL_ROWS, blast_chart

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    keys = [f"ASIA{i:016d}" for i in range(300)]
    events = pl.DataFrame(
        {
            "event_time": [t0 + timedelta(minutes=i) for i in range(3000)],
            "access_key_id": [keys[i % 300] if i % 3 else keys[0] for i in range(3000)],
            "event_name": ["GetObject"] * 3000,
            "error_code": pl.Series([None] * 3000, dtype=pl.String),
            "read_only": [True] * 3000,
        }
    )
    seed = keys[299]  # a quiet seed is still drawn (keys[3k] are never used, but keys[0])
    spec = blast_chart(SimpleNamespace(events=events, seed=seed)).to_dict()
    [rows] = spec["datasets"].values()
    drawn = {r["access_key_id"] for r in rows}
    assert len(drawn) == MAX_CREDENTIAL_ROWS
    assert seed in drawn and keys[0] in drawn
    assert any(k.startswith("(") and "other credentials" in k for k in drawn)
    assert sum(r["calls"] for r in rows) == 3000  # nothing lost, only grouped
