"""The table's row order: files read in delivery order, chunks sorted, then only the rows
where chunks overlap in time moved (forensics.ingest._order)."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from forensics.ingest import _order


def _frame(times: list[int], files: list[str]) -> pl.DataFrame:
    base = datetime(2026, 3, 8)
    return pl.DataFrame(
        {
            "event_time": [None if t < 0 else base + timedelta(seconds=t) for t in times],
            "source_file": files,
            "source_index": list(range(len(times))),
            "payload": [f"row {i}" for i in range(len(times))],
        },
        schema={
            "event_time": pl.Datetime("us"),
            "source_file": pl.Categorical,
            "source_index": pl.Int64,
            "payload": pl.String,
        },
    )


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.integers(min_value=-1, max_value=400), min_size=0, max_size=60),
        min_size=1,
        max_size=6,
    ),
    spread=st.integers(min_value=0, max_value=300),
    min_run=st.sampled_from([1, 2, 8, 4096]),
)
def test_sorted_chunks_end_to_end_reorder_like_a_full_sort(chunks, spread, min_run):
    """Chunks each sorted, overlapping in time by up to ``spread``: the pieces path (runs kept
    in place, the rest gathered) gives exactly the table's order."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_order, "_MIN_KEPT_RUN", min_run)
        _check_chunks(chunks, spread)


def _check_chunks(chunks: list[list[int]], spread: int) -> None:
    frames = []
    for i, times in enumerate(chunks):
        shifted = [t if t < 0 else t + i * spread for t in times]
        files = [f"f{(i * 7 + j) % 5}.json" for j in range(len(times))]
        frames.append(_order.sort_frame(_frame(shifted, files)))
    frame = pl.concat(frames, how="vertical", rechunk=False)
    expected = frame.sort("event_time", "source_file", "source_index", nulls_last=True)
    order = _order.sort_order(frame)
    got = frame if order is None else _order.reorder(frame, order)
    assert_frame_equal(got, expected)


@pytest.mark.parametrize("min_run", [1, 3, 4096])
def test_reorder_keeps_runs_in_place_and_moves_the_rest(monkeypatch, min_run):
    monkeypatch.setattr(_order, "_MIN_KEPT_RUN", min_run)
    frame = pl.DataFrame({"x": list(range(20))})
    order = pl.Series([0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 17, 18])
    assert _order.reorder(frame, order).get_column("x").to_list() == order.to_list()
    columns = {"x": frame.get_column("x")}  # the dict form releases its columns
    assert _order.reorder(columns, order).get_column("x").to_list() == order.to_list()


def test_many_scattered_moves_fall_back_to_one_gather(monkeypatch):
    monkeypatch.setattr(_order, "_MIN_KEPT_RUN", 1)
    n = 10_000
    order = pl.Series([i + 1 if i % 2 == 0 else i - 1 for i in range(n)])  # every pair swapped
    assert _order._pieces(order) is None
    frame = pl.DataFrame({"x": range(n)})
    assert _order.reorder(frame, order).get_column("x").equals(order.alias("x"), check_dtypes=False)


def test_delivery_order_of_cloudtrail_names():
    names = [
        "AWSLogs/2/CloudTrail/us-west-2/2026/03/08/2_CloudTrail_us-west-2_20260308T0100Z_b.json.gz",
        "AWSLogs/1/CloudTrail/us-east-1/2026/03/08/1_CloudTrail_us-east-1_20260308T0105Z_a.json.gz",
        "AWSLogs/1/CloudTrail/eu-west-1/2026/03/08/1_CloudTrail_eu-west-1_20260308T0100Z_c.json.gz",
        "AWSLogs/1/CloudTrail-Insight/us-east-1/2026/03/08/"
        "1_CloudTrail-Insight_us-east-1_20260308T0000Z_d.json.gz",
        "exports/history.json",
    ]
    ordered = sorted(names, key=_order.delivery_key)
    assert ordered == [names[4], names[3], names[2], names[0], names[1]]
