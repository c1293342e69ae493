"""Identifiers that look like AWS's, drawn from a seeded ``random.Random`` (never the OS)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

__all__ = [
    "access_key",
    "b64",
    "hex_id",
    "iso",
    "principal_id",
    "request_id",
    "s3_request_id",
    "token",
    "uuid4",
]

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HEXU = "0123456789ABCDEF"
_DAY_CACHE: dict[int, str] = {}


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string from ``rng`` (eventID, requestID, sharedEventID)."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


request_id = uuid4


def s3_request_id(rng: random.Random) -> str:
    """S3's 16-character upper-case hex request id."""
    return f"{rng.getrandbits(64):016X}"


def access_key(rng: random.Random, prefix: str) -> str:
    """A 20-character access key id: ``AKIA`` (long-term) or ``ASIA`` (temporary) + 16 base32."""
    return prefix + "".join(rng.choices(_B32, k=16))


def principal_id(rng: random.Random, prefix: str) -> str:
    """A unique id such as ``AIDA...`` (user) or ``AROA...`` (role): prefix + 17 base32."""
    return prefix + "".join(rng.choices(_B32, k=17))


def hex_id(rng: random.Random, n: int) -> str:
    """``n`` lower-case hex digits (instance ids, snapshot ids, KMS key ids...)."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


def token(rng: random.Random, n: int) -> str:
    """``n`` letters and digits (file-name suffixes, secret ARN suffixes)."""
    return "".join(rng.choices(_ALNUM, k=n))


def b64(rng: random.Random, nbytes: int) -> str:
    """Base64 of ``nbytes`` random bytes (S3's ``x-amz-id-2``, opaque tokens): fast."""
    return base64.b64encode(rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big")).decode()


def iso(ts: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SSZ`` (CloudTrail's eventTime format), fast."""
    day, sod = divmod(ts, 86400)
    prefix = _DAY_CACHE.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
        _DAY_CACHE[day] = prefix
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    return f"{prefix}{h:02d}:{m:02d}:{s:02d}Z"
