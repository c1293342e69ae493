"""Enrichment of source IPs: AWS-owned ranges, private/bogon ranges, GeoIP/ASN (MaxMind files).

>>> from forensics.enrichment import enrich
>>> enrich(["192.168.1.1"])["ip_kind"].to_list()
['private']
"""

from __future__ import annotations

from forensics.enrichment._ip import ENRICH_SCHEMA, add_ip_columns, enrich, load_ip_ranges

__all__ = ["ENRICH_SCHEMA", "add_ip_columns", "enrich", "load_ip_ranges"]
