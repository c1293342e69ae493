"""What the addresses of a principal (actor, key...) were: networks, countries, AWS or not.

Tables with a list of source IPs per row (``trail.principals()``, ``trail.actors()``) get the
enrichment of those IPs summarised per row by :func:`add_ip_summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from forensics.enrichment._ip import enrich

__all__ = ["IP_SUMMARY_COLUMNS", "add_ip_summary", "describe_ips", "enrichment_table"]

#: Columns :func:`add_ip_summary` adds, in order (see its docstring).
IP_SUMMARY_COLUMNS = (
    "ip_kinds",
    "from_bogon",
    "aws_services",
    "outside_aws",
    "asns",
    "as_orgs",
    "countries",
)

#: ``ip_kind`` values that are neither a routable address nor a service name.
_NOT_BOGON = ("public", "service", "invalid")


def enrichment_table(spec: Any, ips: pl.Series) -> pl.DataFrame:
    """The enrichment of ``ips`` as asked by ``spec``: ``True`` (ranges that need no file:
    private, bogon, service names), a dict of :func:`~forensics.enrichment.enrich` options
    (``{"ip_ranges": "ip-ranges.json", "mmdb": ["GeoLite2-ASN.mmdb"]}``), a path to AWS's
    ``ip-ranges.json``, or a table :func:`~forensics.enrichment.enrich` made.

    >>> enrichment_table(True, pl.Series(["10.0.0.1"]))["ip_kind"].to_list()
    ['private']
    """
    if isinstance(spec, pl.DataFrame):
        if "source_ip" not in spec.columns:
            raise ValueError("an enrichment table needs a 'source_ip' column (use fx.enrich)")
        return spec
    if spec is True:
        return enrich(ips)
    if isinstance(spec, str | Path):
        return enrich(ips, ip_ranges=spec)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"ip_ranges", "mmdb"})
        if unknown:
            raise ValueError(f"unknown enrichment option(s) {unknown}; use ip_ranges=, mmdb=")
        return enrich(ips, **spec)
    raise TypeError(
        "enrich= takes True, a dict of fx.enrich options (ip_ranges=, mmdb=), the path of "
        f"ip-ranges.json, or a table from fx.enrich; not {type(spec).__name__}"
    )


def add_ip_summary(
    table: pl.DataFrame, enrichment: Any = True, *, ips: str = "source_ips"
) -> pl.DataFrame:
    """``table`` (a list of IPs per row in column ``ips``) with what those IPs are.

    ``enrichment``: see :func:`enrichment_table`. Added columns (:data:`IP_SUMMARY_COLUMNS`):

    - ``ip_kinds``: the kinds of its addresses (``public``, ``private``, ``service``, ...);
    - ``from_bogon``: an address that is not routable on the internet (private, loopback,
      documentation, reserved, CGNAT...) was used: a VPC endpoint, or a forged/odd record;
    - ``aws_services``: the AWS services (``ip-ranges.json``) of its addresses in AWS's ranges;
    - ``outside_aws``: a public address outside AWS's ranges was used (for a role meant to
      run inside AWS, e.g. an instance profile, the sign of stolen credentials);
    - ``asns``, ``as_orgs``, ``countries`` (ISO codes): from the MaxMind databases.

    ``aws_services``/``outside_aws`` are null when no ``ip-ranges.json`` was given, ``asns``,
    ``as_orgs`` and ``countries`` when no ``.mmdb`` gave them: unknown, not "none".

    >>> t = pl.DataFrame({"who": ["a"], "source_ips": [["10.0.0.1", "8.8.8.8"]]})
    >>> add_ip_summary(t).select("ip_kinds", "from_bogon", "outside_aws").row(0)
    (['private', 'public'], True, None)
    """
    if ips not in table.columns:
        raise ValueError(f"the table has no column {ips!r} of source IPs to enrich")
    kept = table.drop([c for c in IP_SUMMARY_COLUMNS if c in table.columns])
    long = (
        kept.select(pl.col(ips).cast(pl.List(pl.String)))
        .with_row_index("__row")
        .explode(ips)
        .drop_nulls(ips)
        .rename({ips: "source_ip"})
    )
    info = enrichment_table(enrichment, long["source_ip"].unique())
    has = {c: info.height > 0 and info[c].null_count() < info.height
           for c in ("is_aws", "asn", "as_org", "country_code")}  # fmt: skip
    has_ranges = has["is_aws"] or (isinstance(enrichment, dict) and "ip_ranges" in enrichment)
    has_ranges = has_ranges or isinstance(enrichment, str | Path)
    joined = long.join(info, on="source_ip", how="left")

    def listed(expr: pl.Expr) -> pl.Expr:
        return expr.drop_nulls().unique().sort()

    kind = pl.col("ip_kind")
    per = joined.group_by("__row").agg(
        listed(kind).alias("ip_kinds"),
        (kind.is_not_null() & ~kind.is_in(_NOT_BOGON)).any().alias("from_bogon"),
        listed(pl.col("aws_services").explode()).alias("aws_services"),
        ((kind == "public") & ~pl.col("is_aws").fill_null(False)).any().alias("outside_aws"),
        listed(pl.col("asn")).alias("asns"),
        listed(pl.col("as_org")).alias("as_orgs"),
        listed(pl.col("country_code")).alias("countries"),
    )
    unknown = {
        "aws_services": not has_ranges,
        "outside_aws": not has_ranges,
        "asns": not has["asn"],
        "as_orgs": not has["as_org"],
        "countries": not has["country_code"],
    }
    out = kept.with_row_index("__row").join(per, on="__row", how="left", maintain_order="left")
    empty = {"ip_kinds": [], "aws_services": [], "asns": [], "as_orgs": [], "countries": []}
    return out.select(
        *kept.columns,
        *(
            (
                pl.lit(None, out.schema[c]).alias(c)
                if unknown.get(c)
                else pl.col(c).fill_null(pl.lit(empty[c], out.schema[c]))
                if c in empty
                else pl.col(c).fill_null(False)
            )
            for c in IP_SUMMARY_COLUMNS
        ),
    )


def describe_ips(info: pl.DataFrame) -> pl.DataFrame:
    """(``source_ip``, ``about``): a short text of what each address is, from a frame with
    ``source_ip`` and enrichment columns (:func:`~forensics.enrichment.enrich`'s, or some).

    ``about`` reads ``private``, ``AWS EC2 us-east-1``, ``AS16509 AMAZON-02, US``...; null for
    a public address nothing is known of.

    >>> describe_ips(enrich(["10.0.0.1", "8.8.8.8"])).rows()
    [('10.0.0.1', 'private'), ('8.8.8.8', None)]
    """
    have = set(info.columns)

    def col(name: str) -> pl.Expr:
        return pl.col(name) if name in have else pl.lit(None)

    services = (
        col("aws_services").cast(pl.List(pl.String)).list.join("/")
        if "aws_services" in have
        else pl.lit(None, pl.String)
    )
    parts = [
        pl.when(col("ip_kind").cast(pl.String) != "public").then(col("ip_kind").cast(pl.String)),
        pl.when(services != "").then(
            pl.concat_str(
                pl.lit("AWS "), services, pl.lit(" "), col("aws_ip_region"), ignore_nulls=True
            ).str.strip_chars()
        ),
        pl.when(col("asn").is_not_null()).then(
            pl.concat_str(
                pl.lit("AS"),
                col("asn").cast(pl.String),
                pl.lit(" "),
                col("as_org"),
                ignore_nulls=True,
            ).str.strip_chars()
        ),
        col("country_code").cast(pl.String),
    ]
    text = pl.concat_str(parts, separator=", ", ignore_nulls=True)
    return info.select(
        pl.col("source_ip").cast(pl.String), pl.when(text != "").then(text).alias("about")
    ).unique("source_ip", keep="first", maintain_order=True)
