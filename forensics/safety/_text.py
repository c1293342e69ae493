"""Attacker-controlled text made inert for terminals and for charts, in one place each.

Event fields (names, user agents, principals, error messages) and file names are chosen by
whoever wrote the log. Printed raw, a newline forges a line of the report, an ANSI escape
rewrites the screen and U+202E makes text read backwards; drawn raw by vl-convert, a character
XML forbids (``\\x00``, ``\\x07``, ``\\uFFFE``) aborts the whole process.

>>> terminal_text("evil\\x1b[2J\\nforged line\\u202e")
'evil\\\\x1b[2J\\\\nforged line\\\\u202e'
>>> chart_text("a\\x00b\\ufffe")
'a\\\\x00b\\\\ufffe'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["chart_text", "terminal_line", "terminal_text"]

# C0 (with tab, newline, CR), DEL, C1, the bidi embeddings/overrides/isolates and marks, the
# line/paragraph separators, and the zero-width characters that hide text.
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# What XML 1.0 forbids (vl-convert parses the SVG it draws as XML, and aborts on these), plus
# the bidi controls (a label must read as it is).
_XML_INVALID = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: Any) -> str:
    """One value as text that cannot move the cursor, forge a line or reorder what follows:
    control characters (newlines too), bidi controls and zero-width characters are shown as
    escapes (``\\n``, ``\\x1b``, ``\\u202e``).

    >>> terminal_text("GetObject")
    'GetObject'
    """
    text = "" if value is None else str(value)
    return _TERMINAL.sub(_visible, text)


def terminal_line(text: str) -> str:
    """A whole line of output (already built) with :func:`terminal_text` applied; the same
    rule, named for where it is used."""
    return terminal_text(text)


def chart_text(value: Any) -> Any:
    """A value fit to be drawn in a chart: characters XML forbids (and bidi controls) are shown
    as escapes; non-strings are returned unchanged.

    >>> chart_text(3)
    3
    """
    if not isinstance(value, str):
        return value
    return _XML_INVALID.sub(_visible, value)
