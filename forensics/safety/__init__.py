"""What event text may do in an output: secrets redacted, control characters made inert.

Event fields are attacker-controlled. Every output (exports, the ticket, widgets, the command
line, charts) goes through these two modules, so the rules live in one place:

* ``_redaction``: the table of AWS API -> secret fields, secret-looking names and values
  (:func:`redact_frame`, :func:`redact_record`, ...);
* ``_text``: text fit for a terminal, a CSV cell or a chart (:func:`terminal_line`, ...).

This package sits with the schema at the bottom of the layers: anything may import it.

>>> from forensics.safety import terminal_line
>>> terminal_line("evil\\x1b[2J")
'evil\\\\x1b[2J'
"""

from forensics.safety._redaction import (
    REDACTED,
    REDACTED_COLUMNS,
    SECRET_FIELDS,
    SECRET_KEY_PATTERN,
    redact_frame,
    redact_json_text,
    redact_record,
    redact_text,
    redact_value,
)
from forensics.safety._text import chart_text, terminal_line, terminal_text

__all__ = [
    "REDACTED",
    "REDACTED_COLUMNS",
    "SECRET_FIELDS",
    "SECRET_KEY_PATTERN",
    "chart_text",
    "redact_frame",
    "redact_json_text",
    "redact_record",
    "redact_text",
    "redact_value",
    "terminal_line",
    "terminal_text",
]
