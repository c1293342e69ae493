"""moto_server + the CloudTrail read APIs moto lacks (LookupEvents, ListPublicKeys), over real HTTP.

moto 5.2.x raises NotImplementedError (HTTP 500) for cloudtrail:LookupEvents and cloudtrail:ListPublicKeys.
This launcher adds them to moto's CloudTrailResponse before starting the normal moto server:

  * LookupEvents returns the records found in CloudTrail log files (*.json.gz under .../CloudTrail/...)
    that were uploaded to ANY bucket of the same moto server (so tests seed events through the real S3 API),
    plus records from the JSON file in $MOTO_CT_EVENTS ({"Records": [...]}) if set.
    Supports LookupAttributes (EventId, EventName, ReadOnly, Username, ResourceType, ResourceName,
    EventSource, AccessKeyId), StartTime/EndTime, MaxResults (<=50) and NextToken, newest first, like AWS.
  * ListPublicKeys returns one fixed fake key.

Usage: python aws/moto_plus.py -H 127.0.0.1 -p 5055      (same CLI as moto_server)

Copied from the team's shared recipes (recipes/aws/moto_plus.py, known to work with moto 5.2.5);
imported for its side effect (the two patched methods) by tests/_aws_helpers.py, which runs the
server in-process on a free loopback port.
"""

import base64
import contextlib
import datetime as dt
import gzip
import json
import os

from moto.cloudtrail.responses import CloudTrailResponse
from moto.s3.models import s3_backends


def _records_from_s3(account_id):
    recs = []
    for backend in list(s3_backends.get(account_id, {}).values()):  # {partition: S3Backend}
        for bucket in list(backend.buckets.values()):
            for key in list(bucket.keys.values()):
                name = getattr(key, "name", "")
                if "/CloudTrail/" in name and name.endswith(".json.gz"):
                    with contextlib.suppress(Exception):
                        recs.extend(json.loads(gzip.decompress(key.value)).get("Records", []))
    return recs


def _records_from_file():
    p = os.environ.get("MOTO_CT_EVENTS")
    if p and os.path.exists(p):
        with open(p) as f:
            return json.load(f).get("Records", [])
    return []


def _ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _to_lookup_event(r):
    ui = r.get("userIdentity", {})
    user = ui.get("userName") or (ui.get("arn", "").split("/")[-1] if ui.get("arn") else None)
    ev = {
        "EventId": r.get("eventID")
        or base64.b32encode(json.dumps(r, sort_keys=True).encode()[-20:]).decode().lower(),
        "EventName": r.get("eventName"),
        "ReadOnly": str(r.get("readOnly", False)).lower(),
        "EventTime": _ts(r["eventTime"]),
        "EventSource": r.get("eventSource"),
        "Resources": [
            {"ResourceType": x.get("type"), "ResourceName": x.get("ARN")}
            for x in r.get("resources", [])
        ],
        "CloudTrailEvent": json.dumps(r),
    }
    if ui.get("accessKeyId"):
        ev["AccessKeyId"] = ui["accessKeyId"]
    if user:
        ev["Username"] = user
    return ev


_ATTR = {
    "EventId": lambda e: [e["EventId"]],
    "EventName": lambda e: [e["EventName"]],
    "ReadOnly": lambda e: [e["ReadOnly"]],
    "Username": lambda e: [e.get("Username")],
    "EventSource": lambda e: [e["EventSource"]],
    "AccessKeyId": lambda e: [e.get("AccessKeyId")],
    "ResourceType": lambda e: [x["ResourceType"] for x in e["Resources"]],
    "ResourceName": lambda e: [x["ResourceName"] for x in e["Resources"]],
}


def lookup_events(self):
    attrs = self._get_param("LookupAttributes") or []
    start, end = self._get_param("StartTime"), self._get_param("EndTime")
    max_results = min(int(self._get_param("MaxResults") or 50), 50)
    offset = (
        int(base64.b64decode(self._get_param("NextToken")).decode())
        if self._get_param("NextToken")
        else 0
    )
    events = [
        _to_lookup_event(r) for r in _records_from_s3(self.current_account) + _records_from_file()
    ]
    # AWS: only events of the region the request goes to
    events = [
        e
        for e in events
        if json.loads(e["CloudTrailEvent"]).get("awsRegion", self.region) == self.region
    ]
    for a in attrs:  # AWS allows exactly one attribute; accept several (AND)
        events = [e for e in events if a["AttributeValue"] in _ATTR[a["AttributeKey"]](e)]
    if start is not None:
        events = [e for e in events if e["EventTime"] >= float(start)]
    if end is not None:
        events = [e for e in events if e["EventTime"] <= float(end)]
    events.sort(key=lambda e: e["EventTime"], reverse=True)
    page = events[offset : offset + max_results]
    body = {"Events": page}
    if offset + max_results < len(events):
        body["NextToken"] = base64.b64encode(str(offset + max_results).encode()).decode()
    return json.dumps(body)


def list_public_keys(self):
    now = dt.datetime.now(dt.UTC).timestamp()
    return json.dumps(
        {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(b"fake-der-public-key").decode(),
                    "ValidityStartTime": now - 86400 * 30,
                    "ValidityEndTime": now + 86400 * 30,
                    "Fingerprint": "0123456789abcdef0123456789abcdef",
                }
            ]
        }
    )


CloudTrailResponse.lookup_events = lookup_events
CloudTrailResponse.list_public_keys = list_public_keys

if __name__ == "__main__":
    from moto.server import main

    main()
