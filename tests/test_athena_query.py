"""The one query: the SQL sent to Athena, run by DuckDB over the same files, gives exactly the
events of ``fx.load(local)`` + the same filters (sample and external data)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
import sqlglot

import forensics as fx
from forensics import athena
from forensics.ingest.athena._query import Filters, build, principal_condition, trino
from tests._athena_helpers import assert_same_events, relay_as_records

SAMPLE = Path("data/sample")
DAY = ("2026-03-04", "2026-03-05")
ACCOUNT = "222233334444"


@pytest.fixture(scope="module")
def sample() -> Path:
    if not (SAMPLE / ".complete").exists():
        pytest.skip("data/sample missing: run `make sample`")
    return SAMPLE


@pytest.fixture(scope="module")
def engine(sample: Path) -> athena.DuckDBEngine:
    return athena.DuckDBEngine(sample)


@pytest.fixture(scope="module")
def day_trail(sample: Path) -> fx.Trail:
    return fx.load(sample, start=DAY[0], end=DAY[1], accounts=[ACCOUNT], cache=False)


def via_athena(engine: athena.DuckDBEngine, **kw: object) -> pl.DataFrame:
    return fx.load("athena://forensics.cloudtrail", remote={"engine": engine}, **kw).events


# -- the query ----------------------------------------------------------------------------------
def test_trino_sql_parses_and_transpiles_to_the_same_tree() -> None:
    q = build(
        "db.t",
        start="2026-03-04",
        end="2026-03-05",
        accounts=["111122223333"],
        regions=["us-east-1"],
        event_names=["AssumeRole"],
        access_keys=["AKIAX"],
        principals=["arn:aws:iam::111122223333:user/alice"],
    )
    sql = trino(q)
    parsed = sqlglot.parse_one(sql, read="trino")
    assert parsed.sql(dialect="trino") == sql
    assert parsed.sql(dialect="duckdb") == athena.duckdb(q)
    where = sql.split(" WHERE ", 1)[1]
    for piece in (
        "account = '111122223333'",
        "region = 'us-east-1'",
        "\"timestamp\" >= '2026/03/03'",
        "\"timestamp\" <= '2026/03/06'",
        "eventname = 'AssumeRole'",
        "useridentity.accesskeyid = 'AKIAX'",
        "eventtime >= '2026-03-03'",
        "eventtime < '2026-03-05T14:00:00'",
    ):
        assert piece in where


def test_values_are_quoted_not_spliced() -> None:
    evil = "x' OR 1=1 --"
    sql = trino(build("db.t", event_names=[evil], principals=[evil]))
    assert "'x'' OR 1=1 --'" in sql
    assert sqlglot.parse_one(sql, read="trino").find(sqlglot.exp.Or) is not None
    assert " OR 1=1" not in sql.replace("'x'' OR 1=1 --'", "")


def test_bad_table_name_is_refused() -> None:
    with pytest.raises(ValueError, match="table"):
        build("db.t; DROP TABLE x")
    with pytest.raises(fx.LoadError, match=r"athena://DATABASE\.TABLE"):
        fx.load("athena://nodot")


def test_missing_columns_are_selected_as_null() -> None:
    sql = trino(build("db.t", columns=["eventtime", "eventname", "useridentity"]))
    assert "CAST(NULL AS VARCHAR) AS managementevent" in sql


def test_principal_superset_for_every_kind() -> None:
    for p, piece in [
        ("arn:aws:iam::1:user/a", "useridentity.username = 'a'"),
        ("arn:aws:iam::1:role/p/R", "assumed-role/R/%"),
        ("arn:aws:iam::1:root", "useridentity.type = 'Root'"),
        ("service:ec2.amazonaws.com", "useridentity.invokedby = 'ec2.amazonaws.com'"),
        ("account:1", "useridentity.accountid = '1'"),
        ("account:1/AROAEXAMPLEID12345", "useridentity.accountid = '1'"),  # an owner's copy
        ("anonymous", "useridentity.type = 'AWSAccount'"),
        ("saml:nq/jdoe", "useridentity.type = 'SAMLUser'"),
        ("identitycenter:arn:x/u", "useridentity.type = 'IdentityCenterUser'"),
        ("unknown", "useridentity.type IS NULL"),
        ("Odd:thing", "useridentity.type = 'Odd'"),
    ]:
        assert piece in principal_condition(p).sql("trino"), p


def test_load_rejects_athena_options_for_files(sample: Path) -> None:
    with pytest.raises(TypeError, match="athena"):
        fx.load(sample, principals=["x"], cache=False)


# -- same filter, two engines, same answer: the sample ------------------------------------------
def test_sample_day_and_account(engine, day_trail) -> None:
    got = via_athena(engine, start=DAY[0], end=DAY[1], accounts=[ACCOUNT])
    assert got.height == day_trail.events.height > 1000
    assert_same_events(day_trail.events, got)
    ran = engine.runs[-1]
    assert ran.files == len(engine.select(Filters.of(start=DAY[0], end=DAY[1], accounts=[ACCOUNT])))
    assert all(f"/{ACCOUNT}/" in p for p in got["source_file"].unique().to_list())


def test_sample_every_principal_kind(engine, day_trail) -> None:
    ev = day_trail.events
    picks = (
        ev.group_by("identity_type").agg(pl.col("principal").mode().first())["principal"].to_list()
    )
    picks.append(
        ev.filter(pl.col("principal_arn").str.contains(":assumed-role/"))["principal_arn"].first()
    )
    want = ev.filter(pl.col("principal").is_in(picks) | pl.col("principal_arn").is_in(picks))
    got = via_athena(engine, start=DAY[0], end=DAY[1], accounts=[ACCOUNT], principals=picks)
    assert len(picks) >= 4 and want.height > 0
    assert_same_events(want, got)


def test_sample_keys_and_event_names(engine, day_trail) -> None:
    ev = day_trail.events
    keys = ev["access_key_id"].drop_nulls().value_counts(sort=True)["access_key_id"].head(3)
    names = ["AssumeRole", "GetObject", "ConsoleLogin", "PutObject"]
    want = ev.filter(
        pl.col("access_key_id").is_in(keys.to_list()) & pl.col("event_name").is_in(names)
    )
    got = via_athena(
        engine,
        start=DAY[0],
        end=DAY[1],
        accounts=[ACCOUNT],
        access_keys=keys.to_list(),
        event_names=names,
    )
    assert want.height > 0
    assert_same_events(want, got)


def test_sample_narrow_window_regions(engine, sample) -> None:
    start, end = "2026-03-04T13:00:00Z", "2026-03-04T15:30:00Z"
    local = fx.load(
        sample, start=start, end=end, regions=["us-east-2", "sa-east-1", "us-east-1"], cache=False
    ).events
    got = via_athena(engine, start=start, end=end, regions=["us-east-2", "sa-east-1", "us-east-1"])
    assert local.height > 0
    assert_same_events(local, got)


@pytest.mark.slow
def test_sample_whole_trail(engine, sample) -> None:
    """No filter at all: every event of the sample, by both engines."""
    local = fx.load(sample, cache=False).events
    got = via_athena(engine)
    assert_same_events(local, got)


def test_trail_report_names_the_query(engine) -> None:
    trail = fx.load(
        "athena://forensics.cloudtrail",
        remote={"engine": engine},
        start=DAY[0],
        end=DAY[1],
        accounts=[ACCOUNT],
        event_names=["AssumeRole"],
    )
    assert re.search(
        r"query duckdb-[0-9a-f-]+, [\d,]+ bytes scanned in [\d,]+ files",
        " ".join(trail.report.notes),
    )
    assert any("event_names" in f for f in trail.filters)


# -- the external data, relaid as S3-delivered files --------------------------------------------
@pytest.fixture(scope="module")
def external_trail(external, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("external-layout")
    files = sorted(
        p
        for p in external.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".yml", ".yaml", ".py", ".upstream")
    )
    assert relay_as_records(files, out) > 100
    return out


@pytest.mark.slow
def test_external_every_event(external_trail) -> None:
    local = fx.load(external_trail, cache=False).events
    engine = athena.DuckDBEngine(external_trail)
    got = via_athena(engine)
    assert local.height > 3000
    assert_same_events(local, got, repeated_ids_as_sets=True)


def test_external_principals_and_window(external_trail) -> None:
    trail = fx.load(external_trail, start="2023-07-10", end="2023-07-11", cache=False)
    ev = trail.events
    picks = ev["principal"].unique().drop_nulls().to_list()[:20]
    want = ev.filter(pl.col("principal").is_in(picks) | pl.col("principal_arn").is_in(picks))
    got = via_athena(
        athena.DuckDBEngine(external_trail), start="2023-07-10", end="2023-07-11", principals=picks
    )
    assert want.height > 0
    assert_same_events(want, got, repeated_ids_as_sets=True)


# -- the DDL --------------------------------------------------------------------------------
def test_ddl_projects_account_region_day_under_the_org_level() -> None:
    sql = athena.ddl(
        "acme-org-cloudtrail-logs",
        prefix="org/",
        org_id="o-a1b2c3d4e5",
        accounts=["222233334444", "111122223333"],
        regions=["us-east-1", "eu-west-1"],
        start="2026-03-01",
        database="security",
    )
    assert sql.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS security.cloudtrail_logs (")
    assert "LOCATION 's3://acme-org-cloudtrail-logs/org/AWSLogs/o-a1b2c3d4e5/'" in sql
    assert (
        "'storage.location.template'='s3://acme-org-cloudtrail-logs/org/AWSLogs/"
        "o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}'"
    ) in sql
    assert "'projection.account.values'='111122223333,222233334444'" in sql
    assert "'projection.region.values'='eu-west-1,us-east-1'" in sql
    assert "'projection.timestamp.range'='2026/03/01,NOW'" in sql
    assert "'projection.timestamp.format'='yyyy/MM/dd'" in sql
    assert "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'" in sql
    # every column the query selects is declared, with the partition columns it filters on
    for name, _ in athena.CLOUDTRAIL_COLUMNS:
        assert f"\n    {name.lower()} " in sql
    assert (
        "PARTITIONED BY (\n    account STRING,\n    region STRING,\n    `timestamp` STRING" in sql
    )


def test_ddl_without_accounts_injects_them_and_refuses_bad_input() -> None:
    plain = athena.ddl("trail-bucket")
    assert "'projection.account.type'='injected'" in plain
    assert "s3://trail-bucket/AWSLogs/${account}/CloudTrail/${region}/${timestamp}" in plain
    for bad in (
        {"bucket": "s3://x"},
        {"bucket": "b-1", "org_id": "org1"},
        {"bucket": "b-1", "accounts": ["12"]},
        {"bucket": "b-1", "regions": ["mars"]},
    ):
        with pytest.raises(ValueError):
            athena.ddl(**bad)


def test_cli_prints_the_ddl(capsys) -> None:
    from forensics.cli import main

    assert (
        main(
            [
                "athena",
                "ddl",
                "acme-trail",
                "--org-id",
                "o-a1b2c3d4e5",
                "--account",
                "111122223333",
                "--region",
                "us-east-1",
                "--start",
                "2026-01-01",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("CREATE EXTERNAL TABLE") and out.rstrip().endswith(");")
    assert main(["athena", "ddl", "s3://acme-trail"]) == 2
    assert "not an S3 bucket name" in capsys.readouterr().err
