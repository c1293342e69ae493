"""docs/iam-policy.json lists exactly the AWS actions the code calls (a static scan of forensics/).

The scan finds every ``<x>.client("service")`` in the package, takes the operation names of those
services from botocore's models, and then every call of such an operation (``.get_object(...)``)
or paginator/waiter by name (``get_paginator("list_objects_v2")``). A new boto3 call that is not
in the policy fails here, and so does a policy action the code no longer calls.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "forensics"
POLICY = REPO / "docs" / "iam-policy.json"

#: Operations whose IAM action is not "<prefix>:<OperationName>".
ACTION_OF = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "GetObjectAttributes"): "s3:GetObject",
}
READ_VERBS = ("List", "Get", "Describe", "Lookup", "Filter", "Head", "Search", "Query")
#: Query APIs (DESIGN.md: "List*/Get*/Describe*/LookupEvents/query APIs"): running and
#: stopping an Athena query reads the trail and changes nothing in the account.
QUERY_ACTIONS = frozenset({"athena:StartQueryExecution", "athena:StopQueryExecution"})


def _services(trees: list[ast.AST]) -> set[str]:
    found = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def actions_called(sources: dict[str, str]) -> dict[str, set[str]]:
    """IAM action -> the files that call it, for Python ``sources`` (name -> text)."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    session = botocore.session.get_session()
    ops: dict[str, tuple[str, str]] = {}  # snake_name -> (iam prefix, OperationName)
    by_service: dict[str, dict[str, tuple[str, str]]] = {}
    for service in sorted(_services(list(trees.values()))):
        model = session.get_service_model(service)
        prefix = model.metadata.get("signingName") or model.endpoint_prefix
        for op in model.operation_names:
            ops[xform_name(op)] = (prefix, op)
            by_service.setdefault(service, {})[xform_name(op)] = (prefix, op)
    out: dict[str, set[str]] = {}
    for name, tree in trees.items():
        # an operation name several services share (GetQueryResults: Athena and CloudWatch
        # Logs) is the one of the service whose client this file makes
        mine = {op: v for s in sorted(_services([tree])) for op, v in by_service[s].items()}
        ops_here = {**ops, **mine}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            called = node.func.attr
            if called in ("get_paginator", "get_waiter", "can_paginate") and node.args:
                arg = node.args[0]
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise AssertionError(
                        f"{name}: {called}() with a computed name cannot be "
                        "checked against the policy; use a literal"
                    )
                called = arg.value
            if called in ops_here:
                prefix, op = ops_here[called]
                out.setdefault(ACTION_OF.get((prefix, op), f"{prefix}:{op}"), set()).add(name)
    return out


def _package_sources() -> dict[str, str]:
    return {
        str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def _policy_actions() -> set[str]:
    doc = json.loads(POLICY.read_text(encoding="utf-8"))
    actions: set[str] = set()
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def test_the_code_calls_exactly_the_actions_of_the_policy():
    called = actions_called(_package_sources())
    policy = _policy_actions()
    missing = {a: sorted(f) for a, f in called.items() if a not in policy}
    assert not missing, f"called but not in docs/iam-policy.json: {missing}"
    unused = policy - set(called)
    assert not unused, f"in docs/iam-policy.json but never called: {sorted(unused)}"
    # the sources this issue builds are there (the scan sees them)
    assert {
        "s3:ListBucket",
        "s3:GetObject",
        "cloudtrail:LookupEvents",
        "logs:FilterLogEvents",
    } <= set(called)


def test_the_policy_only_reads():
    for action in _policy_actions():
        assert "*" not in action, action
        verb = action.split(":", 1)[1]
        assert verb.startswith(READ_VERBS) or action in QUERY_ACTIONS, (
            f"{action} is not a read action"
        )


def test_the_scan_catches_a_write_and_a_paginator():
    snippet = (
        "import boto3\n"
        "s3 = boto3.Session().client('s3')\n"
        "s3.delete_object(Bucket='b', Key='k')\n"
        "s3.get_paginator('list_objects_v2')\n"
        "boto3.client('cloudtrail').stop_logging(Name='t')\n"
    )
    called = actions_called({"snippet.py": snippet})
    assert set(called) == {"s3:DeleteObject", "s3:ListBucket", "cloudtrail:StopLogging"}
    with pytest.raises(AssertionError, match="computed name"):
        actions_called({"x.py": "c = s.client('s3')\nc.get_paginator(name)\n"})
