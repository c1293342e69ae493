"""ATT&CK tags per API call, from Suzaku's mapping of abused AWS API calls.

>>> tags = attack_tags()
>>> tags.filter(pl.col("event_name") == "AttachRolePolicy")["tags"].item().to_list()
['attack.t1098.003']
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from forensics.baseline import _attack_data

__all__ = ["ATTACK_SOURCE", "attack_tags", "tag_events"]

ATTACK_SOURCE = _attack_data.SOURCE

# ATT&CK ids as Suzaku writes them: T1098.003, T1199.A002 (a cloud sub-technique of its own),
# AT1669 (not ATT&CK). Tags keep the ATT&CK technique (and sub-technique when it is ATT&CK's).
_ID = r"\b(A?T\d{4}(?:\.[A-Z]?\d{3})?)\b"


def attack_tags(path: str | Path | None = None) -> pl.DataFrame:
    """One row per API name: ``event_name``, ``description``, ``attack_ids`` (as written), ``tags``.

    ``tags`` are Sigma-style ``attack.tNNNN[.NNN]`` tags; ids that are not ATT&CK's own
    (``T1199.A002``, ``AT1669``) are kept in ``attack_ids`` and tagged by their parent technique
    where there is one. ``path`` reads another copy of ``abused_aws_api_calls.csv``; by default the
    copy shipped with the kit (Suzaku, DRL 1.1; see :data:`ATTACK_SOURCE`).

    >>> attack_tags().filter(pl.col("event_name") == "AccessKubernetesApi")["tags"].item().to_list()
    ['attack.t1199']
    """
    if path is None:
        text = _attack_data.CSV
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(
                f"ATT&CK mapping {p} not found; give the path of Suzaku's "
                "config/abused_aws_api_calls.csv, or leave path= out to use the shipped copy"
            )
        text = p.read_text(encoding="utf-8")
    raw = pl.read_csv(io.StringIO(text), schema_overrides={"EventName": pl.String})
    if not {"EventName", "Description"} <= set(raw.columns):
        raise ValueError(
            f"{path or 'the ATT&CK mapping'} has columns {raw.columns}; "
            "expected EventName,Description"
        )
    ids = pl.col("description").str.extract_all(_ID)
    tag = (
        pl.element()
        .filter(pl.element().str.starts_with("T"))
        .str.replace(r"\.[A-Z]\d{3}$", "")
        .str.to_lowercase()
    )
    return (
        raw.select(
            pl.col("EventName").str.strip_chars().alias("event_name"),
            pl.col("Description").str.strip_chars().alias("description"),
        )
        .with_columns(ids.alias("attack_ids"))
        .with_columns(
            pl.col("attack_ids")
            .list.eval(tag)
            .list.eval("attack." + pl.element())
            .list.unique(maintain_order=True)
            .alias("tags")
        )
        .unique("event_name", keep="first", maintain_order=True)
    )


def tag_events(frame: pl.LazyFrame, mapping: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Add a ``tags`` column (list of ATT&CK tags, empty when unmapped) by ``event_name``.

    >>> lf = pl.LazyFrame({"event_name": ["CreateAccessKey", "StopInstances", "GetObject"]})
    >>> tag_events(lf).collect()["tags"].to_list()
    [[], ['attack.t1578.003'], ['attack.t1530', 'attack.t1552.001']]
    """
    mapping = attack_tags() if mapping is None else mapping
    return (
        frame.join(
            mapping.lazy().select("event_name", pl.col("tags").alias("_attack_tags")),
            on="event_name",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.col("_attack_tags").fill_null(pl.lit([], dtype=pl.List(pl.String))).alias("tags")
        )
        .drop("_attack_tags")
    )
