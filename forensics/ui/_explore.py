"""``explore(trail)``: pick a principal, a time range and filters; see the timeline and events."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl

from forensics._schema import conform, is_denied, to_utc
from forensics.charts import timeline
from forensics.charts._common import short_label
from forensics.ui._chart_widget import chart_widget, set_chart
from forensics.ui._html import STYLE, esc, html_table, record_html

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
    ("source IP", "source_ip"),
]  # fmt: skip
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
    ``error``, ``by``, ``chart`` (a ``JupyterChart``), ``table``, ``prev``, ``next``,
    ``event``, ``record``, ``status``; ``filtered`` is the current events frame and
    ``last_redraw_ms`` how long the last filter change took in the kernel.
    """

    def __init__(
        self, trail: Trail | pl.DataFrame, *, page_size: int = 20, principal: str | None = None
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
        self.status = widgets.HTML()
        self.chart = chart_widget(self._timeline(), "fx-timeline")
        self.brush_note = widgets.HTML()
        self.table = widgets.HTML()
        self.prev = widgets.Button(description="◀ previous", layout=widgets.Layout(width="110px"))
        self.next = widgets.Button(description="next ▶", layout=widgets.Layout(width="110px"))
        self.page_label = widgets.HTML()
        self.event = widgets.Select(
            options=[], rows=6, description="event", layout=widgets.Layout(width="95%")
        )
        self.record = widgets.HTML()

        for w, cls in (
            (self.search, "fx-search"), (self.principal, "fx-principal"), (self.since, "fx-since"),
            (self.until, "fx-until"), (self.service, "fx-service"),
            (self.event_name, "fx-event-name"), (self.error, "fx-error"), (self.by, "fx-by"),
            (self.status, "fx-status"), (self.table, "fx-table"), (self.prev, "fx-prev"),
            (self.next, "fx-next"), (self.page_label, "fx-page"), (self.event, "fx-event"),
            (self.record, "fx-record"), (self.brush_note, "fx-brush"),
        ):  # fmt: skip
            w.add_class(cls)

        self.search.observe(self._on_search, names="value")
        filters = [self.since, self.until, self.service, self.event_name, self.error, self.by]
        for w in (self.principal, *filters):
            w.observe(self._on_filter, names="value")
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
                        widgets.VBox([self.search, self.principal]),
                        widgets.VBox(filters),
                    ]
                ),
                self.status,
                self.chart,
                self.brush_note,
                widgets.HBox([self.prev, self.page_label, self.next]),
                self.table,
                self.event,
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
        preds: list[pl.Expr] = []
        text: list[str] = []
        self._window = (None, None)
        if self.principal.value:
            preds.append(pl.col("principal") == self.principal.value)
            text.append(f"principal = {self.principal.value}")
        lo = to_utc(self.since.value) if self.since.value.strip() else None  # ValueError: shown
        hi = to_utc(self.until.value) if self.until.value.strip() else None
        self._window = (lo, hi)
        for bound, op, label in ((lo, ">=", "since"), (hi, "<", "until")):
            if bound is not None:
                if not self._sorted:
                    preds.append(
                        pl.col("event_time") >= bound
                        if op == ">="
                        else pl.col("event_time") < bound
                    )
                text.append(f"{label} {bound.isoformat()}")
        if self.service.value:
            preds.append(pl.col("event_source") == self.service.value)
            text.append(f"service = {self.service.value}")
        name = self.event_name.value.strip()
        if name:
            if name in self._names:
                preds.append(pl.col("event_name") == name)
            else:
                matching = [n for n in self._names if name.lower() in n.lower()]
                preds.append(pl.col("event_name").is_in(matching))
            text.append(f"event name ~ {name}")
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
            text.append(f"errors: {err}")
        return preds, text

    def _split(self) -> str:
        if self.by.value != "auto":
            return self.by.value
        return "event_source" if self.principal.value else "principal"

    def _timeline(self):
        return timeline(self.filtered, by=self._split(), top=8, width=620, height=200)

    def _on_filter(self, _change: dict[str, Any] | None = None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Apply the filters: recompute the events, the timeline and the first table page."""
        started = time.perf_counter()
        try:
            preds, text = self.predicates()
        except ValueError as exc:
            self.status.value = f'<span class="fx-problem">{esc(exc)}</span>'
            return
        frame = self.base
        lo, hi = self._window
        if self._sorted and (lo is not None or hi is not None):
            # event_time is sorted: cut the window by binary search instead of scanning
            times = frame.get_column("event_time")
            start = int(times.search_sorted(lo, side="left")) if lo is not None else 0
            stop = int(times.search_sorted(hi, side="left")) if hi is not None else frame.height
            frame = frame.slice(start, max(0, stop - start))
        self.filtered = frame.filter(*preds) if preds else frame
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
        self.table.value = html_table(
            page,
            TABLE_COLUMNS,
            titles=TABLE_TITLES,
            first_index=first + 1,
            limit=90,
            empty="no events match these filters",
        )
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
        self.record.value = (
            '<p class="fx-note">pick an event above to see its original CloudTrail record</p>'
            if options
            else ""
        )

    def _on_event(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        self.show_record(change["new"])

    def show_record(self, index: int) -> None:
        """Show the original record of row ``index`` of the current page."""
        row = self._page_rows.row(index, named=True)
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
    trail: Trail | pl.DataFrame, *, principal: str | None = None, page_size: int = 20
) -> Explorer:
    """An explorer widget: search and pick a principal, set a time range and filters.

    The timeline (split by principal, or by service once a principal is picked) and the paged
    event table follow every filter; dragging on the timeline's lower strip narrows the table
    to that window; picking an event in the list shows its original CloudTrail record. Every
    event field is HTML-escaped.

    Parameters
    ----------
    trail
        The :class:`~forensics.Trail` to explore (collected once), or an events frame.
    principal
        Preselect a principal (its ``principal`` key, as in the events table).
    page_size
        Rows per table page.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> ui = fx.ui.explore(trail)  # doctest: +SKIP
    >>> ui.service.value = "iam.amazonaws.com"; ui.filtered.height  # doctest: +SKIP
    """
    return Explorer(trail, page_size=page_size, principal=principal)
