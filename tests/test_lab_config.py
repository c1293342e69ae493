"""``make lab``'s Jupyter config: saving a committed notebook after running it changes nothing."""

from __future__ import annotations

import copy
import json
import runpy
from pathlib import Path

import nbformat
import pytest
from _notebook_helpers import NOTEBOOK_NAMES, NOTEBOOKS
from traitlets.config import Config

CONFIG = Path(__file__).resolve().parent.parent / "tools" / "jupyter"


@pytest.fixture(scope="module")
def server_config() -> dict:
    cfg = Config()
    names = runpy.run_path(str(CONFIG / "jupyter_server_config.py"), {"get_config": lambda: cfg})
    return {"config": cfg, "hook": names["strip_committed_notebook"]}


def _as_run(nb: dict) -> dict:
    """``nb`` as JupyterLab saves it after Run All (outputs, counts, versions, widget state)."""
    run = copy.deepcopy(nb)
    run["metadata"]["language_info"] = {"name": "python", "version": "3.11.4", "mimetype": "x"}
    run["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for i, cell in enumerate(run["cells"]):
        cell["metadata"]["scrolled"] = True
        cell["metadata"].setdefault("execution", {"iopub.status.idle": "2026-01-01"})
        if cell["cell_type"] == "code":
            cell["execution_count"] = i
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ok\n"}]
    return run


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_saving_a_run_notebook_keeps_the_committed_file(server_config, name):
    committed = (NOTEBOOKS / name).read_text()
    model = {"type": "notebook", "content": _as_run(json.loads(committed))}
    assert server_config["config"].FileContentsManager.pre_save_hook is server_config["hook"]
    server_config["hook"](model=model, path=f"notebooks/{name}", contents_manager=None)
    # what jupyter_server's FileContentsManager writes (nbformat.write: writes + a newline)
    saved = nbformat.writes(nbformat.from_dict(model["content"]), version=nbformat.NO_CONVERT)
    assert saved + "\n" == committed


def test_other_notebooks_keep_their_outputs(server_config):
    nb = _as_run(json.loads((NOTEBOOKS / NOTEBOOK_NAMES[0]).read_text()))
    for path in ("mywork/copy.ipynb", "notebooks/sub/copy.ipynb", "copy.ipynb"):
        model = {"type": "notebook", "content": copy.deepcopy(nb)}
        server_config["hook"](model=model, path=path, contents_manager=None)
        assert model["content"] == nb


def test_lab_opens_on_the_repository_without_the_news_popup():
    makefile = (CONFIG.parent.parent / "Makefile").read_text()
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "--ServerApp.root_dir=$(CURDIR)" in lab and "--notebook-dir=notebooks" not in lab
    assert "jupyter_server_config.py" in lab and "default_setting_overrides.json" in lab
    overrides = json.loads((CONFIG / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
