"""Make attacker-controlled event text inert in CSV, Markdown and HTML.

Every value an event carries (user agents, request parameters, error messages, even principal
names) is chosen by whoever made the API call. These helpers are applied to *every* cell a
file shows, never to a chosen few.

>>> csv_cell("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> md_cell("a | b")
'a \\\\| b'
>>> html_text("<script>")
'&lt;script&gt;'
"""

from __future__ import annotations

import html
import re

__all__ = [
    "CSV_FORMULA",
    "CSV_TRIGGERS",
    "csv_cell",
    "csv_visible",
    "defang_links",
    "html_text",
    "md_cell",
    "md_fence",
    "md_text",
]

#: First characters that make a spreadsheet treat a cell as a formula (or DDE command).
#: The full-width forms are included because some spreadsheets fold them to ASCII.
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# C0/C1 control characters other than tab/newline/CR, and the bidi overrides that can make
# text read differently from what it is (Trojan Source).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Escaped anywhere: what makes emphasis, code spans, links/images, tables, strikethrough.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()|~])")
# Escaped at the start only: what starts a heading, list, quote or ordered list item.
_MD_LEADING = re.compile(r"^(?:([#+\-=>!])|(\d+)\.(?=\s|$))")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _visible_controls(text: str) -> str:
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def _escape_leading(match: re.Match[str]) -> str:
    return "\\" + match.group(1) if match.group(1) else match.group(2) + "\\."


#: Every character a CSV cell shows as an escape (``\\n``, ``\\x1b``, ``\\u202e``): a CSV
#: printed in a terminal (``cat events.csv``) must not forge lines or rewrite the screen.
CSV_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
#: A formula, possibly behind blanks a spreadsheet skips (`` =1+1``).
CSV_FORMULA = re.compile("^[ \t\r\n\u00a0\u3000\u2000-\u200a]*[=+\\-@\uff1d\uff0b\uff0d\uff20]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def csv_visible(text: str) -> str:
    """Control, bidi and zero-width characters of a cell as visible escapes.

    >>> csv_visible("a\\nb")
    'a\\\\nb'
    """
    return CSV_CONTROL.sub(
        lambda m: (
            _NAMED.get(m.group())
            or (
                f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
            )
        ),
        text,
    )


def csv_cell(value: str | None) -> str | None:
    """A CSV cell a spreadsheet will show as text and a terminal as one line: control
    characters become escapes, formula-like values (also behind blanks) get a leading ``'``.

    >>> csv_cell("+cmd|' /C calc'!A0")
    "'+cmd|' /C calc'!A0"
    >>> csv_cell(" =1+1")
    "' =1+1"
    >>> csv_cell("GetObject")
    'GetObject'
    """
    if value is None:
        return None
    if value.startswith(CSV_TRIGGERS) or CSV_FORMULA.match(value):
        value = "'" + value
    return csv_visible(value)


# What GitHub/GitLab/Jira renderers turn into a live link without any Markdown syntax: a URL
# scheme, ``www.`` and e-mail addresses (GFM's autolink extension).
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}):(//)")
_WWW = re.compile(r"(?i)\b(www)\.")
_EMAIL = re.compile(r"([\w.%+-])@(?=[\w-]+\.)")


def defang_links(text: str) -> str:
    """Text in which no renderer finds a link to make live: ``https://x`` -> ``https[:]//x``,
    ``www.x`` -> ``www[.]x``, ``a@b.c`` -> ``a[@]b.c`` (the usual way to share indicators).

    >>> defang_links("see https://evil.example and www.evil.example or bob@evil.example")
    'see https[:]//evil.example and www[.]evil.example or bob[@]evil.example'
    """
    text = _SCHEME.sub(r"\1[:]\2", text)
    text = _WWW.sub(r"\1[.]", text)
    return _EMAIL.sub(r"\1[@]", text)


def md_text(value: object, *, limit: int | None = None) -> str:
    """Text that Markdown shows literally: no links, emphasis, code, HTML or table breaks.

    Markdown punctuation is backslash-escaped, ``& < > "`` become HTML entities, line breaks
    become ``<br>`` and control characters are shown as ``\\xNN``. ``limit`` truncates the text
    (before escaping, so no escape is cut in half) and marks the cut with ``…``.

    >>> md_text("[x](javascript:alert(1))")
    '\\\\[x\\\\]\\\\(javascript:alert\\\\(1\\\\)\\\\)'
    """
    if value is None:
        return ""
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    text = _visible_controls(text).replace("\t", " ")
    text = defang_links(text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_LEADING.sub(_escape_leading, text)
    text = html.escape(text, quote=True)
    return _NEWLINES.sub("<br>", text)


def md_cell(value: object, *, limit: int | None = None) -> str:
    """A Markdown table cell (see :func:`md_text`); empty for ``None``.

    >>> md_cell("line1\\nline2")
    'line1<br>line2'
    """
    return md_text(value, limit=limit)


def md_fence(text: str) -> str:
    """``text`` in a fenced code block whose fence no line of the text can close.

    >>> print(md_fence("a ``` b"))
    ````text
    a ``` b
    ````
    """
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{_visible_controls(text)}\n{fence}"


def html_text(value: object) -> str:
    """Text safe inside an HTML element or a quoted attribute; control characters made visible.

    >>> html_text('"><img src=x onerror=alert(1)>')
    '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
    """
    if value is None:
        return ""
    return html.escape(_visible_controls(str(value)), quote=True)
