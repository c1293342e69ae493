"""``chart()``: an altair chart (or a Vega-Lite spec) to PNG, SVG or PDF, offline.

vl-convert renders in-process (no browser, no network). SVG output is byte-identical between
runs and machines; PNG depends on the fonts installed, so compare SVGs, never PNGs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import orjson

from forensics.safety._text import chart_text

__all__ = [
    "CHART_FORMATS",
    "canonical_data",
    "chart",
    "chart_bytes",
    "force_utc",
    "stable_svg_ids",
    "vegalite_spec",
]

CHART_FORMATS = ("png", "svg", "pdf")


def vegalite_spec(chart: Any) -> dict[str, Any]:
    """The Vega-Lite spec of an altair chart (or the dict itself, if given one)."""
    if isinstance(chart, dict):
        return chart
    to_dict = getattr(chart, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"expected an altair chart or a Vega-Lite dict, got {type(chart).__name__}")
    return to_dict()


def _utc_field(fielddef: dict[str, Any]) -> dict[str, Any]:
    out = dict(fielddef)
    scale = out.get("scale")
    if scale is None or (isinstance(scale, dict) and scale.get("type") in (None, "time")):
        out["scale"] = {**(scale or {}), "type": "utc"}
    unit = out.get("timeUnit")
    if isinstance(unit, str) and not unit.startswith("utc"):
        out["timeUnit"] = "utc" + unit
    elif isinstance(unit, dict) and "utc" not in unit:
        out["timeUnit"] = {**unit, "utc": True}
    return out


def force_utc(spec: Any) -> Any:
    """The spec with every time scale and time unit in UTC (a copy; the input is untouched).

    Vega-Lite draws times in the zone of the machine that renders them unless told otherwise;
    exported charts must read the same (UTC) everywhere.

    >>> force_utc({"encoding": {"x": {"field": "t", "type": "temporal"}}})["encoding"]["x"]
    {'field': 't', 'type': 'temporal', 'scale': {'type': 'utc'}}
    """
    if isinstance(spec, list):
        return [force_utc(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    out = {
        key: (value if key in ("datasets", "data") else force_utc(value))
        for key, value in spec.items()
    }
    if out.get("type") == "temporal" and ("field" in out or "timeUnit" in out):
        out = _utc_field(out)
    if out.get("formatType") == "time":
        out["formatType"] = "utc"
    return out


_SVG_COUNTER_ID = re.compile(r"\b(clip|gradient_?|pattern_?|mask_?)(\d+)\b")


def stable_svg_ids(svg: str) -> str:
    """Renumber the ids Vega draws from a process-wide counter (``clip3``, ``gradient_2``).

    The renderer keeps counting across charts, so the same chart rendered twice in one process
    would differ only in these ids; numbering them by first appearance makes the bytes depend
    on the chart alone.

    >>> stable_svg_ids('<clipPath id="clip7"/><g clip-path="url(#clip7)"/>')
    '<clipPath id="clip1"/><g clip-path="url(#clip1)"/>'
    """
    numbers: dict[tuple[str, str], int] = {}

    def renumber(match: re.Match[str]) -> str:
        key = (match.group(1), match.group(2))
        if key not in numbers:
            numbers[key] = sum(1 for k in numbers if k[0] == key[0]) + 1
        return f"{match.group(1)}{numbers[key]}"

    # only inside id="..." and url(#...) references
    return re.sub(
        r'(id="|url\(#|href="#)([^")]+)',
        lambda m: m.group(1) + _SVG_COUNTER_ID.sub(renumber, m.group(2)),
        svg,
    )


def _row_key(row: Any) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def canonical_data(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the rows of every inline dataset in one canonical order (a copy).

    A chart built from a ``group_by`` may list the same rows in a different order on each run;
    the rows only change the drawing order of overlapping marks, but they change the bytes.
    Named datasets are renamed after their sorted content, and references follow.

    >>> canonical_data({"data": {"values": [{"a": 2}, {"a": 1}]}})["data"]["values"]
    [{'a': 1}, {'a': 2}]
    """
    renamed: dict[str, str] = {}
    datasets = {}
    for name, rows in (spec.get("datasets") or {}).items():
        if isinstance(rows, list):
            rows = sorted(rows, key=_row_key)
            new = "data-" + hashlib.sha256(b"\n".join(map(_row_key, rows))).hexdigest()[:32]
            renamed[name] = new
            datasets[new] = rows
        else:
            datasets[name] = rows

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "datasets":
                continue
            if key == "data" and isinstance(value, dict):
                value = dict(value)
                if isinstance(value.get("values"), list):
                    value["values"] = sorted(value["values"], key=_row_key)
                if value.get("name") in renamed:
                    value["name"] = renamed[value["name"]]
                out[key] = value
            else:
                out[key] = walk(value)
        return out

    out = walk(spec)
    if "datasets" in spec:
        out["datasets"] = datasets
    return out


def drawable(spec: Any) -> Any:
    """The spec with every string (data, titles, field names alike) passed through
    :func:`forensics.safety._text.chart_text`: vl-convert aborts the whole process (a dead kernel) on
    a character XML forbids, and event text may hold any. The one place charts are made safe.

    >>> drawable({"data": {"values": [{"event_name": "a\\x07b"}]}})["data"]["values"]
    [{'event_name': 'a\\\\x07b'}]
    """
    if isinstance(spec, dict):
        return {chart_text(k): drawable(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [drawable(v) for v in spec]
    return chart_text(spec)


def chart_bytes(chart: Any, fmt: str, *, scale: float = 2.0) -> bytes:
    """Render ``chart`` as ``"png"``, ``"svg"`` or ``"pdf"`` bytes (``scale`` for PNG).

    Rendering may not fetch anything: a spec that points at a URL fails instead of calling out.
    Time scales are drawn in UTC whatever the machine's zone (:func:`force_utc`) and inline data
    rows are put in a canonical order (:func:`canonical_data`), so the SVG depends on the chart's
    content only.
    """
    import vl_convert as vlc

    spec = drawable(canonical_data(force_utc(vegalite_spec(chart))))
    fmt = fmt.lower().lstrip(".")
    if fmt == "svg":
        return stable_svg_ids(vlc.vegalite_to_svg(spec, allowed_base_urls=[])).encode("utf-8")
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
        raise ValueError(f"cannot tell the chart format of {str(path)!r}; use .png, .svg or .pdf")
    data = chart_bytes(chart, fmt, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
