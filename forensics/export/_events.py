"""``events()``: the matching events as CSV, JSON lines, Parquet or a Markdown table.

The format comes from the file extension. By default the columns are the ones a ticket needs
(:data:`TICKET_COLUMNS`); ``columns="all"`` writes every column of the events table.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl

from forensics._schema import conform
from forensics.export._escape import (
    CSV_CONTROL,
    CSV_FORMULA,
    CSV_TRIGGERS,
    csv_cell,
    csv_visible,
    md_cell,
)
from forensics.export._redact import redact_frame

__all__ = ["FORMATS", "TICKET_COLUMNS", "events", "ticket_frame", "to_csv_bytes", "to_markdown"]

#: The columns of the default export, in order (see :func:`ticket_frame` for how the few that
#: are not events-table columns are computed).
TICKET_COLUMNS: tuple[str, ...] = (
    "event_time",
    "principal",
    "principal_arn",
    "access_key_id",
    "event_name",
    "event_source",
    "region",
    "source_ip",
    "user_agent",
    "error_code",
    "resources",
    "event_id",
    "source_file",
)

#: File extension -> format name.
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".md": "markdown",
    ".markdown": "markdown",
}

#: Cells longer than this are cut in Markdown tables (the CSV/JSONL/Parquet keep everything).
MARKDOWN_CELL_LIMIT = 500

_SORT = ["event_time", "event_id", "source_file", "source_index"]


def _frame_of(trail_or_frame: Any) -> pl.DataFrame:
    if isinstance(trail_or_frame, pl.LazyFrame):
        frame = trail_or_frame.collect()
    elif isinstance(trail_or_frame, pl.DataFrame):
        frame = trail_or_frame
    elif hasattr(trail_or_frame, "events") and isinstance(
        getattr(trail_or_frame, "events", None), pl.DataFrame
    ):
        frame = trail_or_frame.events  # Trail, BlastRadius
    else:
        raise TypeError(
            "expected a Trail, a BlastRadius or an events DataFrame, got "
            f"{type(trail_or_frame).__name__}"
        )
    return conform(frame)  # type: ignore[return-value]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    by = [c for c in _SORT if c in frame.columns]
    if "source_file" in by:
        frame = frame.with_columns(pl.col("source_file").cast(pl.String))
    return frame.sort(by, nulls_last=True, maintain_order=True)


def _time_text(column: pl.Expr, frame: pl.DataFrame, name: str) -> pl.Expr:
    """ISO 8601 in UTC with a ``Z``; microseconds only when some value has them."""
    has_fraction = (
        frame.height > 0 and frame.select((column.dt.microsecond().fill_null(0) != 0).any()).item()
    )
    fmt = "%Y-%m-%dT%H:%M:%S%.6fZ" if has_fraction else "%Y-%m-%dT%H:%M:%SZ"
    return column.dt.convert_time_zone("UTC").dt.strftime(fmt).alias(name)


def _resources_summary() -> pl.Expr:
    """The ARNs (or types, where a resource has no ARN) an event names, sorted, ``; ``-joined."""
    names = pl.col("resources").list.eval(
        pl.coalesce(pl.element().struct.field("arn"), pl.element().struct.field("type"))
    )
    return (
        names.list.drop_nulls()
        .list.unique()
        .list.sort()
        .list.join("; ")
        .replace("", None)
        .alias("resources")
    )


def ticket_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The ticket columns (:data:`TICKET_COLUMNS`) of an events frame, time still a Datetime.

    >>> from forensics._schema import empty_events
    >>> ticket_frame(empty_events()).columns[:3]
    ['event_time', 'principal', 'principal_arn']
    """
    computed = {
        "region": pl.col("aws_region").alias("region"),
        "resources": _resources_summary(),
        "source_file": pl.col("source_file").cast(pl.String),
    }
    frame = _sorted(conform(frame))  # type: ignore[arg-type]
    return frame.select([computed.get(name, pl.col(name)) for name in TICKET_COLUMNS])


def _select(
    frame: pl.DataFrame, columns: Literal["all"] | Sequence[str] | None, *, redact: bool
) -> pl.DataFrame:
    if columns is None:  # the ticket columns carry no request/response text to redact
        return ticket_frame(frame)
    if redact:
        frame = redact_frame(frame)
    frame = _sorted(frame)
    if columns == "all":
        return frame
    if isinstance(columns, str):
        raise ValueError(f"columns must be None, 'all' or a list of names, got {columns!r}")
    ticket = ticket_frame(frame)
    out = []
    for name in columns:
        if name in ticket.columns:
            out.append(ticket.get_column(name))
        elif name in frame.columns:
            out.append(frame.get_column(name))
        else:
            known = ", ".join(sorted({*ticket.columns, *frame.columns}))
            raise ValueError(f"unknown column {name!r}; known columns: {known}")
    return pl.DataFrame(out)


def _json_text(series: pl.Series) -> pl.Series:
    return pl.Series(
        series.name,
        [None if v is None else orjson.dumps(v).decode() for v in series.to_list()],
        dtype=pl.String,
    )


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: times in UTC ISO 8601, lists/structs as JSON, booleans lower-case."""
    exprs: list[pl.Expr | pl.Series] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            exprs.append(_time_text(col, frame, name))
        elif isinstance(dtype, pl.List | pl.Struct | pl.Array):
            exprs.append(_json_text(frame.get_column(name)))
        elif dtype == pl.Boolean:
            exprs.append(col.cast(pl.String).str.to_lowercase().alias(name))
        else:
            exprs.append(col.cast(pl.String).alias(name))
    return frame.select(exprs)


def _visible_controls_in(text: pl.DataFrame) -> pl.DataFrame:
    """Control/bidi characters of every text cell as escapes (only the distinct cells that
    hold one go through Python)."""
    updates = []
    for c in text.columns:
        series = text.get_column(c)
        hits = series.filter(series.str.contains(CSV_CONTROL.pattern)).unique().to_list()
        if hits:
            updates.append(pl.col(c).replace(hits, [csv_visible(h) for h in hits]))
    return text.with_columns(updates) if updates else text


def to_csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV (UTF-8, ``\\n`` line ends, every field quoted) with formula-like cells neutralised
    and control characters (newlines too) shown as escapes: one record, one line."""
    text = _as_text(frame)
    trigger = "^[" + re.escape("".join(CSV_TRIGGERS)) + "]|" + CSV_FORMULA.pattern
    text = text.with_columns(
        pl.when(pl.col(c).str.contains(trigger))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text.columns
    )
    text = _visible_controls_in(text)  # after the guard: a tab before "=" is still seen
    header = pl.DataFrame({c: [csv_cell(c)] for c in text.columns})
    buffer = io.BytesIO()
    pl.concat([header, text]).write_csv(
        buffer, include_header=False, quote_style="always", line_terminator="\n"
    )
    return buffer.getvalue()


def to_markdown(frame: pl.DataFrame, *, limit: int = MARKDOWN_CELL_LIMIT) -> str:
    """A GitHub-flavoured Markdown table; every cell escaped, long cells cut at ``limit``."""
    text = _as_text(frame)
    lines = [
        "| " + " | ".join(md_cell(c) for c in text.columns) + " |",
        "|" + "|".join(" --- " for _ in text.columns) + "|",
    ]
    for row in text.iter_rows():
        lines.append("| " + " | ".join(md_cell(v, limit=limit) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _jsonl_bytes(frame: pl.DataFrame) -> bytes:
    time_columns = [n for n, d in frame.schema.items() if isinstance(d, pl.Datetime)]
    if time_columns:
        frame = frame.with_columns(_time_text(pl.col(c), frame, c) for c in time_columns)
    categorical = [n for n, d in frame.schema.items() if isinstance(d, pl.Categorical | pl.Enum)]
    if categorical:
        frame = frame.with_columns(pl.col(c).cast(pl.String) for c in categorical)
    buffer = io.BytesIO()
    frame.write_ndjson(buffer)
    return buffer.getvalue()


def events(
    trail_or_frame: Any,
    path: str | Path,
    *,
    columns: Literal["all"] | Sequence[str] | None = None,
    redact: bool = True,
) -> Path:
    """Write events to ``path``: CSV, JSON lines, Parquet or a Markdown table (by extension).

    Parameters
    ----------
    trail_or_frame
        A ``Trail``, a blast-radius result (its ``.events``) or an events ``DataFrame``.
    path
        ``.csv``, ``.jsonl`` / ``.ndjson``, ``.parquet`` or ``.md``.
    columns
        ``None`` (the ticket columns: time in UTC, principal, principal ARN, access key, event
        name and source, region, source IP, user agent, error code, resources, event id, source
        file), ``"all"`` (every column; lists and structs become JSON text in CSV and Markdown)
        or a list of names from either set.
    redact
        Replace session tokens, secret keys, passwords and other secrets in the JSON columns
        with ``[REDACTED]`` (default). ``False`` writes them as logged.

    Returns
    -------
    pathlib.Path
        The file written. Rows are sorted by time, then event id; the same input gives the
        same bytes. CSV cells that a spreadsheet would run as a formula get a leading ``'``;
        Markdown cells are escaped.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.export.events(trail.for_principal("alice"), "out/alice.csv")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"cannot tell the format of {str(path)!r}; use one of: {known}")
    frame = _select(_frame_of(trail_or_frame), columns, redact=redact)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path.write_bytes(to_csv_bytes(frame))
    elif fmt == "jsonl":
        path.write_bytes(_jsonl_bytes(frame))
    elif fmt == "parquet":
        frame.write_parquet(path, compression="zstd", statistics=False)
    else:
        path.write_text(to_markdown(frame), encoding="utf-8", newline="\n")
    return path
