"""Who really did it: principals, credential lineage, and filtering by principal.

>>> from forensics import identity
>>> sorted(identity.__all__)
['credentials']
"""

from __future__ import annotations

from forensics.identity._credentials import credentials

__all__ = ["credentials"]
