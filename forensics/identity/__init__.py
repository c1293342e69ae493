"""Who really did it: principals, credential lineage, and filtering by principal.

* :func:`principals` - one row per durable identity (user, role, root, service, ...).
* :func:`credentials` - one row per access key: how it was minted, by which key, where used.
* :func:`lineage` - the chain from the origin credential down to a key, and what it minted.
* :func:`for_principal` - the events of a principal (and of everything it minted).

Temporary credentials are linked to whoever minted them by access key id only, never by role or
session name: two people assuming the same role with the same session name stay apart.

>>> from forensics import identity
>>> sorted(identity.__all__)
['Lineage', 'credentials', 'for_principal', 'lineage', 'principals']
"""

from __future__ import annotations

from forensics.identity._credentials import credentials
from forensics.identity._lineage import Lineage, lineage
from forensics.identity._principals import principals
from forensics.identity._select import for_principal

__all__ = ["Lineage", "credentials", "for_principal", "lineage", "principals"]
