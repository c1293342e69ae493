"""Secrets out of everything the kit shows or writes: the one redaction mechanism.

A ticket is read by many people and stored for years, a widget is screen-shared: the
credentials an API call carried or returned must not travel with them. Every output -- the
event exports (CSV, JSON lines, Parquet, Markdown), the ticket folder, the widgets' raw-record
view and the command line -- goes through this module, and only this module, with three rules:

* **by API** (:data:`SECRET_FIELDS`): a table of ``(eventSource, eventName)`` -> the fields of
  the record that hold a secret whatever their name (SSM ``PutParameter`` ``value``, ECS and
  Lambda environment values, CloudFormation ``parameterValue``, ``RunInstances`` ``userData``,
  ``CreateVirtualMFADevice`` ``base32StringSeed`` ...), or free text that carries commands
  (SSM ``SendCommand`` parameters: ``-p<password>``, ``--password x``, ``Bearer ...``). To
  teach the kit an API, add a line there (and the test in ``tests/test_redaction.py`` plants a
  secret in it through every output);
* **by name** (:data:`SECRET_KEY_PATTERN`): the value of any key whose name says it is a secret
  (``sessionToken``, ``secretAccessKey``, ``password``, ``privateKey``, ``SecretString``,
  ``x-amz-server-side-encryption-customer-key`` ...) is replaced, whatever its shape;
* **by value**: strings that look like a secret wherever they appear (AWS session tokens, JWTs,
  PEM private keys, 40-character AWS secret keys, ``password=...`` assignments, passwords in
  URLs, ``Bearer``/``Basic`` authorisation values), also in ``errorMessage``.

``accessKeyId`` is kept: the key id is an indicator, not a secret.

>>> redact_record({"eventSource": "ssm.amazonaws.com", "eventName": "PutParameter",
...                "requestParameters": {"name": "/db/pw", "value": "hunter2"}})["requestParameters"]
{'name': '/db/pw', 'value': '[REDACTED]'}
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
import polars as pl

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

REDACTED = "[REDACTED]"

#: Record field -> the events-table column holding it as JSON text (other top-level fields
#: are inside ``extra``, as ``{"field": value}``).
_FIELD_COLUMNS = {
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "additionalEventData": "additional_event_data",
}
#: The events-table columns whose JSON text is scanned.
REDACTED_COLUMNS = ("request_parameters", "response_elements", "additional_event_data", "extra")
#: Plain-text columns that get the value rules (an error message may quote a request).
_TEXT_COLUMNS = ("error_message",)

_S, _C = "secret", "command"
#: ``(eventSource, eventName)`` -> ``(path, kind)``: which fields of a record hold a secret.
#: A path is dotted from the record's top; ``[]`` is every item of a list, ``*`` every value of
#: an object. ``secret``: the whole value is replaced; ``command``: free text (shell commands,
#: scripts) whose secret-looking arguments are replaced (``-p<password>``, ``--password x``,
#: ``Authorization: Bearer ...``, ``password=...``). Event names are matched without Lambda's
#: API-version suffix (``CreateFunction20150331`` is ``CreateFunction``).
SECRET_FIELDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("ssm.amazonaws.com", "PutParameter"): (("requestParameters.value", _S),),
    ("ssm.amazonaws.com", "SendCommand"): (
        ("requestParameters.parameters.*[]", _C),
        ("responseElements.command.parameters.*[]", _C),
    ),
    ("ssm.amazonaws.com", "StartAutomationExecution"): (("requestParameters.parameters.*[]", _C),),
    ("ecs.amazonaws.com", "RegisterTaskDefinition"): (
        ("requestParameters.containerDefinitions[].environment[].value", _S),
        ("responseElements.taskDefinition.containerDefinitions[].environment[].value", _S),
    ),
    ("ecs.amazonaws.com", "RunTask"): (
        ("requestParameters.overrides.containerOverrides[].environment[].value", _S),
        ("responseElements.tasks[].overrides.containerOverrides[].environment[].value", _S),
    ),
    ("ecs.amazonaws.com", "StartTask"): (
        ("requestParameters.overrides.containerOverrides[].environment[].value", _S),
    ),
    ("batch.amazonaws.com", "RegisterJobDefinition"): (
        ("requestParameters.containerProperties.environment[].value", _S),
    ),
    ("batch.amazonaws.com", "SubmitJob"): (
        ("requestParameters.containerOverrides.environment[].value", _S),
    ),
    ("codebuild.amazonaws.com", "CreateProject"): (
        ("requestParameters.environment.environmentVariables[].value", _S),
    ),
    ("codebuild.amazonaws.com", "UpdateProject"): (
        ("requestParameters.environment.environmentVariables[].value", _S),
    ),
    ("codebuild.amazonaws.com", "StartBuild"): (
        ("requestParameters.environmentVariablesOverride[].value", _S),
    ),
    ("cloudformation.amazonaws.com", "CreateStack"): (
        ("requestParameters.parameters[].parameterValue", _S),
    ),
    ("cloudformation.amazonaws.com", "UpdateStack"): (
        ("requestParameters.parameters[].parameterValue", _S),
    ),
    ("cloudformation.amazonaws.com", "CreateChangeSet"): (
        ("requestParameters.parameters[].parameterValue", _S),
    ),
    ("cloudformation.amazonaws.com", "CreateStackSet"): (
        ("requestParameters.parameters[].parameterValue", _S),
    ),
    ("cloudformation.amazonaws.com", "UpdateStackSet"): (
        ("requestParameters.parameters[].parameterValue", _S),
    ),
    ("cloudformation.amazonaws.com", "CreateStackInstances"): (
        ("requestParameters.parameterOverrides[].parameterValue", _S),
    ),
    ("lambda.amazonaws.com", "CreateFunction"): (
        ("requestParameters.environment.variables.*", _S),
        ("responseElements.environment.variables.*", _S),
    ),
    ("lambda.amazonaws.com", "UpdateFunctionConfiguration"): (
        ("requestParameters.environment.variables.*", _S),
        ("responseElements.environment.variables.*", _S),
    ),
    ("ec2.amazonaws.com", "RunInstances"): (("requestParameters.userData", _S),),
    ("ec2.amazonaws.com", "RequestSpotInstances"): (
        ("requestParameters.launchSpecification.userData", _S),
    ),
    ("ec2.amazonaws.com", "ModifyInstanceAttribute"): (("requestParameters.userData.value", _S),),
    ("ec2.amazonaws.com", "CreateLaunchTemplate"): (
        ("requestParameters.CreateLaunchTemplateRequest.LaunchTemplateData.UserData", _S),
        ("requestParameters.launchTemplateData.userData", _S),
    ),
    ("ec2.amazonaws.com", "CreateLaunchTemplateVersion"): (
        ("requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateData.UserData", _S),
        ("requestParameters.launchTemplateData.userData", _S),
    ),
    ("autoscaling.amazonaws.com", "CreateLaunchConfiguration"): (
        ("requestParameters.userData", _S),
    ),
    ("iam.amazonaws.com", "CreateVirtualMFADevice"): (
        ("responseElements.virtualMFADevice.base32StringSeed", _S),
        ("responseElements.virtualMFADevice.qRCodePNG", _S),
    ),
    ("iam.amazonaws.com", "EnableMFADevice"): (
        ("requestParameters.authenticationCode1", _S),
        ("requestParameters.authenticationCode2", _S),
    ),
    ("elasticbeanstalk.amazonaws.com", "CreateEnvironment"): (
        ("requestParameters.optionSettings[].value", _S),
    ),
    ("glue.amazonaws.com", "CreateJob"): (("requestParameters.defaultArguments.*", _C),),
    ("apprunner.amazonaws.com", "CreateService"): (
        (
            "requestParameters.sourceConfiguration.imageRepository.imageConfiguration"
            ".runtimeEnvironmentVariables.*",
            _S,
        ),
    ),
}

#: A key is secret when its name, lower-cased with ``_``/``-``/spaces/dots removed, matches.
SECRET_KEY_PATTERN = re.compile(
    r"(?:password|passwd|passphrase|passworddata|secretaccesskey|secretkey|secretstring"
    r"|secretbinary|clientsecret|sharedsecret|privatekey|privatekeymaterial|keymaterial"
    r"|sessiontoken|securitytoken|accesstoken|refreshtoken|idtoken|authtoken|bearertoken"
    r"|authorizationtoken|webidentitytoken|samlassertion|samlresponse|apikey|apisecret"
    r"|tokenvalue|customerkey|base32stringseed|qrcodepng|^token|^secret|^credential"
    r"|^authorization|^cookie)$"
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
    # HTTP authorisation values: Bearer / Basic / token schemes.
    (
        re.compile(r"(?i)(\b(?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=-]{8,})"),
        lambda m: m.group(1) + REDACTED,
    ),
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
    (
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)"),
        r"\1" + REDACTED + r"\3",
    ),
)

#: More rules for free text that is a command line (``command`` fields of the table).
_COMMAND_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    # mysql-style -p<password> (attached), and --password / --pass / -P options with a value
    (re.compile(r"((?:^|\s)-p)([^\s\"']{3,})"), lambda m: m.group(1) + REDACTED),
    (
        re.compile(
            r"(?i)((?:^|\s)--?(?:password|passwd|pass|secret|token|api-key)(?:\s+|=))"
            r"([\"']?)([^\s\"']+)"
        ),
        lambda m: m.group(1) + m.group(2) + REDACTED,
    ),
    # environment assignments: export DB_PASSWORD=..., SECRET=...
    (
        re.compile(
            r"(?i)(\b[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*=)"
            r"([\"']?)([^\s\"';&]+)"
        ),
        lambda m: m.group(1) + m.group(2) + REDACTED,
    ),
)

# A 40-character AWS secret access key as a whole value (mixed case and digits).
_SECRET_KEY_VALUE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9/+]{40}$")

# Cheap test on the raw text: only texts that match are parsed.
_PREFILTER = re.compile(
    r"(?i)pass|secret|token|private|credential|keymaterial|api.?key|saml|authoriz|cookie"
    r"|customer.?key|base32|qrcode|bearer|basic\s"
    r"|eyJ|://[^/\s:@]+:[^/\s@]+@|\"[A-Za-z0-9/+]{40}\"|^[A-Za-z0-9/+]{40}$"
)

# Cheap test on one string value: only strings that match go through the value rules.
_VALUE_HINT = re.compile(
    r"-----BEGIN|IQoJb3JpZ2luX2V|FwoGZXIvYXdzE|FQoGZXIvYXdzE|AQoDYXdzE|AgoJb3JpZ2luX2V|eyJ"
    r"|(?i:secret|passw|token|api.?key|bearer|basic\s)|://[^/\s:@]+:[^/\s@]+@"
)

_VERSION_SUFFIX = re.compile(r"\d{8}(?:v\d+)?$")


@functools.lru_cache(maxsize=4096)
def _is_secret_key(name: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(re.sub(r"[_\-\s.]", "", name.lower())))


def _redact_string(text: str) -> str:
    if len(text) == 40 and _SECRET_KEY_VALUE.match(text):
        return REDACTED
    if not _VALUE_HINT.search(text):
        return text
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_text(text: str | None, *, command: bool = False) -> str | None:
    """Free text with secret-looking values replaced (``command=True``: also command-line
    options such as ``-p<password>``).

    >>> redact_text("mysql -uroot -pHunter22 db", command=True)
    'mysql -uroot -p[REDACTED] db'
    >>> redact_text("curl -H 'Authorization: Bearer abcdefgh12345'")
    "curl -H 'Authorization: Bearer [REDACTED]'"
    """
    if text is None:
        return None
    if command:
        for pattern, replacement in _COMMAND_PATTERNS:
            text = pattern.sub(replacement, text)
    return _redact_string(text)


def redact_value(value: Any) -> Any:
    """``value`` (parsed JSON) with every secret replaced by ``"[REDACTED]"`` (by name, by value).

    >>> redact_value({"userName": "bob", "password": "hunter2", "n": [{"clientSecret": 1}]})
    {'userName': 'bob', 'password': '[REDACTED]', 'n': [{'clientSecret': '[REDACTED]'}]}
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if (
                _is_secret_key(str(key))
                and item not in (None, "", [], {})
                and not isinstance(item, bool)
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


# -- the table --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str], tuple[tuple[tuple[str, ...], str], ...]]:
    """SECRET_FIELDS with parsed paths: ``a.b[].c.*`` -> ``("a", "b", "[]", "c", "*")``."""
    out = {}
    for key, fields in SECRET_FIELDS.items():
        parsed = []
        for path, kind in fields:
            steps: list[str] = []
            for part in path.split("."):
                name = part.removesuffix("[]")
                steps.append(name)
                if part.endswith("[]"):
                    steps.append("[]")
            parsed.append((tuple(steps), kind))
        out[key] = tuple(parsed)
    return out


def _rules_for(source: Any, name: Any) -> tuple[tuple[tuple[str, ...], str], ...]:
    if not isinstance(source, str) or not isinstance(name, str):
        return ()
    table = _table()
    return table.get((source, name)) or table.get((source, _VERSION_SUFFIX.sub("", name))) or ()


def _replace(value: Any, kind: str) -> Any:
    if value in (None, "", [], {}) or isinstance(value, bool):
        return value
    if kind == _C:
        if isinstance(value, str):
            return redact_text(value, command=True)
        if isinstance(value, list):
            return [_replace(v, kind) for v in value]
        if isinstance(value, dict):
            return {k: _replace(v, kind) for k, v in value.items()}
        return value
    return REDACTED


def _apply_path(node: Any, steps: tuple[str, ...], kind: str) -> Any:
    """``node`` with the value(s) at ``steps`` replaced (a copy where something changed)."""
    if not steps:
        return _replace(node, kind)
    step, rest = steps[0], steps[1:]
    if step == "[]":
        if isinstance(node, list):
            return [_apply_path(item, rest, kind) for item in node]
        return node
    if not isinstance(node, dict):
        return node
    if step == "*":
        return {k: _apply_path(v, rest, kind) for k, v in node.items()}
    if step not in node:
        return node
    return {**node, step: _apply_path(node[step], rest, kind)}


def redact_record(record: Any) -> Any:
    """An original CloudTrail record (or a list of them) with every secret redacted: the
    fields :data:`SECRET_FIELDS` names for its API, then the rules by name and by value.

    A row of the events table (snake_case keys, JSON text columns) is accepted as well.

    >>> r = redact_record({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
    ...                    "requestParameters": {"userName": "bob"}, "errorMessage": "ok"})
    >>> r["requestParameters"]
    {'userName': 'bob'}
    """
    if isinstance(record, list):
        return [redact_record(r) for r in record]
    if not isinstance(record, dict):
        return redact_value(record)
    if "event_name" in record or "request_parameters" in record:
        return _redact_row(record)
    out = dict(record)
    for steps, kind in _rules_for(record.get("eventSource"), record.get("eventName")):
        out = _apply_path(out, steps, kind)
    out = redact_value(out)
    return out


def _redact_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the events table (JSON text columns) redacted like its record."""
    out = dict(row)
    rules = _rules_for(row.get("event_source"), row.get("event_name"))
    for column in REDACTED_COLUMNS:
        if isinstance(out.get(column), str):
            out[column] = _redact_column_text(out[column], column, rules)
    for column in _TEXT_COLUMNS:
        if isinstance(out.get(column), str):
            out[column] = redact_text(out[column])
    return out


def _redact_column_text(
    text: str, column: str, rules: tuple[tuple[tuple[str, ...], str], ...]
) -> str:
    """One JSON text cell of ``column``, with the table's rules for its row applied first."""
    mine = []
    for steps, kind in rules:
        target = _FIELD_COLUMNS.get(steps[0])
        if target == column:
            mine.append((steps[1:], kind))
        elif target is None and column == "extra":
            mine.append((steps, kind))  # extra is {"field": value, ...}
    if mine:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return redact_text(text, command=True) or text
        changed = parsed
        for steps, kind in mine:
            changed = _apply_path(changed, steps, kind)
        redacted = redact_value(changed)
        return text if redacted == parsed else orjson.dumps(redacted).decode()
    return redact_json_text(text) or text


def redact_json_text(text: str | None) -> str | None:
    """JSON text with secrets redacted (by name, by value); unchanged (same string) when there
    was nothing to hide. Text that is not valid JSON gets the value rules only.

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
    """The events frame with secrets redacted in :data:`REDACTED_COLUMNS` and
    ``error_message`` (other columns untouched).

    Rows of an API in :data:`SECRET_FIELDS` get its rules; elsewhere only the distinct texts
    that pass a cheap pre-filter are parsed, so a large frame with few secrets costs little.
    """
    if frame.height == 0:
        return frame
    frame = _redact_table_rows(frame)
    updates = []
    for column in (*REDACTED_COLUMNS, *_TEXT_COLUMNS):
        if column not in frame.columns or frame.schema[column] != pl.String:
            continue
        series = frame.get_column(column)
        candidates = series.filter(series.str.contains(_PREFILTER.pattern)).unique()
        mapping = {}
        for text in candidates.to_list():
            new = redact_json_text(text) if column in REDACTED_COLUMNS else redact_text(text)
            if new != text:
                mapping[text] = new
        if mapping:
            updates.append(
                pl.col(column).replace(list(mapping), list(mapping.values())).alias(column)
            )
    return frame.with_columns(updates) if updates else frame


def _redact_table_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Apply :data:`SECRET_FIELDS` to the rows of the APIs it names (usually few)."""
    if "event_source" not in frame.columns or "event_name" not in frame.columns:
        return frame
    names = pl.col("event_name").cast(pl.String)
    base_names = names.str.replace(_VERSION_SUFFIX.pattern, "")
    keys = pl.concat_str([pl.col("event_source").cast(pl.String), base_names], separator="\0")
    wanted = [f"{s}\0{n}" for s, n in SECRET_FIELDS]
    columns = [c for c in REDACTED_COLUMNS if c in frame.columns and frame.schema[c] == pl.String]
    indexed = frame.with_row_index("_redact_row")
    hits = indexed.filter(keys.is_in(wanted)).select(
        "_redact_row", "event_source", "event_name", *columns
    )
    if hits.height == 0 or not columns:
        return frame
    new_values: dict[str, list[Any]] = {c: [] for c in columns}
    for row in hits.iter_rows(named=True):
        rules = _rules_for(row["event_source"], row["event_name"])
        for c in columns:
            text = row[c]
            new_values[c].append(
                _redact_column_text(text, c, rules) if isinstance(text, str) else text
            )
    rows = hits.get_column("_redact_row")
    return frame.with_columns(
        frame.get_column(c).clone().scatter(rows, pl.Series(new_values[c], dtype=pl.String))
        for c in columns
    )
