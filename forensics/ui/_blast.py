"""``blast_radius(trail)``: pick a seed (key or ARN) and a window; see what it reached."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl

from forensics._errors import ForensicsError, PrincipalError
from forensics._schema import to_utc
from forensics.charts import blast_graph, timeline
from forensics.ui._chart_widget import chart_widget, set_chart
from forensics.ui._html import STYLE, esc, html_table

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["BlastRadiusExplorer", "blast_radius"]

CREDENTIAL_COLUMNS = [
    "access_key_id", "kind", "joined_by", "via_access_key_id", "depth", "principal",
    "principal_arn", "account_id", "minted_by", "parent_access_key_id", "first_used",
    "last_used", "events", "source_ips", "user_agents", "regions",
]  # fmt: skip
PRINCIPAL_COLUMNS = [
    "principal",
    "relation",
    "identity_type",
    "account_id",
    "created_at",
    "first_seen",
    "last_seen",
    "events",
    "access_keys",
]
RESOURCE_COLUMNS = [
    "arn", "service", "resource_type", "type", "account_id", "region", "access", "wrote",
    "denied_only", "created", "actions", "events", "first_touched", "last_touched", "access_keys",
]  # fmt: skip
EVENT_COLUMNS = [
    "event_time",
    "principal_arn",
    "access_key_id",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "error_code",
    "user_agent",
    "event_id",
]
TITLES = {
    "event_time": "time (UTC)",
    "first_used": "first used (UTC)",
    "last_used": "last used (UTC)",
    "first_seen": "first seen (UTC)",
    "last_seen": "last seen (UTC)",
    "first_touched": "first touched (UTC)",
    "last_touched": "last touched (UTC)",
    "created_at": "created (UTC)",
    "event_source": "service",
    "aws_region": "region",
    "error_code": "error",
}
MAX_ROWS = 200
TAB_NAMES = ("credentials", "identities", "resources", "timeline", "graph", "events")


def _default_compute() -> Callable[..., Any]:
    from forensics.blast import blast_radius as compute

    return compute


def _ticket_function() -> Callable[..., Any] | None:
    """``forensics.export.ticket`` when the export part is installed, else None."""
    try:
        module = importlib.import_module("forensics.export")
    except ImportError:
        return None
    ticket = getattr(module, "ticket", None)
    return ticket if callable(ticket) else None


def _seed_options(frame: pl.DataFrame, limit: int = 400) -> list[str]:
    keys = (
        frame.group_by("access_key_id")
        .len()
        .drop_nulls()
        .sort(["len", "access_key_id"], descending=[True, False])
        .head(limit)
        .get_column("access_key_id")
        .to_list()
    )
    principals = (
        frame.group_by("principal")
        .len()
        .drop_nulls()
        .sort(["len", "principal"], descending=[True, False])
        .head(limit)
        .get_column("principal")
        .to_list()
    )
    return keys + [p for p in principals if p not in keys]


def _table(frame: Any, preferred: list[str], empty: str) -> str:
    if not isinstance(frame, pl.DataFrame):
        return f'<p class="fx-note">{esc(empty)}</p>'
    cols = [c for c in preferred if c in frame.columns] or frame.columns
    more = (
        f'<p class="fx-note">first {MAX_ROWS:,} of {frame.height:,} rows shown</p>'
        if frame.height > MAX_ROWS
        else ""
    )
    return more + html_table(
        frame.head(MAX_ROWS), cols, titles=TITLES, limit=120, first_index=1, empty=empty
    )


class BlastRadiusExplorer(widgets.VBox):
    """The widget :func:`blast_radius` returns (a ``VBox``); its parts are attributes.

    Attributes: ``seed``, ``since``, ``until``, ``run`` (button), ``status``, ``summary``,
    ``tabs``, ``credentials``, ``identities``, ``resources``, ``events_table``, ``timeline``, ``graph``
    (``JupyterChart`` widgets once a result exists), ``export_dir``/``export`` (when
    :func:`forensics.export.ticket` exists); ``result`` is the last ``BlastRadius``.
    """

    def __init__(
        self,
        trail: Trail,
        *,
        seed: str | None = None,
        since: Any = None,
        until: Any = None,
        compute: Callable[..., Any] | None = None,
    ) -> None:
        self.trail = trail
        self.result: Any = None
        self.runs = 0
        self.last_run_ms = 0.0
        self._compute = compute
        options = _seed_options(trail.events)
        self.seed = widgets.Combobox(
            value=seed or "",
            options=options,
            ensure_option=False,
            continuous_update=False,
            placeholder="access key id (AKIA…/ASIA…) or ARN",
            description="seed",
            layout=widgets.Layout(width="560px"),
        )
        self.since = widgets.Text(
            value=_text(since),
            placeholder="ISO 8601, UTC",
            description="since (UTC)",
            continuous_update=False,
        )
        self.until = widgets.Text(
            value=_text(until),
            placeholder="ISO 8601, UTC (exclusive)",
            description="until (UTC)",
            continuous_update=False,
        )
        self.run = widgets.Button(
            description="compute blast radius",
            button_style="primary",
            layout=widgets.Layout(width="200px"),
        )
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.credentials = widgets.HTML()
        self.identities = widgets.HTML()
        self.resources = widgets.HTML()
        self.events_table = widgets.HTML()
        self.timeline = chart_widget(timeline(trail.events.head(0), brush=True), "fx-timeline")
        self.graph = chart_widget(blast_graph(_empty_graph()), "fx-graph")
        self.tabs = widgets.Tab(
            children=[
                self.credentials,
                self.identities,
                self.resources,
                self.timeline,
                self.graph,
                self.events_table,
            ]
        )
        for i, name in enumerate(TAB_NAMES):
            self.tabs.set_title(i, name)
        for w, cls in (
            (self.seed, "fx-seed"), (self.since, "fx-since"), (self.until, "fx-until"),
            (self.run, "fx-run"), (self.status, "fx-status"), (self.summary, "fx-summary"),
            (self.credentials, "fx-credentials"), (self.identities, "fx-identities"),
            (self.resources, "fx-resources"),
            (self.events_table, "fx-table"), (self.tabs, "fx-tabs"),
        ):  # fmt: skip
            w.add_class(cls)
        children: list[widgets.Widget] = [
            widgets.HTML(STYLE),
            widgets.HBox([self.seed, self.run]),
            widgets.HBox([self.since, self.until]),
            self.status,
            self.summary,
            self.tabs,
        ]
        self._ticket = _ticket_function()
        self.export_dir = self.export = self.export_note = None
        if self._ticket is not None:
            self.export_dir = widgets.Text(
                description="ticket dir",
                placeholder="out/INC-123",
                layout=widgets.Layout(width="420px"),
            )
            self.export = widgets.Button(
                description="export to ticket", icon="download", disabled=True
            )
            self.export_note = widgets.HTML()
            self.export_dir.add_class("fx-export-dir")
            self.export.add_class("fx-export")
            self.export_note.add_class("fx-export-note")
            self.export.on_click(lambda _: self.export_ticket())
            children.append(widgets.HBox([self.export_dir, self.export]))
            children.append(self.export_note)
        super().__init__(children)
        self.add_class("fx-root")
        self.add_class("fx-blast")
        self.run.on_click(lambda _: self.compute())
        for w in (self.seed, self.since, self.until):
            w.observe(lambda _change: self.compute(), names="value")
        if self.seed.value:
            self.compute()
        else:
            self.status.value = "type or pick a seed (an access key id or an ARN), then compute"

    # -- computing ------------------------------------------------------------------------------
    def compute(self) -> Any:
        """Compute the blast radius for the current seed and window and redraw every tab."""
        seed = self.seed.value.strip()
        if not seed:
            self._clear(seed)
            self.status.value = '<span class="fx-problem">no seed: type an access key or ARN</span>'
            return None
        started = time.perf_counter()
        try:
            since, until = to_utc(self.since.value or None), to_utc(self.until.value or None)
            compute = self._compute or _default_compute()
            result = compute(self.trail, seed, since=since, until=until)
        except PrincipalError as exc:
            cands = getattr(exc, "candidates", None) or []
            more = (
                ("<br>candidates: " + "; ".join(esc(c) for c in list(cands)[:10])) if cands else ""
            )
            self._clear(seed)
            self.status.value = f'<span class="fx-problem">{esc(exc)}</span>{more}'
            return None
        except (ForensicsError, ValueError, KeyError) as exc:
            self._clear(seed)
            self.status.value = f'<span class="fx-problem">{esc(exc)}</span>'
            return None
        self.result = result
        self._draw(result)
        self.runs += 1
        self.last_run_ms = (time.perf_counter() - started) * 1000
        events = getattr(result, "events", None)
        n = events.height if isinstance(events, pl.DataFrame) else 0
        self.status.value = (
            f"blast radius of <b>{esc(seed)}</b>: {n:,} events "
            f"<span style='color:#999'>· computed in {self.last_run_ms:.0f} ms</span>"
        )
        if self.export is not None:
            self.export.disabled = False
            if not self.export_dir.value:
                self.export_dir.value = str(_default_folder(seed))
        return result

    def _clear(self, seed: str) -> None:
        """Empty every tab (a failed seed must never sit above the last seed's results)."""
        self.result = None
        note = f"no result for {seed!r}: see the message above"
        self.summary.value = ""
        for table in (self.credentials, self.identities, self.resources, self.events_table):
            table.value = f'<p class="fx-note">{esc(note)}</p>'
        for i, name in enumerate(TAB_NAMES):
            self.tabs.set_title(i, name)
        set_chart(self.timeline, timeline(self.trail.events.head(0), brush=True))
        set_chart(self.graph, blast_graph(_empty_graph()))
        if self.export is not None:
            self.export.disabled = True

    def _draw(self, result: Any) -> None:
        summary = result.summary() if callable(getattr(result, "summary", None)) else ""
        self.summary.value = f'<pre class="fx-pre">{esc(summary)}</pre>' if summary else ""
        creds, who, res, events = (
            getattr(result, name, None)
            for name in ("credentials", "principals", "resources", "events")
        )
        self.credentials.value = _table(creds, CREDENTIAL_COLUMNS, "no credentials reached")
        self.identities.value = _table(who, PRINCIPAL_COLUMNS, "no identities")
        self.resources.value = _table(res, RESOURCE_COLUMNS, "no resources touched")
        self.events_table.value = _table(events, EVENT_COLUMNS, "no events")
        for i, (name, frame) in enumerate(
            zip(TAB_NAMES, (creds, who, res, events, None, events), strict=True)
        ):
            count = f" ({frame.height:,})" if isinstance(frame, pl.DataFrame) else ""
            self.tabs.set_title(i, name + count)
        frame = events if isinstance(events, pl.DataFrame) else self.trail.events.head(0)
        title = f"Events in the blast radius of {result_seed(result, self.seed.value)}"
        set_chart(
            self.timeline,
            timeline(frame, by="principal", top=8, width=620, height=200, title=title, brush=True),
        )
        set_chart(self.graph, blast_graph(result, width=620, height=420))

    # -- export ---------------------------------------------------------------------------------
    def export_ticket(self) -> Any:
        """Write the current result with :func:`forensics.export.ticket` into the ticket dir."""
        if self._ticket is None or self.result is None:
            return None
        out_dir = self.export_dir.value.strip() or str(_default_folder(self.seed.value))
        try:
            written = self._ticket(
                self.result, out_dir, title=f"Blast radius of {self.seed.value.strip()}"
            )
        except (ForensicsError, OSError, ValueError) as exc:
            self.export_note.value = f'<span class="fx-problem">{esc(exc)}</span>'
            return None
        files = _files(written, out_dir)
        self.export_note.value = f"ticket written to <code>{esc(out_dir)}</code>: " + ", ".join(
            f"<code>{esc(f)}</code>" for f in files
        )
        return written


def result_seed(result: Any, fallback: str) -> str:
    seed = getattr(result, "seed", None)
    return str(seed) if seed else fallback.strip()


def _files(written: Any, out_dir: str) -> list[str]:
    if isinstance(written, dict):
        written = list(written.values())
    if isinstance(written, list | tuple):
        return [Path(str(p)).name for p in written]
    folder = Path(str(written)) if written else Path(out_dir)
    if folder.is_dir():
        return sorted(p.name for p in folder.iterdir())
    return [folder.name]


def _default_folder(seed: str) -> Path:
    """Where notebook 03 writes the same seed's ticket (``../out/<seed>`` from notebooks/)."""
    try:
        from forensics.export import ticket_folder
    except ImportError:  # a kit without the export package
        return Path("out") / _safe_name(seed)
    return ticket_folder(seed)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip())[-80:] or "blast-radius"


def _text(value: Any) -> str:
    if value is None:
        return ""
    parsed = to_utc(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else ""


def _empty_graph():
    import networkx as nx

    return nx.DiGraph()


def blast_radius(
    trail: Trail,
    seed: str | None = None,
    *,
    since: Any = None,
    until: Any = None,
    compute: Callable[..., Any] | None = None,
) -> BlastRadiusExplorer:
    """A blast-radius widget: a seed (access key id or ARN), an optional window, and tabs.

    Tabs show the credentials the seed reached, the resources it touched, its timeline, its
    graph (networkx layout) and its events; an "export to ticket" button appears when
    :func:`forensics.export.ticket` is available. Every field is HTML-escaped.

    Parameters
    ----------
    trail
        The :class:`~forensics.Trail` to search.
    seed, since, until
        Start values (the widget computes at once when ``seed`` is given).
    compute
        The analysis to run (default :func:`forensics.blast_radius`).

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> ui = fx.ui.blast_radius(trail, "AKIAIOSFODNN7EXAMPLE")  # doctest: +SKIP
    >>> ui.result.summary()  # doctest: +SKIP
    """
    return BlastRadiusExplorer(trail, seed=seed, since=since, until=until, compute=compute)
