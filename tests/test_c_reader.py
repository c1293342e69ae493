"""The C reader (forensics/ingest/_records_c.c) gives exactly the rows of the msgspec path, or declines
the file and takes nothing from it. It reads untrusted bytes: it must never crash, whatever they
are. Differential throughout: msgspec (the pure-Python path) is the reference."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_normalize_properties import SETTINGS, mutated

import forensics as fx
from forensics.ingest import _native
from forensics.ingest._fast import FastBatch, FastPathUnsupported, _check_head
from forensics.sources._formats import FileProblem, read_bytes

if not _native.available():
    if os.environ.get("CI") == "true":
        pytest.fail("the C reader was not built (forensics/ingest/_records_c.c)", pytrace=False)
    pytest.skip(
        "the C reader is not built here (no C compiler at install?)", allow_module_level=True
    )


def _c(data: bytes) -> pl.DataFrame | None:
    """The C reader's rows for one file, or None if it declines the file."""
    batch = FastBatch()
    try:
        batch.add(data, "f.json")
    except FastPathUnsupported:
        return None
    if batch.native_files != 1:
        return None
    return batch.frame()


def _py(data: bytes) -> pl.DataFrame | None:
    """The msgspec path's rows for one file, or None if it declines the file."""
    batch = FastBatch(native=False)
    try:
        batch.add(data, "f.json")
    except FastPathUnsupported:
        return None
    return batch.frame()


def _same_or_declined(data: bytes) -> bool:
    """Whatever the C reader accepts, msgspec accepts and reads the same. True if C took it."""
    c = _c(data)
    if c is None:
        return False
    py = _py(data)
    assert py is not None, "the C reader accepted a file msgspec declines"
    assert_frame_equal(c, py)
    return True


def _file(*records: Any, ensure_ascii: bool = False) -> bytes:
    """A compact Records file, as CloudTrail writes them (UTF-8 unless ``ensure_ascii``)."""
    return json.dumps(
        {"Records": list(records)}, separators=(",", ":"), ensure_ascii=ensure_ascii
    ).encode()


def _rec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": "2024-03-05T10:00:00Z",
        "eventName": "GetObject",
        "eventSource": "s3.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "accountId": "1"},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def test_every_external_records_file_reads_the_same(external):
    taken = 0
    for path in sorted(external.rglob("*")):
        if not path.is_file():
            continue
        try:
            data = read_bytes(str(path))
            _check_head(data)
        except (FileProblem, FastPathUnsupported):
            continue
        taken += _same_or_declined(data)
    assert taken == 55  # every S3-delivered file of the samples (invictus-ir)


def test_the_kits_own_sample_reads_the_same(tmp_path):
    fx.sample.write(tmp_path, events=20_000, days=2, seed=3)
    files = sorted(p for p in tmp_path.rglob("*.json.gz") if "Digest" not in str(p))
    assert len(files) > 100
    for path in files[:: len(files) // 100]:
        assert _same_or_declined(gzip.decompress(path.read_bytes()))


def test_values_read_exactly():
    resources = [{"ARN": "arn:x", "accountId": None, "type": "AWS::S3::Bucket"}, {}]
    data = _file(
        _rec(
            errorMessage='a"b\\c/d\n\t\u00e9\U0001f600\u0000\u2028',
            readOnly=True,
            managementEvent=None,
            resources=resources,
            requestParameters={"k": [1, -2.5e-3, True, None, "\u00e9"]},
            responseElements=None,
            tlsDetails={"tlsVersion": "TLSv1.2"},
            apiVersion=None,
        ),
        _rec(readOnly=False, resources=[], userIdentity=..., eventName=None),
        _rec(resources=None, userAgent=""),
        ensure_ascii=True,  # every non-ASCII character as a \\u escape (pairs for emoji)
    )
    assert _same_or_declined(data)
    frame = _c(data)
    assert frame is not None
    row = frame.row(0, named=True)
    assert row["error_message"] == 'a"b\\c/d\n\t\u00e9\U0001f600\u0000\u2028'
    assert row["read_only"] is True and row["management_event"] is None
    assert row["resources"] == [
        {"arn": "arn:x", "account_id": None, "type": "AWS::S3::Bucket"},
        {"arn": None, "account_id": None, "type": None},
    ]
    assert row["request_parameters"] == '{"k":[1,-0.0025,true,null,"\\u00e9"]}'
    assert row["response_elements"] is None
    assert row["extra"] == '{"apiVersion":null,"tlsDetails":{"tlsVersion":"TLSv1.2"}}'
    second, third = frame.row(1, named=True), frame.row(2, named=True)
    assert second["resources"] == [] and second["read_only"] is False
    assert second["event_name"] is None and second["identity_type"] is None
    assert third["resources"] is None and third["user_agent"] == ""
    assert frame.get_column("source_index").to_list() == [0, 1, 2]


@pytest.mark.parametrize(
    "number", [b"1e999", b"-1e-999", b"1" + b"0" * 60, b"-0", b"0e0", b"1E+2", b"0.5e-3"]
)
def test_numbers_are_kept_as_written(number):
    data = (
        b'{"Records":[{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{"n":'
        + number
        + b'},"apiVersion":'
        + number
        + b"}]}"
    )
    assert _same_or_declined(data)
    row = _c(data).row(0, named=True)  # type: ignore[union-attr]
    assert row["request_parameters"] == '{"n":' + number.decode() + "}"
    assert row["extra"] == '{"apiVersion":' + number.decode() + "}"


def test_a_builder_that_failed_to_initialise_is_not_used():
    from forensics.ingest import _records_c

    with pytest.raises(ValueError, match="time field"):
        _records_c.Builder(("a",), (), (), "resources", ("x", "y", "z"), "missing")
    half = _records_c.Builder.__new__(_records_c.Builder)
    with pytest.raises(RuntimeError, match="not initialised"):
        half.add(b'{"Records":[]}')


def test_an_empty_records_list_and_whitespace_between_tokens():
    assert _same_or_declined(b'{"Records":[]}')
    spaced = b'{"Records" : [ {"eventTime" : "2024-01-01T00:00:00Z" , "readOnly" : true } ] }\n'
    assert _same_or_declined(spaced)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_file(_rec(newTopLevelField=1)), id="unknown field"),
        pytest.param(
            b'{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventName":"A","eventName":"B"}]}',
            id="repeated field",
        ),
        pytest.param(_file(_rec(eventTime=None)), id="null eventTime"),
        pytest.param(_file(_rec(eventTime=...)), id="no eventTime"),
        pytest.param(_file(_rec(eventName=3)), id="number for text"),
        pytest.param(_file(_rec(readOnly="true")), id="text for a flag"),
        pytest.param(_file(_rec(resources=[{"ARN": "a", "owner": "b"}])), id="resource field"),
        pytest.param(_file(_rec(resources={"ARN": "a"})), id="resources not a list"),
        pytest.param(_file(_rec(resources=[None])), id="null resource"),
        pytest.param(_file(_rec(), _rec())[:-3] + b",]}", id="trailing comma"),
        pytest.param(_file(_rec()) + b"x", id="trailing bytes"),
        pytest.param(_file(_rec())[:-1] + b',"Other":1}', id="second top-level field"),
        pytest.param(_file(_rec(userAgent="\udc00x"), ensure_ascii=True), id="lone surrogate"),
        pytest.param(
            _file(_rec(requestParameters={"a": "\ud800"}), ensure_ascii=True),
            id="lone high surrogate",
        ),
        pytest.param(
            _file(_rec(eventName="é")).replace("é".encode(), b"\xc3"), id="cut UTF-8 in text"
        ),
        pytest.param(
            _file(_rec(requestParameters={"k": "é"})).replace("é".encode(), b"\xe9"),
            id="Latin-1 byte in raw JSON",
        ),
        pytest.param(_file(_rec(eventName="/")).replace(b"/", b"\xc0\xaf"), id="overlong UTF-8"),
        pytest.param(
            _file(_rec(eventName="x")).replace(b'"x"', b'"\xed\xa0\x80"'), id="UTF-8 surrogate"
        ),
        pytest.param(
            _file(_rec(requestParameters={"n": 1})).replace(b":1}", b":01}"), id="leading zero"
        ),
        pytest.param(
            _file(_rec(requestParameters={"n": 1})).replace(b":1}", b":1.}"), id="bare point"
        ),
        pytest.param(_file(_rec(requestParameters={"n": 1})).replace(b":1}", b":NaN}"), id="NaN"),
        pytest.param(_file(_rec(eventName="a\tb")).replace(b"\\t", b"\t"), id="raw tab"),
        pytest.param(_file(_rec(eventName="x")).replace(b'"x"', b'"\\x"'), id="bad escape"),
        pytest.param(_file(_rec(eventName="x")).replace(b'"x"', b'"\\u12"'), id="short \\u"),
        pytest.param(
            _file(_rec(requestParameters=json.loads("[" * 70 + "]" * 70))), id="deep nesting"
        ),
        pytest.param(
            b'{"Records":[{"event\\u0054ime":"2024-01-01T00:00:00Z"}]}', id="escaped name"
        ),
        pytest.param(b'{"Records":[null]}', id="null record"),
        pytest.param(b'{"Records":[{}]}', id="empty record"),
    ],
)
def test_what_the_c_reader_declines(data):
    assert _c(data) is None
    # ...and the load still gets the file's rows, the msgspec or reference way
    before = FastBatch()
    good = _file(_rec(eventName="Good"))
    before.add(good, "good.json")
    with contextlib.suppress(FastPathUnsupported):
        before.add(data, "odd.json")
    frame = before.frame()
    assert frame.filter(pl.col("source_file") == "good.json").height == 1


def test_a_declined_file_leaves_nothing_behind():
    """The file is declined in its last record: its first records must not stay in the batch."""
    good = _file(_rec(eventName="A"), _rec(eventName="B"))
    bad = _file(_rec(eventName="X"), _rec(eventName="Y"), _rec(eventName="Z", oddField=1))
    batch = FastBatch()
    batch.add(good, "1.json")
    with pytest.raises(FastPathUnsupported):  # msgspec declines it too: the reference reads it
        batch.add(bad, "2.json")
    batch.add(good, "3.json")
    frame = batch.frame()
    assert batch.native_files == 0  # frame() started a new batch
    names = frame.sort("source_file", "source_index").get_column("event_name").to_list()
    assert names == ["A", "B", "A", "B"]


def test_every_truncation_of_a_file_is_declined_without_harm(real_records):
    data = _file(*real_records[:6])
    whole = _c(data)
    assert whole is not None and whole.height == 6
    for cut in range(len(data) - 1, 0, -7):
        assert _c(data[:cut]) is None


def _by_file(frame: pl.DataFrame) -> pl.DataFrame:
    key = ["source_file", "source_index"]
    return frame.with_columns(pl.col("source_file").cast(pl.String)).sort(key)


def test_a_batch_of_many_files_reads_as_each_file_alone(real_records):
    files = {f"{i}.json": _file(*real_records[i : i + 5]) for i in range(0, 100, 5)}
    files = {name: data for name, data in files.items() if _py(data) is not None}
    assert len(files) > 5
    files["other.json"] = _file(_rec(eventName="O"))[:-1] + b',"Other":1}'  # msgspec's, not C's
    batch = FastBatch()
    for name, data in files.items():
        batch.add(data, name)
    assert batch.files == len(files) and batch.native_files == len(files) - 1
    together = batch.frame()
    apart = []
    for name, data in files.items():
        alone = FastBatch(native=False)
        alone.add(data, name)
        apart.append(alone.frame())
    assert_frame_equal(_by_file(together), _by_file(pl.concat(apart)))


def test_mutated_records_read_the_same(real_records):
    """Real records from every external source, mutated (dropped fields, nulls, wrong types,
    huge and non-ASCII strings, deep nesting), written with and without \\u escapes."""

    @SETTINGS
    @given(st.lists(mutated(real_records), min_size=1, max_size=4), st.booleans())
    def check(records, ascii_only):
        _same_or_declined(_file(*records, ensure_ascii=ascii_only))

    check()


def test_the_unmutated_real_records_are_all_taken(real_records):
    """The C reader declines only what it must: every external record msgspec reads, it reads."""
    taken = declined = 0
    for i in range(0, len(real_records), 4):
        data = _file(*real_records[i : i + 4])
        if _py(data) is None:
            continue
        if _same_or_declined(data):
            taken += 1
        else:
            declined += 1
    assert taken > 0 and declined == 0


def test_random_byte_edits_never_crash_and_never_disagree(real_records):
    """Bytes flipped, inserted and deleted anywhere in a compact file: the C reader declines or
    reads exactly what msgspec reads."""

    @SETTINGS
    @given(
        st.lists(st.sampled_from(real_records), min_size=1, max_size=3),
        st.lists(
            st.tuples(st.integers(min_value=0), st.sampled_from("fid"), st.binary(max_size=3)),
            min_size=1,
            max_size=6,
        ),
    )
    def check(records, edits):
        data = bytearray(_file(*records))
        for where, how, junk in edits:
            at = where % len(data)
            if how == "f":
                data[at : at + len(junk)] = junk
            elif how == "i":
                data[at:at] = junk
            else:
                del data[at : at + 1 + len(junk)]
            if not data:
                return
        _same_or_declined(bytes(data))

    check()


def test_a_load_uses_the_c_reader_and_matches_the_pure_python_load(
    real_records, tmp_path, monkeypatch
):
    root = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2024" / "03" / "05"
    root.mkdir(parents=True)
    for i in range(0, len(real_records), 7):
        data = _file(*real_records[i : i + 7])
        (root / f"f{i:04d}.json.gz").write_bytes(gzip.compress(data))
    native = fx.load(tmp_path, cache=False, workers=1)
    monkeypatch.setenv("FORENSICS_PURE_PYTHON", "1")
    pure = fx.load(tmp_path, cache=False, workers=1)
    assert native.report.records_loaded == pure.report.records_loaded > 0
    assert_frame_equal(native.events, pure.events)
