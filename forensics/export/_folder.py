"""Where tickets are written by default: one folder per seed under the repository's ``out/``."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ticket_folder"]


def ticket_folder(name: str, *, cwd: str | Path | None = None) -> Path:
    """The default ticket folder for ``name`` (a seed, a principal, a ticket id).

    ``out/<name>`` beside the notebooks: from the ``notebooks`` folder (where JupyterLab runs
    them) that is ``../out/<name>``, elsewhere ``out/<name>``. Notebook 03 and the blast-radius
    widget's "export to ticket" button both use it, so they write to the same place. Characters
    that are not safe in a file name become ``_``.

    >>> ticket_folder("arn:aws:iam::1:user/alice", cwd="/x/notebooks").as_posix()
    '../out/arn_aws_iam_1_user_alice'
    >>> ticket_folder("AKIAEXAMPLE", cwd="/x").as_posix()
    'out/AKIAEXAMPLE'
    """
    here = Path(cwd) if cwd is not None else Path.cwd()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._") or "ticket"
    base = Path("..") / "out" if here.name == "notebooks" else Path("out")
    return base / safe[:120]
