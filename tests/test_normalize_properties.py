"""Property-based: real records from the external samples, mutated (fields dropped, nulled,
given the wrong type, huge or non-ASCII strings, deep nesting), never crash the loader, never
lose a record, always get a principal, always fit the schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics._schema import JSON_TEXT_COLUMNS
from forensics.ingest._normalize import normalize_records, text
from forensics.sources._formats import looks_like_record

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.text(
        alphabet=st.characters(
            min_codepoint=0x80, max_codepoint=0x2FFFF, exclude_categories=("Cs",)
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["true", "false", "", " ", "...", "null", "0", "\x00\x1b[31m", "é漢字🙂"]),
    st.integers(min_value=10_000, max_value=100_000).map(lambda n: "A" * n),  # huge strings
    st.integers(min_value=1, max_value=300).map(_deep),  # deep nesting
)
VALUE = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a record (dict keys and list positions), depth-limited."""
    out = []
    if len(prefix) > 5:
        return out
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    )
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


#: Fields whose mutation matters most; always candidates even when the record lacks them.
FOCUS = [
    ("eventTime",),
    ("eventID",),
    ("eventName",),
    ("userIdentity",),
    ("userIdentity", "type"),
    ("userIdentity", "arn"),
    ("userIdentity", "accountId"),
    ("userIdentity", "invokedBy"),
    ("userIdentity", "sessionContext"),
    ("userIdentity", "sessionContext", "sessionIssuer"),
    ("userIdentity", "sessionContext", "attributes"),
    ("userIdentity", "onBehalfOf"),
    ("resources",),
    ("readOnly",),
    ("managementEvent",),
    ("requestParameters",),
    ("responseElements",),
    ("additionalEventData",),
    ("awsRegion",),
    ("tlsDetails",),
]


@st.composite
def mutated(draw, records: list[dict[str, Any]]) -> dict[str, Any]:
    rec = copy.deepcopy(draw(st.sampled_from(records)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        candidates = _paths(rec) + FOCUS
        path = draw(st.sampled_from(candidates))
        parent: Any = rec
        for key in path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if not isinstance(parent, (dict, list)):
            continue
        key = path[-1]
        if isinstance(parent, list) and not (isinstance(key, int) and key < len(parent)):
            continue
        if isinstance(parent, dict) and not isinstance(key, str):
            continue
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(key, None)  # drop the field
        else:
            parent[key] = draw(VALUE)  # null, wrong type, huge, non-ASCII, nested, ...
    return rec


def _check_table(frame: pl.DataFrame, n: int) -> None:
    assert frame.height == n
    assert frame.schema == fx.EVENTS_SCHEMA
    assert frame.get_column("principal").null_count() == 0
    assert frame.get_column("source_index").to_list() == list(range(n))


def test_normalizer_never_crashes_and_keeps_one_row_per_record(real_records):
    @SETTINGS
    @given(st.lists(mutated(real_records), min_size=1, max_size=5))
    def check(records):
        _check_table(normalize_records(records, "mutated.json"), len(records))

    check()


def test_loader_accounts_for_every_mutated_record(real_records, tmp_path_factory):
    root = tmp_path_factory.mktemp("mutated")

    @SETTINGS
    @given(
        st.lists(mutated(real_records), min_size=1, max_size=5),
        st.sampled_from(["records", "compact", "ndjson"]),
    )
    def check(records, shape):
        for old in root.iterdir():
            old.unlink()
        path = root / ("x.jsonl" if shape == "ndjson" else "x.json")
        if shape == "records":
            path.write_text(json.dumps({"Records": records}))
        elif shape == "compact":  # as CloudTrail writes it: the fast decoder's input
            path.write_text(json.dumps({"Records": records}, separators=(",", ":")))
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        trail = fx.load(path, cache=False)
        r = trail.report
        if r.files_failed:  # only when no mutated value is a record any more
            assert r.files_failed[0].reason.startswith("not CloudTrail")
            assert not any(looks_like_record(rec) for rec in records)
            return
        assert r.records_loaded + r.duplicates_dropped + sum(r.records_skipped.values()) == len(
            records
        )
        ev = trail.events
        assert ev.schema == fx.EVENTS_SCHEMA
        assert ev.get_column("principal").null_count() == 0
        for event_id in ev.get_column("event_id").drop_nulls().unique().head(3):
            got = trail.original(event_id)
            for original in got if isinstance(got, list) else [got]:
                assert text(original.get("eventID")) == event_id

    check()


def test_the_real_records_themselves_load_unchanged(real_records, tmp_path):
    path = Path(tmp_path) / "real.json"
    path.write_text(json.dumps({"Records": real_records}))
    trail = fx.load(path, cache=False)
    r = trail.report
    assert r.records_loaded + r.duplicates_dropped == len(real_records)
    assert sum(r.records_skipped.values()) == 0


def _parsed(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def test_fast_decoder_and_reference_normalizer_agree_on_mutated_records(
    real_records, tmp_path_factory
):
    """Differential: whatever the fast decoder accepts, it reads as the reference does."""
    from forensics.ingest._read import read_file
    from forensics.sources._files import FileRef

    root = tmp_path_factory.mktemp("differential")
    path = root / "x.json"

    @SETTINGS
    @given(st.lists(mutated(real_records), min_size=1, max_size=4))
    def check(records):
        path.write_text(json.dumps({"Records": records}, separators=(",", ":")))
        ref = FileRef(str(path), 0, 0)
        fast, slow = read_file(ref), read_file(ref, fast=False)
        if fast.frame is None or slow.frame is None:
            assert (fast.failure is None) == (slow.failure is None)
            return
        assert fast.frame.schema == slow.frame.schema == fx.EVENTS_SCHEMA
        for column in fx.COLUMNS:
            a, b = fast.frame.get_column(column), slow.frame.get_column(column)
            if column in JSON_TEXT_COLUMNS:  # the fast path keeps the file's own text
                assert [_parsed(v) for v in a] == [_parsed(v) for v in b], column
            else:
                assert a.to_list() == b.to_list(), column

    check()


def test_bytes_that_are_not_utf8_inside_values_never_crash_a_load(real_records, tmp_path_factory):
    """Byte-level mutation: stray bytes (not UTF-8) inside any string value of a compact
    Records file. Every record is still loaded (the bytes become U+FFFD, with a note), by the
    fast decoder and the loader alike; nothing raises."""
    root = tmp_path_factory.mktemp("bytes")
    path = root / "x.json"
    stray = st.binary(min_size=1, max_size=4).filter(
        lambda b: all(c >= 0x20 and c not in (0x22, 0x5C) for c in b)
    )

    @SETTINGS
    @given(
        st.lists(st.sampled_from(real_records), min_size=1, max_size=3),
        st.lists(st.tuples(st.integers(min_value=0), stray), min_size=1, max_size=3),
    )
    def check(records, insertions):
        data = json.dumps({"Records": records}, separators=(",", ":")).encode()
        starts = [i + 3 for i in range(len(data) - 3) if data[i : i + 3] == b'":"']
        if not starts:
            return
        chosen = {starts[where % len(starts)]: junk for where, junk in insertions}
        for at in sorted(chosen, reverse=True):  # from the end: earlier offsets stay valid
            data = data[:at] + chosen[at] + data[at:]
        path.write_bytes(data)
        trail = fx.load(path, cache=False, workers=1)
        r = trail.report
        assert r.files_failed == []
        assert r.records_loaded + r.duplicates_dropped + sum(r.records_skipped.values()) == len(
            records
        )
        assert trail.events.schema == fx.EVENTS_SCHEMA

    check()
