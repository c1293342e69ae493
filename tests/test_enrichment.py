"""Source IP enrichment: AWS ranges from ip-ranges.json, special-purpose ranges, MaxMind files."""

from __future__ import annotations

import ipaddress
import json
import re

import polars as pl
import pytest

from forensics.baseline import first_seen
from forensics.enrichment import ENRICH_SCHEMA, add_ip_columns, enrich, load_ip_ranges

# shaped like AWS's published ip-ranges.json (one prefix is listed once per service)
IP_RANGES = {
    "syncToken": "1700000000",
    "createDate": "2026-01-01-00-00-00",
    "prefixes": [
        {"ip_prefix": "3.0.0.0/9", "region": "us-east-1", "service": "AMAZON",
         "network_border_group": "us-east-1"},
        {"ip_prefix": "3.5.0.0/19", "region": "us-east-1", "service": "AMAZON",
         "network_border_group": "us-east-1"},
        {"ip_prefix": "3.5.0.0/19", "region": "us-east-1", "service": "S3",
         "network_border_group": "us-east-1"},
        {"ip_prefix": "52.95.245.0/24", "region": "us-east-1", "service": "EC2",
         "network_border_group": "us-east-1"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2",
         "network_border_group": "us-east-1"},
    ],
}  # fmt: skip


@pytest.fixture
def ranges(tmp_path):
    p = tmp_path / "ip-ranges.json"
    p.write_text(json.dumps(IP_RANGES))
    return p


def test_aws_ranges_longest_prefix_wins(ranges):
    ips = ["3.5.1.2", "3.100.0.1", "3.200.0.1", "52.95.245.7", "2600:1f18:1::5", "8.8.8.8"]
    out = {r["source_ip"]: r for r in enrich(ips, ip_ranges=ranges).iter_rows(named=True)}
    assert out["3.5.1.2"]["aws_prefix"] == "3.5.0.0/19"
    assert out["3.5.1.2"]["aws_services"] == ["AMAZON", "S3"]
    assert out["3.100.0.1"]["aws_prefix"] == "3.0.0.0/9"  # inside the /9, past the /19
    assert out["3.200.0.1"]["is_aws"] is False and out["8.8.8.8"]["is_aws"] is False
    assert out["2600:1f18:1::5"]["aws_services"] == ["EC2"]
    assert out["52.95.245.7"]["aws_ip_region"] == "us-east-1"
    assert load_ip_ranges(ranges).height == 4


def test_kinds_and_non_ips():
    out = dict(
        enrich(
            ["10.0.0.1", "100.64.1.1", "169.254.169.254", "192.0.2.10", "fd00::1", "8.8.4.4",
             "s3.amazonaws.com", "AWS Internal", "not-an-ip", "1.2.3.999", "010.001.002.003", "1.2.3"]
        ).select("source_ip", "ip_kind").rows()
    )  # fmt: skip
    assert out == {
        "10.0.0.1": "private", "100.64.1.1": "shared-cgnat", "169.254.169.254": "link-local",
        "192.0.2.10": "documentation", "fd00::1": "private", "8.8.4.4": "public",
        "s3.amazonaws.com": "service", "AWS Internal": "service", "not-an-ip": "invalid",
        "1.2.3.999": "invalid", "010.001.002.003": "private", "1.2.3": "invalid",
    }  # fmt: skip


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        enrich(["1.1.1.1"], ip_ranges=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"prefixes": [{"oops": 1}]}')
    with pytest.raises(ValueError, match=r"ip-ranges\.json format"):
        enrich(["1.1.1.1"], ip_ranges=bad)
    junk = tmp_path / "x.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(ValueError, match="not a MaxMind DB"):
        enrich(["1.1.1.1"], mmdb=junk)


@pytest.fixture
def mmdbs(tmp_path):
    writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    asn = writer.MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    asn.insert_network(
        netaddr.IPSet(["203.0.113.0/24"]),
        {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Hosting"},
    )
    asn.insert_network(netaddr.IPSet(["2001:db8::/32"]), {
        "autonomous_system_number": 64501, "autonomous_system_organization": "Six Net"})  # fmt: skip
    city = writer.MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    city.insert_network(netaddr.IPSet(["203.0.113.0/25"]), {
        "country": {"iso_code": "NL", "names": {"en": "Netherlands"}},
        "city": {"names": {"en": "Amsterdam"}}})  # fmt: skip
    a, c = tmp_path / "asn.mmdb", tmp_path / "city.mmdb"
    asn.to_db_file(str(a))
    city.to_db_file(str(c))
    return [a, c]


def test_mmdb_asn_and_city(mmdbs):
    out = {r["source_ip"]: r for r in enrich(
        ["203.0.113.5", "203.0.113.200", "2001:db8::7", "198.51.100.1", "ec2.amazonaws.com"],
        mmdb=mmdbs).iter_rows(named=True)}  # fmt: skip
    assert (out["203.0.113.5"]["asn"], out["203.0.113.5"]["as_org"]) == (64500, "Example Hosting")
    assert (out["203.0.113.5"]["country_code"], out["203.0.113.5"]["city"]) == ("NL", "Amsterdam")
    assert out["203.0.113.200"]["asn"] == 64500 and out["203.0.113.200"]["city"] is None
    assert out["2001:db8::7"]["asn"] == 64501
    assert out["198.51.100.1"]["asn"] is None and out["ec2.amazonaws.com"]["asn"] is None


def test_add_ip_columns_and_first_seen_asn(mmdbs):
    from datetime import timedelta

    from _baseline_helpers import T0, _row, frame

    rows = [_row(T0 + timedelta(hours=h), "CreateTags", "ec2.amazonaws.com", read_only=False,
                 ip="203.0.113.5", n=h) for h in range(30)]  # fmt: skip
    rows.append(_row(T0 + timedelta(hours=40), "CreateTags", "ec2.amazonaws.com",
                     read_only=False, ip="2001:db8::9", key="AKIAEXAMPLEALICE0001"))  # fmt: skip
    ev = frame(rows)
    enriched = add_ip_columns(ev, mmdb=mmdbs)
    assert enriched.height == ev.height and "asn" in enriched.columns
    lazy = add_ip_columns(ev.lazy(), enrich(ev, mmdb=mmdbs), columns=["asn"])
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect()["asn"].null_count() == 0
    f = first_seen(enriched, until=T0 + timedelta(hours=35), pairs=["asn"])
    assert f["title"].to_list() == ["arn:aws:iam::111122223333:user/alice first seen from AS64501"]
    with pytest.raises(ValueError, match="unknown enrichment column"):
        add_ip_columns(ev, columns=["nope"])


def test_schema():
    assert enrich([]).schema == ENRICH_SCHEMA


# -- properties: the vectorised parser and prefix match agree with the stdlib ------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_addr = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i))),
    st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i))),
    st.integers(0, 2**128 - 1).map(lambda i: ipaddress.IPv6Address(i).exploded.upper()),
    st.integers(0, 2**16 - 1).map(lambda i: str(ipaddress.IPv6Address(i << 64))),  # many zeros
)
_net = st.one_of(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)
    ),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_addr, min_size=1, max_size=30), st.lists(_net, min_size=1, max_size=12),
       st.lists(st.text(alphabet="0123456789abcdef:.%", max_size=12), max_size=4))  # fmt: skip
def test_longest_prefix_matches_stdlib(addrs, nets, junk):
    doc = {
        "prefixes": [
            {"ip_prefix": str(n), "region": str(i), "service": "AMAZON"}
            for i, n in enumerate(nets)
            if n.version == 4
        ],
        "ipv6_prefixes": [
            {"ipv6_prefix": str(n), "region": str(i), "service": "AMAZON"}
            for i, n in enumerate(nets)
            if n.version == 6
        ],
    }
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "r.json"
        p.write_text(json.dumps(doc))
        out = {r["source_ip"]: r for r in enrich(addrs + junk, ip_ranges=p).iter_rows(named=True)}
    for a in addrs:
        ip = ipaddress.ip_address(a)
        hits = [n for n in nets if n.version == ip.version and ip in n]
        best = max(hits, key=lambda n: n.prefixlen) if hits else None
        assert out[a]["ip_version"] == ip.version
        assert out[a]["aws_prefix"] == (str(best) if best else None), (a, nets)
    for j in junk:
        quad = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", j)
        decimal = ".".join(str(int(x)) for x in quad.groups()) if quad else j  # 010 is ten
        try:
            ipaddress.ip_address(decimal)
        except ValueError:
            assert out[j]["ip_version"] is None, j
        else:
            assert out[j]["ip_version"] == ipaddress.ip_address(decimal).version, j


def test_add_ip_columns_keeps_the_frame_order():
    ips = [f"10.0.{i // 256}.{i % 256}" for i in range(3000)][::-1] + ["8.8.8.8"] * 5
    frame = pl.DataFrame({"source_ip": ips, "i": range(len(ips))})
    for out in (add_ip_columns(frame), add_ip_columns(frame.lazy()).collect()):
        assert out["i"].to_list() == list(range(len(ips)))
