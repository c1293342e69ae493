"""``chart()``: an altair chart (or a Vega-Lite spec) to PNG, SVG or PDF, offline.

vl-convert renders in-process (no browser, no network). SVG output is byte-identical between
runs and machines; PNG depends on the fonts installed, so compare SVGs, never PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CHART_FORMATS", "chart", "chart_bytes", "vegalite_spec"]

CHART_FORMATS = ("png", "svg", "pdf")


def vegalite_spec(chart: Any) -> dict[str, Any]:
    """The Vega-Lite spec of an altair chart (or the dict itself, if given one)."""
    if isinstance(chart, dict):
        return chart
    to_dict = getattr(chart, "to_dict", None)
    if to_dict is None:
        raise TypeError(
            f"expected an altair chart or a Vega-Lite dict, got {type(chart).__name__}"
        )
    return to_dict()


def chart_bytes(chart: Any, fmt: str, *, scale: float = 2.0) -> bytes:
    """Render ``chart`` as ``"png"``, ``"svg"`` or ``"pdf"`` bytes (``scale`` for PNG).

    Rendering may not fetch anything: a spec that points at a URL fails instead of calling out.
    """
    import vl_convert as vlc

    spec = vegalite_spec(chart)
    fmt = fmt.lower().lstrip(".")
    if fmt == "svg":
        return vlc.vegalite_to_svg(spec, allowed_base_urls=[]).encode("utf-8")
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=scale, allowed_base_urls=[])
    if fmt == "pdf":
        return vlc.vegalite_to_pdf(spec, allowed_base_urls=[])
    raise ValueError(f"unknown chart format {fmt!r}; use one of {', '.join(CHART_FORMATS)}")


def chart(chart: Any, path: str | Path, *, scale: float = 2.0) -> Path:
    """Save an altair chart as PNG, SVG or PDF (by the extension of ``path``), offline.

    Parameters
    ----------
    chart
        An ``altair`` chart (anything with ``to_dict()``) or a Vega-Lite spec as a dict.
    path
        Where to write; ``.png``, ``.svg`` or ``.pdf``.
    scale
        Pixel scale for PNG (2 = sharp on high-density screens and in tickets); PDF is vector.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import altair as alt, polars as pl
    >>> import tempfile, pathlib
    >>> c = alt.Chart(pl.DataFrame({"x": [1, 2]})).mark_bar().encode(x="x:Q")
    >>> out = chart(c, pathlib.Path(tempfile.mkdtemp()) / "c.svg")
    >>> out.read_text().startswith("<svg")
    True
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in CHART_FORMATS:
        raise ValueError(
            f"cannot tell the chart format of {str(path)!r}; use .png, .svg or .pdf"
        )
    data = chart_bytes(chart, fmt, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
