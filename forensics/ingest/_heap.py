"""Freed memory kept in the process while a chunk of files is read (glibc's allocator).

Reading a chunk allocates and frees the same large buffers again and again: the C reader's
column buffers, the bytes it hands over, each file's decompressed text. By default glibc
serves each large block with a fresh ``mmap`` and returns it on ``free``, so the kernel zeroes
and maps every page again: measured, a third of the C reader's time went to page faults.
While a chunk is read, :func:`kept_heap` raises glibc's ``mmap`` and trim thresholds so that
freed blocks are reused; afterwards it restores glibc's defaults and trims the heap, so an
idle worker (or a notebook kernel) does not hold on to the memory.

Elsewhere (macOS, Windows, musl) it does nothing.

>>> with kept_heap():
...     pass
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["kept_heap"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and this much free memory stays in it.
_KEEP = 1 << 30
#: glibc's documented defaults (mallopt(3)), restored afterwards.
_DEFAULT_TRIM = 128 * 1024
_DEFAULT_MMAP = 128 * 1024

_LOCK = threading.Lock()
_USERS = [0]  # readers inside kept_heap() in this process


def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # not glibc (e.g. musl)
    return libc


_LIBC = _glibc()


@contextlib.contextmanager
def kept_heap() -> Iterator[None]:
    """Within: freed memory is kept for reuse (glibc); after: the defaults, heap trimmed."""
    if _LIBC is None:
        yield
        return
    with _LOCK:
        _USERS[0] += 1
        if _USERS[0] == 1:
            _LIBC.mallopt(_M_MMAP_THRESHOLD, _KEEP)
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _KEEP)
    try:
        yield
    finally:
        with _LOCK:
            _USERS[0] -= 1
            if _USERS[0] == 0:
                _LIBC.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP)
                _LIBC.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM)
                _LIBC.malloc_trim(0)
