"""A real moto HTTP server on loopback, with a fault-injecting, request-counting WSGI layer.

The server runs in this process (a thread, a free port on 127.0.0.1), so tests can decide per
request what the "AWS" side does: answer 500 for a key, throttle LookupEvents, and count every
request that reaches it (to prove which prefixes were listed and which objects were fetched).
The code under test only sees plain boto3 clients pointed at ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import gzip
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import _moto_plus  # noqa: F401  (patches LookupEvents / ListPublicKeys into moto)

ACCOUNT = "123456789012"
SECRET = "fake-secret-Zq81vXk2WmB7"
TOKEN = "fake-session-token-Jf0aL3PqW9e"
KEY_ID = "AKIAFAKETESTKEY00001"


@dataclass
class Request:
    method: str
    path: str  # unquoted
    query: dict[str, str]
    target: str  # X-Amz-Target (JSON protocols), "" for S3
    region: str  # from the SigV4 credential scope


Rule = Callable[[Request], "tuple[int, dict[str, str], bytes] | None"]


@dataclass
class Faults:
    """WSGI middleware: records requests, lets ``rules`` answer instead of moto."""

    app: Any
    requests: list[Request] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        query = dict(
            urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        )
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1].split("/")
        req = Request(
            environ["REQUEST_METHOD"],
            urllib.parse.unquote(environ.get("PATH_INFO", "")),
            query,
            environ.get("HTTP_X_AMZ_TARGET", ""),
            scope[2] if len(scope) > 2 else "",
        )
        if not req.path.startswith("/moto-api"):
            with self.lock:
                self.requests.append(req)
        for rule in list(self.rules):
            answer = rule(req)
            if answer is not None:
                status, headers, body = answer
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response(f"{status} Injected", list(headers.items()))
                return [body]
        return self.app(environ, start_response)

    # -- views used by the tests --
    def s3_lists(self, bucket: str) -> list[str]:
        """Prefixes listed (ListObjectsV2) in ``bucket``, in order."""
        return [
            r.query.get("prefix", "")
            for r in self.requests
            if r.method == "GET" and r.path.rstrip("/") == f"/{bucket}" and "list-type" in r.query
        ]

    def s3_flat_lists(self, bucket: str) -> list[str]:
        """Prefixes listed without a delimiter (every key under them comes back)."""
        return [
            r.query.get("prefix", "")
            for r in self.requests
            if r.method == "GET"
            and r.path.rstrip("/") == f"/{bucket}"
            and "list-type" in r.query
            and not r.query.get("delimiter")
        ]

    def s3_gets(self, bucket: str) -> list[str]:
        """Keys fetched (GetObject) from ``bucket``."""
        return [
            r.path[len(bucket) + 2 :]
            for r in self.requests
            if r.method == "GET"
            and r.path.startswith(f"/{bucket}/")
            and not r.query.get("list-type")
        ]

    def calls(self, operation: str, region: str | None = None) -> int:
        """How many JSON-protocol calls of ``operation`` (optionally: to ``region``) came in."""
        return sum(
            1
            for r in self.requests
            if r.target.endswith(f".{operation}") and (region is None or r.region == region)
        )


def s3_error(status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>"
    return status, {"Content-Type": "application/xml"}, body.encode()


def json_error(code: str, status: int = 400) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": code, "message": "Rate exceeded (injected)"}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body


class Server:
    """moto (+ moto_plus) served by werkzeug on a free 127.0.0.1 port, in a thread."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.faults = Faults(DomainDispatcherApplication(create_backend_app))

        class Quiet(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self._server = make_server(
            "127.0.0.1", 0, self.faults, threaded=True, request_handler=Quiet
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        self.faults.requests.clear()
        self.faults.rules.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Server:
    """Fresh moto state; the environment points every boto3 client at it (fake credentials)."""
    moto_server.reset()
    for k, v in {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)  # the default cache folder is relative to the current one
    return moto_server


def record(
    i: int,
    when: datetime,
    *,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    name: str = "GetCallerIdentity",
) -> dict[str, Any]:
    """A plausible CloudTrail record."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "accountId": account,
            "arn": f"arn:aws:iam::{account}:user/alice",
            "userName": "alice",
            "accessKeyId": "AKIAEXAMPLEKEY000001",
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15",
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"req-{i}",
        "eventID": f"evt-{region}-{account}-{i:06d}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def key_for(
    day: datetime,
    *,
    account: str = ACCOUNT,
    region: str = "us-east-1",
    n: int = 0,
    org: str | None = None,
    prefix: str = "",
    kind: str = "CloudTrail",
) -> str:
    org_part = f"{org}/" if org else ""
    stamp = day.strftime("%Y%m%dT%H%MZ")
    return (
        f"{prefix}AWSLogs/{org_part}{account}/{kind}/{region}/{day:%Y/%m/%d}/"
        f"{account}_{kind}_{region}_{stamp}_{n:04d}.json.gz"
    )


def put_trail(
    s3: Any,
    bucket: str,
    *,
    days: list[datetime],
    regions: list[str],
    accounts: list[str] = [ACCOUNT],  # noqa: B006
    per_file: int = 5,
    org: str | None = None,
    prefix: str = "",
    digests: bool = False,
) -> dict[str, int]:
    """One file per (account, region, day) holding ``per_file`` records of that day; returns
    the number of records per day (ISO date)."""
    counts: dict[str, int] = {}
    i = 0
    for account in accounts:
        for region in regions:
            for day in days:
                recs = []
                for j in range(per_file):
                    recs.append(
                        record(i, day + timedelta(minutes=10 * j), region=region, account=account)
                    )
                    i += 1
                counts[day.date().isoformat()] = counts.get(day.date().isoformat(), 0) + per_file
                body = gzip.compress(json.dumps({"Records": recs}).encode())
                s3.put_object(
                    Bucket=bucket,
                    Body=body,
                    Key=key_for(day, account=account, region=region, org=org, prefix=prefix),
                )
                if digests:
                    s3.put_object(
                        Bucket=bucket,
                        Body=gzip.compress(b'{"digestStartTime": "x", "digestEndTime": "y"}'),
                        Key=key_for(
                            day,
                            account=account,
                            region=region,
                            org=org,
                            prefix=prefix,
                            kind="CloudTrail-Digest",
                        ),
                    )
    return counts


def day(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)
