"""Shared fixtures: where the external conformance data lies, and small trail builders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from forensics.sources._formats import FileProblem, extract_records, read_bytes

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


#: A few records per source, so every source's shapes are mutated.
PER_SOURCE = 40


@pytest.fixture(scope="session")
def real_records(external) -> list[dict[str, Any]]:
    """Up to PER_SOURCE records from each external source (for mutation and differential tests)."""
    out: list[dict[str, Any]] = []
    for source in sorted(p for p in external.iterdir() if p.is_dir()):
        found: list[dict[str, Any]] = []
        for path in sorted(source.rglob("*")):
            if not path.is_file() or path.suffix in (".md", ".yml", ".yaml", ".py", ".upstream"):
                continue
            try:
                found.extend(extract_records(read_bytes(str(path)), str(path)).records)
            except FileProblem:
                continue
            if len(found) >= PER_SOURCE:
                break
        out.extend(found[:PER_SOURCE])
    assert len(out) > 200
    return out
