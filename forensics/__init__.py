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
from forensics._schema import COLUMNS, EVENTS_SCHEMA
from forensics._trail import Trail
from forensics.ingest import LoadReport, load

__version__ = "0.1.0"

# Parts that import heavier libraries (altair, ipywidgets, boto3) load on first use.
_LAZY = {
    "blast_radius": ("forensics.blast", "blast_radius"),
    "BlastRadius": ("forensics.blast", "BlastRadius"),
    "lookup_events": ("forensics.ingest._remote", "lookup_events"),
    "load_cloudwatch": ("forensics.ingest._remote", "load_cloudwatch"),
    "charts": ("forensics.charts", None),
    "ui": ("forensics.ui", None),
    "export": ("forensics.export", None),
    "sample": ("forensics.sample", None),
    "identity": ("forensics.identity", None),
    "resources": ("forensics.resources", None),
    "graph": ("forensics.graph", None),
    "integrity": ("forensics.integrity", None),
    "verify": ("forensics.integrity", "verify"),
    "Verification": ("forensics.integrity", "Verification"),
    # a callable package: fx.detect(trail) runs it, fx.detect.load_rules(...) is its helper
    "detect": ("forensics.detect", None),
    "Findings": ("forensics.detect", "Findings"),
    "athena": ("forensics.ingest.athena", None),
    "baseline": ("forensics.baseline", None),
    "enrichment": ("forensics.enrichment", None),
    "alarms": ("forensics.alarms", None),
    "insights": ("forensics.baseline", "insights"),
    "first_seen": ("forensics.baseline", "first_seen"),
    "enrich": ("forensics.enrichment", "enrich"),
    "findings_from": ("forensics.sources._findings", "findings_from"),
    "alarm": ("forensics.alarms", "alarm"),
}


def __getattr__(name: str):  # module-level lazy attribute (PEP 562)
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'forensics' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


__all__ = [
    "COLUMNS",
    "EVENTS_SCHEMA",
    "BlastRadius",
    "CorruptFileError",
    "Findings",
    "ForensicsError",
    "LoadError",
    "LoadReport",
    "PrincipalError",
    "SourceError",
    "Trail",
    "Verification",
    "__version__",
    "alarm",
    "alarms",
    "athena",
    "baseline",
    "blast_radius",
    "charts",
    "detect",
    "enrich",
    "enrichment",
    "export",
    "findings_from",
    "first_seen",
    "graph",
    "identity",
    "insights",
    "integrity",
    "load",
    "load_cloudwatch",
    "lookup_events",
    "resources",
    "sample",
    "ui",
    "verify",
]
