"""Sigma detections over the events table: rules in, :class:`Findings` out.

pySigma parses the rules; this package is the backend that turns their detections into Polars
expressions over the events table (``_compile``, with the field mapping in ``_fields``), runs
them (``_engine``; correlations in ``_correlate``) and gathers the hits (``_findings``). The kit
ships its own rules in ``rules/``; community rule sets (SigmaHQ, Suzaku) load from a folder.

>>> import forensics as fx
>>> from forensics._schema import empty_events
>>> len(fx.detect(fx.Trail(empty_events())))
0
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from forensics.detect._attach import FINDING_COLUMNS, with_findings
from forensics.detect._findings import (
    Findings,
    as_findings,
    build,
    concat_findings,
    level_rank,
)
from forensics.detect._rules import (
    BUILTIN_RULES,
    LEVELS,
    Rule,
    RuleProblem,
    RuleSet,
    load_rules,
)

__all__ = [
    "BUILTIN_RULES",
    "COMMUNITY_ENV",
    "FINDING_COLUMNS",
    "LEVELS",
    "Findings",
    "Rule",
    "RuleProblem",
    "RuleSet",
    "as_findings",
    "concat_findings",
    "detect",
    "level_rank",
    "load_rules",
    "with_findings",
]

#: Environment variable naming the community rules folder used by ``include_community=True``.
COMMUNITY_ENV = "FORENSICS_COMMUNITY_RULES"

RulesArg = RuleSet | str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def _ruleset(
    rules: RulesArg, include_community: bool | str | os.PathLike[str], builtin: bool
) -> RuleSet:
    if isinstance(rules, RuleSet):
        extra = _community(include_community)
        return rules + load_rules(extra, builtin=False) if extra else rules
    if rules is None:
        paths: list[str | os.PathLike[str]] = []
    elif isinstance(rules, (str, os.PathLike)):
        paths = [rules]
    else:
        paths = list(rules)
    return load_rules([*paths, *_community(include_community)], builtin=builtin)


def _community(include: bool | str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    if include is False or include is None:
        return []
    if include is True:
        where = os.environ.get(COMMUNITY_ENV)
        if not where:
            raise ValueError(
                "include_community=True needs the community rules folder: pass its path "
                f"(include_community='path/to/rules') or set {COMMUNITY_ENV}"
            )
        include = where
    if not Path(include).exists():
        raise ValueError(f"community rules folder {str(include)!r} does not exist")
    return [include]


def detect(
    trail: Any,
    rules: RulesArg = None,
    *,
    include_community: bool | str | os.PathLike[str] = False,
    builtin: bool = True,
    min_level: str | None = None,
    baselines: bool | dict[str, Any] = False,
) -> Findings:
    """Run Sigma rules over a trail and return their :class:`Findings`.

    ``rules``: extra rule files/folders (added to the kit's own rules unless ``builtin=False``)
    or a :class:`RuleSet` loaded once with :func:`load_rules`. ``include_community``: a folder of
    community rules (SigmaHQ, Suzaku), or True to use ``$FORENSICS_COMMUNITY_RULES``. Rules that
    cannot run are in ``findings.problems`` (file and reason); the rest run.
    ``baselines=True`` adds the baseline findings (Insights read or computed, first-seen pairs;
    :func:`forensics.baseline.baseline_findings`) to the same table; a dict passes its options
    (``{"until": "2026-03-04", "pairs": ["api", "key_ip"]}``). Findings of any producer join
    with ``|`` (:func:`concat_findings`).

    Example::

        findings = fx.detect(trail, rules=["my-rules/"], include_community="../rules")
        findings.at_least("high").summary()
        findings.for_principal("arn:aws:iam::111122223333:user/alice").frame
    """
    if min_level is not None:
        level_rank(min_level)  # a bad level fails before the work
    ruleset = _ruleset(rules, include_community, builtin)
    from forensics.detect._engine import match_in_batches, match_rows, rule_columns

    if not isinstance(baselines, bool | dict):
        raise TypeError(f"baselines= takes True/False or a dict of options, not {baselines!r}")
    if isinstance(trail, pl.DataFrame):
        frame, matches = trail, match_rows(trail, ruleset)
    elif hasattr(trail, "with_actors") and "actor" not in rule_columns(ruleset):
        # a Trail: each hit names the person behind the session (the propagated actor). The
        # batches read the trail as it is; the actor is worked out for the kept rows only
        # (the propagation is a lookup per row: the same answer, not paid on every event)
        from forensics.identity._actors import ACTOR_INPUTS, actor_expr, key_actors

        # the lineage lookups (a few scans of the trail) run while the batches are matched
        with ThreadPoolExecutor(1, thread_name_prefix="forensics-lineage") as pool:
            lineage = pool.submit(key_actors, trail)
            frame, matches = match_in_batches(trail.lazy, ruleset, extra=ACTOR_INPUTS)
            lineage.result()
        frame = frame.with_columns(actor_expr(trail, rows=frame))
    else:
        # read in batches: the rows some rule matched are kept, never the whole table
        frame, matches = match_in_batches(_lazy(trail), ruleset)
    floor = level_rank(min_level) if min_level else 0
    found = Findings(build(frame, ruleset, matches, floor), ruleset.problems, ruleset)
    if baselines is False:
        return found
    from forensics.baseline import baseline_findings  # Insights and first-seen, one shape

    # the baselines need every event (rates, first sightings), not only the rows rules matched
    extra = baseline_findings(trail, **(baselines if isinstance(baselines, dict) else {}))
    if floor:
        extra = extra.filter(pl.col("level").cast(pl.String).is_in(LEVELS[floor:]))
    return found | extra


def _lazy(trail: Any) -> pl.LazyFrame:
    if isinstance(trail, pl.LazyFrame):
        return trail
    if hasattr(trail, "with_actors"):  # a Trail: each hit names the person behind the session
        trail = trail.with_actors()
    lazy = getattr(trail, "lazy", None)
    if isinstance(lazy, pl.LazyFrame):
        return lazy
    raise TypeError(f"detect() needs a Trail or an events DataFrame, not {type(trail).__name__}")


class _CallableModule(types.ModuleType):
    """``forensics.detect`` is both this package and the function ``fx.detect``.

    Python binds a package to its parent's attribute once imported (``forensics.detect`` becomes
    this module, whichever of ``fx.detect`` and ``import forensics.detect`` came first), so the
    package itself is made callable: ``fx.detect(trail, ...)`` always runs :func:`detect`.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Findings:
        return detect(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
