"""Redaction for the exports: the kit's one mechanism, :mod:`forensics.safety._redaction`.

Kept as the export package's name for it; every output (exports, ticket, widgets, CLI) calls
the same functions.

>>> redact_json_text('{"credentials":{"accessKeyId":"ASIAX","sessionToken":"IQoJb3JpZ2luX2Vj"}}')
'{"credentials":{"accessKeyId":"ASIAX","sessionToken":"[REDACTED]"}}'
"""

from __future__ import annotations

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

__all__ = [
    "REDACTED",
    "REDACTED_COLUMNS",
    "SECRET_FIELDS",
    "SECRET_KEY_PATTERN",
    "redact_frame",
    "redact_json_text",
    "redact_record",
    "redact_text",
    "redact_value",
]
