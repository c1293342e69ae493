"""The optional C reader (``forensics/ingest/_records_c.c``): its column buffers as a Polars frame.

The C reader turns whole ``{"Records": [...]}`` files into Arrow-layout column buffers, with no
Python object per value; :mod:`forensics.ingest._fast` uses it when it was built, and falls back to
msgspec for every file it declines (and for everything when it is missing). Both give the same
rows: tests compare them on every external sample and on generated and mutated records.

``FORENSICS_PURE_PYTHON=1`` in the environment turns the C reader off (for comparisons).

pyarrow (which brings numpy, ~0.2 s) is imported at the first conversion, not with the package:
``import forensics`` stays light; worker processes have it preloaded.
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl

try:
    from forensics.ingest import _records_c
except ImportError:  # not built (no C compiler at install time): the msgspec path does it all
    _records_c = None

__all__ = ["available", "new_builder", "to_frame"]


def available() -> bool:
    """Whether the C reader is built and not turned off.

    >>> isinstance(available(), bool)
    True
    """
    return _records_c is not None and not os.environ.get("FORENSICS_PURE_PYTHON")


def new_builder(
    text: tuple[str, ...],
    bools: tuple[str, ...],
    raw: tuple[str, ...],
    resources: str,
    resource_fields: tuple[str, str, str],
    time: str,
) -> Any | None:
    """A C builder for records with these fields (record field names), or None when the C
    reader is not available. ``time`` names the text field every record must have."""
    if not available():
        return None
    assert _records_c is not None
    return _records_c.Builder(text, bools, raw, resources, resource_fields, time)


def _strings(n: int, buffers: tuple[bytes, bytes, bytes | None, int]) -> Any:
    import pyarrow as pa

    offsets, data, validity, nulls = buffers
    return pa.Array.from_buffers(
        pa.large_string(),
        n,
        [pa.py_buffer(validity) if nulls else None, pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=nulls,
    )


def to_frame(
    finished: tuple[Any, ...],
    text: list[str],
    bools: list[str],
    raw: list[str],
    resources: str,
    resource_fields: tuple[str, str, str],
) -> pl.DataFrame:
    """The frame of one ``Builder.finish()``, with columns named as given (in the builder's
    field order): strings (null where absent or null), booleans, raw JSON text (``""`` where
    absent; a raw column whose every row is absent is left out), and ``resources`` as a list of
    structs (null where absent or null).
    """
    import pyarrow as pa

    n, texts, flags, raws, res = finished
    arrays: list[pa.Array] = []
    names: list[str] = []
    for name, buffers in zip(text, texts, strict=True):
        arrays.append(_strings(n, buffers))
        names.append(name)
    for name, (values, validity, nulls) in zip(bools, flags, strict=True):
        arrays.append(
            pa.Array.from_buffers(
                pa.bool_(),
                n,
                [pa.py_buffer(validity) if nulls else None, pa.py_buffer(values)],
                null_count=nulls,
            )
        )
        names.append(name)
    for name, buffers in zip(raw, raws, strict=True):
        if buffers[1]:  # some row has the field
            arrays.append(_strings(n, buffers))
            names.append(name)
    offsets, validity, nulls, items, *children = res
    struct = pa.StructArray.from_arrays(
        [_strings(items, c) for c in children], names=list(resource_fields)
    )
    arrays.append(
        pa.Array.from_buffers(
            pa.large_list(struct.type),
            n,
            [pa.py_buffer(validity) if nulls else None, pa.py_buffer(offsets)],
            null_count=nulls,
            children=[struct],
        )
    )
    names.append(resources)
    frame = pl.from_arrow(pa.Table.from_arrays(arrays, names=names), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame
