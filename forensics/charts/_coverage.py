"""``delivery``: which account/region delivered logs when, with gaps and tampering marked.

One row per account and region, one cell per hour (or day, for long trails): delivered cells
shaded by the number of log files, empty cells grey, empty cells inside a period in which a
trail was turned off (StopLogging / DeleteTrail) marked, and, given a verification, the cells
holding a modified, deleted or uncovered log file, or inside a break of the digest chain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import altair as alt
import polars as pl

__all__ = ["STATUSES", "delivery", "delivery_data"]

#: Cell statuses, in order of precedence (first wins), with their colours.
STATUSES = {
    "tampered": "#d62728",
    "digest missing": "#9467bd",
    "logging off": "#ff7f0e",
    "delivered": "#1f77b4",
    "no logs": "#e0e0e0",
}
_MAX_CELLS_ACROSS = 24 * 14  # past two weeks of hours, one cell per day


def _coverage_of(trail: Any) -> Any:
    from forensics.integrity import Coverage, coverage

    return trail if isinstance(trail, Coverage) else coverage(trail)


def delivery_data(
    trail: Any, verification: Any = None, *, every: str | None = None, max_rows: int = 40
) -> pl.DataFrame:
    """The chart's cells: ``row`` (account region), ``start``, ``files``, ``events``,
    ``status`` (see :data:`STATUSES`), ``detail``. At most ``max_rows`` account/region rows
    (the busiest), one column per hour or day.

    >>> from forensics.ingest._normalize import normalize_records
    >>> from forensics._trail import Trail
    >>> t = Trail(normalize_records([{"eventTime": "2024-01-01T00:10:00Z", "awsRegion": "eu-west-1",
    ...     "recipientAccountId": "111122223333", "eventName": "X"}], "x.json"))
    >>> delivery_data(t).select("row", "status").rows()
    [('111122223333 eu-west-1', 'delivered')]
    """
    from forensics.integrity._files import parse_path

    cov = _coverage_of(trail)
    d = cov.delivery
    if d.height == 0:
        return pl.DataFrame(
            schema={
                "row": pl.String,
                "start": pl.Datetime("us", "UTC"),
                "files": pl.Int64,
                "events": pl.Int64,
                "status": pl.String,
                "detail": pl.String,
            }
        )
    hours = d["hour"].n_unique()
    every = every or ("1h" if hours <= _MAX_CELLS_ACROSS else "1d")
    busiest = (
        d.group_by("account", "region")
        .agg(pl.col("files").sum())
        .sort("files", descending=True)
        .head(max_rows)
    )
    cells = (
        d.join(busiest.select("account", "region"), on=["account", "region"])
        .group_by("account", "region", pl.col("hour").dt.truncate(every).alias("start"))
        .agg(pl.col("files").sum(), pl.col("events").sum())
        .with_columns((pl.col("account") + " " + pl.col("region")).alias("row"))
    )
    step = timedelta(hours=1) if every == "1h" else timedelta(days=1)
    off = cov.logging_off()
    marks: list[dict[str, Any]] = []
    for w in off.iter_rows(named=True):
        marks.append(
            {
                "account": w["account"],
                "region": None,
                "from": w["from"],
                "to": w["to"],
                "status": "logging off",
                "detail": f"trail {w['trail']} off ({w['opened_by'].split()[0]})",
            }
        )
    if verification is not None:
        bad = verification.files.filter(
            pl.col("status").is_in(["modified", "deleted", "uncovered"])
        )
        for row in bad.iter_rows(named=True):
            info = parse_path(row["path"])
            if info is not None and info.stamp is not None:
                marks.append(
                    {
                        "account": row["account"],
                        "region": row["region"],
                        "from": info.stamp,
                        "to": info.stamp + timedelta(seconds=1),
                        "status": "tampered",
                        "detail": f"log file {row['status']}",
                    }
                )
        for row in verification.breaks.filter("tampering").iter_rows(named=True):
            if row["after"] is not None and row["before"] is not None:
                marks.append(
                    {
                        "account": row["account"],
                        "region": row["region"],
                        "from": row["after"],
                        "to": row["before"],
                        "status": "digest missing",
                        "detail": row["kind"],
                    }
                )
    status = pl.when(pl.col("files") > 0).then(pl.lit("delivered")).otherwise(pl.lit("no logs"))
    cells = cells.with_columns(status.alias("status"), pl.lit(None, pl.String).alias("detail"))
    if marks:
        m = pl.DataFrame(
            marks,
            schema={
                "account": pl.String,
                "region": pl.String,
                "from": pl.Datetime("us", "UTC"),
                "to": pl.Datetime("us", "UTC"),
                "status": pl.String,
                "detail": pl.String,
            },
        )
        end = cells["start"].max() + step
        joined = (
            cells.select("account", "region", "start", "files")
            .join(m.rename({"region": "mark_region"}), on="account")
            .filter(pl.col("mark_region").is_null() | (pl.col("mark_region") == pl.col("region")))
            .filter(
                (pl.col("from") < pl.col("start") + step)
                & (pl.col("to").fill_null(end) > pl.col("start"))
            )
            .filter((pl.col("status") != "logging off") | (pl.col("files") == 0))
        )
        rank = {s: i for i, s in enumerate(STATUSES)}
        best = (
            joined.with_columns(pl.col("status").replace_strict(rank).alias("rank"))
            .sort("rank")
            .group_by("account", "region", "start", maintain_order=True)
            .agg(
                pl.col("status").first().alias("mark"),
                pl.col("detail").first().alias("mark_detail"),
            )
        )
        cells = (
            cells.join(best, on=["account", "region", "start"], how="left")
            .with_columns(
                pl.coalesce("mark", "status").alias("status"),
                pl.coalesce("mark_detail", "detail").alias("detail"),
            )
            .drop("mark", "mark_detail")
        )
    return cells.select("row", "start", "files", "events", "status", "detail").sort("row", "start")


def delivery(
    trail: Any,
    verification: Any = None,
    *,
    every: str | None = None,
    title: str | None = None,
    width: int = 720,
) -> alt.Chart:
    """A heatmap of log delivery: account/region × hour (or day), gaps and tampering marked.

    ``trail`` is a :class:`~forensics.Trail` (or its :func:`~forensics.integrity.coverage`);
    ``verification``, a :func:`~forensics.verify` result, adds its findings.

    Examples
    --------
    >>> import forensics as fx  # doctest: +SKIP
    >>> fx.charts.delivery(trail, trail.verify())  # doctest: +SKIP
    """
    data = delivery_data(trail, verification, every=every)
    rows = data["row"].n_unique() if data.height else 1
    unit = (
        "hour"
        if (every or "1h") == "1h"
        and (data.height == 0 or data["start"].n_unique() <= _MAX_CELLS_ACROSS)
        else "day"
    )
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "start:T",
                title=f"{unit} (UTC)",
                timeUnit=alt.TimeUnitParams(
                    unit="utcyearmonthdatehours" if unit == "hour" else "utcyearmonthdate"
                ),
            ),
            y=alt.Y("row:N", title="account region"),
            color=alt.Color(
                "status:N",
                title="delivery",
                scale=alt.Scale(domain=list(STATUSES), range=list(STATUSES.values())),
            ),
            tooltip=[
                alt.Tooltip("row:N", title="account region"),
                alt.Tooltip("start:T", title="from (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("status:N"),
                alt.Tooltip("files:Q"),
                alt.Tooltip("events:Q"),
                alt.Tooltip("detail:N"),
            ],
        )
        .properties(title=title or "Log delivery (UTC)", width=width, height=max(60, 14 * rows))
    )
