"""Shared fixtures: where the external conformance data lies, and small trail builders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def external_root() -> Path:
    """``../shared/data/external`` from the repo root, or ``$FORENSICS_EXTERNAL_DATA``."""
    env = os.environ.get("FORENSICS_EXTERNAL_DATA")
    return Path(env) if env else (REPO / ".." / "shared" / "data" / "external").resolve()


@pytest.fixture(scope="session")
def external() -> Path:
    """The external CloudTrail samples; skipped when absent, a failure in CI (CI=true)."""
    root = external_root()
    if not (root / "README.md").exists():
        message = (
            f"external CloudTrail samples not found at {root} "
            "(set FORENSICS_EXTERNAL_DATA to their folder)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
