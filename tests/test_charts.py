"""Charts aggregate in polars, stay small at a million events, and label their times UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import networkx as nx
import polars as pl
import pytest
from _ui_helpers import synthetic_events

import forensics as fx
from forensics.charts import (
    chart_rows,
    first_seen_data,
    graph_data,
    heatmap_data,
    timeline_data,
    top_data,
)


@pytest.fixture(scope="module")
def million() -> pl.DataFrame:
    return synthetic_events(1_000_000)


@pytest.fixture(scope="module")
def small() -> pl.DataFrame:
    return synthetic_events(5_000, days=2)


def _titles(spec: dict) -> list[str]:
    text = json.dumps(spec)
    return [t for t in ("time (UTC)", "hour of day (UTC)", "first call (UTC)") if t in text]


# -- timeline ---------------------------------------------------------------------------------
@pytest.mark.parametrize("by", ["principal", "event_source", "aws_region", "error_code"])
def test_timeline_at_a_million_events_embeds_only_aggregates(million, by):
    chart = fx.charts.timeline(million, by=by, top=8)
    rows = chart_rows(chart)
    assert 0 < rows <= 121 * 9  # auto bins (at most ~120) x (top + "(other)")
    data, every = timeline_data(million, by=by, top=8)
    assert data.get_column("events").sum() == million.height  # nothing lost in aggregation
    assert data.get_column("category").n_unique() <= 9
    assert every == "2h"
    spec = chart.to_dict()
    assert "time (UTC)" in _titles(spec)
    assert "brush" in json.dumps(spec.get("params", spec))


def test_timeline_keeps_top_values_and_sums_the_rest_as_other(small):
    data, _ = timeline_data(small, by="principal", every="1h", top=3)
    counts = small.group_by("principal").len().sort(["len", "principal"], descending=[True, False])
    top3 = set(counts.head(3).get_column("principal").to_list())
    cats = set(data.get_column("category").to_list())
    assert cats == top3 | {"(other)"}
    other = data.filter(pl.col("category") == "(other)").get_column("events").sum()
    assert other == counts.tail(counts.height - 3).get_column("len").sum()


def test_timeline_bins_are_utc_and_labelled(small):
    data, every = timeline_data(small, by="aws_region", every="1d")
    assert every == "1d"
    assert data.get_column("bucket").to_list()[0] == "2024-03-01T00:00:00Z"
    svg = fx.charts.timeline(small, every="6h").to_dict()
    assert "utcFormat" in json.dumps(svg)  # tick labels in UTC whatever the browser's zone


def test_timeline_errors_show_success_as_its_own_category(small):
    data, _ = timeline_data(small, by="error_code", every="1d")
    assert set(data.get_column("category").to_list()) == {"(success)", "AccessDenied"}


def test_timeline_refuses_too_many_bins_with_a_useful_message(million):
    with pytest.raises(ValueError, match="choose a wider bin"):
        timeline_data(million, every="1m")
    with pytest.raises(ValueError, match="cannot read the bin width"):
        timeline_data(million, every="hourly")
    with pytest.raises(ValueError, match="cannot split"):
        timeline_data(million, by="user_agent_typo")


def test_timeline_of_nothing_is_an_empty_chart(small):
    chart = fx.charts.timeline(small.head(0))
    assert chart_rows(chart) == 0


def test_timeline_accepts_a_trail_and_a_lazy_frame(small):
    trail = fx.Trail(small)
    a = fx.charts.timeline(trail, by="event_source").to_dict()
    b = fx.charts.timeline(small.lazy(), by="event_source").to_dict()
    assert a == b


def test_timeline_svg_renders_offline(small):
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(fx.charts.timeline(small, by="event_source").to_dict())
    assert "time (UTC)" in svg and "<svg" in svg


# -- heatmap ----------------------------------------------------------------------------------
def test_heatmap_is_at_most_168_cells_and_counts_everything(million):
    data = heatmap_data(million)
    assert data.height <= 168
    assert data.get_column("events").sum() == million.height
    assert chart_rows(fx.charts.heatmap(million)) == data.height
    assert "hour of day (UTC)" in _titles(fx.charts.heatmap(million).to_dict())


def test_heatmap_places_events_on_their_utc_weekday_and_hour():
    ev = pl.DataFrame({"event_time": [datetime(2024, 3, 2, 23, 30, tzinfo=UTC)]})  # a Saturday
    assert heatmap_data(ev).rows() == [("Sat", 6, 23, 1)]


# -- first seen -------------------------------------------------------------------------------
def test_first_seen_is_the_first_call_per_principal_and_api(small):
    data = first_seen_data(small, top=3)
    assert data.get_column("principal").n_unique() == 3
    who = data.get_column("principal")[0]
    api = data.filter(pl.col("principal") == who).row(0, named=True)
    expected = (
        small.filter((pl.col("principal") == who) & (pl.col("event_name") == api["event_name"]))
        .get_column("event_time").min()
    )
    assert api["first_seen"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_first_seen_since_keeps_only_new_apis_and_is_bounded(million):
    who = million.get_column("principal")[0]
    late = first_seen_data(million, who, since="2024-03-01T00:10:00Z")
    early = first_seen_data(million, who)
    assert late.height < early.height
    assert all(t >= "2024-03-01T00:10:00Z" for t in late.get_column("first_seen").to_list())
    chart = fx.charts.first_seen(million, top=50, max_points=100)
    assert chart_rows(chart) <= 100


# -- top --------------------------------------------------------------------------------------
def test_top_counts_and_orders_and_names_nulls():
    frame = pl.DataFrame({"error_code": ["A", None, "A", "B", None, None]})
    assert top_data(frame, "error_code", 2).select("value", "events").rows() == [
        ("(none)", 3), ("A", 2)
    ]


def test_top_at_a_million_embeds_n_rows(million):
    assert chart_rows(fx.charts.top(million, "source_ip", 15)) == 15


def test_top_refuses_unknown_and_list_columns(small):
    with pytest.raises(ValueError, match="no column"):
        top_data(small, "nope")
    with pytest.raises(ValueError, match="lists or structs"):
        top_data(small, "resources")


def test_top_keeps_full_arns_when_short_labels_collide():
    frame = pl.DataFrame({"principal": ["arn:aws:iam::111111111111:user/a",
                                        "arn:aws:iam::222222222222:user/a"]})
    labels = top_data(frame, "principal", 5).get_column("label").to_list()
    assert len(set(labels)) == 2


# -- graph ------------------------------------------------------------------------------------
def _graph(n_resources: int) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_node("AKIASEED", kind="credential")
    g.add_node("arn:aws:iam::1:user/ci", kind="principal")
    g.add_edge("AKIASEED", "arn:aws:iam::1:user/ci", relation="acts_as")
    g.add_edge("AKIASEED", "ASIANEW", relation="minted")
    for i in range(n_resources):
        g.add_edge("ASIANEW", f"arn:aws:s3:::bucket{i}", relation="action",
                   access="denied" if i % 5 == 0 else "read", count=2)
    return g


def test_blast_graph_draws_seed_kinds_and_relations():
    class Result:
        seed = "AKIASEED"
        graph = _graph(6)

    nodes, edges, dropped = graph_data(Result())
    kinds = dict(nodes.select("id", "kind").rows())
    assert kinds["AKIASEED"] == "seed"
    assert kinds["arn:aws:iam::1:user/ci"] == "principal"
    assert kinds["ASIANEW"] == "credential"  # guessed from the key prefix
    assert set(edges.get_column("type").to_list()) == {
        "acts_as", "minted", "action: read", "action: denied"
    }
    assert dropped == 0


def test_blast_graph_is_bounded_and_deterministic():
    g = _graph(1000)
    chart = fx.charts.blast_graph(g, max_nodes=80, seed="AKIASEED")
    assert chart_rows(chart) <= 80 * 2 + 600
    assert "not drawn" in chart.to_dict()["title"]
    nodes, _, dropped = graph_data(g, max_nodes=80, seed="AKIASEED")
    assert "AKIASEED" in nodes.get_column("id").to_list()
    assert dropped == g.number_of_nodes() - 80
    assert fx.charts.blast_graph(g, max_nodes=80).to_dict() == fx.charts.blast_graph(
        g, max_nodes=80
    ).to_dict()


def test_blast_graph_refuses_what_is_not_a_graph():
    with pytest.raises(TypeError, match="networkx graph"):
        fx.charts.blast_graph(42)
