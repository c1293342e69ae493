"""Who really did it: principals, credential lineage, and filtering by principal.

* :func:`principals` - one row per durable identity (user, role, root, service, ...).
* :func:`credentials` - one row per access key: how it was minted, by which key, where used.
* :func:`lineage` - the chain from the origin credential down to a key, and what it minted.
* :func:`for_principal` - the events of a principal or actor (and of everything it minted).
* :func:`actors`, :func:`sessions`, :func:`with_actors` - the person or workload behind each
  event (propagated down the lineage), and one row per session.

Temporary credentials are linked to whoever minted them by access key id only, never by role or
session name: two people assuming the same role with the same session name stay apart.

>>> from forensics import identity
>>> sorted(identity.__all__)
['Lineage', 'actors', 'credentials', 'for_principal', 'lineage', 'principals', 'sessions', 'with_actors']
"""

from __future__ import annotations

from forensics.identity._actors import actors, sessions, with_actors
from forensics.identity._credentials import credentials
from forensics.identity._lineage import Lineage, lineage
from forensics.identity._principals import principals
from forensics.identity._select import for_principal

__all__ = [
    "Lineage",
    "actors",
    "credentials",
    "for_principal",
    "lineage",
    "principals",
    "sessions",
    "with_actors",
]
