"""``explore(trail)``: pick a principal, a time range and filters; see the timeline and events."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl

from forensics._schema import conform, is_denied, to_utc
from forensics.charts import timeline
from forensics.charts._common import short_label
from forensics.export._annotations import DEFAULT_FILE, Annotations
from forensics.ui._chart_widget import chart_widget, set_chart
from forensics.ui._findings import FindingIndex
from forensics.ui._html import STYLE, esc, html_table, record_html
from forensics.ui._table import ClickTable

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["Explorer", "explore"]

ALL = ""
TABLE_COLUMNS = [
    "event_time", "principal", "event_name", "event_source", "aws_region", "source_ip",
    "error_code", "access_key_id", "user_agent", "event_id",
]  # fmt: skip
TABLE_TITLES = {
    "event_time": "time (UTC)",
    "event_source": "service",
    "aws_region": "region",
    "error_code": "error",
    "access_key_id": "access key",
}
BY_OPTIONS = [
    ("auto", "auto"), ("principal", "principal"), ("service", "event_source"),
    ("region", "aws_region"), ("error", "error_code"), ("event name", "event_name"),
    ("source IP", "source_ip"), ("user agent", "user_agent"), ("access key", "access_key_id"),
]  # fmt: skip
#: Where the free-text search looks (attacker-controlled text: matched, never interpreted).
SEARCH_COLUMNS = (
    "request_parameters", "response_elements", "additional_event_data", "error_message",
    "user_agent", "event_name",
)  # fmt: skip
#: Display offsets of the time column (events stay in UTC; only the table's text changes).
TZ_CHOICES = [("UTC", 0)] + [
    (f"UTC{h:+03d}:{m:02d}", h * 60 + (m if h >= 0 else -m))
    for h, m in [(h, 0) for h in range(-12, 15) if h] + [(5, 30), (9, 30), (-3, 30)]
]
ERROR_CHOICES = [
    ("all events", "all"),
    ("succeeded", "ok"),
    ("failed (any error)", "error"),
    ("access denied", "denied"),
]


def _counts(frame: pl.DataFrame, column: str, limit: int) -> list[tuple[str, int]]:
    return (
        frame.group_by(column)
        .len()
        .drop_nulls(column)
        .sort(["len", column], descending=[True, False])
        .head(limit)
        .rows()
    )


class Explorer(widgets.VBox):
    """The widget :func:`explore` returns (a ``VBox``); its parts are attributes for scripting.

    Attributes: ``search``, ``principal``, ``since``, ``until``, ``service``, ``event_name``,
    ``error``, ``by``, ``finding`` (with ``findings=``), ``chart`` (a ``JupyterChart``),
    ``table``, ``prev``, ``next``,
    ``event``, ``record``, ``status``; ``filtered`` is the current events frame and
    ``last_redraw_ms`` how long the last filter change took in the kernel.
    """

    def __init__(
        self,
        trail: Trail | pl.DataFrame,
        *,
        page_size: int = 20,
        principal: str | None = None,
        derived: bool = False,
        annotations: str | Path | None = DEFAULT_FILE,
        findings: Any = None,
    ) -> None:
        if isinstance(trail, pl.DataFrame | pl.LazyFrame):
            from forensics._trail import Trail as _Trail

            trail = _Trail(conform(trail))
        self.trail = trail
        self.page_size = page_size
        self.base: pl.DataFrame = trail.events
        self.filtered: pl.DataFrame = self.base
        self.page = 0
        self.last_redraw_ms = 0.0
        self.redraws = 0
        self._brush: tuple[datetime, datetime] | None = None
        self._principals = _counts(self.base, "principal", 100_000)
        # Precomputed once so that a redraw compares values instead of scanning text:
        # the distinct event names and error codes (small sets), and whether time is sorted.
        self._names = self.base.get_column("event_name").drop_nulls().unique().sort().to_list()
        codes = self.base.select(pl.col("error_code").drop_nulls().unique())
        self._denied_codes = (
            codes.filter(is_denied(pl.col("error_code"))).get_column("error_code").to_list()
        )
        times = self.base.get_column("event_time")
        self._sorted = times.null_count() == 0 and times.is_sorted()
        self._derived_cache: dict[str, pl.DataFrame] = {}
        self._updating = False
        self.notes = Annotations(annotations) if annotations is not None else None
        self.findings = FindingIndex(findings, self.base) if findings is not None else None

        self.search = widgets.Text(
            placeholder="search principals (ARN, name, key...)",
            description="find",
            continuous_update=True,
        )
        self.principal = widgets.Select(
            options=self._principal_options(""),
            value=ALL,
            rows=8,
            description="principal",
            layout=widgets.Layout(width="640px"),
        )
        self.since = widgets.Text(
            placeholder="e.g. 2024-03-01T00:00:00Z",
            description="since (UTC)",
            continuous_update=False,
        )
        self.until = widgets.Text(
            placeholder="exclusive, ISO 8601", description="until (UTC)", continuous_update=False
        )
        services = _counts(self.base, "event_source", 500)
        self.service = widgets.Dropdown(
            options=[("all services", ALL)] + [(f"{s} ({n:,})", s) for s, n in services],
            value=ALL,
            description="service",
        )
        self.event_name = widgets.Combobox(
            options=[name for name, _ in _counts(self.base, "event_name", 2000)],
            placeholder="any event name (exact or part)",
            description="event",
            ensure_option=False,
            continuous_update=False,
        )
        codes = _counts(self.base, "error_code", 50)
        self.error = widgets.Dropdown(
            options=ERROR_CHOICES + [(f"error {c} ({n:,})", f"code:{c}") for c, n in codes],
            value="all",
            description="errors",
        )
        self.by = widgets.Dropdown(options=BY_OPTIONS, value="auto", description="split by")
        self.derived = widgets.Checkbox(
            value=derived,
            description="+ credentials it minted (derived)",
            indent=False,
            tooltip="with a principal picked: add the events of every session minted from its "
            "credentials (AssumeRole chains, GetSessionToken...), as trail.for_principal(p, "
            "derived=True)",
        )
        self.ip = widgets.Combobox(
            options=[ip for ip, _ in _counts(self.base, "source_ip", 2000)],
            placeholder="any source IP",
            description="source IP",
            ensure_option=False,
            continuous_update=False,
        )
        self.agent = widgets.Combobox(
            options=[ua for ua, _ in _counts(self.base, "user_agent", 500)],
            placeholder="any user agent (exact or part)",
            description="user agent",
            ensure_option=False,
            continuous_update=False,
        )
        self.grep = widgets.Text(
            placeholder="text, or /regex/, in request parameters, responses, errors",
            description="search",
            continuous_update=False,
        )
        self.tz = widgets.Dropdown(options=TZ_CHOICES, value=0, description="times in")
        self.finding = widgets.Dropdown(
            options=self.findings.options() if self.findings is not None else [
                ("(no findings given)", ALL)],
            value=ALL,
            description="finding",
            disabled=self.findings is None,
            layout=widgets.Layout(width="420px"),
        )  # fmt: skip
        self.status = widgets.HTML()
        self.chart = chart_widget(self._timeline(), "fx-timeline")
        self.brush_note = widgets.HTML()
        self.table = ClickTable()
        self.prev = widgets.Button(description="◀ previous", layout=widgets.Layout(width="110px"))
        self.next = widgets.Button(description="next ▶", layout=widgets.Layout(width="110px"))
        self.page_label = widgets.HTML()
        # for scripts: the rows of the page by index (a click on a table row sets it); not shown
        self.event = widgets.Select(
            options=[], rows=6, description="event", layout=widgets.Layout(width="95%")
        )
        self.record = widgets.HTML()
        self.star = widgets.ToggleButton(
            description="☆ star", tooltip="star this event (kept in the annotations file)"
        )
        self.tags = widgets.Text(
            placeholder="tags, comma separated", description="tags", continuous_update=False
        )
        self.note = widgets.Textarea(
            placeholder="a note on this event (goes into the ticket)",
            layout=widgets.Layout(width="60%", height="48px"),
        )
        self.save_note = widgets.Button(description="save note", icon="save")
        self.note_status = widgets.HTML()
        self.annotate = widgets.HBox(
            [self.star, self.tags, self.note, self.save_note, self.note_status],
            layout=widgets.Layout(display="none"),
        )
        self._current: dict[str, Any] | None = None

        for w, cls in (
            (self.search, "fx-search"), (self.principal, "fx-principal"), (self.since, "fx-since"),
            (self.until, "fx-until"), (self.service, "fx-service"),
            (self.event_name, "fx-event-name"), (self.error, "fx-error"), (self.by, "fx-by"),
            (self.status, "fx-status"), (self.table, "fx-table"), (self.prev, "fx-prev"),
            (self.next, "fx-next"), (self.page_label, "fx-page"), (self.event, "fx-event"),
            (self.record, "fx-record"), (self.brush_note, "fx-brush"),
            (self.derived, "fx-derived"), (self.ip, "fx-ip"), (self.agent, "fx-agent"),
            (self.grep, "fx-grep"), (self.tz, "fx-tz"), (self.star, "fx-star"),
            (self.tags, "fx-tags"), (self.note, "fx-note-text"), (self.annotate, "fx-annotate"),
            (self.finding, "fx-finding"),
        ):  # fmt: skip
            w.add_class(cls)

        self.search.observe(self._on_search, names="value")
        filters = [self.since, self.until, self.service, self.event_name, self.error, self.by]
        pivots = [self.derived, self.ip, self.agent, self.grep, self.tz, self.finding]
        for w in (self.principal, *filters, *pivots):
            w.observe(self._on_filter, names="value")
        self.table.observe(self._on_row_click, names="selected")
        self.star.observe(self._on_star, names="value")
        self.tags.observe(lambda _c: self._save_annotation(), names="value")
        self.save_note.on_click(lambda _b: self._save_annotation())
        # the frontend writes the Vega selection signals here (selections is rebuilt per chart)
        self.chart.observe(self._on_brush, names="_vl_selections")
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(+1))
        self.event.observe(self._on_event, names="value")

        super().__init__(
            [
                widgets.HTML(STYLE),
                widgets.HBox(
                    [
                        widgets.VBox([self.search, self.principal, self.derived]),
                        widgets.VBox(filters),
                        widgets.VBox([self.ip, self.agent, self.grep, self.tz, self.finding]),
                    ],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.status,
                self.chart,
                self.brush_note,
                widgets.HBox([self.prev, self.page_label, self.next]),
                self.table,
                self.annotate,
                self.record,
            ]
        )
        self.add_class("fx-root")
        self.add_class("fx-explore")
        if principal is not None:
            self.principal.value = principal  # one redraw, through the observer
        else:
            self.refresh()

    # -- filters ---------------------------------------------------------------------------------
    def _principal_options(self, needle: str) -> list[tuple[str, str]]:
        needle = needle.strip().lower()
        found = (
            [(p, n) for p, n in self._principals if needle in p.lower()]
            if needle
            else (self._principals)
        )
        head = [(f"(all principals) ({self.base.height:,})", ALL)]
        return head + [(f"{p}  ({n:,})", p) for p, n in found[:500]]

    def _on_search(self, change: dict[str, Any]) -> None:
        keep = self.principal.value
        options = self._principal_options(change["new"])
        if keep not in {v for _, v in options}:
            options.append((f"{keep}  (selected)", keep))
        self.principal.options = options
        self.principal.value = keep

    def predicates(self) -> tuple[list[pl.Expr], list[str]]:
        """The polars predicates of the current filter values, with their descriptions."""
        keyed = self.keyed_predicates()
        return [e for e, _ in keyed.values() if e is not None], [t for _, t in keyed.values()]

    def keyed_predicates(self) -> dict[str, tuple[pl.Expr | None, str]]:
        """The predicates by filter name (``principal``, ``service``, ``error``, ``ip``...).

        Each dropdown's counts are computed under every filter but its own.
        """
        preds: list[pl.Expr] = []
        text: list[str] = []
        keyed: dict[str, tuple[pl.Expr | None, str]] = {}
        self._window = (None, None)
        if self.principal.value and not self._use_derived():
            keyed["principal"] = (
                pl.col("principal") == self.principal.value,
                f"principal = {self.principal.value}",
            )
        elif self.principal.value:
            keyed["principal"] = (
                None,
                f"principal = {self.principal.value} and the credentials it minted",
            )
        lo = to_utc(self.since.value) if self.since.value.strip() else None  # ValueError: shown
        hi = to_utc(self.until.value) if self.until.value.strip() else None
        self._window = (lo, hi)
        for bound, op, label in ((lo, ">=", "since"), (hi, "<", "until")):
            if bound is not None:
                if not self._sorted or self._use_derived():
                    preds.append(
                        pl.col("event_time") >= bound
                        if op == ">="
                        else pl.col("event_time") < bound
                    )
                text.append(f"{label} {bound.isoformat()}")
        if preds or text:
            keyed["window"] = (pl.all_horizontal(preds) if preds else None, "; ".join(text))
        if self.service.value:
            keyed["service"] = (
                pl.col("event_source") == self.service.value,
                f"service = {self.service.value}",
            )
        name = self.event_name.value.strip()
        if name:
            if name in self._names:
                expr = pl.col("event_name") == name
            else:
                matching = [n for n in self._names if name.lower() in n.lower()]
                expr = pl.col("event_name").is_in(matching)
            keyed["event_name"] = (expr, f"event name ~ {name}")
        ip = self.ip.value.strip()
        if ip:
            keyed["ip"] = (pl.col("source_ip") == ip, f"source IP = {ip}")
        agent = self.agent.value.strip()
        if agent:
            keyed["agent"] = (
                pl.col("user_agent").str.contains(agent, literal=True),
                f"user agent ~ {agent}",
            )
        needle = self.grep.value.strip()
        if needle:
            keyed["grep"] = (_search_expr(needle), f"search {needle}")
        if self.findings is not None and self.finding.value:
            ids, label = self.findings.select(self.finding.value)
            keyed["finding"] = (pl.col("event_id").is_in(ids.implode()), f"finding: {label}")
        preds = []
        err = self.error.value
        if err == "ok":
            preds.append(pl.col("error_code").is_null())
        elif err == "error":
            preds.append(pl.col("error_code").is_not_null())
        elif err == "denied":
            preds.append(pl.col("error_code").is_in(self._denied_codes))
        elif err.startswith("code:"):
            preds.append(pl.col("error_code") == err[5:])
        if err != "all":
            keyed["error"] = (preds[0], f"errors: {err}")
        return keyed

    def _use_derived(self) -> bool:
        return bool(self.derived.value and self.principal.value and self._trail_like())

    def _trail_like(self) -> bool:
        return callable(getattr(self.trail, "for_principal", None))

    def _start_frame(self) -> pl.DataFrame:
        """The events the filters apply to: all, or a principal and what it minted."""
        if not self._use_derived():
            return self.base
        who = self.principal.value
        if who not in self._derived_cache:
            self._derived_cache = {
                who: self.trail.for_principal(who, derived=True).events  # type: ignore[union-attr]
            }
        return self._derived_cache[who]

    def _split(self) -> str:
        if self.by.value != "auto":
            return self.by.value
        return "event_source" if self.principal.value else "principal"

    def _timeline(self):
        marks = self.findings.on(self.filtered) if self.findings is not None else None
        return timeline(  # a live JupyterChart: the brush works whatever the renderer
            self.filtered, by=self._split(), top=8, width=620, height=200, brush=True,
            findings=marks,
        )  # fmt: skip

    def _on_filter(self, _change: dict[str, Any] | None = None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Apply the filters: recompute the events, the timeline and the first table page."""
        started = time.perf_counter()
        if self._updating:
            return
        try:
            keyed = self.keyed_predicates()
            preds = [e for e, _ in keyed.values() if e is not None]
            text = [t for _, t in keyed.values() if t]
            frame = self._start_frame()
        except (ValueError, re.error) as exc:
            self.status.value = f'<span class="fx-problem">{esc(exc)}</span>'
            return
        lo, hi = self._window
        if frame is self.base and self._sorted and (lo is not None or hi is not None):
            # event_time is sorted: cut the window by binary search instead of scanning
            times = frame.get_column("event_time")
            start = int(times.search_sorted(lo, side="left")) if lo is not None else 0
            stop = int(times.search_sorted(hi, side="left")) if hi is not None else frame.height
            frame = frame.slice(start, max(0, stop - start))
        self._windowed = frame
        self.filtered = frame.filter(*preds) if preds else frame
        self._update_counts(frame, keyed)
        self._brush = None
        self.brush_note.value = ""
        if hasattr(self, "chart"):
            set_chart(self.chart, self._timeline())
        self.page = 0
        self._show_page()
        self.last_redraw_ms = (time.perf_counter() - started) * 1000
        self.redraws += 1
        where = "; ".join(text) if text else "no filter"
        self.status.value = (
            f"<b>{self.filtered.height:,}</b> of {self.base.height:,} events match "
            f"({esc(where)}) <span style='color:#999'>· redrawn in {self.last_redraw_ms:.0f} ms</span>"
        )

    def _update_counts(self, frame: pl.DataFrame, keyed: dict[str, Any]) -> None:
        """Relabel the dropdowns with counts under the other filters (not the whole trail)."""

        def under_others(own: str) -> pl.DataFrame:
            if own not in keyed:
                return self.filtered  # its own filter is off: the current selection
            others = [e for k, (e, _) in keyed.items() if k != own and e is not None]
            return frame.filter(*others) if others else frame

        self._updating = True
        try:
            rows = under_others("service")
            keep = self.service.value
            services = _counts(rows, "event_source", 500)
            options = [(f"all services ({rows.height:,})", ALL)]
            options += [(f"{s} ({n:,})", s) for s, n in services]
            if keep and keep not in {s for s, _ in services}:
                options.append((f"{keep} (0)", keep))
            self.service.options = options
            self.service.value = keep
            rows = under_others("error")
            keep = self.error.value
            failed = rows.get_column("error_code").is_not_null().sum()
            denied = rows.get_column("error_code").is_in(self._denied_codes).sum()
            fixed = [
                (f"all events ({rows.height:,})", "all"),
                (f"succeeded ({rows.height - failed:,})", "ok"),
                (f"failed (any error) ({failed:,})", "error"),
                (f"access denied ({denied:,})", "denied"),
            ]
            codes = _counts(rows, "error_code", 50)
            options = fixed + [(f"error {c} ({n:,})", f"code:{c}") for c, n in codes]
            if keep not in {v for _, v in options}:
                options.append((f"{keep[5:]} (0)", keep))
            self.error.options = options
            self.error.value = keep
            self.ip.options = [ip for ip, _ in _counts(under_others("ip"), "source_ip", 2000)]
            self.agent.options = [ua for ua, _ in _counts(under_others("agent"), "user_agent", 500)]
            if self.findings is not None:  # counts of the events the other filters keep
                keep = self.finding.value
                self.finding.options = self.findings.options(under_others("finding"))
                self.finding.value = keep
        finally:
            self._updating = False

    # -- brush on the timeline ------------------------------------------------------------------
    def _on_brush(self, change: dict[str, Any]) -> None:
        signal = (change.get("new") or {}).get("brush") or {}
        window = _brush_window(signal.get("value"))
        if window == self._brush:
            return
        self._brush = window
        self.brush_note.value = (
            f"timeline selection: {window[0]:%Y-%m-%d %H:%M:%S}Z to {window[1]:%Y-%m-%d %H:%M:%S}Z "
            "(the table shows this window; clear the selection to see all)"
            if window
            else ""
        )
        self.page = 0
        self._show_page()

    def shown(self) -> pl.DataFrame:
        """The filtered events, narrowed to the timeline selection if there is one."""
        if self._brush is None:
            return self.filtered
        lo, hi = self._brush
        return self.filtered.filter(pl.col("event_time").is_between(lo, hi, closed="both"))

    # -- table and records ----------------------------------------------------------------------
    def _turn(self, step: int) -> None:
        pages = max(1, -(-self.shown().height // self.page_size))
        self.page = min(max(0, self.page + step), pages - 1)
        self._show_page()

    def _show_page(self) -> None:
        rows = self.shown()
        total = rows.height
        first = self.page * self.page_size
        page = rows.slice(first, self.page_size)
        self._page_rows = page
        self._first = first
        self.table.selected = -1
        self._render_table()
        last = first + page.height
        self.page_label.value = (
            f"&nbsp;events {first + 1 if total else 0:,}–{last:,} of {total:,}&nbsp;"
        )
        self.prev.disabled = self.page == 0
        self.next.disabled = last >= total
        options = [
            (
                f"#{first + i + 1:<5} {t:%Y-%m-%d %H:%M:%S}Z  {name or '':<28} "
                f"{short_label(who, 40)}",
                i,
            )
            for i, (t, name, who) in enumerate(
                page.select("event_time", "event_name", "principal").iter_rows()
            )
        ]
        self.event.unobserve(self._on_event, names="value")
        self.event.options = options
        self.event.value = None
        self.event.observe(self._on_event, names="value")
        self.annotate.layout.display = "none"
        self._current = None
        self.record.value = (
            '<p class="fx-note">click a row of the table to see its original CloudTrail '
            "record and annotate it</p>"
            if options
            else ""
        )

    def _render_table(self) -> None:
        shown, titles = self._display(self._page_rows)
        if self.findings is not None:
            shown = self.findings.label_rows(shown)
        self.table.value = html_table(
            shown,
            ["★", *TABLE_COLUMNS[:3], "finding", *TABLE_COLUMNS[3:]],
            titles=titles,
            first_index=self._first + 1,
            limit=90,
            empty="no events match these filters",
        )

    def _display(self, page: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
        """The page as shown: times in the chosen offset (the zone always written), stars."""
        minutes = int(self.tz.value or 0)
        label = dict((v, k) for k, v in TZ_CHOICES)[minutes]
        titles = {**TABLE_TITLES, "event_time": f"time ({label})"}
        suffix = "Z" if minutes == 0 else label[3:]
        shown = page.with_columns(
            (pl.col("event_time") + pl.duration(minutes=minutes))
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .add(pl.lit(suffix))
            .alias("event_time")
        )
        marks = []
        for event_id in page.get_column("event_id").to_list() if "event_id" in page.columns else []:
            note = self.notes.get(event_id) if self.notes is not None and event_id else {}
            mark = "★" if note.get("starred") else ""
            mark += " ✎" if note.get("note") or note.get("tags") else ""
            marks.append(mark)
        if len(marks) != shown.height:
            marks = [""] * shown.height
        return shown.with_columns(pl.Series("★", marks, dtype=pl.String)), titles

    def _on_row_click(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if index is None or index < 0 or index >= self._page_rows.height:
            return
        if self.event.value != index:
            self.event.value = index  # shows the record through _on_event

    # -- annotations ----------------------------------------------------------------------------
    def _show_annotation(self, row: dict[str, Any]) -> None:
        event_id = row.get("event_id")
        if self.notes is None or not event_id:
            self.annotate.layout.display = "none"
            self._current = None
            return
        self._current = None  # no saving while the fields are filled in
        note = self.notes.get(event_id)
        self.star.value = note["starred"]
        self.star.description = "★ starred" if note["starred"] else "☆ star"
        self.tags.value = ", ".join(note["tags"])
        self.note.value = note["note"]
        self.note_status.value = ""
        self._current = row
        self.annotate.layout.display = "flex"

    def _on_star(self, change: dict[str, Any]) -> None:
        self.star.description = "★ starred" if change["new"] else "☆ star"
        self._save_annotation()

    def _save_annotation(self) -> None:
        """Write the star / tags / note of the open event to the annotations file."""
        row = self._current
        if row is None or self.notes is None:
            return
        when = row.get("event_time")
        try:
            self.notes.set(
                row["event_id"],
                starred=self.star.value,
                tags=self.tags.value.split(","),
                note=self.note.value,
                event_time=when.isoformat() if when is not None else None,
                event_name=row.get("event_name"),
                principal=row.get("principal"),
            )
        except OSError as exc:
            self.note_status.value = f'<span class="fx-problem">not saved: {esc(exc)}</span>'
            return
        self.note_status.value = f'<span class="fx-note">saved to {esc(self.notes.path)}</span>'
        self._render_table()  # the star / note marks of the row

    def _on_event(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        self.show_record(change["new"])

    def show_record(self, index: int) -> None:
        """Show the original record of row ``index`` of the current page (and its annotation)."""
        row = self._page_rows.row(index, named=True)
        self.table.selected = index
        self._show_annotation(row)
        event_id = row.get("event_id")
        try:
            if event_id is None:
                raise KeyError("the event has no eventID")
            if row.get("source_file") is None:
                raise KeyError("the event was not read from a file")
            original = self.trail.original(event_id)
        except (KeyError, OSError, ValueError, IndexError, TypeError) as exc:
            shown = {k: v for k, v in row.items() if v is not None}
            self.record.value = record_html(
                shown, note=f"original record unavailable ({exc}); normalized row shown"
            )
            return
        note = ""
        if isinstance(original, list):
            note = f"{len(original)} records share event id {event_id}"
        self.record.value = record_html(
            original, note=note or f"original record of event {event_id}"
        )


def _search_expr(needle: str) -> pl.Expr:
    """Events whose request parameters, responses, errors or agent contain ``needle``.

    ``/.../`` is a regular expression (case-insensitive); anything else is plain text, matched
    case-insensitively. An invalid regex raises ``re.error`` (shown in the status line).

    >>> import polars as pl
    >>> df = pl.DataFrame({c: ["x"] for c in SEARCH_COLUMNS}).with_columns(
    ...     request_parameters=pl.lit('{"bucketName": "Payroll"}'))
    >>> df.filter(_search_expr("payroll")).height, df.filter(_search_expr("/pay.oll/")).height
    (1, 1)
    """
    if len(needle) > 2 and needle.startswith("/") and needle.endswith("/"):
        pattern = needle[1:-1]
        re.compile(pattern)  # a clear error before polars sees it
        pattern = "(?i)" + pattern
        literal = False
    else:
        pattern, literal = needle.lower(), True
    hits = [
        (
            pl.col(c).str.to_lowercase().str.contains(pattern, literal=True)
            if literal
            else pl.col(c).str.contains(pattern)
        ).fill_null(False)
        for c in SEARCH_COLUMNS
    ]
    return pl.any_horizontal(hits)


def _brush_window(value: Any) -> tuple[datetime, datetime] | None:
    """The (start, end) UTC datetimes of an interval selection on ``bucket``, if any."""
    if not isinstance(value, dict) or not value.get("bucket"):
        return None
    bounds = value["bucket"]
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        return None
    out = []
    for b in bounds:
        if isinstance(b, int | float):
            out.append(datetime.fromtimestamp(b / 1000, tz=UTC))
        else:
            parsed = to_utc(str(b))
            if parsed is None:
                return None
            out.append(parsed)
    lo, hi = sorted(out)
    return lo, hi


def explore(
    trail: Trail | pl.DataFrame,
    *,
    principal: str | None = None,
    page_size: int = 20,
    derived: bool = False,
    annotations: str | Path | None = DEFAULT_FILE,
    findings: Any = None,
) -> Explorer:
    """An explorer widget: search and pick a principal, set a time range and filters.

    The timeline (split by principal, or by service once a principal is picked) and the paged
    event table follow every filter; dragging on the timeline's lower strip narrows the table
    to that window; clicking a row shows its original CloudTrail record. Every event field is
    HTML-escaped.

    Parameters
    ----------
    trail
        The :class:`~forensics.Trail` to explore (collected once), or an events frame.
    principal
        Preselect a principal (its ``principal`` key, as in the events table).
    page_size
        Rows per table page.
    derived
        Start with the "derived" toggle on: with a principal picked, the explorer shows its
        events and those of every credential minted from its credentials
        (``trail.for_principal(p, derived=True)``).
    annotations
        The JSON file where stars, tags and notes on events are kept (default
        ``annotations.json`` beside the notebook; :func:`forensics.export.ticket` reads it).
        ``None``: no annotations.
    findings
        ``Findings`` (``fx.detect(trail)``, ``fx.detect(trail, baselines=True)``, or any
        findings table): a ``finding`` filter (events with any finding, at a level or above,
        or of one rule), marks on the timeline, and a ``finding`` column in the table.

    Besides the filters: pivot by source IP and user agent, search request parameters,
    responses and errors for text or a ``/regex/``, and show times at another offset (the
    table always writes the zone). Clicking a table row opens that event.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> ui = fx.ui.explore(trail)  # doctest: +SKIP
    >>> ui.service.value = "iam.amazonaws.com"; ui.filtered.height  # doctest: +SKIP
    """
    return Explorer(
        trail,
        page_size=page_size,
        principal=principal,
        derived=derived,
        annotations=annotations,
        findings=findings,
    )
