"""Progress bars (``tqdm.auto``) for the steps that take seconds on a large trail.

Shown only where someone watches: a terminal (stderr is a TTY) or a Jupyter kernel; off in
scripts, pipelines and tests. ``FORENSICS_PROGRESS=1`` / ``0`` forces them on / off, and so
does :func:`set_progress` from code (``None`` goes back to the automatic choice).

>>> from forensics._progress import progress
>>> list(progress(range(3), "counting", enabled=False))
[0, 1, 2]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["progress", "progress_bar", "progress_enabled", "set_progress"]

T = TypeVar("T")

_SETTING: list[bool | None] = [None]


def set_progress(enabled: bool | None) -> None:
    """Turn the kit's progress bars on (``True``), off (``False``) or automatic (``None``).

    >>> set_progress(False); progress_enabled()
    False
    >>> set_progress(None)
    """
    _SETTING[0] = enabled


def progress_enabled() -> bool:
    """Whether progress bars are shown now (see the module docstring)."""
    if _SETTING[0] is not None:
        return _SETTING[0]
    forced = os.environ.get("FORENSICS_PROGRESS", "").strip().lower()
    if forced:
        return forced not in ("0", "false", "no", "off")
    return _interactive()


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(
    items: Iterable[T],
    desc: str,
    *,
    total: int | None = None,
    unit: str = "batch",
    enabled: bool | None = None,
) -> Iterator[T]:
    """``items``, with a progress bar named ``desc`` while they are consumed (when enabled).

    >>> sum(progress([1, 2], "adding", enabled=False))
    3
    """
    if not (progress_enabled() if enabled is None else enabled):
        return iter(items)
    from tqdm.auto import tqdm

    bar: Any = tqdm(items, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)
    return iter(bar)


def progress_bar(total: int, desc: str, *, unit: str = "batch", enabled: bool | None = None) -> Any:
    """A bar advanced by hand (``bar.update(n)``, then ``bar.close()``), for work that is not
    one loop over items; when progress is off, a bar that does nothing (tqdm not imported).
    ``unit="B"`` counts bytes (KiB, MiB, ...).

    >>> bar = progress_bar(10, "reading", enabled=False); bar.update(5); bar.close()
    """
    if not (progress_enabled() if enabled is None else enabled):
        return _NoBar()
    from tqdm.auto import tqdm

    scale = unit == "B"
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        leave=False,
        dynamic_ncols=True,
    )


class _NoBar:
    """What a bar that is off does: nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
