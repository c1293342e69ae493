"""Finding digests and log files in local copies of the S3 delivery layout, and hashing them.

CloudTrail hashes the *uncompressed* content of a log file (``hashValue`` in the digest) and
of the previous digest (``previousDigestHashValue``), and signs the SHA-256 of the uncompressed
digest: every hash here is over the gzip-decompressed bytes, as ``aws cloudtrail validate-logs``
computes them.

>>> info = parse_path("x/AWSLogs/o-ab12/111122223333/CloudTrail/eu-west-1/2024/03/05/"
...                   "111122223333_CloudTrail_eu-west-1_20240305T0105Z_abc.json.gz")
>>> info.account, info.region, info.kind, info.stamp.isoformat()
('111122223333', 'eu-west-1', 'CloudTrail', '2024-03-05T01:05:00+00:00')
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

__all__ = ["LocalFile", "hash_many", "hash_uncompressed", "inflate", "parse_path", "walk"]

_LAYOUT = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<account>\d{12})/(?P<kind>CloudTrail(?:-Digest|-Insight)?)/"
    r"(?P<region>[a-z0-9-]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<name>[^/]+)$"
)
_LOG_STAMP = re.compile(r"_(\d{8}T\d{4})Z_[^_]+$")
_DIGEST_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>.+)_"
    r"(?P<home>[a-z]{2}(?:-[a-z]+)+-\d+)_(?P<stamp>\d{8}T\d{6}Z)\.json(?:\.gz)?$"
)
#: Past this size a file is hashed in streamed chunks rather than read whole.
_WHOLE_UP_TO = 64 * 1024 * 1024
_CHUNK = 1024 * 1024

try:  # isal inflates several times faster than zlib (a dependency; keep a stdlib path anyway)
    from isal import igzip as _igzip

    _decompress = _igzip.decompress
except ImportError:  # pragma: no cover
    _decompress = gzip.decompress


@dataclass(frozen=True)
class LocalFile:
    """A file in the delivery layout: where it is, and what its path says."""

    path: str
    tail: str  # the key from ``AWSLogs/`` on
    account: str
    region: str
    kind: str  # CloudTrail, CloudTrail-Digest, CloudTrail-Insight
    day: date
    stamp: datetime | None  # delivery time (log files) or digest end time (digests)
    trail: str | None = None  # digests: "<trail name>@<home region>"


def _stamp(name: str, kind: str) -> tuple[datetime | None, str | None]:
    base = name[:-3] if name.endswith(".gz") else name
    base = base[:-5] if base.endswith(".json") else base
    if kind == "CloudTrail-Digest":
        m = _DIGEST_NAME.match(name)
        if not m:
            return None, None
        return _when(m["stamp"]), f"{m['trail']}@{m['home']}"
    m = _LOG_STAMP.search(base)
    if not m:
        return None, None
    return _when(m[1]), None


def _when(s: str) -> datetime | None:
    """``YYYYMMDDTHHMM[SS]`` as a UTC datetime (strptime is slow at 30k files)."""
    try:
        return datetime(
            int(s[0:4]),
            int(s[4:6]),
            int(s[6:8]),
            int(s[9:11]),
            int(s[11:13]),
            int(s[13:15] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_path(path: str) -> LocalFile | None:
    """What a delivery path says (None when the path is not in CloudTrail's S3 layout)."""
    norm = path.replace(os.sep, "/")
    m = _LAYOUT.search(norm)
    if not m:
        return None
    try:
        day = date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
    stamp, trail = _stamp(m["name"], m["kind"])
    tail = norm[m.start() :]
    return LocalFile(path, tail, m["account"], m["region"], m["kind"], day, stamp, trail)


def walk(roots: Iterable[Path]) -> Iterator[str]:
    """Every non-hidden file under ``roots`` (files given directly are yielded as they are)."""
    for root in roots:
        if root.is_file():
            yield str(root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield os.path.join(folder, name)


def inflate(data: bytes) -> bytes:
    """The uncompressed content (gzip, possibly multi-member); plain bytes stay as they are."""
    if data[:2] == b"\x1f\x8b":
        return _decompress(data)
    return data


def hash_many(paths: list[str]) -> list[tuple[str | None, int, str | None]]:
    """:func:`hash_uncompressed` over a batch (one thread task per batch, not per file)."""
    return [hash_uncompressed(p) for p in paths]


def hash_uncompressed(path: str) -> tuple[str | None, int, str | None]:
    """``(hex SHA-256 of the uncompressed content, bytes read, error)`` of one file."""
    try:
        with open(path, "rb") as fh:  # fstat of the open file (read(n) would allocate n bytes)
            if os.fstat(fh.fileno()).st_size <= _WHOLE_UP_TO:
                data = fh.read()
                return hashlib.sha256(inflate(data)).hexdigest(), len(data), None
            data = fh.read(2)
        h = hashlib.sha256()
        size = os.path.getsize(path)
        opener = gzip.open if data[:2] == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        return h.hexdigest(), size, None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        return None, 0, f"cannot be read as gzip: {exc}"
    except Exception as exc:  # isal raises its own error types for corrupt streams
        return None, 0, f"cannot be read as gzip: {exc}"
