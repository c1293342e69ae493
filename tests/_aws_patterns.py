"""Evaluators of AWS's documented pattern syntaxes, to test the alarms the kit writes.

moto's EventBridge ``TestEventPattern`` is not implemented (moto 5.2: ``NotImplementedError``),
so the documented rules are evaluated here:

* EventBridge event patterns (EventBridge user guide, "Event patterns" and "Content filtering"):
  every field in the pattern must match; a list of values matches if any matches; an event array
  matches if any element matches; ``prefix``, ``suffix``, ``anything-but``, ``exists``,
  ``equals-ignore-case``, ``wildcard``, ``numeric`` filters; ``$or``.
* CloudWatch Logs metric filter patterns for JSON log events ("Filter pattern syntax for metric
  filters"): ``{ ($.a.b = "v") && (($.c = "x") || ($.c != "y*")) }``, ``*`` wildcards in
  strings, ``IS NULL``, ``NOT EXISTS``, numbers.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

_MISSING = object()


def _value(event: Any, path: list[str]) -> Any:
    cur = event
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return _MISSING
        cur = cur[p]
    return cur


def _leaf(value: Any, flt: Any) -> bool:
    if isinstance(value, list):
        return any(_leaf(v, flt) for v in value)
    if not isinstance(flt, dict):
        return value is not _MISSING and value == flt
    ((op, arg),) = flt.items()
    if op == "exists":
        return (value is not _MISSING) == arg
    if value is _MISSING:  # every filter but exists:false needs the field
        return False
    if op == "prefix":
        if isinstance(arg, dict):
            return isinstance(value, str) and value.lower().startswith(
                arg["equals-ignore-case"].lower()
            )
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == arg.lower()
    if op == "wildcard":
        return isinstance(value, str) and re.fullmatch(
            ".*".join(re.escape(x) for x in arg.split("*")), value) is not None  # fmt: skip
    if op == "anything-but":
        if isinstance(arg, dict):
            return not _leaf(value, arg)
        return value not in (arg if isinstance(arg, list) else [arg])
    if op == "numeric":
        ops = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
               "=": float.__eq__}  # fmt: skip
        if not isinstance(value, (int, float)):
            return False
        return all(ops[arg[i]](float(value), float(arg[i + 1])) for i in range(0, len(arg), 2))
    raise ValueError(f"unknown filter {op}")


def event_matches(pattern: dict[str, Any], event: Any, path: list[str] | None = None) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern``."""
    path = path or []
    for key, sub in pattern.items():
        if key == "$or":
            if not any(event_matches(p, event, path) for p in sub):
                return False
            continue
        here = [*path, key]
        if isinstance(sub, dict):
            if not event_matches(sub, event, here):
                return False
        elif isinstance(sub, list):
            value = _value(event, here)
            if not any(_leaf(value, f) for f in sub):
                return False
        else:
            raise ValueError(f"pattern values must be lists or objects: {key}: {sub!r}")
    return True


_TOKEN = re.compile(
    r"\s*(?:(\|\|)|(&&)|(\()|(\))|\$\.([A-Za-z0-9_.\-\[\]]+)\s*(=|!=|<=|>=|<|>|IS NULL|NOT EXISTS)"
    r'\s*("(?:[^"\\]|\\.)*"|[-0-9.]+|[^\s)]*)?)'
)


def metric_filter_matches(pattern: str, record: dict[str, Any]) -> bool:
    """Whether a JSON log event matches a CloudWatch Logs metric filter pattern ``{ ... }``."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("only JSON metric filter patterns ({ ... }) are evaluated here")
    tokens = []
    body, pos = text[1:-1], 0
    while body[pos:].strip():
        m = _TOKEN.match(body, pos)
        if not m:
            raise ValueError(f"cannot parse metric filter at {body[pos:]!r}")
        pos = m.end()
        tokens.append(m.groups())

    def term(field: str, op: str, raw: str | None) -> bool:
        value = _value(record, field.split("."))
        if op == "IS NULL":
            return value is None
        if op == "NOT EXISTS":
            return value is _MISSING
        if value is _MISSING or value is None:
            return op == "!="
        if raw and raw.startswith('"'):
            want = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            hit = fnmatch.fnmatchcase(str(value), want) if "*" in want else str(value) == want
            return hit if op == "=" else (not hit if op == "!=" else False)
        try:
            num = float(raw or "")
        except ValueError:
            hit = str(value) == raw
            return hit if op == "=" else not hit
        v = float(value) if isinstance(value, (int, float)) else None
        if v is None:
            return op == "!="
        return {"=": v == num, "!=": v != num, "<": v < num, "<=": v <= num, ">": v > num,
                ">=": v >= num}[op]  # fmt: skip

    i = 0

    def parse_or() -> bool:
        nonlocal i
        result = parse_and()
        while i < len(tokens) and tokens[i][0]:
            i += 1
            rhs = parse_and()
            result = result or rhs
        return result

    def parse_and() -> bool:
        nonlocal i
        result = parse_atom()
        while i < len(tokens) and tokens[i][1]:
            i += 1
            rhs = parse_atom()
            result = result and rhs
        return result

    def parse_atom() -> bool:
        nonlocal i
        tok = tokens[i]
        i += 1
        if tok[2]:
            value = parse_or()
            if not tokens[i][3]:
                raise ValueError("unbalanced parentheses")
            i += 1
            return value
        if tok[4]:
            return term(tok[4], tok[5], tok[6])
        raise ValueError(f"unexpected token {tok}")

    out = parse_or()
    if i != len(tokens):
        raise ValueError("trailing tokens in metric filter")
    return out


def as_eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it."""
    src = str(record.get("eventSource", "")).split(".amazonaws.com")[0].split(".")[0]
    kind = ("AWS Console Sign In via CloudTrail" if record.get("eventName") == "ConsoleLogin"
            else "AWS API Call via CloudTrail")  # fmt: skip
    return {"version": "0", "id": "x", "detail-type": kind, "source": f"aws.{src}",
            "account": record.get("recipientAccountId"), "region": record.get("awsRegion"),
            "detail": record}  # fmt: skip
