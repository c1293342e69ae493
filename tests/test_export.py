"""fx.export.events / chart and the escaping and redaction under them: hostile text stays inert."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import altair as alt
import polars as pl
import pytest

import forensics as fx
from forensics._schema import empty_events
from forensics.export import TICKET_COLUMNS
from forensics.export._escape import csv_cell, csv_visible, html_text, md_fence, md_text
from forensics.export._redact import REDACTED, redact_json_text
from tests._export_helpers import (
    CSV_TRIGGERS,
    HOSTILE,
    SECRET_KEY,
    SESSION_TOKEN,
    csv_rows,
    hostile_events,
)


# -- escaping primitives ------------------------------------------------------------------------
@pytest.mark.parametrize("text", HOSTILE)
def test_csv_cell_never_starts_with_a_formula_trigger(text):
    cell = csv_cell(text)
    assert not cell.startswith(CSV_TRIGGERS)
    # nothing lost, only the guard added and control characters shown as escapes (issue 13)
    assert cell.endswith(csv_visible(text))


@pytest.mark.parametrize("text", ["GetObject", "1.2.3.4", "arn:aws:s3:::b", ""])
def test_csv_cell_leaves_plain_values_alone(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_is_one_inert_line(text):
    out = md_text(text)
    assert "\n" not in out and "\r" not in out
    assert "<" not in out.replace("<br>", "")  # the only tag is our own line break
    assert not re.search(r"(?<!\\)[|`\[\]]", out)  # no table, code or link syntax left
    assert "\u202e" not in out


def test_md_text_escapes_line_start_syntax_but_keeps_ips_readable():
    assert md_text("# heading").startswith("\\#")
    assert md_text("1. item") == "1\\. item"
    assert md_text("10.8.8.10") == "10.8.8.10"


def test_md_fence_cannot_be_closed_from_inside():
    block = md_fence("a\n````\n<script>")
    fence = block.splitlines()[0].removesuffix("text")
    inner = block.splitlines()[1:-1]
    assert all(not line.startswith(fence) for line in inner)


@pytest.mark.parametrize("text", HOSTILE)
def test_html_text_has_no_markup(text):
    out = html_text(text)
    assert "<" not in out and ">" not in out and '"' not in out


# -- redaction ----------------------------------------------------------------------------------
def test_redaction_keeps_the_key_id_and_removes_secrets():
    text = json.dumps(
        {
            "credentials": {
                "accessKeyId": "ASIAEXAMPLE",
                "secretAccessKey": SECRET_KEY,
                "sessionToken": SESSION_TOKEN,
                "expiration": "Sep 14, 2020",
            },
            "SecretString": '{"db":"pw"}',
            "masterUserPassword": "hunter2",
            "passwordResetRequired": True,
            "privateKey": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        }
    )
    out = json.loads(redact_json_text(text))
    assert out["credentials"]["accessKeyId"] == "ASIAEXAMPLE"
    assert out["credentials"]["expiration"] == "Sep 14, 2020"
    assert out["credentials"]["secretAccessKey"] == REDACTED
    assert out["credentials"]["sessionToken"] == REDACTED
    assert out["SecretString"] == REDACTED
    assert out["masterUserPassword"] == REDACTED
    assert out["passwordResetRequired"] is True
    assert out["privateKey"] == REDACTED


def test_redaction_by_value_in_free_text():
    text = json.dumps(
        {
            "commands": [f"export AWS_SECRET_ACCESS_KEY={SECRET_KEY}; curl https://u:pw123@h/x"],
            "blob": f"token {SESSION_TOKEN}",
            "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
            "pem": "-----BEGIN PRIVATE KEY-----\nMIIE",
            "lone": SECRET_KEY,
        }
    )
    out = redact_json_text(text)
    for secret in (SECRET_KEY, SESSION_TOKEN, "pw123", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "MIIE"):
        assert secret not in out
    assert "https://u:" in out and "curl" in out  # the text around a secret stays


def test_redaction_leaves_text_without_secrets_byte_identical():
    text = '{"bucketName":"b","key":"ring.txt","secretId":"arn:aws:secretsmanager:x"}'
    assert redact_json_text(text) is text


# -- events(): formats --------------------------------------------------------------------------
def test_default_columns_are_the_ticket_columns(tmp_path):
    path = fx.export.events(hostile_events(), tmp_path / "e.csv")
    header = csv_rows(path)[0]
    assert tuple(header) == TICKET_COLUMNS
    assert csv_rows(path)[1][0] == "2024-05-01T12:00:00Z"  # UTC, with its zone


def test_csv_cells_are_neutralised_and_complete(tmp_path):
    frame = hostile_events()
    path = fx.export.events(frame, tmp_path / "all.csv", columns="all")
    rows = csv_rows(path)
    assert len(rows) == frame.height + 1
    cells = [c for row in rows for c in row]
    assert all(not c.startswith(CSV_TRIGGERS) for c in cells)
    user_agents = [row[rows[0].index("user_agent")] for row in rows[1:]]
    assert user_agents[0] == "'" + HOSTILE[0]
    assert user_agents[-1] == HOSTILE[-1]  # 20k characters, nothing cut in CSV
    # newlines/CR shown as escapes: one event, one line, even printed in a terminal (issue 13)
    assert csv_visible(HOSTILE[12]) in user_agents


def test_secrets_are_redacted_by_default_in_every_format(tmp_path):
    frame = hostile_events()
    for ext in ("csv", "jsonl", "md"):
        text = fx.export.events(frame, tmp_path / f"a.{ext}", columns="all").read_text("utf-8")
        assert SESSION_TOKEN not in text and SECRET_KEY not in text and "hunter2" not in text
        assert "ASIAEXAMPLEKEY000002" in text  # the minted key id stays: it is an indicator
    back = pl.read_parquet(fx.export.events(frame, tmp_path / "a.parquet", columns="all"))
    assert not back.get_column("response_elements").str.contains(SESSION_TOKEN).any()
    raw = fx.export.events(frame, tmp_path / "raw.jsonl", columns="all", redact=False)
    assert SESSION_TOKEN in raw.read_text("utf-8")


def test_jsonl_and_parquet_round_trip_the_text_exactly(tmp_path):
    frame = hostile_events()
    lines = fx.export.events(frame, tmp_path / "e.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["user_agent"] for line in lines] == list(HOSTILE)
    back = pl.read_parquet(fx.export.events(frame, tmp_path / "e.parquet"))
    assert back.get_column("user_agent").to_list() == list(HOSTILE)
    assert back.schema["event_time"] == pl.Datetime("us", "UTC")
    assert back.columns == list(TICKET_COLUMNS)


def test_markdown_table_stays_a_table(tmp_path):
    frame = hostile_events()
    text = fx.export.events(frame, tmp_path / "e.md", columns="all").read_text("utf-8")
    lines = text.splitlines()
    assert len(lines) == frame.height + 2
    columns = len(frame.columns)
    for line in lines:
        assert len(re.findall(r"(?<!\\)\|", line)) == columns + 1
    assert "<script" not in text and "<img" not in text
    assert not re.search(r"(?<!\\)\]\(", text)
    assert "\u202e" not in text
    assert max(len(line) for line in lines) < columns * 700  # long cells are cut ...
    assert "…" in text  # ... visibly


def test_unknown_extension_and_column_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"\.csv"):
        fx.export.events(empty_events(), tmp_path / "e.xlsx")
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        fx.export.events(empty_events(), tmp_path / "e.csv", columns=["event_name", "nope"])


def test_chosen_columns_mix_ticket_and_table_names(tmp_path):
    path = fx.export.events(
        hostile_events(), tmp_path / "e.csv", columns=["event_time", "region", "error_message"]
    )
    assert csv_rows(path)[0] == ["event_time", "region", "error_message"]


def test_exports_are_deterministic(tmp_path):
    frame = hostile_events()
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    for ext in ("csv", "jsonl", "md"):
        a = fx.export.events(frame, tmp_path / f"a.{ext}", columns="all").read_bytes()
        b = fx.export.events(shuffled, tmp_path / f"b.{ext}", columns="all").read_bytes()
        assert a == b, ext


def test_events_accepts_a_trail(tmp_path):
    trail = fx.Trail(hostile_events())
    path = fx.export.events(trail.where(error=True), tmp_path / "denied.csv")
    assert (
        len(csv_rows(path))
        == 1 + hostile_events().filter(pl.col("error_code").is_not_null()).height
    )


# -- chart() ------------------------------------------------------------------------------------
def _hostile_chart():
    data = pl.DataFrame({"label": list(HOSTILE[:12]), "n": list(range(12))})
    return (
        alt.Chart(data, title="<script>alert(1)</script>")
        .mark_bar()
        .encode(x="n:Q", y="label:N", color="label:N")
    )


def test_chart_svg_is_deterministic_and_has_no_script(tmp_path):
    a = fx.export.chart(_hostile_chart(), tmp_path / "a.svg").read_bytes()
    b = fx.export.chart(_hostile_chart(), tmp_path / "b.svg").read_bytes()
    assert a == b
    root = ET.fromstring(a)
    for element in root.iter():
        assert not element.tag.endswith("script")
        assert not any(k.lower().startswith("on") for k in element.attrib)
        assert not any(v.strip().lower().startswith("javascript:") for v in element.attrib.values())


def test_chart_png_and_pdf(tmp_path):
    png1 = fx.export.chart(_hostile_chart(), tmp_path / "c.png", scale=1).read_bytes()
    png2 = fx.export.chart(_hostile_chart(), tmp_path / "c2.png", scale=2).read_bytes()
    assert png1.startswith(b"\x89PNG") and png2.startswith(b"\x89PNG")
    width = int.from_bytes(png1[16:20], "big")
    assert int.from_bytes(png2[16:20], "big") == 2 * width
    pdf = fx.export.chart(_hostile_chart(), tmp_path / "c.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")


def test_chart_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        fx.export.chart(_hostile_chart(), tmp_path / "c.gif")


def test_chart_never_fetches(tmp_path):
    spec = {"data": {"url": "http://127.0.0.1:9/data.json"}, "mark": "bar"}
    with pytest.raises(Exception):  # noqa: B017 - vl-convert's own error type
        fx.export.chart(spec, tmp_path / "c.svg")


def test_chart_times_are_utc_whatever_the_machine_zone(tmp_path):
    """A chart that forgets ``scale=utc`` still reads UTC, and the SVG bytes do not move."""
    import subprocess
    import sys

    data = pl.DataFrame({"t": ["2020-09-14T01:00:00Z", "2020-09-14T01:13:00Z"], "n": [1, 2]})
    spec = alt.Chart(data).mark_point().encode(x="t:T", y="n:Q").to_dict()
    here = fx.export.chart(spec, tmp_path / "here.svg").read_bytes()
    code = (
        "import json, sys, forensics as fx\nfx.export.chart(json.loads(sys.argv[1]), sys.argv[2])\n"
    )
    env = {**__import__("os").environ, "TZ": "Asia/Kolkata"}
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec), str(tmp_path / "there.svg")],
        check=True, env=env,
    )  # fmt: skip
    assert (tmp_path / "there.svg").read_bytes() == here
    assert ">01:05<" in here.decode() or ">01:10<" in here.decode()


def test_svg_of_a_chart_with_a_selection_is_stable_within_a_process(tmp_path):
    """Vega numbers clip paths from a process-wide counter; the export renumbers them."""
    brush = alt.selection_interval(encodings=["x"], name="brush")
    chart = _hostile_chart().add_params(brush)
    first = fx.export.chart(chart, tmp_path / "a.svg").read_bytes()
    second = fx.export.chart(chart, tmp_path / "b.svg").read_bytes()
    assert b"clipPath" in first
    assert first == second


def test_svg_does_not_depend_on_the_row_order_of_the_data(tmp_path):
    """Charts built from a group_by list rows in any order; the exported SVG must not care."""
    data = pl.DataFrame(
        {
            "t": [f"2024-05-01T12:0{i % 10}:00Z" for i in range(30)],
            "key": [f"ASIA{i % 3}" for i in range(30)],
            "n": list(range(30)),
        }
    )

    def build(frame):
        return alt.Chart(frame).mark_circle().encode(x="t:T", y="key:N", size="n:Q")

    a = fx.export.chart(build(data), tmp_path / "a.svg").read_bytes()
    b = fx.export.chart(build(data.reverse()), tmp_path / "b.svg").read_bytes()
    assert a == b
