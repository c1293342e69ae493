"""trail forensics: CloudTrail investigations in JupyterLab.

The public API is this one list; implementation lives in private modules and subpackages.

>>> import forensics as fx
>>> "load" in fx.__all__
True
"""

from __future__ import annotations

from forensics._errors import (
    CorruptFileError,
    ForensicsError,
    LoadError,
    PrincipalError,
    SourceError,
)
from forensics._loader import load
from forensics._report import LoadReport
from forensics._schema import COLUMNS, EVENTS_SCHEMA
from forensics._trail import Trail

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "EVENTS_SCHEMA",
    "CorruptFileError",
    "ForensicsError",
    "LoadError",
    "LoadReport",
    "PrincipalError",
    "SourceError",
    "Trail",
    "__version__",
    "load",
]
