"""Resources and graph against golden answers recorded before the fast extraction.

The files in ``tests/golden/resources`` hold :func:`event_resources` and :func:`build_graph` of
the sample trail and of the shared external samples, as the kit computed them before the
extraction and the graph build were rewritten for speed (issue 20). Any change of an answer
shows up here, in one batch and in tiny batches. Regenerate (only for an intended change of an
answer, and say so in the commit): ``.venv/bin/python -m tests.test_resources_golden --write``.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest

import forensics as fx
import forensics.resources._extract as extract
from forensics.graph import build_graph
from forensics.resources import event_resources

GOLDEN = Path(__file__).parent / "golden" / "resources"
EXTERNAL_PARTS = (
    "otrf-security-datasets",
    "panther-analysis/extracted/test_scenarios",
    "invictus-ir-aws_dataset",
    "stratus-red-team",
    "traildiscover",
    "plaso",
    "streamalert",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def resources_doc(frame: pl.DataFrame) -> dict[str, Any]:
    """The resources frame as JSON-able rows (column names, then rows in frame order)."""
    return {
        "columns": frame.columns,
        "dtypes": [str(d) for d in frame.dtypes],
        "rows": [[_plain(v) for v in row] for row in frame.iter_rows()],
    }


def graph_doc(g: nx.MultiDiGraph) -> dict[str, Any]:
    """Nodes and edges with their attributes, sorted."""
    return {
        "nodes": sorted([str(n), d] for n, d in g.nodes(data=True)),
        "edges": sorted([str(u), str(v), k, d] for u, v, k, d in g.edges(keys=True, data=True)),
    }


def sample_trail(tmp: Path) -> fx.Trail:
    fx.sample.write(tmp / "trail", events=3_000, days=1, file_minutes=60)
    return fx.Trail(fx.load(tmp / "trail", cache=False).events.lazy())


def external_trail(root: Path) -> fx.Trail:
    events = pl.concat([fx.load(str(root / p), cache=False).events for p in EXTERNAL_PARTS])
    return fx.Trail(events.lazy())


def _read(name: str) -> Any:
    with gzip.open(GOLDEN / f"{name}.json.gz", "rt") as fh:
        return json.load(fh)


def _write(name: str, doc: Any) -> None:
    with gzip.open(GOLDEN / f"{name}.json.gz", "wt") as fh:
        json.dump(doc, fh, sort_keys=True, separators=(",", ":"))


def _roundtrip(doc: Any) -> Any:
    return json.loads(json.dumps(doc, sort_keys=True))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> fx.Trail:
    return sample_trail(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def external_events(external: Path) -> fx.Trail:
    return external_trail(external)


@pytest.mark.parametrize("batch_rows", [None, 89])
def test_sample_resources_and_graph_are_the_golden_ones(
    sample: fx.Trail, batch_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if batch_rows:
        monkeypatch.setattr(extract, "BATCH_ROWS", batch_rows)
    frame = event_resources(sample)
    assert _roundtrip(resources_doc(frame)) == _read("sample_resources")
    assert _roundtrip(graph_doc(build_graph(sample))) == _read("sample_graph")
    given = build_graph(sample, resources=frame)
    assert _roundtrip(graph_doc(given)) == _read("sample_graph")


@pytest.mark.parametrize("batch_rows", [None, 211])
def test_external_resources_and_graph_are_the_golden_ones(
    external_events: fx.Trail, batch_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if batch_rows:
        monkeypatch.setattr(extract, "BATCH_ROWS", batch_rows)
    frame = event_resources(external_events)
    assert _roundtrip(resources_doc(frame)) == _read("external_resources")
    assert _roundtrip(graph_doc(build_graph(external_events))) == _read("external_graph")


if __name__ == "__main__" and "--write" in sys.argv:
    import tempfile

    from tests.conftest import external_root

    with tempfile.TemporaryDirectory() as tmp:
        t = sample_trail(Path(tmp))
        _write("sample_resources", resources_doc(event_resources(t)))
        _write("sample_graph", graph_doc(build_graph(t)))
    t = external_trail(external_root())
    _write("external_resources", resources_doc(event_resources(t)))
    _write("external_graph", graph_doc(build_graph(t)))
    print(sorted(p.name for p in GOLDEN.iterdir()))
