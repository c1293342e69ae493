"""``top``: the most frequent values of a column, as horizontal bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import polars as pl

from forensics.charts._common import distinct_labels, to_lazy

if TYPE_CHECKING:
    from forensics._trail import Trail

__all__ = ["top", "top_data"]


def top_data(trail: Trail | pl.DataFrame | pl.LazyFrame, column: str, n: int = 10) -> pl.DataFrame:
    """The ``n`` most frequent values of ``column`` with ``events``, ``share`` and ``label``.

    Nulls count as the value ``(none)``; ties are broken by value so the result is stable.

    >>> import polars as pl
    >>> top_data(pl.DataFrame({"event_name": ["A", "B", "A", None]}), "event_name", 2).rows()
    [('A', 2, 0.5, 'A'), ('(none)', 1, 0.25, '(none)')]
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    lazy = to_lazy(trail)
    schema = lazy.collect_schema()
    if column not in schema:
        raise ValueError(f"no column {column!r}; columns: {', '.join(schema.names())}")
    if isinstance(schema[column], pl.List | pl.Struct):
        raise ValueError(f"column {column!r} holds lists or structs; pick a text column")
    data = (
        lazy.select(pl.col(column).cast(pl.String).fill_null("(none)").alias("value"))
        .group_by("value")
        .agg(pl.len().alias("events"))
        .with_columns((pl.col("events") / pl.col("events").sum()).alias("share"))
        .sort(["events", "value"], descending=[True, False])
        .head(n)
        .collect()
    )
    values = data.get_column("value").to_list()
    # two ARNs from different accounts may shorten to the same label: the account tells them apart
    short = distinct_labels(values, 44)
    labels = [short[v] for v in values]
    return data.with_columns(pl.Series("label", labels, dtype=pl.String))


def top(
    trail: Trail | pl.DataFrame | pl.LazyFrame,
    column: str,
    n: int = 10,
    *,
    title: str | None = None,
    width: int = 420,
) -> alt.Chart:
    """Bars of the ``n`` most frequent values of ``column`` (principal, event_name, source_ip...).

    Embeds at most ``n`` rows. ARNs are shortened in the labels; the tooltip shows the full
    value and its share of the events.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.top(trail, "source_ip", 15)  # doctest: +SKIP
    """
    data = top_data(trail, column, n)
    order = data.get_column("label").to_list()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("events:Q", title="events"),
            y=alt.Y("label:N", title=column, sort=order, axis=alt.Axis(labelLimit=0)),
            tooltip=[
                alt.Tooltip("value:N", title=column),
                alt.Tooltip("events:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(
            width=width, height=max(60, 18 * data.height), title=title or f"Top {n} {column}"
        )
    )
