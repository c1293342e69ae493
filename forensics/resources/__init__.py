"""Resources: which AWS resources each event touched, as canonical ARNs.

The per-API knowledge is a table (:data:`RULES`, in ``_mapping.py``); extend it there.

>>> from forensics.resources import RULES, event_resources
>>> len(RULES) > 100
True
"""

from forensics.resources._extract import (
    RESOURCE_COLUMNS,
    access_kind,
    empty_resources,
    event_resources,
)
from forensics.resources._mapping import RULES, Rule

__all__ = [
    "RESOURCE_COLUMNS",
    "RULES",
    "Rule",
    "access_kind",
    "empty_resources",
    "event_resources",
]
