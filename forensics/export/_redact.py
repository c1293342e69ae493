"""Redact secrets from the JSON text columns before anything leaves the notebook.

A ticket is read by many people and stored for years; the credentials an API call carried or
returned must not travel with it. Two rules, applied to ``request_parameters``,
``response_elements``, ``additional_event_data`` and ``extra``:

* **by name**: the value of any key whose name says it is a secret (``sessionToken``,
  ``secretAccessKey``, ``password``, ``privateKey``, ``SecretString``, ``clientSecret``,
  ``accessToken`` ...; see :data:`SECRET_KEY_PATTERN`) is replaced, whatever its shape;
* **by value**: strings that look like a secret wherever they appear (AWS session tokens, JWTs,
  PEM private keys, 40-character AWS secret keys, ``password=...`` assignments, passwords in URLs).

``accessKeyId`` is kept: the key id is an indicator, not a secret.

>>> redact_json_text('{"credentials":{"accessKeyId":"ASIAX","sessionToken":"IQoJb3JpZ2luX2Vj"}}')
'{"credentials":{"accessKeyId":"ASIAX","sessionToken":"[REDACTED]"}}'
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import polars as pl

__all__ = [
    "REDACTED",
    "REDACTED_COLUMNS",
    "SECRET_KEY_PATTERN",
    "redact_frame",
    "redact_json_text",
    "redact_value",
]

REDACTED = "[REDACTED]"

#: The events-table columns whose JSON text is scanned.
REDACTED_COLUMNS = ("request_parameters", "response_elements", "additional_event_data", "extra")

#: A key is secret when its name, lower-cased with ``_``/``-`` removed, matches this.
SECRET_KEY_PATTERN = re.compile(
    r"(?:password|passwd|passphrase|passworddata|secretaccesskey|secretkey|secretstring"
    r"|secretbinary|clientsecret|sharedsecret|privatekey|privatekeymaterial|keymaterial"
    r"|sessiontoken|securitytoken|accesstoken|refreshtoken|idtoken|authtoken|bearertoken"
    r"|authorizationtoken|webidentitytoken|samlassertion|samlresponse|apikey|apisecret"
    r"|tokenvalue|^token|^secret|^credential|^authorization|^cookie)$"
)

_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    # PEM private keys (to the END line, or to the end of the text when truncated).
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.S,
        ),
        REDACTED,
    ),
    # AWS STS session tokens start with a base64 of a fixed protobuf/version header.
    (
        re.compile(
            r"(?:IQoJb3JpZ2luX2V|FwoGZXIvYXdzE|FQoGZXIvYXdzE|AQoDYXdzE|AgoJb3JpZ2luX2V)"
            r"[A-Za-z0-9/+=]{16,}"
        ),
        REDACTED,
    ),
    # JSON Web Tokens.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # key=value / key: value assignments of secrets inside free text (commands, user data).
    (
        re.compile(
            r"(?i)((?:aws_)?(?:secret_access_key|secret[_-]?key|session[_-]?token|password"
            r"|passwd|api[_-]?key|client[_-]?secret|token)[\"']?\s*[=:]\s*[\"']?)"
            r"([^\s\"'&;,]{4,})"
        ),
        lambda m: m.group(1) + REDACTED,
    ),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)"), r"\1" + REDACTED + r"\3"),
)

# A 40-character AWS secret access key as a whole value (mixed case and digits).
_SECRET_KEY_VALUE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9/+]{40}$")

# Cheap test on the raw text: only texts that match are parsed.
_PREFILTER = re.compile(
    r"(?i)pass|secret|token|private|credential|keymaterial|api.?key|saml|authoriz|cookie"
    r"|eyJ|://[^/\s:@]+:[^/\s@]+@|[A-Za-z0-9/+]{40}"
)


def _is_secret_key(name: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(re.sub(r"[_\-\s.]", "", name.lower())))


def _redact_string(text: str) -> str:
    if _SECRET_KEY_VALUE.match(text):
        return REDACTED
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """``value`` (parsed JSON) with every secret replaced by ``"[REDACTED]"``.

    >>> redact_value({"userName": "bob", "password": "hunter2", "n": [{"clientSecret": 1}]})
    {'userName': 'bob', 'password': '[REDACTED]', 'n': [{'clientSecret': '[REDACTED]'}]}
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if _is_secret_key(str(key)) and item not in (None, "", [], {}) and not isinstance(
                item, bool
            ):
                out[key] = REDACTED
            else:
                out[key] = redact_value(item)
        return out
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return _redact_string(value)
    return value


def redact_json_text(text: str | None) -> str | None:
    """JSON text with secrets redacted; unchanged (same string) when there was nothing to hide.

    Text that is not valid JSON gets the value rules only.

    >>> redact_json_text('{"userName":"alice"}')
    '{"userName":"alice"}'
    >>> redact_json_text("not json, password=hunter22")
    'not json, password=[REDACTED]'
    """
    if text is None or not _PREFILTER.search(text):
        return text
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _redact_string(text)
    redacted = redact_value(parsed)
    if redacted == parsed:
        return text
    return orjson.dumps(redacted).decode()


def redact_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The events frame with :data:`REDACTED_COLUMNS` redacted (other columns untouched).

    Only the distinct texts that pass a cheap pre-filter are parsed, so a large frame with few
    secrets costs little.
    """
    updates = []
    for column in REDACTED_COLUMNS:
        if column not in frame.columns or frame.schema[column] != pl.String:
            continue
        series = frame.get_column(column)
        candidates = series.filter(series.str.contains(_PREFILTER.pattern)).unique()
        mapping = {}
        for text in candidates.to_list():
            new = redact_json_text(text)
            if new != text:
                mapping[text] = new
        if mapping:
            updates.append(
                pl.col(column).replace(list(mapping), list(mapping.values())).alias(column)
            )
    return frame.with_columns(updates) if updates else frame
