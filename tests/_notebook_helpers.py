"""Run the investigation notebooks with other parameters (papermill-style, through nbclient)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK_NAMES = (
    "00_start_here.ipynb",
    "01_principal_timeline.ipynb",
    "02_blast_radius.ipynb",
    "03_ticket_export.ipynb",
    "04_triage.ipynb",
)
# The external sources that make up the "other trail" the notebooks are re-run on.
EXTERNAL_SOURCES = (
    "invictus-ir-aws_dataset",
    "otrf-security-datasets",
    "panther-analysis/extracted/test_scenarios",
)


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The cell tagged ``parameters`` (there must be exactly one, before any other code)."""
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise AssertionError(f"expected one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def parameter_names(nb: nbformat.NotebookNode) -> list[str]:
    """Names assigned in the parameters cell, in order."""
    return re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)\s*=", parameters_cell(nb).source)


def with_parameters(nb: nbformat.NotebookNode, **values: Any) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose parameters cell assigns ``values`` (papermill's convention).

    Only names the cell already defines can be set: a typo fails instead of being ignored.
    """
    nb = nbformat.from_dict(nb)
    cell = parameters_cell(nb)
    unknown = set(values) - set(parameter_names(nb))
    if unknown:
        raise KeyError(f"not parameters of this notebook: {sorted(unknown)}")
    lines = []
    for line in cell.source.splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)\s*=", line)
        if match and match.group(1) in values:
            line = f"{match.group(1)} = {values[match.group(1)]!r}"
        lines.append(line)
    cell.source = "\n".join(lines) + "\n# Injected parameters"
    return nb


def run_notebook(
    path: Path, cwd: Path, *, timeout: int = 600, checks: bool = False, **values: Any
) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` in ``cwd`` with ``values`` injected; return it run.

    ``checks=True`` appends the notebook's checks (``tests/_notebook_checks.py``) as a last
    cell, run in the same kernel: it prints ``ok`` when what the notebook produced holds up.
    """
    from _notebook_checks import with_checks
    from nbclient import NotebookClient

    nb = with_parameters(nbformat.read(path, as_version=4), **values)
    if checks:
        nb = with_checks(nb, path.name)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def build_external_trail(external: Path, out: Path) -> Path:
    """Copy a few external sources (invictus, OTRF, the Panther root scenario) into ``out``."""
    for source in EXTERNAL_SOURCES:
        shutil.copytree(external / source, out / source.replace("/", "_"))
    return out


def text_outputs(nb: nbformat.NotebookNode) -> str:
    """All text the notebook printed or displayed as text/plain, joined."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def errors(nb: nbformat.NotebookNode) -> list[str]:
    """Error outputs of the run (empty when every cell ran)."""
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
