"""Jupyter server config for ``make lab`` (copied into ``state/jupyter/config/``).

Saving one of the committed notebooks (``notebooks/*.ipynb``) from JupyterLab strips what
running it added (outputs, execution counts, widget state, kernel versions, per-cell view
state), so that investigating never dirties the repository: ``git status`` stays clean and the
files stay exactly what ``notebooks/_build.py`` writes. Notebooks anywhere else are saved as
they are.
"""

from __future__ import annotations

from typing import Any

KEEP_CELL_METADATA = ("tags",)


def strip_committed_notebook(model: dict[str, Any], path: str, **_kwargs: Any) -> None:
    """Clean ``model`` in place when ``path`` is a notebook directly under ``notebooks/``."""
    parts = path.strip("/").split("/")
    if model.get("type") != "notebook" or len(parts) != 2 or parts[0] != "notebooks":
        return
    content = model.get("content") or {}
    meta = content.get("metadata", {})
    meta.pop("widgets", None)
    if isinstance(meta.get("language_info"), dict):
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    for cell in content.get("cells", []):
        kept = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        cell["metadata"] = kept
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None


c = get_config()  # noqa: F821 (provided by Jupyter when it reads this file)
c.FileContentsManager.pre_save_hook = strip_committed_notebook
c.ServerApp.open_browser = False
