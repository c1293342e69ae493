"""fx.load("s3://...") against a real HTTP S3 (moto on loopback): pruning, cache, failures."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import boto3
import pytest

import forensics as fx
from forensics import LoadReport, SourceError
from forensics.ingest._loader import wait_for_cache
from forensics.sources._s3 import fetch
from tests import _aws_helpers
from tests._aws_helpers import (
    ACCOUNT,
    SECRET,
    TOKEN,
    day,
    key_for,
    put_trail,
    s3_error,
)

# each xdist worker runs its own in-process server on a free port: no group needed
moto_server = _aws_helpers.moto_server  # fixtures
aws = _aws_helpers.aws

BUCKET = "ct-logs"
DAYS = [day(f"2026-11-{d:02d}") for d in range(1, 11)]  # Nov 1..10
OTHER = "210987654321"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_window_lists_only_day_folders_inside_it(aws, s3, tmp_path):
    counts = put_trail(
        s3,
        BUCKET,
        days=DAYS,
        regions=["us-east-1", "eu-west-1"],
        accounts=[ACCOUNT, OTHER],
        org="o-abc123def4",
        digests=True,
    )
    trail = fx.load(
        f"s3://{BUCKET}",
        start="2026-11-04",
        end="2026-11-06",
        regions=["eu-west-1"],
        cache=False,
        remote={"progress": False},
    )

    # the events: 2 days of 1 region of 2 accounts (loaded with a 1-day margin, cut exactly)
    assert len(trail) == 2 * (counts["2026-11-04"] + counts["2026-11-05"]) // 4
    assert set(trail.events["aws_region"]) == {"eu-west-1"}
    assert set(trail.events["recipient_account_id"]) == {ACCOUNT, OTHER}

    listed = aws.faults.s3_lists(BUCKET)
    days_listed = sorted(
        {
            p.split("/CloudTrail/")[1][len("eu-west-1/") :]
            for p in listed
            if "/CloudTrail/eu-west-1/" in p
        }
    )
    # Nov 3..7: the window (4, 5, 6 for the exclusive end's day) plus one day each side
    assert days_listed == [f"2026/11/{d:02d}/" for d in range(3, 8)]
    assert not any("us-east-1" in p for p in listed)  # regions given: never listed
    assert not any("CloudTrail-Digest" in p for p in listed)
    # only day folders are listed whole; everything above them by delimiter, one level each
    assert all(
        p.startswith("AWSLogs/") and p.count("/") == 8 for p in aws.faults.s3_flat_lists(BUCKET)
    )
    fetched = aws.faults.s3_gets(BUCKET)
    assert len(fetched) == 2 * 5 and all("/eu-west-1/2026/11/0" in k for k in fetched)
    assert not any("/2026/11/02/" in k or "/2026/11/08/" in k for k in fetched)
    assert trail.report.ok and any("list request" in n for n in trail.report.notes)


def test_discovers_accounts_and_regions_and_filters_accounts(aws, s3):
    put_trail(
        s3,
        BUCKET,
        days=DAYS[:2],
        regions=["us-east-1", "ap-south-1"],
        accounts=[ACCOUNT, OTHER],
        prefix="org-trail/",
    )
    report = LoadReport()
    paths = fetch(
        f"s3://{BUCKET}/org-trail",
        start=day("2026-11-01"),
        end=day("2026-11-02"),
        accounts=[OTHER],
        report=report,
        progress=False,
    )
    assert len(paths) == 2 * 2  # 2 regions x 2 days (Nov 2 is the end-side margin)
    assert all(f"/{OTHER}/" in p for p in paths)
    assert all(Path(p).is_file() and "org-trail/AWSLogs" in p for p in paths)
    listed = aws.faults.s3_lists(BUCKET)
    assert not any(f"/{ACCOUNT}/" in p for p in listed)


def test_open_window_walks_years_months_days(aws, s3):
    put_trail(
        s3,
        BUCKET,
        days=[day("2025-12-30"), day("2026-01-15"), day("2026-03-01")],
        regions=["us-east-1"],
    )
    paths = fetch(f"s3://{BUCKET}", start=day("2026-01-10"), progress=False)
    assert [p.split("us-east-1/")[1][:10] for p in paths] == ["2026/01/15", "2026/03/01"]
    listed = aws.faults.s3_lists(BUCKET)
    assert not any("2025/" in p for p in listed)  # the year before the window is never opened
    assert len(fetch(f"s3://{BUCKET}", progress=False)) == 3  # no window: everything


def test_url_deep_inside_the_layout(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:3], regions=["us-east-1", "eu-west-1"])
    paths = fetch(
        f"s3://{BUCKET}/AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/2026/11/02/", progress=False
    )
    assert len(paths) == 1 and "/eu-west-1/2026/11/02/" in paths[0]


def test_prefix_outside_the_layout_is_listed_whole_with_a_note(aws, s3):
    s3.put_object(
        Bucket=BUCKET,
        Key="exports/a.json.gz",
        Body=gzip.compress(json.dumps({"Records": []}).encode()),
    )
    report = LoadReport()
    paths = fetch(f"s3://{BUCKET}/exports", report=report, progress=False)
    assert len(paths) == 1
    assert any("no AWSLogs/ folder" in n for n in report.notes)


def test_second_load_downloads_nothing_and_changed_objects_are_fetched_again(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:3], regions=["us-east-1"])
    first = fetch(f"s3://{BUCKET}", progress=False)
    assert len(aws.faults.s3_gets(BUCKET)) == 3
    aws.faults.requests.clear()
    report = LoadReport()
    again = fetch(f"s3://{BUCKET}", report=report, progress=False)
    assert again == first
    assert aws.faults.s3_gets(BUCKET) == []
    assert (
        "0 downloaded" in report.notes[-1] and "3 already in the local mirror" in report.notes[-1]
    )

    # the same key with new content (another ETag): fetched again, and the new content is read
    key = key_for(DAYS[1])
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"Records": []}'))
    aws.faults.requests.clear()
    fetch(f"s3://{BUCKET}", progress=False)
    assert aws.faults.s3_gets(BUCKET) == [key]
    assert gzip.decompress(Path(first[1]).read_bytes()) == b'{"Records": []}'


def test_failing_objects_are_retried_then_reported(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:4], regions=["us-east-1"])
    broken, flaky, gone = key_for(DAYS[0]), key_for(DAYS[1]), key_for(DAYS[2])
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def rule(req):
        if req.method != "GET" or "list-type" in req.query:
            return None
        key = req.path[len(BUCKET) + 2 :]
        with lock:
            seen[key] = seen.get(key, 0) + 1
            n = seen[key]
        if key == broken:
            return s3_error(500, "InternalError")
        if key == flaky and n == 1:
            return s3_error(503, "SlowDown")
        if key == gone:
            return s3_error(404, "NoSuchKey")  # deleted between listing and download
        return None

    aws.faults.rules.append(rule)
    trail = fx.load(
        f"s3://{BUCKET}", cache=False, remote={"progress": False, "attempts": 3, "backoff": 0.01}
    )
    failed = {f.path: f.reason for f in trail.report.files_failed}
    assert set(failed) == {f"s3://{BUCKET}/{broken}", f"s3://{BUCKET}/{gone}"}
    assert "after 3 attempt(s)" in failed[f"s3://{BUCKET}/{broken}"]
    assert "InternalError" in failed[f"s3://{BUCKET}/{broken}"]
    assert "NoSuchKey" in failed[f"s3://{BUCKET}/{gone}"]
    assert seen[broken] == 3 and seen[flaky] == 2 and seen[gone] == 1  # 404 is not retried
    assert len(trail) == 2 * 5  # the flaky one and the good one
    assert not trail.report.ok
    assert "FAILED" in str(trail.report)
    # nothing half-written is left behind
    assert not list(Path(".forensics-cache").rglob("*.part"))


def test_without_a_report_failures_raise(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:1], regions=["us-east-1"])
    aws.faults.rules.append(
        lambda r: s3_error(500, "InternalError") if r.path.endswith(".json.gz") else None
    )
    with pytest.raises(SourceError, match="could not be fetched"):
        fetch(f"s3://{BUCKET}", progress=False, attempts=1)


def test_interrupted_fetch_resumes_where_it_stopped(aws, s3, tmp_path):
    put_trail(s3, BUCKET, days=DAYS, regions=["us-east-1"])
    cache = tmp_path / "mirror"
    served = {"n": 0}
    lock = threading.Lock()

    class Interrupted(BaseException):  # like KeyboardInterrupt: not an Exception
        pass

    def stop_after_4(**kwargs):
        with lock:
            served["n"] += 1
            if served["n"] > 4:
                raise Interrupted()

    session = boto3.Session()
    session.events.register("before-call.s3.GetObject", stop_after_4)
    with pytest.raises(Interrupted):
        fetch(f"s3://{BUCKET}", session=session, cache_dir=cache, workers=1, progress=False)
    done = [p for p in (cache / BUCKET).rglob("*.json.gz")]
    assert len(done) == 4
    # a download cut mid-stream leaves only a hidden temporary file, never a final name
    partial = (cache / BUCKET / key_for(DAYS[-1])).with_name(".x.json.gz.abcd1234.part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\x1f\x8b half")
    aws.faults.requests.clear()
    report = LoadReport()
    paths = fetch(f"s3://{BUCKET}", cache_dir=cache, report=report, progress=False)
    assert len(paths) == 10
    assert len(aws.faults.s3_gets(BUCKET)) == 6  # only what the first run did not finish
    assert not partial.exists() and "partial download" in report.notes[-1]


def test_credentials_from_session_or_profile_and_none_in_the_cache(aws, s3, tmp_path, monkeypatch):
    put_trail(s3, BUCKET, days=DAYS[:2], regions=["us-east-1"])
    creds = tmp_path / "credentials"
    creds.write_text(
        f"[ir]\naws_access_key_id = AKIAPROFILEKEY000001\n"
        f"aws_secret_access_key = {SECRET}-profile\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    cache = tmp_path / "c"
    by_profile = fx.load(
        f"s3://{BUCKET}", cache=False, profile="ir", remote={"cache_dir": cache, "progress": False}
    )
    session = boto3.Session(
        aws_access_key_id="AKIASESSIONKEY000001",
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
    )
    by_session = fx.load(
        f"s3://{BUCKET}",
        cache=False,
        session=session,
        remote={"cache_dir": cache, "progress": False},
    )
    assert len(by_profile) == len(by_session) == 10
    for path in cache.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            for secret in (SECRET.encode(), TOKEN.encode(), b"AKIAPROFILEKEY", b"AKIASESSIONKEY"):
                assert secret not in data, path
    with pytest.raises(SourceError, match="profile"):
        fetch(f"s3://{BUCKET}", profile="does-not-exist", progress=False)


def test_original_record_comes_back_from_the_mirror(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:1], regions=["us-east-1"])
    trail = fx.load(f"s3://{BUCKET}", cache=False, remote={"progress": False})
    event_id = trail.events["event_id"][0]
    assert trail.original(event_id)["eventID"] == event_id


def test_missing_bucket_and_unsafe_keys(aws, s3):
    with pytest.raises(SourceError, match="NoSuchBucket"):
        fetch("s3://no-such-bucket", progress=False)
    s3.put_object(Bucket=BUCKET, Key="odd/../../escape.json.gz", Body=b"{}")
    report = LoadReport()
    assert fetch(f"s3://{BUCKET}/odd", report=report, progress=False) == []
    assert "not a safe relative path" in report.files_failed[0].reason
    assert not (Path.cwd() / ".forensics-cache" / "escape.json.gz").exists()


def test_parquet_cache_sits_beside_the_mirror_and_reopens(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:3], regions=["us-east-1"])
    first = fx.load(f"s3://{BUCKET}", remote={"progress": False})
    aws.faults.requests.clear()
    again = fx.load(f"s3://{BUCKET}", remote={"progress": False})
    assert aws.faults.s3_gets(BUCKET) == []
    assert again.events.equals(first.events)
    assert again.report.files_from_cache  # the Parquet cache answered...
    assert "0 downloaded" in again.report.notes[0]  # ...and the notes are this fetch's
    mirror = Path(".forensics-cache") / "s3" / BUCKET
    assert (mirror / ".forensics-cache").is_dir()
    assert not list((mirror / "AWSLogs").rglob(".forensics-cache"))  # not inside day folders


def test_progress_bar_in_a_terminal_and_off_on_request(aws, s3, capsys):
    put_trail(s3, BUCKET, days=DAYS[:2], regions=["us-east-1"])
    fetch(f"s3://{BUCKET}", cache_dir="a")
    assert f"s3://{BUCKET}" in capsys.readouterr().err
    fetch(f"s3://{BUCKET}", cache_dir="b", progress=False)
    assert capsys.readouterr().err == ""


def test_digests_only_on_request_and_a_single_object_url(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:2], regions=["us-east-1"], digests=True)
    trail = fx.load(f"s3://{BUCKET}", cache=False, remote={"progress": False, "digests": True})
    assert trail.report.digests == 2 and len(trail) == 10
    assert any("/CloudTrail-Digest/" in n for n in aws.faults.s3_gets(BUCKET))
    key = key_for(DAYS[1])
    assert [Path(p).name for p in fetch(f"s3://{BUCKET}/{key}", progress=False)] == [Path(key).name]


def test_long_window_walks_months_and_prunes_outside(aws, s3):
    put_trail(
        s3,
        BUCKET,
        days=[day("2025-10-20"), day("2025-12-15"), day("2026-02-27"), day("2026-04-02")],
        regions=["us-east-1"],
    )
    paths = fetch(f"s3://{BUCKET}", start=day("2025-12-01"), end=day("2026-03-01"), progress=False)
    assert [p.split("us-east-1/")[1][:10] for p in paths] == ["2025/12/15", "2026/02/27"]
    listed = aws.faults.s3_lists(BUCKET)
    assert not any(p.endswith(("2025/10/", "2026/04/")) for p in listed)  # months never opened


def test_a_prefix_that_cannot_be_listed_is_reported(aws, s3):
    put_trail(s3, BUCKET, days=DAYS[:3], regions=["us-east-1"])
    aws.faults.rules.append(
        lambda r: (
            s3_error(500, "InternalError")
            if r.query.get("prefix", "").endswith("2026/11/02/")
            else None
        )
    )
    report = LoadReport()
    paths = fetch(
        f"s3://{BUCKET}",
        start=day("2026-11-02"),
        end=day("2026-11-03"),
        report=report,
        progress=False,
        attempts=2,
        backoff=0.01,
    )
    assert len(paths) == 2  # Nov 1 and 3 (the margins); Nov 2 could not be listed
    [failure] = report.files_failed
    assert failure.path.endswith("/2026/11/02/") and "could not list" in failure.reason


def test_keys_into_the_kits_own_state_folders_are_refused(aws, s3, tmp_path):
    """Issue 13 item 1: a bucket listed whole (trail under a prefix) holding
    ``.forensics-cache/index.json`` must not plant it in the Parquet cache beside the mirror,
    which would then unlink whatever its entries name."""
    from forensics.ingest._cache import FORMAT

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = {
        "format": FORMAT,
        "merged": {f"k{i}": {"path": str(victim), "report": {}, "used": 0} for i in range(8)},
    }
    s3.put_object(
        Bucket=BUCKET, Key=".forensics-cache/index.json", Body=json.dumps(planted).encode()
    )
    s3.put_object(Bucket=BUCKET, Key="x/.forensics-index.jsonl", Body=b"{}")
    s3.put_object(
        Bucket=BUCKET,
        Key="exports/a.json",
        Body=json.dumps({"Records": [_aws_helpers.record(1, DAYS[0])]}).encode(),
    )
    trail = fx.load(f"s3://{BUCKET}", remote={"progress": False})
    assert len(trail) == 1
    mirror = Path(".forensics-cache") / "s3" / BUCKET
    index = mirror / ".forensics-cache" / "index.json"
    assert not index.exists() or str(victim) not in index.read_text()
    refused = [f for f in trail.report.files_failed if ".forensics" in f.path]
    assert len(refused) == 2 and all("hidden" in f.reason for f in refused)
    for _ in range(3):  # loads that evict old tables
        s3.put_object(
            Bucket=BUCKET,
            Key=f"exports/b{_}.json",
            Body=json.dumps({"Records": [_aws_helpers.record(2 + _, DAYS[0])]}).encode(),
        )
        fx.load(f"s3://{BUCKET}", remote={"progress": False})
    wait_for_cache()
    assert victim.read_text() == "precious"


def test_a_key_longer_than_the_os_allows_costs_only_that_object(aws, s3):
    """Issue 13 item 6: ``OSError: File name too long`` used to abort the whole S3 load."""
    put_trail(s3, BUCKET, days=DAYS[:1], regions=["us-east-1"])
    folder = key_for(DAYS[0]).rsplit("/", 1)[0]  # S3 allows 1,024-byte keys, a file name 255
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/{'d' * 400}/x.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/{'n' * 300}.json", Body=b"{}")
    for _ in range(2):  # the second time, the day folder exists: ENAMETOOLONG, not ENOENT
        report = LoadReport()
        paths = fetch(f"s3://{BUCKET}/AWSLogs", report=report, progress=False, attempts=1)
    assert len(paths) == 1
    reasons = [f.reason for f in report.files_failed]
    assert len(reasons) == 2 and all("too long" in r for r in reasons), reasons
