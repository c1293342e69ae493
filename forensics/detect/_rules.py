"""Loading Sigma rules: files and folders -> a :class:`RuleSet` of compiled rules and problems.

A rule that cannot run (invalid YAML, an unknown modifier, a field the events table does not
keep, a log source that is not CloudTrail, pySigma's own validation errors) becomes a
:class:`RuleProblem` naming its file and the reason; every other rule in the same files runs.

Correlation rules may refer to their base rules by ``id``, ``name`` or (as Suzaku's do) by
``title``; titles are resolved within the file first, then across the whole set.

>>> rs = load_rules([])            # the rules shipped with the kit
>>> len(rs) > 20 and not rs.problems
True
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from forensics.detect._compile import CompileError, Plan, compile_rule
from forensics.detect._fields import UnsupportedField, field_access

__all__ = [
    "BUILTIN_RULES",
    "LEVELS",
    "Correlation",
    "Rule",
    "RuleProblem",
    "RuleSet",
    "load_rules",
]

#: The rules shipped with the kit (package data).
BUILTIN_RULES = Path(__file__).resolve().parent / "rules"

#: Sigma's levels, lowest first.
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on 800 rules
_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$", re.IGNORECASE)


@dataclass(frozen=True)
class RuleProblem:
    """A rule (or file) that was not loaded: where, which rule, and why."""

    source: str
    rule: str | None
    reason: str

    def __str__(self) -> str:
        which = f" [{self.rule}]" if self.rule else ""
        return f"{self.source}{which}: {self.reason}"


@dataclass(frozen=True)
class Correlation:
    """A Sigma correlation: its type, the base rules (by id), grouping, window and condition."""

    type: str  # event_count | value_count | temporal | temporal_ordered
    rules: tuple[str, ...]  # the base rules' keys
    group_by: tuple[tuple[str, ...], ...]  # per base rule: the field of each group-by key
    timespan: int  # seconds
    op: str | None  # gte gt lte lt eq neq
    count: float | None
    value_field: tuple[str, ...] | None  # value_count: the field counted, per base rule


@dataclass(frozen=True)
class Rule:
    """One loaded rule: metadata, and either a detection :class:`Plan` or a :class:`Correlation`."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    source: str
    author: str
    key: str = field(default="", compare=False)  # unique in its set (ids repeat across files)
    references: tuple[str, ...] = ()
    description: str = ""
    plan: Plan | None = None
    correlation: Correlation | None = None
    output: bool = True
    custom: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def techniques(self) -> tuple[str, ...]:
        """ATT&CK technique ids from the tags (``attack.t1098`` -> ``T1098``)."""
        return tuple(
            t.split(".", 1)[1].upper()
            for t in self.tags
            if t.startswith("attack.") and _TECHNIQUE.match(t.split(".", 1)[1])
        )

    @property
    def tactics(self) -> tuple[str, ...]:
        """ATT&CK tactics from the tags (``attack.defense-evasion`` -> ``defense-evasion``)."""
        out = []
        for t in self.tags:
            ns, _, name = t.partition(".")
            if ns == "attack" and not _TECHNIQUE.match(name) and not re.match(r"^[gs]\d{4}$", name):
                out.append(name.replace("_", "-"))
        return tuple(out)


@dataclass(frozen=True)
class RuleSet:
    """Rules that load, and the problems of those that do not.

    >>> rs = load_rules([])
    >>> rs.by_id(rs.rules[0].id) is rs.rules[0]
    True
    """

    rules: tuple[Rule, ...]
    problems: tuple[RuleProblem, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules, self.problems + other.problems)


def _files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[RuleProblem]]:
    files: list[Path] = []
    problems: list[RuleProblem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(q for q in path.rglob("*") if q.suffix in (".yml", ".yaml")))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(RuleProblem(str(path), None, "no such file or folder"))
    return files, problems


def load_rules(paths: Sequence[str | os.PathLike[str]] = (), *, builtin: bool = True) -> RuleSet:
    """Load Sigma rules from files and folders (recursively, ``*.yml``/``*.yaml``).

    ``builtin`` adds the rules shipped with the kit. Never raises for a bad rule: see
    :attr:`RuleSet.problems`.
    """
    targets: list[str | os.PathLike[str]] = [BUILTIN_RULES] if builtin else []
    targets.extend(paths)
    files, problems = _files(targets)
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            loaded = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
        except (OSError, UnicodeDecodeError) as e:
            problems.append(RuleProblem(str(path), None, f"cannot read: {e}"))
            continue
        except yaml.YAMLError as e:
            problems.append(RuleProblem(str(path), None, f"invalid YAML: {_one_line(e)}"))
            continue
        for d in loaded:
            if not isinstance(d, dict):
                problems.append(RuleProblem(str(path), None, "a YAML document is not a mapping"))
                continue
            docs.append((path, d))
    _name_by_title(docs)
    rules: list[Rule] = []
    sigma_rules: list[tuple[Path, str, SigmaRule | SigmaCorrelationRule]] = []
    for n, (path, d) in enumerate(docs):
        if "action" in d:  # a collection's global/reset/repeat action
            problems.append(
                RuleProblem(
                    str(path), d.get("title"), "collection action documents are not supported"
                )
            )
            continue
        try:
            cls = SigmaCorrelationRule if "correlation" in d else SigmaRule
            rule = cls.from_dict(d, collect_errors=True)
        except SigmaError as e:
            problems.append(RuleProblem(str(path), d.get("title"), _one_line(e)))
            continue
        except Exception as e:  # pySigma's own bugs on odd input must not stop the rest
            problems.append(
                RuleProblem(str(path), d.get("title"), f"{type(e).__name__}: {_one_line(e)}")
            )
            continue
        if rule.errors:
            problems.append(RuleProblem(str(path), rule.title, _one_line(rule.errors[0])))
            continue
        sigma_rules.append((path, f"{path}#{n}", rule))
    # correlation references: the same file first (Suzaku repeats a base rule's id elsewhere)
    refs: dict[tuple[Path | None, str], str] = {}
    kinds: dict[str, bool] = {}
    for path, key, rule in sigma_rules:
        kinds[key] = isinstance(rule, SigmaCorrelationRule)
        for ref in (str(rule.id) if rule.id else None, rule.name):
            if ref:
                refs.setdefault((path, ref), key)
                refs.setdefault((None, ref), key)
    resolved: dict[str, list[str] | str] = {}
    silent: set[str] = set()
    for path, key, rule in sigma_rules:
        if not isinstance(rule, SigmaCorrelationRule):
            continue
        names = [r.reference for r in rule.rules or []]
        keys = [refs.get((path, n)) or refs.get((None, n)) for n in names]
        missing = [n for n, k in zip(names, keys, strict=True) if k is None]
        if missing:
            resolved[key] = f"its rule {missing[0]!r} is not in the rule set"
        elif any(kinds[k] for k in keys if k):
            resolved[key] = "correlations of correlations are not supported"
        else:
            resolved[key] = [k for k in keys if k]
            if not rule.generate:
                silent.update(resolved[key])
    base: dict[str, Rule] = {}
    for path, key, rule in sigma_rules:
        if isinstance(rule, SigmaCorrelationRule):
            continue
        try:
            _check_logsource(rule)
            plan = compile_rule(rule)
        except CompileError as e:
            problems.append(RuleProblem(str(path), rule.title, str(e)))
            continue
        r = _make(rule, path, key=key, plan=plan, output=key not in silent)
        base[key] = r
        rules.append(r)
    for path, key, rule in sigma_rules:
        if not isinstance(rule, SigmaCorrelationRule):
            continue
        target = resolved.get(key)
        if isinstance(target, str):
            problems.append(RuleProblem(str(path), rule.title, target))
            continue
        try:
            corr = _correlation(rule, target or [], base)
        except CompileError as e:
            problems.append(RuleProblem(str(path), rule.title, str(e)))
            continue
        rules.append(_make(rule, path, key=key, correlation=corr, output=True))
    return RuleSet(tuple(rules), tuple(problems))


def _one_line(e: object) -> str:
    return " ".join(str(e).split())[:500]


def _name_by_title(docs: list[tuple[Path, dict[str, Any]]]) -> None:
    """Let correlations refer to base rules by title (Suzaku does): give those rules a name."""
    by_file: dict[Path, dict[str, dict[str, Any]]] = {}
    everywhere: dict[str, dict[str, Any]] = {}
    known = set()
    for path, d in docs:
        for key in ("id", "name"):
            if isinstance(d.get(key), str):
                known.add(d[key])
        if isinstance(d.get("title"), str) and "correlation" not in d:
            by_file.setdefault(path, {})[d["title"]] = d
            everywhere.setdefault(d["title"], d)
    for path, d in docs:
        corr = d.get("correlation")
        if not isinstance(corr, dict) or not isinstance(corr.get("rules"), list):
            continue
        refs = []
        for ref in corr["rules"]:
            if isinstance(ref, str) and ref not in known:
                target = by_file.get(path, {}).get(ref) or everywhere.get(ref)
                if target is not None:
                    name = (
                        target.get("name") or "title-" + hashlib.sha1(ref.encode()).hexdigest()[:12]
                    )
                    target["name"] = name
                    known.add(name)
                    ref = name
            refs.append(ref)
        corr["rules"] = refs


def _check_logsource(rule: SigmaRule) -> None:
    ls = rule.logsource
    product = (ls.product or "").lower()
    service = (ls.service or "").lower()
    if (product and product != "aws") or (service and service != "cloudtrail"):
        raise CompileError(
            f"log source product={ls.product} service={ls.service} is not AWS CloudTrail"
        )


def _rule_id(rule: SigmaRule | SigmaCorrelationRule) -> str:
    if rule.id is not None:
        return str(rule.id)
    if rule.name:
        return rule.name
    return "title-" + hashlib.sha1(rule.title.encode()).hexdigest()[:12]


def _make(rule: Any, path: Path, **kw: Any) -> Rule:
    return Rule(
        id=_rule_id(rule),
        title=rule.title,
        level=str(rule.level.name).lower() if rule.level is not None else "informational",
        tags=tuple(f"{t.namespace}.{t.name}".lower() for t in rule.tags),
        source=str(path),
        author=rule.author or "",
        references=tuple(rule.references or ()),
        description=(rule.description or "").strip(),
        custom=dict(rule.custom_attributes or {}),
        **kw,
    )


_OPS = {"GTE": "gte", "GT": "gt", "LTE": "lte", "LT": "lt", "EQ": "eq", "NEQ": "neq"}


def _correlation(rule: SigmaCorrelationRule, keys: list[str], base: dict[str, Rule]) -> Correlation:
    refs = []
    for ref, key in zip(rule.rules or [], keys, strict=True):
        if key not in base:
            raise CompileError(f"its base rule {ref.reference!r} did not load")
        refs.append((ref, key))
    if not refs:
        raise CompileError("a correlation needs at least one rule")
    aliases = {a.alias: a for a in rule.aliases}

    def per_rule(field_name: str) -> tuple[str, ...]:
        out = []
        for ref, _ in refs:
            name = field_name
            alias = aliases.get(field_name)
            if alias is not None:
                mapped = {r.reference: f for r, f in alias.mapping.items()}
                name = mapped.get(ref.reference) or field_name
            try:
                field_access(name)
            except UnsupportedField as e:
                raise CompileError(str(e)) from e
            out.append(name)
        return tuple(out)

    group = tuple(per_rule(g) for g in (rule.group_by or []))
    group_by = tuple(tuple(g[i] for g in group) for i in range(len(refs)))
    cond = rule.condition
    op = count = None
    value_field = None
    ctype = rule.type
    if isinstance(cond, SigmaCorrelationCondition):
        op = _OPS[cond.op.name]
        count = cond.count
        if cond.fieldref is not None:
            fields = cond.fieldref if isinstance(cond.fieldref, list) else [cond.fieldref]
            if len(fields) != 1:
                raise CompileError("value_count over several fields is not supported")
            value_field = per_rule(fields[0])
    elif cond is not None:
        raise CompileError("extended correlation conditions are not supported")
    if ctype == SigmaCorrelationType.VALUE_COUNT and value_field is None:
        raise CompileError("value_count needs condition.field")
    supported = {
        SigmaCorrelationType.EVENT_COUNT: "event_count",
        SigmaCorrelationType.VALUE_COUNT: "value_count",
        SigmaCorrelationType.TEMPORAL: "temporal",
        SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
    }
    if ctype not in supported:
        raise CompileError(f"correlation type {ctype} is not supported")
    if rule.timespan is None or not rule.timespan.seconds:
        raise CompileError("a correlation needs a timespan")
    return Correlation(
        type=supported[ctype],
        rules=tuple(key for _, key in refs),
        group_by=group_by,
        timespan=int(rule.timespan.seconds),
        op=op,
        count=count,
        value_field=value_field,
    )
