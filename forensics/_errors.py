"""Errors a user can cause, each saying what was wrong, where, and what to do.

ForensicsError
├── LoadError            a path, file or record could not be loaded (strict=True, or nothing found)
│   └── CorruptFileError a file exists but cannot be read as CloudTrail
├── PrincipalError       an unknown or ambiguous principal / key / name
└── SourceError          a remote source (S3, LookupEvents, CloudWatch Logs) failed
"""

from __future__ import annotations

__all__ = ["CorruptFileError", "ForensicsError", "LoadError", "PrincipalError", "SourceError"]


class ForensicsError(Exception):
    """Base class of every error the kit raises on purpose."""


class LoadError(ForensicsError):
    """A path, file or record could not be loaded."""


class CorruptFileError(LoadError):
    """A file exists but cannot be read as CloudTrail (raised only with ``strict=True``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class PrincipalError(ForensicsError, LookupError):
    """A principal, access key or name that matches nothing, or more than one thing."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class SourceError(ForensicsError):
    """A remote source failed (after retries)."""
