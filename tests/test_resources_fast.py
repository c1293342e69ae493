"""The fast paths of the resource extraction and the graph build give the plain answers."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

import forensics as fx
from forensics._schema import conform
from forensics.graph._build import _label, _labels
from forensics.resources import event_resources


def _events(*texts: str, name: str = "GetObject") -> fx.Trail:
    n = len(texts)
    return fx.Trail(
        conform(
            pl.DataFrame(
                {
                    "event_id": [f"e{i}" for i in range(n)],
                    "event_source": ["s3.amazonaws.com"] * n,
                    "event_name": [name] * n,
                    "read_only": [True] * n,
                    "request_parameters": list(texts),
                }
            )
        )
    )


def test_a_key_spelled_with_a_unicode_escape_is_still_read() -> None:
    # "bucketName" with its N escaped: the literal pre-filter must not drop the row
    got = event_resources(_events('{"bucket\\u004eame":"b","key":"k"}'))
    assert sorted(got["arn"]) == ["arn:aws:s3:::b", "arn:aws:s3:::b/k"]


def test_rows_without_a_rule_key_give_nothing_and_rows_with_it_are_read() -> None:
    got = event_resources(
        _events('{"other":"x"}', '{"note":"bucketName"}', '{"bucketName":"b2"}', name="ListX")
    )
    assert got.select("event_id", "arn").rows() == [("e2", "arn:aws:s3:::b2")]


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=":/arnaws-x\n", max_size=30),
            st.text(alphabet=":/arnaws-x", max_size=30).map(lambda t: "arn:" + t),
        ),
        max_size=20,
    )
)
def test_graph_labels_in_bulk_are_the_labels_one_by_one(nodes: list[str]) -> None:
    assert _labels(nodes) == [_label(n) for n in nodes]
