"""The widgets, driven from the kernel side: filters, paging, records, escaping, blast radius."""

from __future__ import annotations

import html
import sys
import types
from datetime import UTC, datetime

import polars as pl
import pytest
from _ui_helpers import HOSTILE_UA, synthetic_events, write_hostile_trail

import forensics as fx
from forensics.ui._explore import _brush_window


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> fx.Trail:
    return fx.load(write_hostile_trail(tmp_path_factory.mktemp("hostile")), cache=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    info = fx.sample.write(out, events=2_500, days=2, file_minutes=60)
    return fx.load(out, cache=False), info


def _all_html(widget) -> str:
    parts = []
    for child in getattr(widget, "children", ()):
        parts.append(_all_html(child))
    value = getattr(widget, "value", None)
    if isinstance(value, str):
        parts.append(value)
    return "\n".join(parts)


# -- explore ----------------------------------------------------------------------------------
def test_explore_filters_update_the_count_timeline_and_table():
    trail = fx.Trail(synthetic_events(20_000, days=3))
    ui = fx.ui.explore(trail)
    assert ui.filtered.height == 20_000
    spec0 = ui.chart.spec
    table0 = ui.table.value

    ui.service.value = "iam.amazonaws.com"
    expected = trail.events.filter(pl.col("event_source") == "iam.amazonaws.com").height
    assert ui.filtered.height == expected < 20_000
    assert ui.chart.spec != spec0 and ui.table.value != table0
    assert f"{expected:,}" in ui.status.value

    ui.error.value = "denied"
    assert set(ui.filtered.get_column("error_code").to_list()) == {"AccessDenied"}
    ui.error.value = "ok"
    assert ui.filtered.get_column("error_code").null_count() == ui.filtered.height

    ui.since.value = "2024-03-02T00:00:00Z"
    ui.until.value = "2024-03-02T12:00:00Z"
    times = ui.filtered.get_column("event_time")
    assert times.min() >= datetime(2024, 3, 2, tzinfo=UTC)
    assert times.max() < datetime(2024, 3, 2, 12, tzinfo=UTC)

    ui.since.value = "not a time"
    assert "cannot read" in ui.status.value  # a readable problem, not a traceback
    assert ui.last_redraw_ms > 0


def test_explore_event_name_matches_exactly_or_by_part():
    trail = fx.Trail(synthetic_events(5_000, days=1))
    ui = fx.ui.explore(trail)
    ui.event_name.value = "AssumeRole"
    assert set(ui.filtered.get_column("event_name").to_list()) == {"AssumeRole"}
    ui.event_name.value = "describe"
    assert set(ui.filtered.get_column("event_name").to_list()) == {"DescribeInstances"}


def test_explore_principal_search_and_timeline_split():
    trail = fx.Trail(synthetic_events(5_000, days=1, principals=40))
    ui = fx.ui.explore(trail)
    ui.search.value = "user/u1"
    values = [v for _, v in ui.principal.options if v]
    assert values and all("user/u1" in v for v in values)
    labels = [label for label, v in ui.principal.options if v]
    assert all(label.rstrip(")").split("(")[-1].replace(",", "").isdigit() for label in labels)
    who = values[0]
    ui.principal.value = who
    assert set(ui.filtered.get_column("principal").to_list()) == {who}
    # once a principal is picked, the timeline splits by service
    assert "by service" in ui.chart.spec["vconcat"][0]["title"]


def test_explore_pages_through_the_events():
    trail = fx.Trail(synthetic_events(95, days=1))
    ui = fx.ui.explore(trail, page_size=20)
    assert "events 1–20 of 95" in ui.page_label.value
    assert ui.prev.disabled and not ui.next.disabled
    for _ in range(10):
        ui.next.click()
    assert "events 81–95 of 95" in ui.page_label.value and ui.next.disabled
    assert len(ui.event.options) == 15
    ui.prev.click()
    assert "events 61–80" in ui.page_label.value


def test_explore_brush_on_the_timeline_narrows_the_table():
    trail = fx.Trail(synthetic_events(2_000, days=2))
    ui = fx.ui.explore(trail)
    lo, hi = datetime(2024, 3, 1, 6, tzinfo=UTC), datetime(2024, 3, 1, 8, tzinfo=UTC)
    ms = [lo.timestamp() * 1000, hi.timestamp() * 1000]
    # what the frontend does when the user drags on the strip
    ui.chart._vl_selections = {"brush": {"value": {"bucket": ms}, "store": []}}
    inside = trail.events.filter(pl.col("event_time").is_between(lo, hi)).height
    assert f"of {inside:,}" in ui.page_label.value
    assert "timeline selection: 2024-03-01 06:00:00Z" in ui.brush_note.value
    assert ui.chart.selections.brush.value == {"bucket": ms}
    ui.chart._vl_selections = {"brush": {"value": None, "store": []}}
    assert "of 2,000" in ui.page_label.value
    assert _brush_window({"bucket": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"]}) == (
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC))


def test_explore_shows_the_original_record_escaped(hostile):
    ui = fx.ui.explore(hostile)
    ui.error.value = "denied"
    assert ui.filtered.height == 5
    ui.event.value = 0
    event_id = ui.filtered.get_column("event_id")[0]
    original = hostile.original(event_id)
    assert html.escape(original["requestParameters"]["key"]) in ui.record.value
    assert "&lt;img src=x onerror=" in ui.record.value and "<img" not in ui.record.value
    everything = _all_html(ui)
    assert HOSTILE_UA not in everything
    assert "<script>alert(2)</script>" not in everything
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in ui.table.value


def test_explore_falls_back_to_the_row_when_there_is_no_original():
    trail = fx.Trail(synthetic_events(50, days=1))  # built in memory: no source files
    ui = fx.ui.explore(trail)
    ui.event.value = 3
    assert "normalized row shown" in ui.record.value
    assert "ev-" in ui.record.value


# -- blast radius -----------------------------------------------------------------------------
def test_blast_widget_recomputes_for_a_new_seed(sample):
    trail, info = sample
    seed = info.story["leaked_access_key_id"]
    ui = fx.ui.blast_radius(trail, seed)
    first = ui.result
    assert first.seed == seed and first.events.height > 0
    assert seed in ui.credentials.value and seed in ui.summary.value
    spec0, graph0, table0 = ui.timeline.spec, ui.graph.spec, ui.events_table.value
    assert "credentials (" in ui.tabs.get_title(0)

    other = next(s for s in ui.seed.options if s.startswith("AKIA") and s != seed)
    ui.seed.value = other
    assert ui.result is not first and ui.result.seed == other
    assert ui.timeline.spec != spec0 and ui.graph.spec != graph0
    assert ui.events_table.value != table0
    assert ui.runs == 2


def test_blast_widget_window_and_unknown_seed(sample):
    trail, info = sample
    seed = info.story["leaked_access_key_id"]
    ui = fx.ui.blast_radius(trail, seed)
    full = ui.result.events.height
    ui.until.value = info.story["first_malicious_event_time"]
    assert ui.result.events.height < full
    ui.seed.value = "AKIA<b>NOSUCHKEY</b>"
    assert "fx-problem" in ui.status.value and "&lt;b&gt;" in ui.status.value


def test_blast_widget_escapes_every_field(hostile):
    ui = fx.ui.blast_radius(hostile, "AKIAEXAMPLE000000002")
    assert ui.result.events.height == 5
    everything = _all_html(ui)
    assert HOSTILE_UA not in everything and "<script>alert(2)" not in everything
    assert "&lt;img src=x" in ui.events_table.value


def test_blast_widget_exports_a_ticket_when_export_exists(sample, tmp_path):
    trail, info = sample
    ui = fx.ui.blast_radius(trail, info.story["leaked_access_key_id"])
    assert ui.export is not None and not ui.export.disabled
    ui.export_dir.value = str(tmp_path / "INC-1")
    ui.export.click()
    assert (tmp_path / "INC-1" / "summary.md").exists()
    assert "summary.md" in ui.export_note.value


def test_blast_widget_has_no_export_button_without_export(sample, monkeypatch):
    trail, _ = sample
    monkeypatch.setitem(sys.modules, "forensics.export", types.ModuleType("forensics.export"))
    ui = fx.ui.blast_radius(trail)
    assert ui.export is None
    assert "type or pick a seed" in ui.status.value
