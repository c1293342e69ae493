"""Can this trail be trusted, and what is missing from it.

- :func:`verify`: CloudTrail's digest files, checked offline the way ``aws cloudtrail
  validate-logs`` checks them (signatures, the chain, the hash of every log file), with every
  log file no digest covers;
- :func:`coverage`: per account, region and hour, whether logs were delivered; the trail
  configuration changes seen in the events and the logging windows they opened or closed; the
  event categories and data-event resources present;
- :func:`could_have_logged`: for an empty answer, whether the trail could have recorded it.

>>> import forensics.integrity as fi
>>> sorted(fi.__all__)[:3]
['Absence', 'Coverage', 'Verification']
"""

from __future__ import annotations

from forensics.integrity._result import Verification
from forensics.integrity._verify import signing_string, verify, verify_trail

__all__ = [
    "Absence",
    "Coverage",
    "Verification",
    "could_have_logged",
    "coverage",
    "signing_string",
    "verify",
    "verify_trail",
]


def __getattr__(name: str):  # coverage pulls in more; import it when first asked for
    if name in ("Coverage", "coverage"):
        from forensics.integrity import _coverage

        return getattr(_coverage, name)
    if name in ("Absence", "could_have_logged"):
        from forensics.integrity import _absence

        return getattr(_absence, name)
    raise AttributeError(f"module 'forensics.integrity' has no attribute {name!r}")
