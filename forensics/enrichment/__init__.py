"""Enrichment of source IPs: AWS-owned ranges, private/bogon ranges, GeoIP/ASN (MaxMind files).

>>> from forensics.enrichment import enrich
>>> enrich(["192.168.1.1"])["ip_kind"].to_list()
['private']
"""

from __future__ import annotations

from forensics.enrichment._ip import ENRICH_SCHEMA, add_ip_columns, enrich, load_ip_ranges
from forensics.enrichment._summary import (
    IP_SUMMARY_COLUMNS,
    add_ip_summary,
    describe_ips,
    enrichment_table,
)

__all__ = [
    "ENRICH_SCHEMA",
    "IP_SUMMARY_COLUMNS",
    "add_ip_columns",
    "add_ip_summary",
    "describe_ips",
    "enrich",
    "enrichment_table",
    "load_ip_ranges",
]
