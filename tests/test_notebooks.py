"""The investigation notebooks: generated clean, parameterised, and run on another trail.

``make test`` also runs them as they are (on the sample) under ``pytest --nbval-lax``; here each
one runs again through nbclient with its ``parameters`` cell replaced, on a trail assembled from
the external CloudTrail samples, so that nothing in them depends on the sample incident.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _notebook_helpers import (
    NOTEBOOK_NAMES,
    NOTEBOOKS,
    build_external_trail,
    errors,
    parameter_names,
    parameters_cell,
    run_notebook,
    text_outputs,
    with_parameters,
)

# Ground truth of the external sources (see ../shared/data/external/README.md).
INVICTUS_ATTACKER = "arn:aws:iam::123837392027:user/bert-jan"
OTRF_STOLEN_KEY = "ASIA5FLZVX4OPVKKVBMX"
OTRF_BUCKET = "mordors3stack-s3bucket-llp2yingx64a"

EXPECTED_PARAMETERS = {
    "00_start_here.ipynb": ["DATA", "SINCE", "UNTIL"],
    "01_principal_timeline.ipynb": ["DATA", "PRINCIPAL", "SINCE", "UNTIL"],
    "02_blast_radius.ipynb": ["DATA", "SEED", "SINCE", "UNTIL"],
    "03_ticket_export.ipynb": ["DATA", "SEED", "SINCE", "UNTIL", "OUT", "TITLE"],
    "04_triage.ipynb": ["DATA", "SINCE", "UNTIL", "MIN_LEVEL", "RULES", "PICK", "OUT"],
}


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_opens_with_its_parameters_and_is_committed_clean(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0] is parameters_cell(nb), "the parameters cell must be the first code cell"
    assert parameter_names(nb) == EXPECTED_PARAMETERS[name]
    assert 'DATA = "../data/sample"' in code[0].source
    assert all(not c.outputs and c.execution_count is None for c in code), "commit without outputs"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 5  # a playbook, not bare code


def test_notebooks_are_exactly_what_the_build_script_writes(tmp_path):
    subprocess.run(
        [sys.executable, str(NOTEBOOKS / "_build.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in NOTEBOOK_NAMES:
        assert (tmp_path / name).read_text() == (NOTEBOOKS / name).read_text(), (
            f"{name} differs from notebooks/_build.py: run `python notebooks/_build.py`"
        )


def test_parameters_are_injected_papermill_style():
    nb = nbformat.read(NOTEBOOKS / "02_blast_radius.ipynb", as_version=4)
    changed = with_parameters(nb, SEED="AKIA<x>", SINCE=None)
    source = parameters_cell(changed).source
    assert "SEED = 'AKIA<x>'" in source and "SINCE = None" in source
    assert 'DATA = "../data/sample"' in source
    with pytest.raises(KeyError, match="PRINCIPL"):
        with_parameters(nb, PRINCIPL="typo")


@pytest.fixture(scope="session")
def external_trail(external, tmp_path_factory) -> Path:
    return build_external_trail(external, tmp_path_factory.mktemp("external_trail"))


OTHER_TRAIL = {
    "00_start_here.ipynb": ({}, ["ok"]),
    "01_principal_timeline.ipynb": ({"PRINCIPAL": INVICTUS_ATTACKER}, [INVICTUS_ATTACKER, "ok"]),
    "02_blast_radius.ipynb": (
        {"SEED": OTRF_STOLEN_KEY, "SINCE": None},
        [OTRF_STOLEN_KEY, OTRF_BUCKET, "ok"],
    ),
    "02_blast_radius.ipynb#invictus": (
        {"SEED": "AKIATFQR7NSC8Q4X20BJ", "SINCE": None},
        ["bert-jan also acted via", "console sessions", "ok"],
    ),
    "03_ticket_export.ipynb": ({"SEED": OTRF_STOLEN_KEY, "SINCE": None}, ["summary.md", "ok"]),
    "04_triage.ipynb": ({}, ["at high or above", "principal arn:aws:", "## Findings", "ok"]),
}


@pytest.mark.slow
def test_notebooks_hold_on_the_sample_with_their_defaults(tmp_path):
    """The checks (once the notebooks' last cells) on the committed notebooks as they are.

    One test, the notebooks one after the other: two kernels filling the sample's cache at once
    race (see the Makefile), and parametrized tests may run on two xdist workers.
    """
    for name in NOTEBOOK_NAMES:
        values = {"OUT": str(tmp_path / "ticket")} if "OUT" in EXPECTED_PARAMETERS[name] else {}
        nb = run_notebook(NOTEBOOKS / name, NOTEBOOKS, checks=True, **values)
        assert errors(nb) == [], name
        assert text_outputs(nb).rstrip().endswith("ok"), name


def test_notebooks_hold_no_test_code():
    for name in NOTEBOOK_NAMES:
        text = (NOTEBOOKS / name).read_text()
        assert "assert " not in text and "sanity check" not in text.lower(), name


@pytest.mark.slow
@pytest.mark.parametrize("name", [*NOTEBOOK_NAMES, "02_blast_radius.ipynb#invictus"])
def test_notebook_runs_unchanged_on_another_trail(name, external_trail, tmp_path):
    values, expected = OTHER_TRAIL[name]
    name = name.split("#")[0]
    if "OUT" in EXPECTED_PARAMETERS[name]:
        values = {**values, "OUT": str(tmp_path / "ticket")}
    nb = run_notebook(NOTEBOOKS / name, NOTEBOOKS, checks=True, DATA=str(external_trail), **values)
    assert errors(nb) == []
    text = text_outputs(nb)
    for needle in expected:
        assert needle in text, f"{name}: {needle!r} not in its outputs"
    assert text.rstrip().endswith("ok") or "\nok\n" in text + "\n"
    if name.startswith("03"):
        assert OTRF_STOLEN_KEY in (tmp_path / "ticket" / "summary.md").read_text()
