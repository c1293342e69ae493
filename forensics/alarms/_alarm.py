"""What would catch it live next time: an EventBridge event pattern, a CloudWatch Logs metric
filter pattern for the trail's log group, and a CloudFormation template wiring both to an SNS
topic (metric filter -> alarm -> topic; rule -> topic).

The conditions come from the events that made the finding (their event source and name, the
error code when every one failed, and the identity when the finding is about one), so a pattern
matches those events and not their neighbours.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["Alarm", "alarm"]

_READ = re.compile(r"^(Get|List|Describe|Head|Lookup|Search|Query|Scan|BatchGet|Select|Check)")


@dataclass(frozen=True)
class Alarm:
    """The live detection for one finding / rule / Insight."""

    name: str
    conditions: dict[str, list[str]]  # CloudTrail record path -> accepted values
    event_pattern: dict[str, Any]
    metric_filter_pattern: str
    threshold: float = 1.0
    period_seconds: int = 300
    read_only: bool = False
    notes: list[str] = field(default_factory=list)
    #: CloudTrail record path -> values that must NOT be there (``anything-but`` / ``!=``)
    excluded: dict[str, list[str]] = field(default_factory=dict)

    def cloudformation(
        self, *, log_group_parameter: str = "CloudTrailLogGroupName"
    ) -> dict[str, Any]:
        """A CloudFormation template (as a dict): SNS topic, metric filter, alarm, EventBridge rule."""
        base = re.sub(r"[^A-Za-z0-9]", "", self.name.title())[:200] or "Finding"
        state = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if self.read_only else "ENABLED"
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"trail forensics: live alarm for {self.name}",
            "Parameters": {
                log_group_parameter: {
                    "Type": "String",
                    "Description": "CloudWatch Logs log group the trail delivers to",
                }
            },
            "Resources": {
                "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": base}},
                "AlarmTopicPolicy": {
                    "Type": "AWS::SNS::TopicPolicy",
                    "Properties": {
                        "Topics": [{"Ref": "AlarmTopic"}],
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "events.amazonaws.com"},
                                    "Action": "sns:Publish",
                                    "Resource": {"Ref": "AlarmTopic"},
                                }
                            ],
                        },
                    },
                },
                "MetricFilter": {
                    "Type": "AWS::Logs::MetricFilter",
                    "Properties": {
                        "LogGroupName": {"Ref": log_group_parameter},
                        "FilterPattern": self.metric_filter_pattern,
                        "MetricTransformations": [
                            {
                                "MetricNamespace": "TrailForensics",
                                "MetricName": base,
                                "MetricValue": "1",
                                "DefaultValue": 0,
                            }
                        ],
                    },
                },
                "Alarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmDescription": self.name,
                        "Namespace": "TrailForensics",
                        "MetricName": base,
                        "Statistic": "Sum",
                        "Period": self.period_seconds,
                        "EvaluationPeriods": 1,
                        "Threshold": self.threshold,
                        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": [{"Ref": "AlarmTopic"}],
                    },
                },
                "Rule": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Description": self.name[:512],
                        "EventPattern": self.event_pattern,
                        "State": state,
                        "Targets": [{"Arn": {"Ref": "AlarmTopic"}, "Id": "AlarmTopic"}],
                    },
                },
            },
        }

    def cloudformation_json(self, **kwargs: Any) -> str:
        """:meth:`cloudformation` as JSON text (CloudFormation reads JSON templates)."""
        return json.dumps(self.cloudformation(**kwargs), indent=2)

    def __str__(self) -> str:
        return (
            f"{self.name}\nEventBridge pattern:\n{json.dumps(self.event_pattern, indent=2)}\n"
            f"Metric filter pattern:\n{self.metric_filter_pattern}"
        )


def _service(event_source: str) -> str:
    # EventBridge "source" of CloudTrail events: aws.<service prefix>
    return "aws." + event_source.split(".amazonaws.com")[0].split(".")[0]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _metric_filter(
    conditions: dict[str, list[str]], excluded: dict[str, list[str]] | None = None
) -> str:
    terms = []
    for path, values in conditions.items():
        alts = [f"($.{path} = {_quote(v)})" for v in values]
        terms.append(alts[0] if len(alts) == 1 else "(" + " || ".join(alts) + ")")
    for path, values in (excluded or {}).items():
        terms.extend(f"($.{path} != {_quote(v)})" for v in sorted(set(values)))
    return "{ " + " && ".join(terms) + " }"


def _nest(
    conditions: dict[str, list[str]], excluded: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    leaves = [(p, sorted(set(v))) for p, v in conditions.items()]
    leaves += [(p, [{"anything-but": sorted(set(v))}]) for p, v in (excluded or {}).items()]
    for path, value in leaves:
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _build(name: str, conditions: dict[str, list[str]], *, threshold: float = 1.0,
           period: int = 300, read_only: bool | None = None, notes: list[str] | None = None) -> Alarm:  # fmt: skip
    conditions = {k: sorted(set(v)) for k, v in conditions.items() if v}
    if "eventName" not in conditions and "eventSource" not in conditions:
        raise ValueError(
            f"cannot build an alarm for {name!r}: no event source or name to match "
            "(pass trail= so the finding's events can be read, or a rule dict with event_name)"
        )
    names = conditions.get("eventName", [])
    detail_types = ["AWS API Call via CloudTrail"]
    if "ConsoleLogin" in names:
        detail_types = (["AWS Console Sign In via CloudTrail"] if names == ["ConsoleLogin"]
                        else [*detail_types, "AWS Console Sign In via CloudTrail"])  # fmt: skip
    pattern: dict[str, Any] = {"detail-type": detail_types, "detail": _nest(conditions)}
    if "eventSource" in conditions:
        pattern = {"source": sorted({_service(s) for s in conditions["eventSource"]}), **pattern}
    ro = read_only if read_only is not None else any(_READ.match(n) for n in names)
    notes = list(notes or [])
    if ro:
        notes.append(
            "read-only calls reach EventBridge only with a rule in state "
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (the template sets it)"
        )
    return Alarm(name, conditions, pattern, _metric_filter(conditions), float(threshold), period,
                 bool(ro), notes)  # fmt: skip


def _from_events(events: pl.DataFrame, identity: dict[str, str | None]) -> dict[str, list[str]]:
    cond: dict[str, list[str]] = {
        "eventSource": events["event_source"].drop_nulls().unique().to_list(),
        "eventName": events["event_name"].drop_nulls().unique().to_list(),
    }
    codes = events["error_code"]
    if codes.null_count() == 0 and events.height:
        cond["errorCode"] = codes.unique().to_list()
    for path, value in identity.items():
        if value:
            cond[path] = [value]
    return cond


def alarm(item: Any, *, trail: Any = None, name: str | None = None) -> Alarm:
    """The live alarm for a finding, an Insight, a seed or a rule.

    ``item`` may be: a findings row (dict, or a one-row frame of
    :data:`~forensics.baseline.FINDINGS_SCHEMA`; with ``trail=`` its ``event_ids`` are read for
    the event names and error codes); an Insight row (:data:`~forensics.baseline.INSIGHTS_SCHEMA`:
    the alarm counts that API's calls, or errors, per minute against the Insight's threshold);
    a :class:`~forensics.sources._findings.Seed` (any call with its key); or a rule dict with
    ``event_source``, ``event_name`` (str or list), and optionally ``error_code``,
    ``access_key_id``, ``principal_arn``, ``source_ip``, ``aws_region``.

    >>> a = alarm({"event_source": "cloudtrail.amazonaws.com", "event_name": "StopLogging"})
    >>> a.event_pattern["detail"]["eventName"], a.metric_filter_pattern
    (['StopLogging'], '{ ($.eventSource = "cloudtrail.amazonaws.com") && ($.eventName = "StopLogging") }')
    """
    if isinstance(item, pl.DataFrame):
        if item.height != 1:
            raise ValueError(f"alarm() takes one finding; this frame has {item.height} rows")
        item = item.row(0, named=True)
    if hasattr(item, "access_key_id") and hasattr(item, "finding_id"):  # a Seed
        ident = {"userIdentity.accessKeyId": item.access_key_id}
        if not item.access_key_id and item.principal_arn:
            ident = {"userIdentity.arn": item.principal_arn}
        apis = [a.split(":", 1) for a in item.api_calls]
        cond = {
            "eventSource": [s for s, _ in apis if s != "?"],
            "eventName": [n for _, n in apis],
            **{k: [v] for k, v in ident.items() if v},
        }
        if not cond["eventName"]:
            ident_only = {k: [v] for k, v in ident.items() if v}
            if not ident_only:
                raise ValueError(f"finding {item.finding_id!r} names no key, principal or API")
            return _build_any(name or f"{item.source} {item.finding_type}", ident_only)
        return _build(name or f"{item.source} {item.finding_type}", cond)
    if not isinstance(item, dict):
        raise TypeError(
            f"alarm() takes a finding row, an Insight row, a Seed or a rule dict, "
            f"not {type(item).__name__}"
        )
    if "insight_type" in item and "event_name" in item and "baseline_average" in item:
        is_error = item["insight_type"] == "ApiErrorRateInsight"
        cond = {"eventSource": [item["event_source"]], "eventName": [item["event_name"]]}
        if is_error and item.get("error_code"):
            cond["errorCode"] = [item["error_code"]]
        base = float(item.get("baseline_average") or 0.0)
        threshold = max(
            1.0, math.ceil(max(base * 5.0, min(float(item.get("insight_average") or 1), 10.0)))
        )
        label = "error rate" if is_error else "call rate"
        return _build(name or f"{label} of {item['event_name']}", cond, threshold=threshold,
                      period=60, read_only=None if is_error else False,
                      notes=[f"per-minute {label} >= {threshold:g} (baseline {base:.4g}/min)"])  # fmt: skip
    if "rule_id" in item:
        details = (
            json.loads(item.get("details") or "{}") if isinstance(item.get("details"), str) else {}
        )
        ident: dict[str, str | None] = {}
        rule = str(item["rule_id"])
        pair = details.get("pair") if rule.startswith("first_seen.") else None
        label = name or str(item.get("title") or rule)
        if pair in ("key_ip", "region"):
            # "the same again, live": this key (or identity) from an address (a region) it was
            # not seen at while learning; without a trail, the one address (region) it used
            column, path = ("source_ip", "sourceIPAddress") if pair == "key_ip" else (
                "aws_region", "awsRegion")  # fmt: skip
            who = (
                {"userIdentity.accessKeyId": item.get("access_key_id")}
                if pair == "key_ip"
                else {"principal": item.get("principal")}
            )
            who = {k: v for k, v in who.items() if v}
            live = (
                {"userIdentity.accessKeyId": [who["userIdentity.accessKeyId"]]}
                if pair == "key_ip" and who
                else {k: [v] for k, v in _identity(item.get("principal")).items()}
            )
            known = (
                _known_before(trail, column, who, details.get("learning_until"))
                if trail is not None and who
                else []
            )
            if known:
                return _build_any(label, live, {path: known})
            return _build_any(label, {**live, path: [str(details.get("value"))]})
        if pair is not None:
            ident = dict(_identity(item.get("principal")))
        if rule.startswith("insight.") and details.get("event_name"):
            return alarm(details | {"insight_type": details.get("insight_type")}, name=name)
        events = None
        if trail is not None and item.get("event_ids"):
            lf = (
                trail
                if isinstance(trail, pl.LazyFrame)
                else trail.lazy()
                if isinstance(trail, pl.DataFrame)
                else trail.lazy
            )
            events = lf.filter(pl.col("event_id").is_in(list(item["event_ids"]))).collect()
        if events is None or events.height == 0:
            api = str(details.get("value", "")) if details.get("pair") == "api" else ""
            if ":" not in api:
                raise ValueError(
                    f"cannot read the events of finding {item.get('title')!r}: pass trail= "
                    "(the trail the finding came from)"
                )
            src, nm = api.split(":", 1)
            cond = {
                "eventSource": [src],
                "eventName": [nm],
                **{k: [v] for k, v in ident.items() if v},
            }
        else:
            cond = _from_events(events, ident)
        return _build(label, cond)
    names = item.get("event_name")
    cond = {
        "eventSource": [item["event_source"]] if item.get("event_source") else [],
        "eventName": [names] if isinstance(names, str) else list(names or []),
        "errorCode": [item["error_code"]] if item.get("error_code") else [],
        "userIdentity.accessKeyId": [item["access_key_id"]] if item.get("access_key_id") else [],
        "userIdentity.arn": [item["principal_arn"]] if item.get("principal_arn") else [],
        "sourceIPAddress": [item["source_ip"]] if item.get("source_ip") else [],
        "awsRegion": [item["aws_region"]] if item.get("aws_region") else [],
    }
    return _build(name or item.get("name") or "rule", cond)


def _build_any(
    name: str, cond: dict[str, list[str]], excluded: dict[str, list[str]] | None = None
) -> Alarm:
    """An alarm on identity alone (any API): e.g. every call made with a leaked key."""
    cond = {k: sorted(set(v)) for k, v in cond.items() if v}
    excluded = {k: sorted(set(v)) for k, v in (excluded or {}).items() if v}
    if not cond:
        raise ValueError(f"cannot build an alarm for {name!r}: no identity to match")
    pattern = {"detail-type": ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"],
               "detail": _nest(cond, excluded)}  # fmt: skip
    return Alarm(name, cond, pattern, _metric_filter(cond, excluded), 1.0, 300, True,
                 ["matches every call made with this identity, read-only calls included"],
                 excluded)  # fmt: skip


def _identity(principal: str | None) -> dict[str, str]:
    """How a ``principal`` of the events table shows in a live record (role: its sessions)."""
    if not principal or not principal.startswith("arn:"):
        return {}
    if ":role/" in principal:
        return {"userIdentity.sessionContext.sessionIssuer.arn": principal}
    return {"userIdentity.arn": principal}


def _known_before(trail: Any, column: str, where: dict[str, str], until: str | None) -> list[str]:
    """Values of ``column`` seen for an identity before ``until`` (the learning window)."""
    from forensics._schema import to_utc

    lf = (
        trail
        if isinstance(trail, pl.LazyFrame)
        else trail.lazy()
        if isinstance(trail, pl.DataFrame)
        else trail.lazy
    )
    cols = {"userIdentity.accessKeyId": "access_key_id", "principal": "principal"}
    pred = pl.all_horizontal(pl.col(cols[k]) == v for k, v in where.items())
    if until:
        pred = pred & (pl.col("event_time") < to_utc(until))
    return sorted(
        v for v in lf.filter(pred).select(pl.col(column).unique()).collect().to_series() if v
    )
