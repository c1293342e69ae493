"""Source IP enrichment: AWS-owned ranges, private/bogon ranges, GeoIP/ASN from MaxMind files.

Vectorised: the distinct IPs are parsed once (IPv4 in Polars, IPv6 with the stdlib), and every
prefix table (AWS's ``ip-ranges.json``, the special-purpose ranges) is matched by one equality
join per prefix length on the masked address, keeping the longest match. MaxMind ``.mmdb`` files
are read with MaxMind's own reader (``maxminddb``), one lookup per distinct IP.

The kit never downloads anything: ``ip-ranges.json`` and the ``.mmdb`` files are files the user
gives.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import polars as pl

__all__ = ["ENRICH_SCHEMA", "add_ip_columns", "enrich", "load_ip_ranges"]

_MASK64 = (1 << 64) - 1

#: One row per distinct source IP.
ENRICH_SCHEMA = pl.Schema(
    {
        "source_ip": pl.String,
        "ip_version": pl.Int8,
        "ip_kind": pl.String,  # public | private | loopback | link-local | ... | service | invalid
        "is_aws": pl.Boolean,
        "aws_prefix": pl.String,
        "aws_ip_region": pl.String,
        "aws_services": pl.List(pl.String),
        "asn": pl.Int64,
        "as_org": pl.String,
        "country_code": pl.String,
        "country": pl.String,
        "city": pl.String,
    }
)

# Special-purpose ranges (IANA registries, RFC 6890 and successors), named by what they are.
_SPECIAL = [
    ("0.0.0.0/8", "this-network"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared-cgnat"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"), ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"), ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"), ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("::ffff:0:0/96", "ipv4-mapped"),
    ("64:ff9b::/96", "nat64"), ("100::/64", "discard"), ("2001::/23", "reserved"),
    ("2001:db8::/32", "documentation"), ("2002::/16", "6to4"), ("fc00::/7", "private"),
    ("fe80::/10", "link-local"), ("ff00::/8", "multicast"),
]  # fmt: skip


def _split(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int, int]:
    """(version, prefix length, high 64 bits, low 64 bits) of a network address."""
    value = int(net.network_address)
    return net.version, net.prefixlen, value >> 64, value & _MASK64


def _prefix_frame(rows: Iterable[tuple[str, dict[str, Any]]]) -> pl.DataFrame:
    recs = []
    for cidr, attrs in rows:
        net = ipaddress.ip_network(cidr, strict=False)
        v, length, hi, lo = _split(net)
        recs.append({"_v": v, "_len": length, "_hi": hi, "_lo": lo, "prefix": str(net), **attrs})
    return pl.DataFrame(recs, schema_overrides={"_hi": pl.UInt64, "_lo": pl.UInt64})


def load_ip_ranges(path: str | Path) -> pl.DataFrame:
    """AWS's published ``ip-ranges.json`` (given as a file) as one row per prefix:
    ``prefix``, ``region``, ``services`` (a prefix is listed once per service), and the match keys.

    >>> import json, tempfile, os
    >>> doc = {"prefixes": [{"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2",
    ...        "service": "AMAZON", "network_border_group": "ap-northeast-2"}], "ipv6_prefixes": []}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
    ...     json.dump(doc, fh)
    >>> load_ip_ranges(fh.name)["prefix"].to_list(); os.unlink(fh.name)
    ['3.5.140.0/22']
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"ip-ranges file {p} not found; download AWS's ip-ranges.json yourself and pass its "
            "path (the kit never downloads it)"
        )
    try:
        doc = orjson.loads(p.read_bytes())
        v4 = [(x["ip_prefix"], x) for x in doc.get("prefixes", [])]
        v6 = [(x["ipv6_prefix"], x) for x in doc.get("ipv6_prefixes", [])]
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{p} is not AWS's ip-ranges.json format (prefixes[].ip_prefix, "
            f"ipv6_prefixes[].ipv6_prefix): {exc}"
        ) from None
    rows = [(cidr, {"region": x.get("region"), "service": x.get("service")}) for cidr, x in v4 + v6]
    if not rows:
        return _prefix_frame([("0.0.0.0/32", {"region": "", "service": ""})]).clear()
    return (
        _prefix_frame(rows)
        .group_by("_v", "_len", "_hi", "_lo", "prefix", maintain_order=True)
        .agg(
            pl.col("region").first(),
            pl.col("service").unique(maintain_order=True).alias("services"),
        )
    )


def _parse(ips: pl.Series) -> pl.DataFrame:
    """Distinct IPs -> version, high/low 64 bits (null where the text is not an IP)."""
    frame = pl.DataFrame({"source_ip": ips})
    parts = pl.col("source_ip").str.split_exact(".", 3)
    octets = [
        parts.struct.field(f"field_{i}").cast(pl.UInt64, strict=False).alias(f"_o{i}")
        for i in range(4)
    ]
    v4 = frame.with_columns(*octets)
    o = [pl.col(f"_o{i}") for i in range(4)]
    ok4 = (
        pl.all_horizontal(x.is_not_null() & (x <= 255) for x in o)
        # decimal octets; leading zeros (anonymised datasets write them) read as decimal too
        & pl.col("source_ip").str.contains(r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$")
    )
    v4 = v4.with_columns(
        pl.when(ok4).then(pl.lit(4, pl.Int8)).alias("_v"),
        pl.when(ok4).then(pl.lit(0, pl.UInt64)).alias("_hi"),
        pl.when(ok4).then(o[0] * 16777216 + o[1] * 65536 + o[2] * 256 + o[3]).alias("_lo"),
    ).select("source_ip", "_v", "_hi", "_lo")
    rest = v4.filter(pl.col("_v").is_null() & pl.col("source_ip").str.contains(":"))
    if rest.height:
        six = _parse_v6(rest.select("source_ip"))
        v4 = pl.concat([v4.join(six.select("source_ip"), on="source_ip", how="anti"), six])
    return v4


def _parse_v6(frame: pl.DataFrame) -> pl.DataFrame:
    """IPv6 text -> (version 6, high 64 bits, low 64 bits), in Polars for the plain forms; zone
    ids, embedded IPv4 and anything odd go through the stdlib (and are null if not an IP)."""
    text = pl.col("source_ip")
    plain = text.str.contains(r"^[0-9A-Fa-f:]+$") & (text.str.count_matches("::") <= 1)
    halves = text.str.split_exact("::", 1)
    left = halves.struct.field("field_0").str.split(":")
    right = halves.struct.field("field_1").str.split(":")
    has_gap = text.str.contains("::", literal=True)
    left = (
        pl.when(halves.struct.field("field_0") == "")
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(left)
    )
    right = (
        pl.when(has_gap & (halves.struct.field("field_1") != ""))
        .then(right)
        .otherwise(pl.lit([], pl.List(pl.String)))
    )
    fill = 8 - left.list.len() - right.list.len()
    groups = (
        pl.when(has_gap)
        .then(pl.concat_list(left, pl.lit("0").repeat_by(fill.clip(0)), right))
        .otherwise(left)
    )
    ok = (
        plain
        & (groups.list.len() == 8)
        & (~has_gap | (fill >= 1))
        & groups.list.eval(pl.element().str.len_chars().is_between(1, 4)).list.all()
    )
    words = groups.list.eval(pl.element().str.to_integer(base=16, strict=False).cast(pl.UInt64))

    def half(offset: int) -> pl.Expr:
        return (
            words.list.get(offset) * (1 << 48)
            + words.list.get(offset + 1) * (1 << 32)
            + words.list.get(offset + 2) * (1 << 16)
            + words.list.get(offset + 3)
        )

    fast = frame.with_columns(ok.alias("_ok")).with_columns(
        pl.when(pl.col("_ok")).then(pl.lit(6, pl.Int8)).alias("_v"),
        pl.when(pl.col("_ok")).then(half(0)).alias("_hi"),
        pl.when(pl.col("_ok")).then(half(4)).alias("_lo"),
    )
    odd = fast.filter(~pl.col("_ok").fill_null(False))
    parsed = []
    for value in odd["source_ip"]:
        try:
            a = ipaddress.ip_address(value)
        except ValueError:
            parsed.append((value, None, None, None))
            continue
        n = int(a)
        parsed.append((value, a.version, n >> 64, n & _MASK64))
    slow = pl.DataFrame(
        parsed,
        schema={"source_ip": pl.String, "_v": pl.Int8, "_hi": pl.UInt64, "_lo": pl.UInt64},
        orient="row",
    )
    return pl.concat(
        [fast.filter(pl.col("_ok").fill_null(False)).select("source_ip", "_v", "_hi", "_lo"), slow]
    )


def _longest_match(ips: pl.DataFrame, prefixes: pl.DataFrame, carry: Sequence[str]) -> pl.DataFrame:
    """For each IP, the columns ``carry`` of its longest matching prefix (one join per length)."""
    if prefixes.height == 0:
        return (
            ips.select("source_ip")
            .with_columns(*(pl.lit(None, prefixes.schema[c]).alias(c) for c in carry))
            .clear()
        )
    found = []
    by_version = {v: ips.filter(pl.col("_v") == v) for v in (4, 6)}
    for (v, length), group in prefixes.group_by("_v", "_len"):
        bits = 32 if v == 4 else 128
        host = bits - int(length)
        mask = ((1 << bits) - 1) ^ ((1 << host) - 1)
        if v == 6:
            mhi, mlo = mask >> 64, mask & _MASK64
        else:
            mhi, mlo = 0, mask
        if by_version[v].height == 0:
            continue
        keyed = by_version[v].with_columns(
            (pl.col("_hi") & pl.lit(mhi, pl.UInt64)).alias("_hi"),
            (pl.col("_lo") & pl.lit(mlo, pl.UInt64)).alias("_lo"),
        )
        found.append(
            keyed.join(group, on=["_hi", "_lo"], how="inner").select(
                "source_ip", pl.col("_len"), *carry
            )
        )
    if not found:
        return _longest_match(ips, prefixes.clear(), carry)
    return (
        pl.concat(found)
        .sort("_len", descending=True)
        .unique("source_ip", keep="first")
        .drop("_len")
    )


def _mmdb_columns(ips: pl.DataFrame, paths: Sequence[str | Path]) -> pl.DataFrame:
    try:
        import maxminddb
    except ImportError as exc:  # pragma: no cover - a dependency of the kit
        raise ImportError("reading .mmdb files needs the 'maxminddb' package") from exc
    texts = ips.filter(pl.col("_v").is_not_null())["source_ip"].to_list()
    cols: dict[str, list[Any]] = {k: [None] * len(texts) for k in
                                  ("asn", "as_org", "country_code", "country", "city")}  # fmt: skip
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"MaxMind database {p} not found (give the .mmdb file's path)")
        try:
            reader = maxminddb.open_database(str(p))
        except (maxminddb.InvalidDatabaseError, ValueError) as exc:
            raise ValueError(f"{p} is not a MaxMind DB (.mmdb) file: {exc}") from None
        with reader:
            for i, ip in enumerate(texts):
                rec = reader.get(ip)
                if not isinstance(rec, dict):
                    continue
                if "autonomous_system_number" in rec:
                    cols["asn"][i] = rec.get("autonomous_system_number")
                    cols["as_org"][i] = rec.get("autonomous_system_organization")
                country = rec.get("country") or rec.get("registered_country")
                if isinstance(country, dict):
                    cols["country_code"][i] = country.get("iso_code")
                    cols["country"][i] = (country.get("names") or {}).get("en")
                city = rec.get("city")
                if isinstance(city, dict):
                    cols["city"][i] = (city.get("names") or {}).get("en")
    return pl.DataFrame(
        {"source_ip": texts, **cols},
        schema={"source_ip": pl.String, **{k: ENRICH_SCHEMA[k] for k in cols}},
    )


def _ips_of(data: Any) -> pl.Series:
    if isinstance(data, pl.Series):
        return data.cast(pl.String).drop_nulls().unique()
    if isinstance(data, (list, tuple, set)):
        return pl.Series("source_ip", list(data), dtype=pl.String).drop_nulls().unique()
    lf = (
        data
        if isinstance(data, pl.LazyFrame)
        else data.lazy()
        if isinstance(data, pl.DataFrame)
        else data.lazy
    )
    return lf.select(pl.col("source_ip").drop_nulls().unique()).collect().to_series()


def enrich(
    data: Any,
    *,
    ip_ranges: str | Path | pl.DataFrame | None = None,
    mmdb: str | Path | Sequence[str | Path] = (),
) -> pl.DataFrame:
    """One row per distinct source IP (:data:`ENRICH_SCHEMA`).

    ``data`` is a :class:`~forensics.Trail`, a frame with a ``source_ip`` column, or IPs.
    ``ip_kind`` is the special-purpose range an address is in (``private``, ``loopback``,
    ``documentation``, ``shared-cgnat``, ...), ``public`` otherwise (IPv4 octets are decimal,
    leading zeros as found in anonymised datasets included), ``service`` for the AWS
    service names CloudTrail puts there (``ec2.amazonaws.com``, ``AWS Internal``), ``invalid``
    for other text. ``ip_ranges`` is AWS's ``ip-ranges.json`` (a path, or a frame from
    :func:`load_ip_ranges`); ``mmdb`` one or more MaxMind databases (ASN, Country, City, or
    compatible): the columns they do not provide stay null.

    >>> enrich(["10.1.2.3", "ec2.amazonaws.com"]).select("source_ip", "ip_kind").sort("source_ip").rows()
    [('10.1.2.3', 'private'), ('ec2.amazonaws.com', 'service')]
    """
    ips = _parse(_ips_of(data))
    special = _longest_match(ips, _prefix_frame((c, {"kind": k}) for c, k in _SPECIAL), ["kind"])
    out = ips.join(special, on="source_ip", how="left")
    if ip_ranges is not None:
        table = ip_ranges if isinstance(ip_ranges, pl.DataFrame) else load_ip_ranges(ip_ranges)
        aws = _longest_match(ips, table, ["prefix", "region", "services"])
        out = out.join(aws, on="source_ip", how="left")
    else:
        out = out.with_columns(
            pl.lit(None, pl.String).alias("prefix"),
            pl.lit(None, pl.String).alias("region"),
            pl.lit(None, pl.List(pl.String)).alias("services"),
        )
    paths = [mmdb] if isinstance(mmdb, (str, Path)) else list(mmdb)
    if paths:
        out = out.join(_mmdb_columns(ips, paths), on="source_ip", how="left")
    kind = (
        pl.when(
            pl.col("_v").is_null()
            & pl.col("source_ip").str.contains(r"(?i)amazonaws\.com$|^AWS Internal$")
        )
        .then(pl.lit("service"))
        .when(pl.col("_v").is_null())
        .then(pl.lit("invalid"))
        .otherwise(pl.col("kind").fill_null("public"))
    )
    return (
        out.select(
            "source_ip",
            pl.col("_v").alias("ip_version"),
            kind.alias("ip_kind"),
            (pl.col("prefix").is_not_null() if ip_ranges is not None else pl.lit(None)).alias(
                "is_aws"
            ),
            pl.col("prefix").alias("aws_prefix"),
            pl.col("region").alias("aws_ip_region"),
            pl.col("services").alias("aws_services"),
            *(
                pl.col(c) if c in out.columns else pl.lit(None).alias(c)
                for c in ("asn", "as_org", "country_code", "country", "city")
            ),
        )
        .select(pl.col(c).cast(t) for c, t in ENRICH_SCHEMA.items())
        .sort("source_ip")
    )


def add_ip_columns(
    frame: pl.DataFrame | pl.LazyFrame,
    enrichment: pl.DataFrame | None = None,
    *,
    columns: Sequence[str] | None = None,
    **options: Any,
) -> pl.DataFrame | pl.LazyFrame:
    """``frame`` (anything with a ``source_ip`` column) with the enrichment columns joined on.

    Give ``enrichment`` (from :func:`enrich`) or the options of :func:`enrich` (``ip_ranges=``,
    ``mmdb=``); ``columns`` picks which columns to add (all by default).

    >>> add_ip_columns(pl.DataFrame({"source_ip": ["127.0.0.1"]}), columns=["ip_kind"]).rows()
    [('127.0.0.1', 'loopback')]
    """
    if "source_ip" not in frame.collect_schema().names():
        raise ValueError("add_ip_columns needs a frame with a 'source_ip' column")
    table = enrichment if enrichment is not None else enrich(frame, **options)
    keep = [c for c in (columns or ENRICH_SCHEMA.names()) if c != "source_ip"]
    bad = sorted(set(keep) - set(table.columns))
    if bad:
        raise ValueError(f"unknown enrichment column(s) {bad}; choose from {ENRICH_SCHEMA.names()}")
    existing = set(frame.collect_schema().names()) - {"source_ip"}
    joined = table.select("source_ip", *keep)
    if isinstance(frame, pl.LazyFrame):
        return frame.drop(*(existing & set(keep))).join(
            joined.lazy(), on="source_ip", how="left", maintain_order="left"
        )
    return frame.drop(*(existing & set(keep))).join(
        joined, on="source_ip", how="left", maintain_order="left"
    )
