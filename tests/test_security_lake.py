"""Security Lake: our records -> OCSF 1.1 API Activity by AWS's documented mapping -> Parquet in
Security Lake's layout -> read back (files, and the Athena query over the table run by DuckDB):
every mapped field equal; what OCSF lacks is null."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import forensics as fx
from forensics.ingest.athena._duckdb import DuckDBParquetEngine
from forensics.ingest.athena._ocsf import NOT_IN_OCSF, load_athena, read_security_lake
from forensics.sources._files import discover
from forensics.sources._formats import FileProblem, extract_records, read_bytes
from tests import _aws_helpers
from tests._ocsf_helpers import write_security_lake

SAMPLE = Path("data/sample")
TABLE = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"


def _records(paths: list[str]) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        try:
            out += [r for r in extract_records(read_bytes(p), p).records if isinstance(r, dict)]
        except FileProblem:
            continue
    return out


def _json(text: str | None) -> str | None:
    if text is None:
        return None
    value = orjson.loads(text)
    if isinstance(value, str) and value.lstrip()[:1] in "{[":
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def comparable(frame: pl.DataFrame, drop: tuple[str, ...]) -> pl.DataFrame:
    # user_identity: the whole userIdentity as JSON text, which OCSF does not carry (the reader
    # rebuilds it from the mapped actor fields), like extra
    skip = ("source_file", "source_index", "extra", "user_identity", *drop)
    keep = [c for c in frame.columns if c not in skip]
    return (
        frame.select(keep)
        .with_columns(
            pl.col(c).map_elements(_json, return_dtype=pl.String)
            for c in ("request_parameters", "response_elements", "additional_event_data")
            if c in keep
        )
        .sort("event_id", "event_time", "request_parameters", nulls_last=True)
    )


@pytest.fixture(scope="module")
def sample_day() -> tuple[list[dict[str, Any]], pl.DataFrame]:
    if not (SAMPLE / ".complete").exists():
        pytest.skip("data/sample missing: run `make sample`")
    window = {"start": "2026-03-04", "end": "2026-03-05"}
    files, _, _ = discover(
        [SAMPLE],
        accounts=["222233334444"],
        regions=["us-east-1"],
        **{k: fx._trail.to_utc(v) for k, v in window.items()},
    )
    paths = [f.path for f in files if not f.is_digest]
    local = fx.load(*paths, cache=False).events
    return _records(paths), local


def test_sample_roundtrip_every_mapped_field(sample_day, tmp_path) -> None:
    recs, local = sample_day
    assert write_security_lake(recs, tmp_path) > 0
    got = read_security_lake(tmp_path).events
    assert got.height == local.height > 100
    assert_frame_equal(comparable(local, ()), comparable(got, ()))
    assert (
        got["source_file"]
        .cast(pl.String)
        .str.contains(r"region=us-east-1/accountId=\d{12}/eventDay=")
        .all()
    )


def test_without_unmapped_what_ocsf_lacks_is_null(sample_day, tmp_path) -> None:
    recs, local = sample_day
    write_security_lake(recs, tmp_path, unmapped=False)
    got = read_security_lake(tmp_path).events
    lacking = tuple(c for c in NOT_IN_OCSF if c in got.columns)
    assert got.select(lacking).null_count().row(0) == (got.height,) * len(lacking)
    assert_frame_equal(comparable(local, lacking), comparable(got, lacking))
    assert got["principal"].null_count() == 0
    assert set(got["principal"]) == set(local["principal"])


def test_partitions_prune_and_filters_apply(sample_day, tmp_path) -> None:
    recs, local = sample_day
    write_security_lake(recs, tmp_path)
    key = local["access_key_id"].drop_nulls().mode().first()
    got = read_security_lake(tmp_path, accounts=["999999999999"]).events
    assert got.height == 0
    got = read_security_lake(tmp_path, access_keys=[key], start="2026-03-04T10:00:00Z").events
    want = local.filter(
        (pl.col("access_key_id") == key)
        & (pl.col("event_time") >= fx._trail.to_utc("2026-03-04T10:00:00Z"))
    )
    assert want.height > 0
    assert_frame_equal(comparable(want, ()), comparable(got, ()))


def test_athena_over_security_lake_table(sample_day, tmp_path) -> None:
    recs, local = sample_day
    write_security_lake(recs, tmp_path)
    engine = DuckDBParquetEngine(tmp_path, TABLE)
    who = local.filter(pl.col("identity_type") == "AssumedRole")["principal"].mode().first()
    got = load_athena(
        TABLE,
        engine,
        principals=[who],
        start="2026-03-04",
        end="2026-03-05",
        accounts=["222233334444"],
    ).events
    want = local.filter(
        ((pl.col("principal") == who) | (pl.col("principal_arn") == who))
        & pl.col("event_time").is_between(
            fx._trail.to_utc("2026-03-04"), fx._trail.to_utc("2026-03-05"), closed="left"
        )
    )
    assert want.height > 0
    assert_frame_equal(comparable(want, ()), comparable(got, ()))
    sql = engine.runs[-1].sql
    assert "accountid = '222233334444'" in sql and "class_uid = 6003" in sql
    # the same through fx.load: a Security Lake table name selects the OCSF query
    again = fx.load(
        f"athena://{TABLE}",
        remote={"engine": engine},
        principals=[who],
        start="2026-03-04",
        end="2026-03-05",
        accounts=["222233334444"],
    ).events
    assert_frame_equal(comparable(got, ()), comparable(again, ()))


def test_external_roundtrip(external, tmp_path) -> None:
    paths = sorted(str(p) for p in (external / "invictus-ir-aws_dataset").rglob("*.json"))
    paths += sorted(str(p) for p in (external / "stratus-red-team").rglob("*.json"))
    recs = _records(paths)
    local = fx.load(*paths, cache=False).events
    write_security_lake(recs, tmp_path)
    got = read_security_lake(tmp_path).events
    assert got.height == local.height > 3000
    # an instance-profile session's actor (the EC2 instance) comes from
    # sessionContext.ec2RoleDelivery, which OCSF does not carry: null there, equal elsewhere
    a, b = comparable(local, ()), comparable(got, ())
    instance = a["actor"].str.starts_with("ec2:").fill_null(False)
    assert instance.any() and b.filter(instance)["actor"].null_count() == instance.sum()
    assert_frame_equal(a.filter(~instance), b.filter(~instance))


moto_server = _aws_helpers.moto_server  # fixtures
aws = _aws_helpers.aws


def test_read_from_s3_prunes_by_partition(aws, sample_day, tmp_path) -> None:
    import boto3

    recs, local = sample_day
    write_security_lake(recs, tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="aws-security-data-lake-us-east-1-abc")
    prefix = "aws/CLOUD_TRAIL_MGMT/2.0/"
    for p in sorted(tmp_path.rglob("*.parquet")):
        s3.put_object(
            Bucket="aws-security-data-lake-us-east-1-abc",
            Key=prefix + p.relative_to(tmp_path).as_posix(),
            Body=p.read_bytes(),
        )
    url = f"s3://aws-security-data-lake-us-east-1-abc/{prefix}"
    got = read_security_lake(url, start="2026-03-04T12:00:00Z", end="2026-03-04T13:00:00Z")
    want = local.filter(
        pl.col("event_time").is_between(
            fx._trail.to_utc("2026-03-04T12:00:00Z"),
            fx._trail.to_utc("2026-03-04T13:00:00Z"),
            closed="left",
        )
    )
    assert want.height > 0
    assert_frame_equal(comparable(want, ()), comparable(got.events, ()))
    fetched = aws.faults.s3_gets("aws-security-data-lake-us-east-1-abc")
    assert fetched and all("eventDay=2026030" in k for k in fetched)
    assert len(fetched) < len(list(tmp_path.rglob("*.parquet")))
