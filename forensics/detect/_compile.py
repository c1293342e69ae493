"""pySigma's parsed detection -> Polars expressions (the backend).

pySigma parses a rule and applies its value modifiers (``contains`` puts wildcards around a
string, ``cidr`` makes a network, ``re`` a regular expression, ``base64offset`` an expansion of
three encodings, ``all`` AND-links the values, ...). What reaches this module is pySigma's
condition tree: AND / OR / NOT over ``field = value`` and keyword leaves. Each leaf becomes one
boolean Polars expression (null-safe: a missing field never matches, and ``not`` of it does);
the tree becomes a :class:`Plan`: the conjuncts that read only columns (``cheap``), the ones that
read JSON text (``costly``, evaluated only on the rows the cheap part kept), and the event names
the rule can match at all (``names``), which lets the engine run it only on those rows.

Matching follows the Sigma specification: strings are case-insensitive unless ``cased``;
``*`` and ``?`` are wildcards; regular expressions are case-sensitive unless ``i`` (flags ``i``,
``m``, ``s``); ``null`` means the field is absent; ``exists`` tests presence; numbers compare as
numbers with ``lt``/``lte``/``gt``/``gte`` and as text otherwise.

>>> from sigma.rule import SigmaRule
>>> rule = SigmaRule.from_yaml('''
... title: t
... logsource: {product: aws, service: cloudtrail}
... detection:
...   sel: {eventName: StopLogging}
...   condition: sel
... ''')
>>> plan = compile_rule(rule)
>>> sorted(plan.names)
['stoplogging']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import polars as pl
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from forensics._schema import EVENTS_SCHEMA
from forensics.detect._fields import Access, UnsupportedField, field_access

__all__ = ["CompileError", "Plan", "compile_rule"]


class CompileError(ValueError):
    """A rule pySigma parsed but this backend cannot run (the message says what and why)."""


@dataclass(frozen=True)
class _Node:
    expr: pl.Expr
    cost: int  # 0 columns, 1 derived, 2 JSON text or full-record search
    columns: frozenset[str]
    names: frozenset[str] | None = None  # the lowercase event names this node can match
    kind: str = "leaf"
    children: tuple[_Node, ...] = ()
    name_filter: pl.Expr | None = None  # a predicate on event_name every match satisfies


@dataclass(frozen=True)
class Plan:
    """A compiled detection: ``cheap`` then ``costly`` (both may be None: match all)."""

    cheap: pl.Expr | None
    costly: pl.Expr | None
    names: frozenset[str] | None
    columns: frozenset[str] = field(default_factory=frozenset)
    #: a predicate on ``event_name`` alone that every match satisfies (the engine runs it on the
    #: distinct names to pick the rows to look at), or None
    name_filter: pl.Expr | None = None

    @property
    def expr(self) -> pl.Expr:
        """The whole detection as one expression (for filtering a frame directly)."""
        parts = [e for e in (self.cheap, self.costly) if e is not None]
        return reduce(lambda a, b: a & b, parts) if parts else pl.lit(True)


def compile_rule(rule: SigmaRule) -> Plan:
    """Compile a parsed Sigma rule to a :class:`Plan`; raises :class:`CompileError`."""
    try:
        trees = [cond.parsed for cond in rule.detection.parsed_condition]
    except SigmaError as e:
        raise CompileError(f"condition: {e}") from e
    try:
        nodes = [_compile(tree) for tree in trees if tree is not None]
    except (UnsupportedField, SigmaError) as e:
        raise CompileError(str(e)) from e
    if not nodes:
        raise CompileError("the condition is empty")
    node = nodes[0] if len(nodes) == 1 else _or(nodes)  # several conditions: any of them
    return _plan(node)


def _plan(node: _Node) -> Plan:
    conjuncts = node.children if node.kind == "and" else (node,)
    cheap = [c for c in conjuncts if c.cost < 2]
    costly = [c for c in conjuncts if c.cost >= 2]
    return Plan(
        cheap=_and(cheap).expr if cheap else None,
        costly=_and(costly).expr if costly else None,
        names=node.names,
        columns=node.columns,
        name_filter=node.name_filter,
    )


# -- the condition tree ---------------------------------------------------------------------------
def _compile(item: Any) -> _Node:
    if isinstance(item, ConditionAND):
        return _and([_compile(a) for a in item.args])
    if isinstance(item, ConditionOR):
        return _or([_compile(a) for a in item.args])
    if isinstance(item, ConditionNOT):
        child = _compile(item.args[0])
        return _Node(~child.expr, child.cost, child.columns, None, "not", (child,))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _field_value(item.field, item.value)
    if isinstance(item, ConditionValueExpression):
        return _keyword(item.value)
    raise CompileError(f"unsupported condition element {type(item).__name__}")


def _and(nodes: list[_Node]) -> _Node:
    flat: list[_Node] = []
    for n in nodes:
        flat.extend(n.children if n.kind == "and" else (n,))
    if len(flat) == 1:
        return flat[0]
    named = [n.names for n in flat if n.names is not None]
    names = reduce(lambda a, b: a & b, named) if named else None
    filters = [n.name_filter for n in flat if n.name_filter is not None]
    return _Node(
        pl.all_horizontal([n.expr for n in flat]),
        max(n.cost for n in flat),
        frozenset().union(*(n.columns for n in flat)),
        names,
        "and",
        tuple(flat),
        pl.all_horizontal(filters) if filters else None,
    )


def _or(nodes: list[_Node]) -> _Node:
    if len(nodes) == 1:
        return nodes[0]
    names = (
        frozenset().union(*(n.names for n in nodes if n.names is not None))
        if all(n.names is not None for n in nodes)
        else None
    )
    filters = [n.name_filter for n in nodes]
    return _Node(
        pl.any_horizontal([n.expr for n in nodes]),
        max(n.cost for n in nodes),
        frozenset().union(*(n.columns for n in nodes)),
        names,
        "or",
        tuple(nodes),
        pl.any_horizontal(filters) if all(f is not None for f in filters) else None,  # type: ignore[arg-type]
    )


# -- leaves -----------------------------------------------------------------------------------------
def _field_value(name: str, value: Any) -> _Node:
    access = field_access(name)
    if isinstance(value, SigmaExpansion):  # base64offset, windash: any of the variants
        return _or([_field_value(name, v) for v in value.values])
    columns = set(access.columns)
    if isinstance(value, SigmaFieldReference):
        other = field_access(value.field)
        columns |= set(other.columns)
        expr = _fieldref(access, other, value)
        cost = max(access.cost, other.cost)
    else:
        expr = _on_access(access, value)
        cost = access.cost
    names = None
    name_filter = None
    if access.columns == ("event_name",) and access.cost == 0:
        name_filter = expr.fill_null(False)
        if isinstance(value, SigmaString) and not value.contains_special():
            names = frozenset({str(value).lower()})
    return _Node(expr.fill_null(False), cost, frozenset(columns), names, name_filter=name_filter)


def _keyword(value: Any) -> _Node:
    """A value without a field: searched in the whole record's text (costly)."""
    if isinstance(value, SigmaExpansion):
        return _or([_keyword(v) for v in value.values])
    text_cols = [c for c, t in EVENTS_SCHEMA.items() if t == pl.String]
    text = pl.concat_str([pl.col(c) for c in text_cols], separator="\n", ignore_nulls=True)
    if isinstance(value, SigmaString):
        s = value
        if not s.startswith(SpecialChars.WILDCARD_MULTI):
            s = SpecialChars.WILDCARD_MULTI + s
        if not s.endswith(SpecialChars.WILDCARD_MULTI):
            s = s + SpecialChars.WILDCARD_MULTI
        expr = _string_match(text, s, cased=isinstance(value, SigmaCasedString))
    elif isinstance(value, SigmaRegularExpression):
        expr = _regex(text, value)
    elif isinstance(value, SigmaNumber):
        expr = text.str.contains(str(value.number), literal=True)
    else:
        raise CompileError(f"keyword of type {type(value).__name__} is not supported")
    return _Node(expr.fill_null(False), 2, frozenset(text_cols))


def _on_access(access: Access, value: Any) -> pl.Expr:
    if isinstance(value, SigmaNull):
        if access.kind == "list":
            return access.expr.list.len().fill_null(0) == 0
        return access.expr.is_null()
    if isinstance(value, SigmaExists):
        present = (
            access.expr.list.len().fill_null(0) > 0
            if access.kind == "list"
            else access.expr.is_not_null()
        )
        return present if bool(value) else ~present
    if access.kind == "time" and isinstance(value, SigmaTimestampPart):
        return _time_part(access.expr, value)
    if access.kind == "list":
        return access.expr.list.eval(_on_text(pl.element(), value)).list.any()
    if access.kind == "bool":
        if isinstance(value, SigmaBool):
            return access.expr == bool(value)
        return _on_text(access.expr.cast(pl.String), value)
    if access.kind == "time":
        return _on_text(access.expr.dt.to_string("%Y-%m-%dT%H:%M:%SZ"), value)
    return _on_text(access.expr, value)


def _on_text(s: pl.Expr, value: Any) -> pl.Expr:
    """A predicate on a String expression."""
    if isinstance(value, SigmaString):
        if value.contains_placeholder():
            raise CompileError(
                f"placeholder in value {value} (the expand modifier) is not supported"
            )
        return _string_match(s, value, cased=isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaBool):
        return s.str.to_lowercase() == ("true" if bool(value) else "false")
    if isinstance(value, SigmaNumber):
        number = value.number
        return (s == str(number)) | (s.cast(pl.Float64, strict=False) == float(number))
    if isinstance(value, SigmaRegularExpression):
        return _regex(s, value)
    if isinstance(value, SigmaCIDRExpression):
        # pySigma expands a network to address prefixes on octet (or hex group) boundaries
        alternatives = []
        for pattern in value.expand("*"):
            if pattern == "*":
                return s.is_not_null()
            if pattern.endswith("*"):
                alternatives.append(re.escape(pattern[:-1]))
            else:
                alternatives.append(re.escape(pattern) + "$")
        return s.str.contains("(?i)^(?:" + "|".join(alternatives) + ")")
    if isinstance(value, SigmaCompareExpression):
        n = s.cast(pl.Float64, strict=False)
        x = float(value.number.number)
        op = value.op
        return {
            CompareOperators.LT: n < x,
            CompareOperators.LTE: n <= x,
            CompareOperators.GT: n > x,
            CompareOperators.GTE: n >= x,
            CompareOperators.NEQ: n != x,
        }[op]
    if isinstance(value, SigmaNull):
        return s.is_null()
    raise CompileError(f"value of type {type(value).__name__} is not supported")


def _string_match(s: pl.Expr, value: SigmaString, *, cased: bool) -> pl.Expr:
    parts = list(value.s)
    subject = s if cased else s.str.to_lowercase()

    def lit(text: str) -> str:
        return text if cased else text.lower()

    plain = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if not isinstance(p, str)]
    if not specials:
        return subject == lit("".join(plain))
    any_ = SpecialChars.WILDCARD_MULTI
    inner = parts[1:-1]
    if all(isinstance(p, str) for p in inner):
        text = lit("".join(p for p in parts if isinstance(p, str)))
        lead, trail = parts[0] == any_, parts[-1] == any_
        if len(parts) == 1 and lead:  # "*" alone: anything present
            return s.is_not_null()
        if lead and trail and len(parts) == 3:
            return subject.str.contains(text, literal=True)
        if lead and trail and len(parts) == 2:  # "**"
            return s.is_not_null()
        if lead and len(parts) == 2:
            return subject.str.ends_with(text)
        if trail and len(parts) == 2:
            return subject.str.starts_with(text)
    pattern = "".join(
        re.escape(p)
        if isinstance(p, str)
        else ".*"
        if p == any_
        else "."
        if p == SpecialChars.WILDCARD_SINGLE
        else _bad(p)
        for p in parts
    )
    flags = "(?s)" if cased else "(?si)"
    return s.str.contains(f"{flags}^{pattern}$")


def _bad(part: Any) -> str:
    raise CompileError(f"unsupported value part {part!r}")


_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def _regex(s: pl.Expr, value: SigmaRegularExpression) -> pl.Expr:
    pattern = str(value.regexp)
    flags = "".join(sorted(_FLAGS[f] for f in value.flags))
    full = f"(?{flags}){pattern}" if flags else pattern
    try:  # the Rust regex engine lacks look-around and back-references: say so now
        pl.Series([""], dtype=pl.String).str.contains(full)
    except pl.exceptions.PolarsError as e:
        raise CompileError(f"regular expression {pattern!r} is not supported: {e}") from e
    return s.str.contains(full)


def _fieldref(access: Access, other: Access, value: SigmaFieldReference) -> pl.Expr:
    def scalar(a: Access) -> pl.Expr:
        if a.kind == "list":
            return a.expr.list.first()
        return a.expr.cast(pl.String)

    left, right = scalar(access), scalar(other)
    if value.starts_with and value.ends_with:
        return left.str.contains(right, literal=True)
    if value.starts_with:
        return left.str.starts_with(right)
    if value.ends_with:
        return left.str.ends_with(right)
    return left == right


def _time_part(expr: pl.Expr, value: SigmaTimestampPart) -> pl.Expr:
    part = {
        TimestampPart.MINUTE: expr.dt.minute(),
        TimestampPart.HOUR: expr.dt.hour(),
        TimestampPart.DAY: expr.dt.day(),
        TimestampPart.WEEK: expr.dt.week(),
        TimestampPart.MONTH: expr.dt.month(),
        TimestampPart.YEAR: expr.dt.year(),
    }[value.timestamp_part]
    return part == int(value.number)
