"""What every AWS source shares: a boto3 session from the usual places, retries, the cache root.

Credentials come from, in order: an explicit ``boto3.Session``, a named ``profile``, or boto3's
standard chain (environment, shared files, SSO, instance/container roles). The kit never writes
credentials anywhere: caches hold only the downloaded trail data and object sizes/ETags.

>>> is_retryable_code("ThrottlingException"), is_retryable_code("AccessDenied")
(True, False)
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from forensics._errors import SourceError

__all__ = [
    "THROTTLE_CODES",
    "Backoff",
    "Pages",
    "RateLimiter",
    "cache_root",
    "describe",
    "epoch_ms",
    "error_code",
    "is_retryable_code",
    "make_session",
    "run_folder",
    "write_json",
]

T = TypeVar("T")

#: Error codes that mean "slow down and try again".
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "500",
        "502",
        "503",
        "504",
    }
)


def make_session(session: Any = None, profile: str | None = None) -> Any:
    """A ``boto3.Session``: the one given, one for ``profile``, or the default chain."""
    import boto3

    if session is not None and profile is not None:
        raise ValueError("pass either session= or profile=, not both")
    if session is not None:
        return session
    try:
        return boto3.Session(profile_name=profile) if profile else boto3.Session()
    except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
        raise SourceError(f"cannot set up AWS credentials for profile {profile!r}: {exc}") from exc


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def is_retryable_code(code: str | None) -> bool:
    """Throttling and server-side errors are worth another try; client errors are not."""
    return code is not None and (code in THROTTLE_CODES or code in _TRANSIENT_CODES)


def _is_retryable(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )
    from botocore.exceptions import (
        HTTPClientError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    if isinstance(
        exc,
        (
            BotoConnectionError,
            HTTPClientError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
            ConnectionError,
            TimeoutError,
        ),
    ):
        return True
    return is_retryable_code(error_code(exc))


class Backoff:
    """Retry a call on throttling/transient errors: exponential backoff with full jitter.

    ``attempts`` counts every try (``attempts=4`` = one call and three retries).
    """

    def __init__(
        self,
        attempts: int = 5,
        base: float = 0.5,
        cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.retries = 0  # retries made so far (all calls, all threads), for the report
        self._lock = threading.Lock()

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried; the last error is raised when every attempt failed."""
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as exc:
                if attempt + 1 >= self.attempts or not _is_retryable(exc):
                    raise
                with self._lock:
                    self.retries += 1
                self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


def describe(exc: BaseException) -> str:
    """A short, credential-free description of an AWS error."""
    code = error_code(exc)
    response = getattr(exc, "response", None) or {}
    message = response.get("Error", {}).get("Message") if isinstance(response, dict) else None
    if code:
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"


def cache_root(cache_dir: str | os.PathLike[str] | None, kind: str) -> Path:
    """Where a remote source keeps its local copies (``.forensics-cache/<kind>`` by default)."""
    root = Path(cache_dir) if cache_dir is not None else Path.cwd() / ".forensics-cache" / kind
    root.mkdir(parents=True, exist_ok=True)
    return root


class RateLimiter:
    """At most ``rate`` calls per second (evenly spaced), shared by every thread that uses it.

    >>> t = [0.0]
    >>> lim = RateLimiter(2.0, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))
    >>> for _ in range(3):
    ...     lim.wait()
    >>> t[0]
    1.0
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (calls per second)")
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next call is allowed."""
        with self._lock:
            now = self.clock()
            at = now if self._next is None else max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self.sleep(at - now)


def run_folder(cache_dir: str | os.PathLike[str] | None, kind: str) -> Path:
    """A new folder for one remote read (``.forensics-cache/<kind>/<UTC time>-<random>``)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = cache_root(cache_dir, kind) / f"{stamp}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return folder


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON through a temporary name (no half-written page is ever read)."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(orjson.dumps(doc, default=_json_default))
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@dataclass
class Pages:
    """What a remote read wrote: the page files, and what the loader should say about them.

    Sources stop here; :mod:`forensics.ingest._remote` reads the pages into a ``Trail``.
    ``filters`` describe what the service filtered on (they go into ``trail.filters``, so an
    export says that the trail is not everything that happened).
    """

    files: list[Path]
    start: datetime | None
    end: datetime | None
    sources: list[str]
    notes: list[str]
    failures: list[tuple[str, str]] = field(default_factory=list)
    filters: tuple[str, ...] = ()


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
