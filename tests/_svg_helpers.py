"""Read what a Vega SVG shows: axis labels per axis, legend labels, text marks with positions.

Works on vl-convert's SVG and on the SVG a browser renders (same Vega scenegraph classes).
Labels hidden by Vega's overlap removal have ``opacity="0"`` and are not counted.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

_NS = "{http://www.w3.org/2000/svg}"


def _root(svg: str) -> ET.Element:
    # a browser's outerHTML may leave out the namespace and write HTML entities
    if "xmlns=" not in svg[:500]:
        svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    return ET.fromstring(svg.replace("&nbsp;", "&#160;"))


def _visible(el: ET.Element) -> bool:
    return el.get("opacity") not in ("0", "0.0")


def _groups(root: ET.Element, role: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{_NS}g") if role in (g.get("class") or "").split()]


def _texts(group: ET.Element) -> list[ET.Element]:
    return [t for t in group.iter(f"{_NS}text") if _visible(t)]


def axis_labels(svg: str) -> list[list[str]]:
    """The visible tick labels of each axis, one list per axis."""
    return [
        ["".join(t.itertext()) for t in _texts(g)] for g in _groups(_root(svg), "role-axis-label")
    ]


def legend_labels(svg: str) -> list[list[str]]:
    """The visible labels of each legend, one list per legend."""
    out = []
    for legend in _groups(_root(svg), "role-legend"):
        labels = [
            "".join(t.itertext()) for g in _groups(legend, "role-legend-label") for t in _texts(g)
        ]
        out.append(labels)
    return out


def text_marks(svg: str) -> list[tuple[str, str, float, float]]:
    """Text marks (not axes, legends, titles): ``(text, anchor, x, y)`` from their transform."""
    out = []
    for g in _groups(_root(svg), "mark-text"):
        if "role-mark" not in (g.get("class") or "").split():
            continue
        for t in _texts(g):
            match = re.search(r"translate\(([-\d.e]+),\s*([-\d.e]+)\)", t.get("transform") or "")
            x, y = (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)
            out.append(("".join(t.itertext()), t.get("text-anchor") or "start", x, y))
    return out


def duplicates(values: list[str]) -> list[str]:
    """Values that occur more than once."""
    seen: set[str] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})
