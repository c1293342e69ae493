"""One redaction mechanism behind every output (issue 13, item 2).

A secret is planted in every field of :data:`forensics.safety._redaction.SECRET_FIELDS` (plus the
by-name and by-value cases the issue found leaking) and looked for, byte by byte, in every
output: the event exports in all four formats with every column, the ticket folder, the
explorer widget's raw-record view and the command line.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _loader_helpers import record, write_json
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.safety._redaction import REDACTED, SECRET_FIELDS, redact_record, redact_text


def _build(steps: list[str], leaf: Any) -> Any:
    """The smallest JSON that holds ``leaf`` at ``steps`` (``[]``: a list, ``*``: any key)."""
    if not steps:
        return leaf
    step, rest = steps[0], steps[1:]
    if step.endswith("[]"):
        name = step[:-2]
        inner = [{"name": "PLAIN_NAME", **_build(rest, leaf)} if rest else leaf]
        return {name: inner} if name else inner
    if step == "*":
        return {"HARMLESS_LOOKING_NAME": _build(rest, leaf)}
    return {step: _build(rest, leaf)}


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    return b


def _planted() -> tuple[list[dict[str, Any]], list[str]]:
    """One record per table field with a unique secret there; the secrets."""
    records, secrets = [], []
    n = 0
    for (source, name), fields in SECRET_FIELDS.items():
        for path, kind in fields:
            n += 1
            if kind == "secret":
                plant = f"PLANTsecret{n:03d}q"
                secrets.append(plant)
            else:
                a, b = f"PLANTcmdp{n:03d}q", f"PLANTbearer{n:03d}q"
                plant = f"mysql -uadmin -p{a} db; curl -H 'Authorization: Bearer {b}' x"
                secrets += [a, b]
            body = _build(path.split("."), plant)
            rec = record(
                n,
                eventSource=source,
                eventName=name,
                requestParameters={"keep": f"visible{n}"},
                responseElements=None,
            )
            rec = _merge(rec, body)
            records.append(rec)
    extras = [
        (
            "s3.amazonaws.com",
            "PutObject",
            {
                "requestParameters": {
                    "bucketName": "b",
                    "x-amz-server-side-encryption-customer-key": "PLANTssec01q",
                }
            },
            ["PLANTssec01q"],
        ),
        (
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
            {"requestParameters": {"environment": {"variables": {"DB_HOST": "PLANTlambda01q"}}}},
            ["PLANTlambda01q"],
        ),
        (
            "sts.amazonaws.com",
            "GetCallerIdentity",
            {"errorCode": "X", "errorMessage": "denied for Authorization: Bearer PLANTerror001q"},
            ["PLANTerror001q"],
        ),
    ]
    for source, name, fields, plants in extras:
        n += 1
        records.append(_merge(record(n, eventSource=source, eventName=name), fields))
        secrets += plants
    return records, secrets


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    records, secrets = _planted()
    write_json(folder / "data" / "trail.json", {"Records": records})
    trail = fx.load(folder / "data", cache=False)
    assert len(trail) == len(records) and trail.report.ok
    return folder, trail, secrets


def _leaks(data: bytes | str, secrets: list[str]) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in secrets if s in text]


def test_the_table_is_well_formed():
    for (source, name), fields in SECRET_FIELDS.items():
        assert source.endswith(".amazonaws.com") and name[:1].isupper()
        for path, kind in fields:
            assert kind in ("secret", "command")
            assert path.split(".")[0] in (
                "requestParameters",
                "responseElements",
                "additionalEventData",
                "serviceEventDetails",
            )


def test_every_planted_secret_is_in_the_loaded_table(planted):
    """The test would prove nothing if the secrets never reached the events table."""
    _, trail, secrets = planted
    dump = trail.events.select(
        "request_parameters", "response_elements", "error_message"
    ).write_csv()
    assert _leaks(dump, secrets) == secrets


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".md"])
def test_exports_with_every_column_redact_every_field(planted, suffix):
    folder, trail, secrets = planted
    out = fx.export.events(trail, folder / f"all{suffix}", columns="all")
    data = pl.read_parquet(out).write_ndjson() if suffix == ".parquet" else out.read_bytes()
    assert _leaks(data, secrets) == []
    text = data.decode() if isinstance(data, bytes) else data
    assert "REDACTED" in text and "visible7" in text  # the rest of the record is kept
    unredacted = fx.export.events(trail, folder / f"raw{suffix}", columns="all", redact=False)
    raw = (
        pl.read_parquet(unredacted).write_ndjson()
        if suffix == ".parquet"
        else (unredacted.read_bytes())
    )
    if suffix != ".md":  # Markdown cuts long cells
        assert _leaks(raw, secrets) == secrets


def test_the_ticket_folder_holds_no_secret(planted):
    folder, trail, secrets = planted
    files = fx.export.ticket(trail, folder / "ticket", title="INC")
    for name, path in files.items():
        assert _leaks(path.read_bytes(), secrets) == [], name


def test_the_widget_raw_record_view_is_redacted(planted):
    _, trail, secrets = planted
    ui = fx.ui.explore(trail, page_size=len(trail))
    shown = []
    for i in range(len(trail)):
        ui.show_record(i)
        shown.append(ui.record.value)
    assert _leaks("".join(shown), secrets) == []
    assert "original record of event" in shown[0]


def test_the_widget_row_fallback_is_redacted(planted):
    from forensics.ui._html import record_html

    _, trail, secrets = planted
    rows = [{k: v for k, v in r.items() if v is not None} for r in trail.events.to_dicts()]
    assert _leaks(record_html(rows), secrets) == []


def test_the_command_line_prints_and_writes_no_secret(planted):
    from forensics.cli import main

    folder, _trail, secrets = planted
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["load", str(folder / "data"), "--no-cache"]) == 0
        assert (
            main(
                [
                    "ticket",
                    str(folder / "data"),
                    "--principal",
                    "alice",
                    "--no-cache",
                    "--out",
                    str(folder / "cli-ticket"),
                ]
            )
            == 0
        )
    assert _leaks(out.getvalue(), secrets) == []
    for path in Path(folder / "cli-ticket").iterdir():
        assert _leaks(path.read_bytes(), secrets) == [], path.name


def test_original_records_and_rows_through_the_same_function():
    rec = {
        "eventSource": "ssm.amazonaws.com",
        "eventName": "PutParameter",
        "requestParameters": {"name": "/app/db", "value": "hunter2", "type": "String"},
    }
    assert redact_record(rec)["requestParameters"] == {
        "name": "/app/db",
        "value": REDACTED,
        "type": "String",
    }
    row = {
        "event_source": "ssm.amazonaws.com",
        "event_name": "PutParameter",
        "request_parameters": json.dumps(rec["requestParameters"]),
    }
    assert "hunter2" not in redact_record(row)["request_parameters"]
    assert rec["requestParameters"]["value"] == "hunter2"  # the input is not modified


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("mysql -h db -u root -pS3cretPw1 app", "S3cretPw1"),
        ("psql --password hunter22 -c x", "hunter22"),
        ("export DB_PASSWORD='hunter22'; run", "hunter22"),
        ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA=="),
    ],
)
def test_command_text_rules(text, gone):
    assert gone not in redact_text(text, command=True)


def test_plain_text_is_kept():
    assert redact_text("yum -y install httpd", command=True) == "yum -y install httpd"
    assert redact_text("aws s3 ls s3://bucket/prefix") == "aws s3 ls s3://bucket/prefix"


_FIELDS = [(key, path, kind) for key, fields in SECRET_FIELDS.items() for path, kind in fields]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_FIELDS),
    st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_!%^*",
        min_size=6,
        max_size=40,
    ),
    st.booleans(),
)
def test_any_secret_in_any_table_field_is_redacted_in_records_and_rows(field, secret, as_row):
    (source, name), path, kind = field
    secret = "QX" + secret  # found nowhere else in the record
    plant = secret if kind == "secret" else f"mysql -p{secret} -e 'select 1'"
    rec = _merge(record(1, eventSource=source, eventName=name), _build(path.split("."), plant))
    if as_row:
        rec = {
            "event_source": source,
            "event_name": name,
            "request_parameters": json.dumps(rec.get("requestParameters")),
            "response_elements": json.dumps(rec.get("responseElements")),
        }
    assert secret not in json.dumps(redact_record(rec))
