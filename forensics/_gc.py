"""Pausing Python's cyclic garbage collector around bulk work.

Building millions of short-lived containers (decoded records, rows for a graph) triggers a
collection every few hundred allocations, and each older-generation collection walks every
live object again; the bulk work itself creates no reference cycles.

>>> from forensics._gc import gc_paused
>>> with gc_paused():
...     rows = [{"i": i} for i in range(3)]
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the duration, back to its former state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
