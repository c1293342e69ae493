"""Ingest: files and remote pages -> the events table -> a ``Trail``, with a report of everything.

The loading machinery, in the order data flows through it:

| module | holds |
|---|---|
| ``_loader`` | :func:`load`, the orchestrator: discovery, both cores, de-duplication, sorting |
| ``_read`` | reading one file into rows (:func:`read_file`), called by the loader and the workers |
| ``_parallel`` | the worker processes |
| ``_fast``, ``_native``, ``_records_c.c`` | the fast path for ``{"Records": [...]}`` files and its C reader |
| ``_normalize``, ``_identity_keys`` | record -> row, the reference normalizer; who an event is attributed to |
| ``_cache`` | the Parquet cache |
| ``_provenance`` | original records back from their files |
| ``_report`` | the load report |
| ``_remote`` | event history and CloudWatch Logs pages (from ``forensics.sources``) into a ``Trail`` |

Sources (``forensics.sources``) find and fetch files and never import this package; analyses
read the ``Trail`` it returns and never import it either (checked by import-linter).

>>> from forensics.ingest import load
>>> load is __import__("forensics").load
True
"""

from forensics.ingest._identity_keys import link_identities
from forensics.ingest._loader import load
from forensics.ingest._report import LoadReport

__all__ = ["LoadReport", "link_identities", "load"]
