"""The embedded incident, its decoys, and its ground truth (``SampleInfo.story``).

Drawn from its own ``random.Random`` (derived from the seed only), so the incident's ids are
the same whatever ``events`` is; only its day depends on ``days`` (day 3 of the sample, or
the last day of a shorter one). Phases, as offsets from the first malicious call:

====== =====================================================================================
+0m    discovery with the leaked key ``ci-deploy`` #1 from 203.0.113.54 (Kali aws-cli):
       GetCallerIdentity, GetUser, policies, ListRoles, ListBuckets, DescribeRegions,
       DescribeInstances in seven regions, and a burst of AccessDenied.
+15m   AssumeRole ``ci-deploy-role`` (platform) with session name ``ci-deploy`` (the CI's own).
+24m   role chaining, cross-account: AssumeRole ``data-pipeline-deploy`` (data account), both
       copies with one ``sharedEventID``.
+28m   data access from 203.0.113.201 (boto3): ListObjects/GetObject on
       ``acme-data-customer-exports``, GetSecretValue, SSM GetParameters(ByPath); denied reads
       of ``acme-data-finance-restricted``.
+62m   persistence: CreateUser ``svc-backup-sync``, CreateAccessKey, CreateLoginProfile,
       AttachUserPolicy AdministratorAccess (a CreateUser in the platform account is denied).
+80m   the new key is used: GetObject, AssumeRole ``backup-admin``, snapshot shared with
       999988887777; ConsoleLogin as the new user and console calls.
+105m  evasion: StopLogging on the organisation trail and GuardDuty DeleteDetector denied
       (SCP); the data account's own trail gets PutEventSelectors then DeleteTrail.
====== =====================================================================================

Decoys (legitimate, never part of the incident): the CI's other key assuming the same roles
with the same session name at overlapping times, Jenkins doing the same from its instance
role, the ETL Lambda and an analyst reading the same bucket and objects.
"""

from __future__ import annotations

import random
from typing import Any

from forensics.sample import _ops
from forensics.sample._creds import (
    Cred,
    LongTerm,
    Saml,
    ServiceAssume,
    _expiration,
    assume_role,
)
from forensics.sample._ids import access_key, hex_id, iso, principal_id
from forensics.sample._records import user_identity
from forensics.sample._sim import Actor, Sim
from forensics.sample._world import (
    CI_RUNNER_IP,
    DATA,
    JENKINS_NAT_IP,
    OFFICE_IPS,
    PLATFORM,
    TRAIL_ARN,
    UA_CI,
    UA_CONSOLE,
    UA_JENKINS,
    UA_LAMBDA,
    World,
)

__all__ = ["ATTACKER_IPS", "ATTACKER_UAS", "build_incident"]

IP_RECON = "203.0.113.54"
IP_EXFIL = "203.0.113.201"
ATTACKER_IPS = (IP_RECON, IP_EXFIL)
UA_RECON = "aws-cli/2.13.4 Python/3.11.4 Linux/6.3.0-kali1-amd64 exe/x86_64.kali.2023 prompt/off"
UA_EXFIL = (
    "Boto3/1.28.40 md/Botocore#1.31.40 ua/2.0 os/linux#6.3.0-kali1-amd64 "
    "md/arch#x86_64 lang/python#3.11.4 md/pyimpl#CPython cfg/retry-mode#legacy "
    "Botocore/1.31.40"
)
UA_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
ATTACKER_UAS = (UA_RECON, UA_EXFIL, UA_BROWSER)
OUTSIDE_ACCOUNT = "999988887777"
START_OF_DAY = 13 * 3600 + 52 * 60 + 17  # 13:52:17 UTC
BACKDOOR_USER = "svc-backup-sync"
SENSITIVE_BUCKET = "acme-data-customer-exports"
DATA_TRAIL = "data-account-trail"


class _Script:
    """Emits scripted records and remembers which were malicious and which were decoys."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.sim = Sim(world, rng)
        self.rng = rng
        self.world = world
        self.kind: dict[str, str] = {}  # eventID -> "incident" | "decoy"
        self._mark = 0

    def take(self, kind: str) -> list[dict[str, Any]]:
        new = self.sim.out[self._mark :]
        for r in new:
            self.kind[r["eventID"]] = kind
        self._mark = len(self.sim.out)
        return new

    def actor(self, ip: str, ua: str, **data: Any) -> Actor:
        return Actor("scripted", None, ip, (ua,), [], [], data=data)

    def call(
        self, a: Actor, cred: Cred, ts: int, region: str, source: str, name: str, **kw: Any
    ) -> dict[str, Any]:
        self.sim.call(a, cred, ts, region, source, name, **kw)
        return self.sim.out[-1]


def _denied_msg(arn: str, action: str, resource: str, scp: bool = False) -> tuple[str, str]:
    why = (
        "with an explicit deny in a service control policy"
        if scp
        else f"because no identity-based policy allows the {action} action"
    )
    return (
        "AccessDenied",
        f"User: {arn} is not authorized to perform: {action} on resource: {resource} {why}",
    )


def build_incident(
    world: World, seed: int, *, start: int, days: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The incident's and decoys' records (time order) and the story's ground truth."""
    rng = random.Random(seed * 104_729 + 17)
    sc = _Script(world, rng)
    day = min(2, days - 1)
    t0 = start + day * 86400 + START_OF_DAY
    R, W = world.roles, world
    ci_user = W.users["ci-deploy"]
    leaked = LongTerm(ci_user, W.keys["ci-deploy-leaked"]).cred
    assert leaked is not None
    k0 = leaked.key
    recon = sc.actor(IP_RECON, UA_RECON)
    exfil = sc.actor(IP_EXFIL, UA_EXFIL, prefix="exports/2026/03/")
    story_creds: list[dict[str, Any]] = []
    denied_ids: list[str] = []

    def cred_row(
        c: Cred, minted_by: str, event: dict[str, Any] | None, parent: str | None, how: str
    ) -> None:
        story_creds.append(
            {
                "access_key_id": c.key,
                "kind": "long-term" if c.key.startswith("AKIA") else "temporary",
                "principal_arn": c.arn,
                "account_id": c.account,
                "minted_by": minted_by,
                "minted_by_event_id": event["eventID"] if event else None,
                "parent_access_key_id": None if minted_by == "CreateAccessKey" else parent,
                "created_by_access_key_id": parent if minted_by == "CreateAccessKey" else None,
                "joined_closure_by": how,
            }
        )

    cred_row(leaked, "unknown", None, None, "seed: the leaked key")

    # ---- decoy: the real CI run just before, with the user's other key ----------------------
    ci_key = LongTerm(ci_user, W.keys["ci-deploy"]).cred
    assert ci_key is not None
    ci = sc.actor(
        CI_RUNNER_IP,
        UA_CI,
        write_buckets=[W.buckets["acme-platform-artifacts"]],
        functions=["orders-processor"],
        stacks=["orders-prod"],
        read_buckets=[W.buckets["acme-data-lake-raw"]],
        prefix="raw/orders/",
    )
    decoy_sessions: list[dict[str, Any]] = []

    def ci_run(t: int) -> None:
        sc.call(ci, ci_key, t, "us-east-1", "sts.amazonaws.com", "GetCallerIdentity", ro=True)
        d1 = assume_role(
            sc.sim, t + 2, ci_key, R["ci-deploy-role"], "ci-deploy", CI_RUNNER_IP, UA_CI
        )
        decoy_sessions.append(
            {
                "access_key_id": d1.key,
                "session_arn": d1.arn,
                "parent_access_key_id": ci_key.key,
                "why": "the real CI (the user's other key): same role, same session name",
            }
        )
        _ops.cfn_describe(sc.sim, ci, d1, t + 4, "eu-west-1")
        _ops.lambda_update(sc.sim, ci, d1, t + 9, "eu-west-1")
        _ops.s3_put(sc.sim, ci, d1, t + 11, "eu-west-1")
        d2 = assume_role(
            sc.sim, t + 14, d1, R["data-pipeline-deploy"], "ci-deploy", CI_RUNNER_IP, UA_CI
        )
        decoy_sessions.append(
            {
                "access_key_id": d2.key,
                "session_arn": d2.arn,
                "parent_access_key_id": d1.key,
                "why": "the real CI chaining into the data account: same role, same session name",
            }
        )
        _ops.glue_job(sc.sim, ci, d2, t + 17, "eu-west-1")
        _ops.s3_list(sc.sim, ci, d2, t + 19, "eu-west-1")
        sc.take("decoy")

    ci_run(t0 - 25 * 60 + 7)
    ci_run(t0 + 12 * 60 + 41)

    # ---- phase 1: discovery with the leaked key --------------------------------------------
    t = t0
    first = sc.call(
        recon, leaked, t, "us-east-1", "sts.amazonaws.com", "GetCallerIdentity", ro=True
    )
    sc.call(
        recon,
        leaked,
        t + 38,
        "us-east-1",
        "iam.amazonaws.com",
        "GetUser",
        req={"userName": ci_user.name},
        ro=True,
    )
    sc.call(
        recon,
        leaked,
        t + 71,
        "us-east-1",
        "iam.amazonaws.com",
        "ListAttachedUserPolicies",
        req={"userName": ci_user.name},
        ro=True,
    )
    sc.call(
        recon,
        leaked,
        t + 84,
        "us-east-1",
        "iam.amazonaws.com",
        "ListUserPolicies",
        req={"userName": ci_user.name},
        ro=True,
    )
    sc.call(
        recon,
        leaked,
        t + 97,
        "us-east-1",
        "iam.amazonaws.com",
        "GetUserPolicy",
        req={"userName": ci_user.name, "policyName": "ci-deploy-assume"},
        ro=True,
    )
    denied_ids.append(
        sc.call(
            recon,
            leaked,
            t + 121,
            "us-east-1",
            "iam.amazonaws.com",
            "ListUsers",
            ro=True,
            error=_denied_msg(leaked.arn, "iam:ListUsers", f"arn:aws:iam::{PLATFORM}:user/"),
        )["eventID"]
    )
    sc.call(recon, leaked, t + 150, "us-east-1", "iam.amazonaws.com", "ListRoles", ro=True)
    denied_ids.append(
        sc.call(
            recon,
            leaked,
            t + 171,
            "us-east-1",
            "iam.amazonaws.com",
            "GetAccountAuthorizationDetails",
            ro=True,
            error=_denied_msg(leaked.arn, "iam:GetAccountAuthorizationDetails", "*"),
        )["eventID"]
    )
    _ops.s3_list_buckets(sc.sim, recon, leaked, t + 203, "us-east-1")
    sc.call(
        recon,
        leaked,
        t + 229,
        "us-east-1",
        "ec2.amazonaws.com",
        "DescribeRegions",
        req={"regionSet": {}, "allRegions": True},
        ro=True,
    )
    for i, region in enumerate(
        (
            "us-east-1",
            "us-east-2",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
            "ap-southeast-2",
            "sa-east-1",
        )
    ):
        _ops.describe_instances(sc.sim, recon, leaked, t + 251 + 9 * i, region)
    probes = (
        ("secretsmanager.amazonaws.com", "ListSecrets", "secretsmanager:ListSecrets", None),
        ("ssm.amazonaws.com", "DescribeParameters", "ssm:DescribeParameters", None),
        ("kms.amazonaws.com", "ListKeys", "kms:ListKeys", None),
        ("lambda.amazonaws.com", "ListFunctions20150331", "lambda:ListFunctions", None),
        ("rds.amazonaws.com", "DescribeDBInstances", "rds:DescribeDBInstances", None),
        ("dynamodb.amazonaws.com", "ListTables", "dynamodb:ListTables", None),
        ("guardduty.amazonaws.com", "ListDetectors", "guardduty:ListDetectors", None),
        (
            "organizations.amazonaws.com",
            "DescribeOrganization",
            "organizations:DescribeOrganization",
            "us-east-1",
        ),
        ("iam.amazonaws.com", "ListGroups", "iam:ListGroups", "us-east-1"),
        ("cloudtrail.amazonaws.com", "DescribeTrails", "cloudtrail:DescribeTrails", None),
        ("iam.amazonaws.com", "ListAccessKeys", "iam:ListAccessKeys", "us-east-1"),
        ("iam.amazonaws.com", "CreateAccessKey", "iam:CreateAccessKey", "us-east-1"),
    )
    ts = t + 420
    for region in ("eu-west-1", "us-east-1"):
        for source, name, action, only in probes:
            if only is not None and only != region:
                continue
            ro = not name.startswith("Create")
            req = {"userName": ci_user.name} if "AccessKey" in name else None
            denied_ids.append(
                sc.call(
                    recon,
                    leaked,
                    ts,
                    region,
                    source,
                    name,
                    ro=ro,
                    req=req,
                    error=_denied_msg(leaked.arn, action, "*"),
                )["eventID"]
            )
            ts += rng.randint(3, 11)

    # ---- phase 2: the CI's deploy role, with the CI's session name -------------------------
    s1 = assume_role(
        sc.sim, t0 + 15 * 60 + 4, leaked, R["ci-deploy-role"], "ci-deploy", IP_RECON, UA_RECON
    )
    mint_s1 = sc.sim.out[-1]
    cred_row(s1, "AssumeRole", mint_s1, k0, "minted by the leaked key")
    ts = t0 + 15 * 60 + 31
    sc.call(recon, s1, ts, "us-east-1", "sts.amazonaws.com", "GetCallerIdentity", ro=True)
    sc.call(
        recon,
        s1,
        ts + 29,
        "us-east-1",
        "iam.amazonaws.com",
        "ListAttachedRolePolicies",
        req={"roleName": "ci-deploy-role"},
        ro=True,
    )
    sc.call(
        recon,
        s1,
        ts + 47,
        "us-east-1",
        "iam.amazonaws.com",
        "ListRolePolicies",
        req={"roleName": "ci-deploy-role"},
        ro=True,
    )
    sc.call(
        recon,
        s1,
        ts + 58,
        "us-east-1",
        "iam.amazonaws.com",
        "GetRolePolicy",
        req={"roleName": "ci-deploy-role", "policyName": "chain-to-data-account"},
        ro=True,
    )
    _ops.describe_instances(sc.sim, recon, s1, ts + 96, "eu-west-1")
    denied_ids.append(
        sc.call(
            recon,
            s1,
            ts + 140,
            "us-east-1",
            "iam.amazonaws.com",
            "CreateUser",
            req={"userName": "support-admin"},
            ro=False,
            error=_denied_msg(
                s1.arn, "iam:CreateUser", f"arn:aws:iam::{PLATFORM}:user/support-admin"
            ),
        )["eventID"]
    )
    sc.take("incident")

    # ---- decoy: Jenkins assumes the same role with the same session name ------------------
    jenkins = sc.actor(
        JENKINS_NAT_IP,
        UA_JENKINS,
        write_buckets=[W.buckets["acme-platform-artifacts"]],
        stacks=["orders-prod", "web-prod"],
    )
    jsrc = ServiceAssume(
        R["jenkins-agent-role"], "ec2.amazonaws.com", W.instances["jenkins"][0], ec2=True
    )
    j0 = jsrc.get(sc.sim, t0 + 18 * 60 + 2)
    dj = assume_role(
        sc.sim,
        t0 + 18 * 60 + 9,
        j0,
        R["ci-deploy-role"],
        "ci-deploy",
        JENKINS_NAT_IP,
        UA_JENKINS,
        region="eu-west-1",
    )
    decoy_sessions.append(
        {
            "access_key_id": j0.key,
            "session_arn": j0.arn,
            "parent_access_key_id": None,
            "why": "Jenkins' instance-profile session (service-issued)",
        }
    )
    decoy_sessions.append(
        {
            "access_key_id": dj.key,
            "session_arn": dj.arn,
            "parent_access_key_id": j0.key,
            "why": "Jenkins (a different principal): same role, same session "
            "name, overlapping the attacker's session",
        }
    )
    for k in range(3):
        _ops.cfn_describe(sc.sim, jenkins, dj, t0 + 18 * 60 + 20 + 40 * k, "eu-west-1")
    _ops.s3_put(sc.sim, jenkins, dj, t0 + 20 * 60 + 3, "eu-west-1")
    sc.take("decoy")

    # ---- phase 3: role chaining into the data account (cross-account) ------------------------
    s2 = assume_role(
        sc.sim, t0 + 24 * 60 + 12, s1, R["data-pipeline-deploy"], "ci-deploy", IP_RECON, UA_RECON
    )
    mint_s2 = sc.sim.out[-2]  # the caller's copy (the owner's copy follows it)
    cred_row(s2, "AssumeRole", mint_s2, s1.key, "minted by a closure key (role chaining)")
    sc.call(
        recon, s2, t0 + 24 * 60 + 40, "us-east-1", "sts.amazonaws.com", "GetCallerIdentity", ro=True
    )

    # ---- phase 4: data access from the exfiltration host -------------------------------------
    bucket = W.buckets[SENSITIVE_BUCKET]
    restricted = W.buckets["acme-data-finance-restricted"]
    kms_b = bucket[3]
    ts = t0 + 28 * 60 + 5
    _ops.s3_list_buckets(sc.sim, exfil, s2, ts, "us-east-1")
    objects: list[str] = []
    for k in range(3):
        _ops._s3(
            sc.sim,
            exfil,
            s2,
            ts + 20 + 15 * k,
            "eu-west-1",
            "ListObjects",
            bucket[0],
            None,
            DATA,
            ro=True,
        )
    ts += 80
    for n in range(1, 25):
        key = f"exports/2026/03/customers-{n:04d}.csv.gz"
        objects.append(key)
        _ops._s3(
            sc.sim,
            exfil,
            s2,
            ts,
            "eu-west-1",
            "GetObject",
            bucket[0],
            key,
            DATA,
            ro=True,
            nbytes=rng.randrange(4_000_000, 60_000_000),
            kms=kms_b,
        )
        ts += rng.randint(20, 45)
    for key in ("ledger/2026/02/close.xlsx", "ledger/2026/03/forecast.xlsx"):
        _ops._s3(
            sc.sim,
            exfil,
            s2,
            ts,
            "eu-west-1",
            "GetObject",
            restricted[0],
            key,
            DATA,
            ro=True,
            error=_denied_msg(s2.arn, "s3:GetObject", f"arn:aws:s3:::{restricted[0]}/{key}"),
        )
        denied_ids.append(sc.sim.out[-1]["eventID"])
        ts += 17
    secrets = [W.secrets["prod/warehouse/redshift-admin"], W.secrets["prod/etl/api-token"]]
    sc.call(
        exfil,
        s2,
        ts + 30,
        "eu-west-1",
        "secretsmanager.amazonaws.com",
        "ListSecrets",
        req={"maxResults": 100},
        ro=True,
    )
    ts += 60
    for arn in secrets:
        sc.call(
            exfil,
            s2,
            ts,
            "eu-west-1",
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            req={"secretId": arn},
            ro=True,
            resources=[{"accountId": DATA, "type": "AWS::SecretsManager::Secret", "ARN": arn}],
        )
        ident = dict(s2.identity, invokedBy="secretsmanager.amazonaws.com")
        sc.sim.emit(
            sc.sim.em.record(
                ts,
                ident,
                "kms.amazonaws.com",
                "Decrypt",
                "eu-west-1",
                "secretsmanager.amazonaws.com",
                "secretsmanager.amazonaws.com",
                DATA,
                req={
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "encryptionContext": {"SecretARN": arn, "SecretVersionId": str(_uuid(rng))},
                },
                read_only=True,
                resources=[{"accountId": DATA, "type": "AWS::KMS::Key", "ARN": kms_b}],
            )
        )
        ts += rng.randint(8, 20)
    params = ["/prod/db/password", "/prod/api/partner-key"]
    sc.call(
        exfil,
        s2,
        ts + 15,
        "eu-west-1",
        "ssm.amazonaws.com",
        "DescribeParameters",
        req={"maxResults": 50},
        ro=True,
    )
    sc.call(
        exfil,
        s2,
        ts + 31,
        "eu-west-1",
        "ssm.amazonaws.com",
        "GetParametersByPath",
        req={"path": "/prod/", "recursive": True, "withDecryption": True},
        ro=True,
    )
    sc.call(
        exfil,
        s2,
        ts + 44,
        "eu-west-1",
        "ssm.amazonaws.com",
        "GetParameters",
        req={"names": params, "withDecryption": True},
        ro=True,
    )
    sc.take("incident")

    # ---- decoys: the ETL Lambda and an analyst read the same bucket ----------------------------
    lam = sc.actor("52.19.44.201", UA_LAMBDA, read_buckets=[bucket], prefix="exports/2026/03/")
    lsrc = ServiceAssume(
        R["etl-exporter-role"], "lambda.amazonaws.com", "etl-exporter", duration=12 * 3600
    )
    l1 = lsrc.get(sc.sim, t0 + 30 * 60 + 1)
    decoy_sessions.append(
        {
            "access_key_id": l1.key,
            "session_arn": l1.arn,
            "parent_access_key_id": None,
            "why": "the ETL Lambda reading the same bucket and objects",
        }
    )
    _ops._s3(
        sc.sim,
        lam,
        l1,
        t0 + 30 * 60 + 4,
        "eu-west-1",
        "ListObjects",
        bucket[0],
        None,
        DATA,
        ro=True,
    )
    for k, n in enumerate((3, 7, 11, 19)):
        _ops._s3(
            sc.sim,
            lam,
            l1,
            t0 + 33 * 60 + 70 * k,
            "eu-west-1",
            "GetObject",
            bucket[0],
            f"exports/2026/03/customers-{n:04d}.csv.gz",
            DATA,
            ro=True,
            nbytes=rng.randrange(4_000_000, 60_000_000),
            kms=kms_b,
        )
    erin_ip = OFFICE_IPS[1]
    esrc = Saml(R["sso-admin-data"], W.sso_provider, "erin@acme.example", erin_ip, UA_CONSOLE)
    e1 = esrc.get(sc.sim, t0 + 35 * 60 + 12)
    decoy_sessions.append(
        {
            "access_key_id": e1.key,
            "session_arn": e1.arn,
            "parent_access_key_id": None,
            "why": "an analyst (Identity Center) reading the same object",
        }
    )
    erin = sc.actor(erin_ip, UA_CONSOLE, prefix="exports/2026/03/")
    _ops._s3(
        sc.sim,
        erin,
        e1,
        t0 + 41 * 60 + 3,
        "eu-west-1",
        "ListObjects",
        bucket[0],
        None,
        DATA,
        ro=True,
    )
    _ops._s3(
        sc.sim,
        erin,
        e1,
        t0 + 41 * 60 + 19,
        "eu-west-1",
        "GetObject",
        bucket[0],
        "exports/2026/03/customers-0001.csv.gz",
        DATA,
        ro=True,
        nbytes=5_112_337,
        kms=kms_b,
    )
    sc.take("decoy")

    # ---- phase 5: persistence in the data account ----------------------------------------------
    ts = t0 + 62 * 60 + 8
    sc.call(exfil, s2, ts, "us-east-1", "iam.amazonaws.com", "ListUsers", ro=True)
    new_user_id = principal_id(rng, "AIDA")
    user_arn = f"arn:aws:iam::{DATA}:user/{BACKDOOR_USER}"
    created = _expiration(ts + 40)
    sc.call(
        exfil,
        s2,
        ts + 40,
        "us-east-1",
        "iam.amazonaws.com",
        "CreateUser",
        req={
            "userName": BACKDOOR_USER,
            "path": "/",
            "tags": [{"key": "owner", "value": "data-platform"}],
        },
        resp={
            "user": {
                "path": "/",
                "userName": BACKDOOR_USER,
                "userId": new_user_id,
                "arn": user_arn,
                "createDate": created,
                "tags": [{"key": "owner", "value": "data-platform"}],
            }
        },
        ro=False,
    )
    create_user_event = sc.sim.out[-1]
    k_new = access_key(rng, "AKIA")
    sc.call(
        exfil,
        s2,
        ts + 52,
        "us-east-1",
        "iam.amazonaws.com",
        "CreateAccessKey",
        req={"userName": BACKDOOR_USER},
        resp={
            "accessKey": {
                "accessKeyId": k_new,
                "status": "Active",
                "userName": BACKDOOR_USER,
                "createDate": _expiration(ts + 52),
            }
        },
        ro=False,
    )
    create_key_event = sc.sim.out[-1]
    sc.call(
        exfil,
        s2,
        ts + 66,
        "us-east-1",
        "iam.amazonaws.com",
        "CreateLoginProfile",
        req={"userName": BACKDOOR_USER, "passwordResetRequired": False},
        resp={
            "loginProfile": {
                "userName": BACKDOOR_USER,
                "createDate": _expiration(ts + 66),
                "passwordResetRequired": False,
            }
        },
        ro=False,
    )
    login_profile_event = sc.sim.out[-1]
    sc.call(
        exfil,
        s2,
        ts + 80,
        "us-east-1",
        "iam.amazonaws.com",
        "AttachUserPolicy",
        req={"userName": BACKDOOR_USER, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ro=False,
    )
    attach_event = sc.sim.out[-1]
    sc.take("incident")

    # ---- phase 6: the new key, a role it assumes, a console sign-in ----------------------------
    new_key = Cred(
        k_new,
        user_identity(DATA, BACKDOOR_USER, new_user_id, k_new),
        DATA,
        ts + 52,
        1 << 40,
        user_arn,
    )
    cred_row(
        new_key,
        "CreateAccessKey",
        create_key_event,
        s2.key,
        "created by a closure key (persistence)",
    )
    ts = t0 + 80 * 60 + 14
    sc.call(exfil, new_key, ts, "us-east-1", "sts.amazonaws.com", "GetCallerIdentity", ro=True)
    _ops.s3_list_buckets(sc.sim, exfil, new_key, ts + 21, "us-east-1")
    for n in range(25, 31):
        key = f"exports/2026/03/customers-{n:04d}.csv.gz"
        objects.append(key)
        _ops._s3(
            sc.sim,
            exfil,
            new_key,
            ts + 40 + 23 * (n - 25),
            "eu-west-1",
            "GetObject",
            bucket[0],
            key,
            DATA,
            ro=True,
            nbytes=rng.randrange(4_000_000, 60_000_000),
            kms=kms_b,
        )
    ts += 220
    s3 = assume_role(
        sc.sim, ts, new_key, R["backup-admin"], "backup", IP_EXFIL, UA_EXFIL, region="eu-west-1"
    )
    cred_row(s3, "AssumeRole", sc.sim.out[-1], k_new, "minted by a created key")
    snapshot = f"snap-0{hex_id(rng, 16)}"
    _ops.OPS["describe_snapshots"](sc.sim, exfil, s3, ts + 18, "eu-west-1")
    sc.call(
        exfil,
        s3,
        ts + 47,
        "eu-west-1",
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        req={
            "snapshotId": snapshot,
            "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE_ACCOUNT}]}},
            "attributeType": "CREATE_VOLUME_PERMISSION",
        },
        resp={"requestId": str(_uuid(rng)), "_return": True},
        ro=False,
    )
    share_event = sc.sim.out[-1]
    # console sign-in as the backdoor user (its login profile), then a look around
    ts = t0 + 95 * 60 + 3
    console_ident = user_identity(DATA, BACKDOOR_USER, new_user_id, "")
    del console_ident["accessKeyId"]
    sc.sim.emit(
        sc.sim.em.record(
            ts,
            console_ident,
            "signin.amazonaws.com",
            "ConsoleLogin",
            "us-east-1",
            IP_EXFIL,
            UA_BROWSER,
            DATA,
            resp={"ConsoleLogin": "Success"},
            event_type="AwsConsoleSignIn",
            additional={
                "LoginTo": "https://console.aws.amazon.com/console/home?"
                "state=hashArgs%23&isauthcode=true",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            tls=False,
        )
    )
    login_event = sc.sim.out[-1]
    c_key = access_key(rng, "ASIA")
    console = Cred(
        c_key,
        user_identity(DATA, BACKDOOR_USER, new_user_id, c_key, mfa=False, created=ts + 1),
        DATA,
        ts + 1,
        ts + 12 * 3600,
        user_arn,
        console=True,
    )
    cred_row(
        console,
        "console sign-in",
        login_event,
        None,
        "console session of a created user (login profile)",
    )
    browser = sc.actor(IP_EXFIL, UA_BROWSER)
    _ops.s3_list_buckets(sc.sim, browser, console, ts + 9, "us-east-1")
    sc.call(browser, console, ts + 31, "us-east-1", "iam.amazonaws.com", "ListUsers", ro=True)
    sc.call(
        browser,
        console,
        ts + 52,
        "us-east-1",
        "iam.amazonaws.com",
        "ListAccessKeys",
        req={"userName": BACKDOOR_USER},
        ro=True,
    )
    sc.take("incident")

    # ---- phase 7: evasion ------------------------------------------------------------------------
    ts = t0 + 105 * 60 + 40
    data_trail = f"arn:aws:cloudtrail:us-east-1:{DATA}:trail/{DATA_TRAIL}"
    sc.call(
        exfil,
        s2,
        ts,
        "us-east-1",
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        req={"includeShadowTrails": True},
        ro=True,
    )
    denied_ids.append(
        sc.call(
            exfil,
            s2,
            ts + 25,
            "us-east-1",
            "cloudtrail.amazonaws.com",
            "StopLogging",
            req={"name": TRAIL_ARN},
            ro=False,
            error=_denied_msg(s2.arn, "cloudtrail:StopLogging", TRAIL_ARN, scp=True),
        )["eventID"]
    )
    selectors = [
        {
            "readWriteType": "WriteOnly",
            "includeManagementEvents": False,
            "dataResources": [],
            "excludeManagementEventSources": [],
        }
    ]
    sc.call(
        exfil,
        s2,
        ts + 48,
        "us-east-1",
        "cloudtrail.amazonaws.com",
        "PutEventSelectors",
        req={"trailName": DATA_TRAIL, "eventSelectors": selectors},
        resp={"trailARN": data_trail, "eventSelectors": selectors},
        ro=False,
    )
    sc.call(
        exfil,
        s2,
        ts + 71,
        "us-east-1",
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        req={"name": DATA_TRAIL},
        ro=False,
        resources=[{"accountId": DATA, "type": "AWS::CloudTrail::Trail", "ARN": data_trail}],
    )
    detectors = []
    for k, region in enumerate(("eu-west-1", "us-east-1")):
        det = W.detector(DATA, region)
        detectors.append(f"arn:aws:guardduty:{region}:{DATA}:detector/{det}")
        sc.call(
            exfil,
            s2,
            ts + 95 + 40 * k,
            region,
            "guardduty.amazonaws.com",
            "ListDetectors",
            req={"maxResults": 50},
            ro=True,
        )
        denied_ids.append(
            sc.call(
                exfil,
                s2,
                ts + 112 + 40 * k,
                region,
                "guardduty.amazonaws.com",
                "DeleteDetector",
                req={"detectorId": det},
                ro=False,
                error=_denied_msg(s2.arn, "guardduty:DeleteDetector", detectors[-1], scp=True),
            )["eventID"]
        )
    # a last look, much later, with the backdoor key
    _ops._s3(
        sc.sim,
        exfil,
        new_key,
        t0 + 150 * 60 + 9,
        "eu-west-1",
        "ListObjects",
        bucket[0],
        None,
        DATA,
        ro=True,
    )
    last = sc.sim.out[-1]
    sc.take("incident")

    records = sorted(sc.sim.out, key=lambda r: r["eventTime"])
    incident_ids = [r["eventID"] for r in records if sc.kind[r["eventID"]] == "incident"]
    decoy_ids = [r["eventID"] for r in records if sc.kind[r["eventID"]] == "decoy"]
    closure = [c["access_key_id"] for c in story_creds]
    role_chain = [R["ci-deploy-role"].arn, R["data-pipeline-deploy"].arn]
    resources_touched = sorted(
        {
            f"arn:aws:s3:::{bucket[0]}",
            *(f"arn:aws:s3:::{bucket[0]}/{k}" for k in objects),
            *secrets,
            *(f"arn:aws:ssm:eu-west-1:{DATA}:parameter{p}" for p in params),
            user_arn,
            f"arn:aws:ec2:eu-west-1::snapshot/{snapshot}",  # snapshot ARNs have no account
            data_trail,
            *role_chain,
            R["backup-admin"].arn,
            ci_user.arn,
            kms_b,
        }
    )
    resources_denied = sorted(
        {
            f"arn:aws:s3:::{restricted[0]}/ledger/2026/02/close.xlsx",
            f"arn:aws:s3:::{restricted[0]}/ledger/2026/03/forecast.xlsx",
            TRAIL_ARN,
            *detectors,
            f"arn:aws:iam::{PLATFORM}:user/support-admin",
        }
    )
    decoy_keys = [ci_key.key] + [d["access_key_id"] for d in decoy_sessions]
    story: dict[str, Any] = {
        "title": "Leaked CI access key -> role chaining into the data account -> exfiltration, "
        "backdoor user, attempts to stop logging",
        "incident_day": iso(t0)[:10],
        "leaked_access_key_id": k0,
        "compromised_user_arn": ci_user.arn,
        "attacker_ips": list(ATTACKER_IPS),
        "attacker_user_agents": list(ATTACKER_UAS),
        "first_malicious_event_time": first["eventTime"],
        "first_malicious_event_id": first["eventID"],
        "last_malicious_event_time": last["eventTime"],
        "closure_access_key_ids": closure,
        "credentials": story_creds,
        "role_chain": role_chain,
        "roles_reached": [*role_chain, R["backup-admin"].arn],
        "session_arns": [s1.arn, s2.arn, s3.arn],
        "accounts_reached": [PLATFORM, DATA],
        "sensitive_bucket": bucket[0],
        "objects_read": [f"arn:aws:s3:::{bucket[0]}/{k}" for k in objects],
        "secrets_read": secrets,
        "parameters_read": [f"arn:aws:ssm:eu-west-1:{DATA}:parameter{p}" for p in params],
        "resources_touched": resources_touched,
        "resources_denied": resources_denied,
        "created_users": [user_arn],
        "created_access_key_ids": [k_new],
        "created_login_profiles": [user_arn],
        "attached_policies": [
            {"user": user_arn, "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}
        ],
        "persistence_event_ids": [
            create_user_event["eventID"],
            create_key_event["eventID"],
            login_profile_event["eventID"],
            attach_event["eventID"],
        ],
        "snapshot_shared_with": OUTSIDE_ACCOUNT,
        "snapshot_share_event_id": share_event["eventID"],
        "evasion_event_names": [
            "StopLogging",
            "PutEventSelectors",
            "DeleteTrail",
            "DeleteDetector",
        ],
        "denied_event_ids": denied_ids,
        "incident_event_ids": incident_ids,
        # key-less records of the incident: the role owner's copy of a cross-account call
        # (userIdentity AWSAccount), found through sharedEventID, not by key
        "owner_copy_event_ids": [
            r["eventID"]
            for r in records
            if sc.kind[r["eventID"]] == "incident" and r["userIdentity"].get("type") == "AWSAccount"
        ],
        "decoys": {
            "legit_key_of_compromised_user": ci_key.key,
            "access_key_ids": decoy_keys,
            "sessions": decoy_sessions,
            "event_ids": decoy_ids,
            "same_session_arns": sorted(
                {d["session_arn"] for d in decoy_sessions if d["session_arn"] in (s1.arn, s2.arn)}
            ),
            "bucket_readers": [l1.arn, e1.arn],
            "legit_ips": [CI_RUNNER_IP, JENKINS_NAT_IP, "52.19.44.201", erin_ip],
        },
    }
    return records, story


def _uuid(rng: random.Random) -> str:
    from forensics.sample._ids import uuid4

    return uuid4(rng)
