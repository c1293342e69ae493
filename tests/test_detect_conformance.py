"""Detections against real data: the community rule sets, Stratus Red Team, Invictus, the sample.

* every SigmaHQ / Suzaku CloudTrail rule loads, or is reported with its file and reason;
* all of them run over the sample and every external source without error;
* every Stratus Red Team detonation is found by a shipped rule tagged with its ATT&CK technique
  (the per-technique table in docs/detections.md is generated here: run with
  ``FORENSICS_UPDATE_DOCS=1`` to rewrite it);
* the Invictus dataset's known techniques are found;
* the sample's benign background raises no high or critical finding of the shipped rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

import forensics as fx
from forensics.detect import load_rules

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "detections.md"
START, END = "<!-- stratus-table:start -->", "<!-- stratus-table:end -->"


@pytest.fixture(scope="session")
def community(external) -> Path:
    root = external.parent / "rules"
    if not (root / "README.md").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"community rules not found at {root}")
        pytest.skip(f"community rules not found at {root}")
    return root


@pytest.fixture(scope="session")
def community_rules(community):
    return load_rules([community], builtin=False)


#: The community rules that cannot run, and why (everything else must load).
EXPECTED_PROBLEMS = {
    # SigmaHQ's rule tests a field `status` that no CloudTrail record has
    "aws_delete_saml_provider.yml": "field 'status' is not a CloudTrail record field",
    # SigmaHQ's "unsupported" folder: the old aggregation syntax, and one Azure AD rule
    "aws_ec2_download_userdata.yml": "pipe syntax",
    "aws_enum_backup.yml": "pipe syntax",
    "aws_enum_listing.yml": "pipe syntax",
    "aws_enum_network.yml": "pipe syntax",
    "aws_enum_storage.yml": "pipe syntax",
    "aws_lambda_function_created_or_invoked.yml": "pipe syntax",
    "aws_macic_evasion.yml": "pipe syntax",
    "azure_aad_secops_signin_failure_bad_password_threshold.yml": "is not AWS CloudTrail",
}


def test_every_community_rule_loads_or_is_reported(community, community_rules) -> None:
    files = sorted(community.rglob("*.yml"))
    sources = {Path(r.source).name for r in community_rules.rules}
    problems = {Path(p.source).name: p.reason for p in community_rules.problems}
    for f in files:
        assert f.name in sources or f.name in problems, f
    assert set(problems) == set(EXPECTED_PROBLEMS)
    for name, reason in EXPECTED_PROBLEMS.items():
        assert reason in problems[name], (name, problems[name])
    by_set = lambda part: [r for r in community_rules.rules if f"/{part}/" in r.source]  # noqa: E731
    assert len([r for r in by_set("sigmahq/rules") if r.plan]) == 56  # 57, less the one above
    suzaku = by_set("suzaku")
    assert len([r for r in suzaku if r.correlation]) == 5
    # 738 files: 733 per-API rules, and 5 correlations with their 7 base rules (silent)
    assert len([r for r in suzaku if r.plan and r.output]) == 733
    assert len([r for r in suzaku if r.plan and not r.output]) == 7


def _sources(external: Path) -> dict[str, Path]:
    return {
        "stratus": external / "stratus-red-team",
        "invictus": external / "invictus-ir-aws_dataset",
        "otrf": external / "otrf-security-datasets",
        "panther": external / "panther-analysis" / "extracted",
        "plaso": external / "plaso",
        "streamalert": external / "streamalert",
        "traildiscover": external / "traildiscover" / "docs" / "logExamples",
    }


@pytest.mark.slow
def test_all_rules_run_over_every_external_source(external, community_rules) -> None:
    rules = load_rules([]) + community_rules
    for name, path in _sources(external).items():
        trail = fx.load(path, cache=False)
        found = fx.detect(trail, rules)
        assert found.frame.height >= 0
        if name in ("stratus", "invictus", "traildiscover"):
            assert found.frame.height > 0, name
        # every hit names real events of the trail
        ids = set(trail.events["event_id"].drop_nulls().to_list())
        assert set(found.event_ids()) <= ids, name


#: Stratus technique -> the ATT&CK technique (prefix) a finding must carry.
STRATUS_ATTACK = {
    "credential-access.ec2-get-password-data": "T1552",
    "credential-access.ec2-steal-instance-credentials": "T1552.005",
    "credential-access.secretsmanager-batch-retrieve-secrets": "T1555",
    "credential-access.secretsmanager-retrieve-secrets": "T1555",
    "credential-access.ssm-retrieve-securestring-parameters": "T1555",
    "defense-evasion.cloudtrail-delete": "T1562.008",
    "defense-evasion.cloudtrail-event-selectors": "T1562.008",
    "defense-evasion.cloudtrail-stop": "T1562.008",
    "defense-evasion.dns-delete-logs": "T1562.008",
    "defense-evasion.organizations-leave": "T1562",
    "defense-evasion.vpc-remove-flow-logs": "T1562.008",
    "discovery.ec2-download-user-data": "T1580",
    "execution.ec2-launch-unusual-instances": "T1578",
    "execution.ec2-user-data": "T1059",
    "execution.ssm-send-command": "T1651",
    "execution.ssm-start-session": "T1651",
    "exfiltration.ec2-security-group-open-port-22-ingress": "T1562.007",
    "exfiltration.ec2-share-ami": "T1537",
    "exfiltration.ec2-share-ebs-snapshot": "T1537",
    "exfiltration.rds-share-snapshot": "T1537",
    "impact.bedrock-invoke-model": "T1496",
    "initial-access.console-login-without-mfa": "T1078.004",
    "lateral-movement.ec2-instance-connect": "T1021",
    "lateral-movement.ec2-serial-console-send-ssh-public-key": "T1021",
    "persistence.iam-backdoor-role": "T1098",
    "persistence.iam-backdoor-user": "T1098.001",
    "persistence.iam-create-admin-user": "T1136",
    "persistence.iam-create-backdoor-role": "T1098",
    "persistence.iam-create-user-login-profile": "T1098",
    "persistence.lambda-backdoor-function": "T1546",
    "persistence.lambda-layer-extension": "T1546",
    "persistence.lambda-overwrite-code": "T1525",
    "persistence.rolesanywhere-create-trust-anchor": "T1098",
    "persistence.sts-federation-token": "T1550",
    "privilege-escalation.iam-update-user-login-profile": "T1098",
}


def stratus_table(external: Path) -> tuple[str, list[str]]:
    """The per-technique Markdown table, and the techniques no shipped rule found."""
    rules = load_rules([])
    folder = external / "stratus-red-team" / "docs" / "detonation-logs"
    rows = ["| Stratus technique | ATT&CK | found by (shipped rules, level) |", "|---|---|---|"]
    missed = []
    files = sorted(folder.glob("aws.*.json"))
    assert {p.stem.removeprefix("aws.") for p in files} == set(STRATUS_ATTACK)
    for p in files:
        technique = p.stem.removeprefix("aws.")
        want = STRATUS_ATTACK[technique]
        found = fx.detect(fx.load(p, cache=False), rules).frame
        mapped = found.filter(
            pl.col("techniques")
            .cast(pl.List(pl.String))
            .list.eval(pl.element().str.starts_with(want))
            .list.any()
        )
        titles = sorted(set(zip(mapped["title"].to_list(), mapped["level"].to_list(), strict=True)))
        if not titles:
            missed.append(technique)
        found_by = "; ".join(f"{t} ({lv})" for t, lv in titles) or "**none**"
        rows.append(f"| `{technique}` | {want} | {found_by} |")
    return "\n".join(rows) + "\n", missed


def test_every_stratus_detonation_is_found_by_a_rule_of_its_technique(external) -> None:
    table, missed = stratus_table(external)
    assert missed == []
    text = DOC.read_text()
    before, _, rest = text.partition(START + "\n")
    _, _, after = rest.partition(END)
    current = before + START + "\n" + table + END + after
    if os.environ.get("FORENSICS_UPDATE_DOCS") == "1":
        DOC.write_text(current)
    assert text == current, (
        "docs/detections.md is stale: run this test with FORENSICS_UPDATE_DOCS=1"
    )


def test_invictus_known_techniques_are_found(external) -> None:
    trail = fx.load(external / "invictus-ir-aws_dataset", cache=False)
    found = fx.detect(trail)
    titles = set(found.frame["title"].to_list())
    expected = {
        "CloudTrail logging stopped",  # StopLogging x3
        "CloudTrail trail deleted",
        "CloudTrail event selectors drop management or write events",
        "Account left its AWS Organization",
        "EBS snapshot shared or made public",
        "AMI shared or made public",
        "RDS snapshot shared or made public",
        "Role trust policy opened to an account or everyone",  # UpdateAssumeRolePolicy
        "IAM Roles Anywhere trust anchor or profile created",
        "Command or session on an instance through SSM",  # SendCommand
        "Many different secrets read in a short time",  # GetSecretValue x60
        "Windows instance password data requested",  # GetPasswordData x29
        "EC2 instance credentials used from outside AWS",  # stolen role creds from 3.225.16.109
        "IAM user created",  # the backdoor user
    }
    assert expected <= titles, expected - titles
    # and they are pinned to the attacker
    stop = found.frame.filter(pl.col("title") == "CloudTrail logging stopped")
    assert set(stop["principal"]) == {"arn:aws:iam::123837392027:user/bert-jan"}
    stolen = found.frame.filter(pl.col("title") == "EC2 instance credentials used from outside AWS")
    assert "3.225.16.109" in set(stolen["source_ip"])


@pytest.fixture(scope="module")
def sample_week(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("detect-sample")
    info = fx.sample.write(out / "trail", events=15_000)
    return fx.load(out / "trail", cache=False), info.story


def test_benign_background_raises_no_high_finding(sample_week) -> None:
    trail, story = sample_week
    found = fx.detect(trail).at_least("high")
    incident = set(story["incident_event_ids"])
    outside = [
        (t, ids)
        for t, ids in zip(found.frame["title"], found.frame["event_ids"].to_list(), strict=True)
        if not set(ids) <= incident
    ]
    assert outside == []
    # the incident itself is seen: persistence, the snapshot share, evasion, the probe burst
    titles = set(found.frame["title"])
    assert {
        "Access key created for another user",
        "Console password set for another user",
        "Administrator policy granted",
        "EBS snapshot shared or made public",
        "CloudTrail trail deleted",
        "Console sign-in without MFA",
        "Burst of denied calls from one key",
    } <= titles
    burst = found.frame.filter(pl.col("title") == "Burst of denied calls from one key")
    assert set(burst["access_key_id"]) == {story["leaked_access_key_id"]}
    assert burst["event_count"][0] >= 10
    assert set(burst["event_ids"][0].to_list()) <= set(story["denied_event_ids"])


def test_community_rules_run_over_the_sample(sample_week, community_rules) -> None:
    trail, story = sample_week
    found = fx.detect(trail, community_rules, builtin=False)
    corr = found.frame.filter(pl.col("kind") == "correlation")
    assert "IAM Persis Chain via User and Access Key Creation" in set(corr["title"])
    chain = corr.filter(pl.col("title") == "IAM Persis Chain via User and Access Key Creation")
    assert set(chain["event_ids"][0].to_list()) <= set(story["persistence_event_ids"])
