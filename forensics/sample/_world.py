"""The sampled organisation: accounts, people, CI, workloads, services, and who does what.

Three accounts in one AWS Organization (one organisation trail delivers them all):

* ``111122223333`` *acme-management*: the organisation trail, Identity Center admins, root.
* ``222233334444`` *acme-platform*: production workloads (EC2 app servers, a Jenkins agent, the
  ``orders-processor`` Lambda), the CI user ``ci-deploy`` and its ``ci-deploy-role``, a GitHub
  Actions OIDC deploy role, console and CLI users.
* ``555566667777`` *acme-data*: the data lake, ETL workers and the ``etl-exporter`` Lambda, the
  sensitive bucket ``acme-data-customer-exports``, analysts, and ``data-pipeline-deploy``, the
  role CI chains into from the platform account.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from forensics.sample import _ops as O
from forensics.sample._creds import (
    Assume,
    Console,
    Federation,
    LongTerm,
    Role,
    Saml,
    ServiceAssume,
    SessionToken,
    User,
    WebIdentity,
    new_role,
    new_user,
)
from forensics.sample._ids import access_key, hex_id, token, uuid4
from forensics.sample._sim import Actor

__all__ = ["ACCOUNTS", "ORG_ID", "REGIONS", "TRAIL_ARN", "World", "build_world"]

ORG_ID = "o-a1b2c3d4e5"
MGMT, PLATFORM, DATA = "111122223333", "222233334444", "555566667777"
ACCOUNTS = {MGMT: "acme-management", PLATFORM: "acme-platform", DATA: "acme-data"}
REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "ap-southeast-2")
TRAIL_NAME = "org-trail"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/{TRAIL_NAME}"
LOG_BUCKET = "acme-org-cloudtrail-logs"

UA_CONSOLE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
)
UA_CONSOLE_FF = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0"
UA_CLI_MAC = (
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off "
    "command/ec2.describe-instances"
)
UA_CLI_LINUX = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.15.0-1055-aws exe/x86_64.ubuntu.22 "
    "prompt/off command/s3.cp"
)
UA_TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) "
    "terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/"
    "hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux "
    "md/GOARCH#amd64 api/sts#1.28.1"
)
UA_JAVA = (
    "aws-sdk-java/2.25.11 Linux/6.1.79-99.164.amzn2023.x86_64 "
    "OpenJDK_64-Bit_Server_VM/17.0.10+8-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync "
    "http/Apache cfg/retry-mode/standard"
)
UA_GO = (
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 app/orders-service"
)
UA_SSM_AGENT = "aws-sdk-go/1.50.8 (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.131.0"
UA_LAMBDA = (
    "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-220.812.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython "
    "exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.42"
)
UA_SPARK = (
    "aws-sdk-java/1.12.661 Linux/5.10.210-201.852.amzn2.x86_64 "
    "OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22 scala/2.12.15 vendor/Amazon.com_Inc. "
    "cfg/retry-mode/standard"
)
UA_CI = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 "
    "prompt/off command/deploy"
)
UA_GHA = (
    "aws-sdk-nodejs/2.1563.0 linux/v20.11.1 configure-aws-credentials-for-github-actions promise"
)
UA_JENKINS = (
    "aws-cli/2.13.25 Python/3.11.6 Linux/6.1.61-85.141.amzn2023.x86_64 "
    "exe/x86_64.amzn.2023 prompt/off command/cloudformation.deploy"
)
UA_REPORT = "python-requests/2.31.0 Boto3/1.28.57 Python/3.9.18 Linux/4.14.336 Botocore/1.31.57"

OFFICE_IPS = ("192.0.2.10", "192.0.2.11", "192.0.2.24")
CI_RUNNER_IP = "198.51.100.20"
GHA_IP = "198.51.100.87"
JENKINS_NAT_IP = "34.248.113.9"
APP_NAT_IP = "34.253.20.171"
ETL_NAT_IP = "52.48.221.65"


@dataclass
class World:
    """Everything the background and the incident share (ids drawn from the seed)."""

    rng: random.Random
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, tuple[str, str, str, str | None, str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    kms: dict[str, str] = field(default_factory=dict)
    instances: dict[str, list[str]] = field(default_factory=dict)
    detectors: dict[tuple[str, str], str] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    actors: list[Actor] = field(default_factory=list)
    service_actor: Actor | None = None
    sso_provider: str = ""

    @property
    def all_buckets(self):
        return list(self.buckets.values())

    @property
    def all_roles(self) -> list[Role]:
        return list(self.roles.values())

    @property
    def all_kms(self) -> list[str]:
        return list(self.kms.values())

    @property
    def instances_a(self) -> list[str]:
        return self.instances["app-server"]

    def detector(self, account: str, region: str) -> str:
        key = (account, region)
        if key not in self.detectors:
            self.detectors[key] = hex_id(random.Random(f"{account}/{region}"), 32)
        return self.detectors[key]


def _bucket(
    w: World, name: str, owner: str, prefix: str, kms: str | None, region: str = "eu-west-1"
) -> tuple[str, str, str, str | None, str]:
    b = (name, owner, prefix, kms, region)
    w.buckets[name] = b
    return b


def _secret(w: World, account: str, name: str, region: str = "eu-west-1") -> str:
    arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{token(w.rng, 6)}"
    w.secrets[name] = arn
    return arn


def _aws_service_event(sim, a, cred, t, region) -> None:
    """Service events: CloudTrail encrypting its log files, KMS rotating keys."""
    rng = sim.rng
    if rng.random() < 0.97:
        key = sim.world.kms["management"]
        sim.emit(
            sim.em.record(
                t,
                {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
                "kms.amazonaws.com",
                "GenerateDataKey",
                "us-east-1",
                "cloudtrail.amazonaws.com",
                "cloudtrail.amazonaws.com",
                MGMT,
                req={
                    "keyId": key,
                    "encryptionContext": {
                        "aws:cloudtrail:arn": TRAIL_ARN,
                        "aws:s3:arn": f"arn:aws:s3:::{LOG_BUCKET}/AWSLogs/{ORG_ID}/"
                        f"{rng.choice(list(ACCOUNTS))}/CloudTrail/",
                    },
                    "keySpec": "AES_256",
                },
                read_only=True,
                resources=[{"accountId": MGMT, "type": "AWS::KMS::Key", "ARN": key}],
                shared_event_id=uuid4(rng),
            )
        )
    else:
        acct = rng.choice([PLATFORM, DATA])
        key = sim.world.kms[acct]
        sim.emit(
            sim.em.record(
                t,
                {"accountId": acct, "invokedBy": "kms.amazonaws.com"},
                "kms.amazonaws.com",
                "RotateKey",
                "eu-west-1",
                "kms.amazonaws.com",
                "kms.amazonaws.com",
                acct,
                resp=None,
                read_only=False,
                event_type="AwsServiceEvent",
                additional={"keyId": key.rsplit("/", 1)[1]},
                resources=[{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key}],
                shared_event_id=uuid4(rng),
                tls=False,
            )
        )


def build_world(seed: int) -> World:
    """The organisation for ``seed``: ids, credentials and actors (no events yet)."""
    rng = random.Random(seed)
    w = World(rng)
    R = w.roles
    # ---- roles ----------------------------------------------------------------------------
    for acct, label in ((MGMT, "mgmt"), (PLATFORM, "platform"), (DATA, "data")):
        R[f"config-{label}"] = new_role(
            rng, acct, "AWSServiceRoleForConfig", "/aws-service-role/config.amazonaws.com/"
        )
        R[f"sso-admin-{label}"] = new_role(
            rng,
            acct,
            f"AWSReservedSSO_AdministratorAccess_{hex_id(rng, 16)}",
            "/aws-reserved/sso.amazonaws.com/eu-west-1/",
        )
        w.kms[acct] = f"arn:aws:kms:eu-west-1:{acct}:key/{uuid4(rng)}"
    w.kms["management"] = f"arn:aws:kms:us-east-1:{MGMT}:key/{uuid4(rng)}"
    R["sso-readonly-platform"] = new_role(
        rng,
        PLATFORM,
        f"AWSReservedSSO_ReadOnlyAccess_{hex_id(rng, 16)}",
        "/aws-reserved/sso.amazonaws.com/eu-west-1/",
    )
    R["sso-analyst-data"] = new_role(
        rng,
        DATA,
        f"AWSReservedSSO_DataAnalyst_{hex_id(rng, 16)}",
        "/aws-reserved/sso.amazonaws.com/eu-west-1/",
    )
    for key, acct, name in (
        ("ci-deploy-role", PLATFORM, "ci-deploy-role"),
        ("app-server-role", PLATFORM, "app-server-role"),
        ("jenkins-agent-role", PLATFORM, "jenkins-agent-role"),
        ("orders-processor-role", PLATFORM, "orders-processor-role"),
        ("gha-web-deploy", PLATFORM, "gha-web-deploy"),
        ("data-pipeline-deploy", DATA, "data-pipeline-deploy"),
        ("etl-worker-role", DATA, "etl-worker-role"),
        ("etl-exporter-role", DATA, "etl-exporter-role"),
        ("engineer-admin", DATA, "engineer-admin"),
        ("backup-admin", DATA, "backup-admin"),
    ):
        R[key] = new_role(rng, acct, name)
    # ---- users and long-term keys -----------------------------------------------------------
    U = w.users
    U["ci-deploy"] = new_user(rng, PLATFORM, "ci-deploy")
    U["j.smith"] = new_user(rng, PLATFORM, "j.smith")
    U["m.garcia"] = new_user(rng, PLATFORM, "m.garcia")
    U["legacy-reporting"] = new_user(rng, PLATFORM, "legacy-reporting")
    w.keys["ci-deploy-leaked"] = access_key(rng, "AKIA")  # rotated out in 2023, never disabled
    w.keys["ci-deploy"] = access_key(rng, "AKIA")  # the key the CI really uses
    w.keys["m.garcia"] = access_key(rng, "AKIA")
    w.keys["legacy-reporting"] = access_key(rng, "AKIA")
    # ---- resources ---------------------------------------------------------------------------
    k_a, k_b = w.kms[PLATFORM], w.kms[DATA]
    artifacts = _bucket(w, "acme-platform-artifacts", PLATFORM, "builds/", None)
    uploads = _bucket(w, "acme-platform-app-uploads", PLATFORM, "uploads/", k_a)
    web = _bucket(w, "acme-platform-web", PLATFORM, "site/", None, "us-east-1")
    exports = _bucket(w, "acme-data-customer-exports", DATA, "exports/", k_b)
    raw = _bucket(w, "acme-data-lake-raw", DATA, "raw/orders/", k_b)
    reference = _bucket(w, "acme-data-shared-reference", DATA, "reference/", None)
    athena = _bucket(w, "acme-data-athena-results", DATA, "analysts/", None)
    _bucket(w, "acme-data-finance-restricted", DATA, "ledger/", k_b)
    _bucket(w, LOG_BUCKET, MGMT, f"AWSLogs/{ORG_ID}/", None, "us-east-1")
    s_orders_db = _secret(w, PLATFORM, "prod/orders/db-password")
    s_stripe = _secret(w, PLATFORM, "prod/orders/stripe-api-key")
    _secret(w, DATA, "prod/warehouse/redshift-admin")
    s_etl = _secret(w, DATA, "prod/etl/api-token")
    w.instances["app-server"] = [f"i-0{hex_id(rng, 16)}" for _ in range(4)]
    w.instances["jenkins"] = [f"i-0{hex_id(rng, 16)}"]
    w.instances["etl"] = [f"i-0{hex_id(rng, 16)}" for _ in range(2)]
    vpc_a = f"vpc-0{hex_id(rng, 16)}"
    vpce_a, vpce_b = f"vpce-0{hex_id(rng, 16)}", f"vpce-0{hex_id(rng, 16)}"
    ec2_data = {
        "subnet": f"subnet-0{hex_id(rng, 16)}",
        "sg": f"sg-0{hex_id(rng, 16)}",
        "vpc": vpc_a,
        "ami": f"ami-0{hex_id(rng, 16)}",
        "lt": f"lt-0{hex_id(rng, 16)}",
        "instance_profile": f"arn:aws:iam::{PLATFORM}:instance-profile/app-server",
        "instances": w.instances["app-server"],
    }

    A: list[Actor] = w.actors
    S = w.sources

    def ops(**weights: float) -> tuple[list[Any], list[float]]:
        return [O.OPS[k] for k in weights], list(weights.values())

    # ---- AWS Config in every account and region ------------------------------------------------
    for acct, label in ((MGMT, "mgmt"), (PLATFORM, "platform"), (DATA, "data")):
        for region in REGIONS:
            src = ServiceAssume(
                R[f"config-{label}"],
                "config.amazonaws.com",
                "AWSConfig-Describe",
                duration=3600,
                region=region,
                invoked_by="config.amazonaws.com",
            )
            if region == "us-east-1":
                o, ow = ops(
                    iam_get_role=3,
                    iam_role_policies=3,
                    iam_get_policy=2,
                    s3_acl=2,
                    s3_policy=2,
                    s3_versioning=1,
                    s3_encryption=1,
                    describe_instances=1,
                    cloudtrail_describe=1,
                )
            else:
                o, ow = ops(
                    describe_sgs=3,
                    describe_volumes=2,
                    describe_enis=3,
                    describe_vpcs=1,
                    describe_instances=2,
                    kms_describe=1,
                )
            main = region in ("us-east-1", "eu-west-1")
            weight = (1.6 if main else 0.25) * (0.5 if acct == MGMT else 1.0)
            A.append(
                Actor(
                    f"config-{label}-{region}",
                    src,
                    "config.amazonaws.com",
                    ("config.amazonaws.com",),
                    o,
                    ow,
                    regions=(region,),
                    day=weight,
                    night=weight,
                    burst=4,
                    data={"throttle": True},
                )
            )
    # ---- EC2 app servers (platform) -------------------------------------------------------------
    for inst in w.instances["app-server"]:
        src = ServiceAssume(R["app-server-role"], "ec2.amazonaws.com", inst, ec2=True, refresh=3600)
        o, ow = ops(
            s3_get=1.6,
            s3_put=0.6,
            s3_head=0.4,
            kms_decrypt=1.5,
            secret_get=1,
            ssm_get=2,
            ssm_agent=4,
            caller_identity=0.5,
        )
        A.append(
            Actor(
                f"app-server/{inst}",
                src,
                APP_NAT_IP,
                (UA_GO,),
                o,
                ow,
                day=2.6,
                night=1.0,
                burst=2,
                data={
                    "read_buckets": [uploads, uploads, reference],
                    "write_buckets": [uploads],
                    "kms": k_a,
                    "app": "orders",
                    "secrets": [s_orders_db, s_stripe],
                    "params": [
                        "/prod/orders/db-host",
                        "/prod/orders/feature-flags",
                        "/prod/orders/db-password",
                    ],
                },
                vpce=vpce_a,
                vpce_ip=f"10.20.{rng.randrange(1, 60)}.{rng.randrange(2, 250)}",
                agent_ua=UA_SSM_AGENT,
            )
        )
    # ---- Jenkins agent (platform): its instance role, and the deploy role it assumes ------------
    jenkins_inst = w.instances["jenkins"][0]
    S["jenkins"] = jsrc = ServiceAssume(
        R["jenkins-agent-role"], "ec2.amazonaws.com", jenkins_inst, ec2=True, refresh=3600
    )
    o, ow = ops(describe_instances=2, ecr_token=2, s3_put=2, caller_identity=1, ssm_agent=3)
    A.append(
        Actor(
            "jenkins",
            jsrc,
            JENKINS_NAT_IP,
            (UA_JENKINS,),
            o,
            ow,
            day=1.2,
            night=0.4,
            burst=2,
            data={"write_buckets": [artifacts], "deny": 0.01},
            agent_ua=UA_SSM_AGENT,
            vpce_ip="10.20.8.14",
        )
    )
    S["jenkins-deploy"] = jdep = Assume(
        R["ci-deploy-role"], "ci-deploy", jsrc, JENKINS_NAT_IP, UA_JENKINS, region="eu-west-1"
    )
    o, ow = ops(cfn_describe=3, lambda_update=1, s3_put=2, describe_instances=1)
    A.append(
        Actor(
            "jenkins-deploy",
            jdep,
            JENKINS_NAT_IP,
            (UA_JENKINS,),
            o,
            ow,
            day=0.6,
            night=0.1,
            burst=3,
            data={
                "write_buckets": [artifacts],
                "functions": ["orders-processor", "orders-api"],
                "stacks": ["orders-prod", "web-prod"],
            },
        )
    )
    # ---- CI user ci-deploy (platform), its role, and the chain into the data account -----------
    ci_user = U["ci-deploy"]
    S["ci-key"] = ci_key = LongTerm(ci_user, w.keys["ci-deploy"])
    o, ow = ops(caller_identity=2, s3_put=3, ecr_token=1)
    A.append(
        Actor(
            "ci-user",
            ci_key,
            CI_RUNNER_IP,
            (UA_CI,),
            o,
            ow,
            day=1.0,
            night=0.15,
            burst=2,
            data={"write_buckets": [artifacts]},
        )
    )
    S["ci-role"] = ci_role = Assume(R["ci-deploy-role"], "ci-deploy", ci_key, CI_RUNNER_IP, UA_CI)
    o, ow = ops(
        lambda_update=2,
        cfn_describe=3,
        s3_put=2,
        create_tags=1,
        describe_instances=2,
        run_instances=0.3,
    )
    A.append(
        Actor(
            "ci-role",
            ci_role,
            CI_RUNNER_IP,
            (UA_CI, UA_TERRAFORM),
            o,
            ow,
            day=2.0,
            night=0.2,
            burst=3,
            data={
                "write_buckets": [artifacts],
                "functions": ["orders-processor", "orders-api"],
                "stacks": ["orders-prod", "web-prod", "network-prod"],
                **ec2_data,
            },
        )
    )
    S["ci-data"] = ci_data = Assume(
        R["data-pipeline-deploy"], "ci-deploy", ci_role, CI_RUNNER_IP, UA_CI
    )
    o, ow = ops(glue_job=1, s3_put=2, s3_list=1, glue_get_table=1)
    A.append(
        Actor(
            "ci-data",
            ci_data,
            CI_RUNNER_IP,
            (UA_CI,),
            o,
            ow,
            day=0.8,
            night=0.1,
            burst=2,
            data={"write_buckets": [raw], "read_buckets": [raw], "prefix": "raw/orders/"},
        )
    )
    # ---- GitHub Actions OIDC (platform) ---------------------------------------------------------
    gha = WebIdentity(R["gha-web-deploy"], "repo:acme/web:ref:refs/heads/main", GHA_IP, UA_GHA)
    o, ow = ops(s3_put=6, cloudfront_invalidate=1, caller_identity=1)
    A.append(
        Actor(
            "gha-web",
            gha,
            GHA_IP,
            (UA_GHA,),
            o,
            ow,
            day=1.0,
            night=0.05,
            burst=4,
            data={"write_buckets": [web], "deny": 0.02},
        )
    )
    # ---- Lambda functions ------------------------------------------------------------------------
    orders = ServiceAssume(
        R["orders-processor-role"],
        "lambda.amazonaws.com",
        "orders-processor",
        duration=12 * 3600,
        refresh=2 * 3600,
    )
    o, ow = ops(
        s3_get=2,
        s3_put=1,
        kms_decrypt=1,
        secret_get=1,
        ssm_get=1.5,
        logs_stream=1,
        kms_decrypt_shared=0.4,
    )
    A.append(
        Actor(
            "orders-processor",
            orders,
            "3.250.107.38",
            (UA_LAMBDA,),
            o,
            ow,
            day=3.2,
            night=1.0,
            burst=2,
            data={
                "read_buckets": [uploads, reference],
                "write_buckets": [uploads],
                "kms": k_a,
                "shared_kms": k_b,
                "secrets": [s_orders_db, s_stripe],
                "app": "orders-processor",
                "deny": 0.01,
                "params": ["/prod/orders/db-host", "/prod/orders/feature-flags"],
            },
        )
    )
    S["etl-exporter"] = exporter = ServiceAssume(
        R["etl-exporter-role"],
        "lambda.amazonaws.com",
        "etl-exporter",
        duration=12 * 3600,
        refresh=2 * 3600,
    )
    o, ow = ops(s3_get=2, s3_put=1.5, s3_list=0.5, kms_decrypt=1, secret_get=1, logs_stream=1)
    A.append(
        Actor(
            "etl-exporter",
            exporter,
            "52.19.44.201",
            (UA_LAMBDA,),
            o,
            ow,
            day=1.6,
            night=1.6,
            burst=3,
            data={
                "read_buckets": [raw, exports],
                "write_buckets": [exports],
                "kms": k_b,
                "secrets": [s_etl],
                "app": "etl-exporter",
                "prefix": "exports/",
            },
        )
    )
    # ---- ETL workers (data) ------------------------------------------------------------------------
    for inst in w.instances["etl"]:
        src = ServiceAssume(R["etl-worker-role"], "ec2.amazonaws.com", inst, ec2=True, refresh=3600)
        o, ow = ops(s3_get=1.6, s3_put=1, glue_get_table=2, kms_decrypt=1, ssm_agent=3)
        A.append(
            Actor(
                f"etl/{inst}",
                src,
                ETL_NAT_IP,
                (UA_SPARK,),
                o,
                ow,
                day=1.6,
                night=1.6,
                burst=3,
                data={"read_buckets": [raw], "write_buckets": [raw], "kms": k_b, "app": "etl"},
                vpce=vpce_b,
                vpce_ip=f"10.30.{rng.randrange(1, 60)}.{rng.randrange(2, 250)}",
                agent_ua=UA_SSM_AGENT,
            )
        )
    # ---- people through IAM Identity Center -----------------------------------------------------
    provider = w.sso_provider = f"AWSSSO_{hex_id(rng, 16)}_DO_NOT_DELETE"
    people = (
        (
            "alice@acme.example",
            "sso-admin-platform",
            OFFICE_IPS[0],
            (UA_CONSOLE, UA_CLI_MAC),
            dict(
                console_browse=6,
                describe_instances=2,
                lambda_get=1,
                cloudtrail_lookup=1,
                iam_list_roles=1,
                iam_admin=0.6,
            ),
            1.2,
            {},
        ),
        (
            "bob@acme.example",
            "sso-readonly-platform",
            OFFICE_IPS[1],
            (UA_CONSOLE_FF,),
            dict(console_browse=6, write_denied=0.6, iam_list_roles=1),
            0.8,
            {"readonly_denied": True},
        ),
        (
            "carol@acme.example",
            "sso-analyst-data",
            OFFICE_IPS[2],
            (UA_CONSOLE, UA_CLI_LINUX),
            dict(athena_query=3, glue_get_table=2, s3_list=1, s3_get=2),
            1.0,
            {"read_buckets": [athena], "prefix": "analysts/", "deny": 0.03},
        ),
        (
            "dave@acme.example",
            "sso-admin-mgmt",
            OFFICE_IPS[0],
            (UA_CONSOLE,),
            dict(org_list_accounts=2, cloudtrail_lookup=2, guardduty_findings=2, console_browse=2),
            0.4,
            {},
        ),
        (
            "erin@acme.example",
            "sso-admin-data",
            OFFICE_IPS[1],
            (UA_CONSOLE, UA_TERRAFORM),
            dict(
                console_browse=3, glue_get_table=1, s3_list=1, describe_snapshots=1, iam_admin=0.4
            ),
            0.6,
            {"read_buckets": [exports], "prefix": "exports/"},
        ),
    )
    for email, role_key, ip, uas, opw, weight, data in people:
        src = Saml(R[role_key], provider, email, ip, uas[0])
        o, ow = ops(**opw)
        A.append(
            Actor(
                f"sso/{email}",
                src,
                ip,
                uas,
                o,
                ow,
                regions=("eu-west-1", "us-east-1", "eu-central-1"),
                region_weights=(6, 2, 1),
                day=weight,
                night=0.01 if email.startswith("alice") else 0.0,
                burst=4,
                data={
                    "functions": ["orders-processor", "orders-api"],
                    "stacks": ["orders-prod"],
                    **data,
                },
            )
        )
    # ---- IAM users: console (MFA), CLI with GetSessionToken, a federation token bot -------------
    jsmith = Console(U["j.smith"], PLATFORM, "192.0.2.45", UA_CONSOLE)
    o, ow = ops(console_browse=5, describe_instances=1)
    A.append(
        Actor(
            "console/j.smith",
            jsmith,
            "192.0.2.45",
            (UA_CONSOLE,),
            o,
            ow,
            regions=("eu-west-1", "us-east-1"),
            region_weights=(3, 1),
            day=0.5,
            night=0.0,
            burst=4,
            data={"functions": ["orders-api"], "stacks": ["orders-prod"]},
        )
    )
    garcia_key = LongTerm(U["m.garcia"], w.keys["m.garcia"])
    garcia_mfa = SessionToken(garcia_key, "192.0.2.77", UA_CLI_MAC)
    garcia_admin = Assume(
        R["engineer-admin"], "m.garcia", garcia_mfa, "192.0.2.77", UA_CLI_MAC, region="eu-west-1"
    )
    o, ow = ops(describe_instances=2, s3_list=1, iam_list_roles=1, describe_snapshots=1)
    A.append(
        Actor(
            "cli/m.garcia",
            garcia_admin,
            "192.0.2.77",
            (UA_CLI_MAC,),
            o,
            ow,
            regions=("eu-west-1", "eu-central-1"),
            region_weights=(3, 1),
            day=0.35,
            night=0.0,
            burst=3,
            data={"read_buckets": [raw], "prefix": "raw/"},
        )
    )
    o, ow = ops(caller_identity=1, describe_instances=1)
    A.append(
        Actor(
            "cli/m.garcia-mfa", garcia_mfa, "192.0.2.77", (UA_CLI_MAC,), o, ow, day=0.1, night=0.0
        )
    )
    fed = Federation(
        LongTerm(U["legacy-reporting"], w.keys["legacy-reporting"]),
        "report-bot",
        "192.0.2.200",
        UA_REPORT,
    )
    o, ow = ops(s3_list_buckets=1, describe_instances=2, cloudtrail_describe=1)
    A.append(
        Actor(
            "federated/report-bot",
            fed,
            "192.0.2.200",
            (UA_REPORT,),
            o,
            ow,
            regions=REGIONS,
            region_weights=(2, 3, 1, 1, 1),
            day=0.05,
            night=0.25,
            burst=4,
        )
    )
    root = Console(None, MGMT, "192.0.2.10", UA_CONSOLE, root=True)
    o, ow = ops(org_list_accounts=1, console_browse=1)
    A.append(
        Actor(
            "root/management",
            root,
            "192.0.2.10",
            (UA_CONSOLE,),
            o,
            ow,
            day=0.004,
            night=0.0,
            burst=3,
        )
    )
    # ---- AWS service events (no credentials) ------------------------------------------------------
    w.service_actor = Actor(
        "aws-services",
        None,
        "cloudtrail.amazonaws.com",
        ("cloudtrail.amazonaws.com",),
        [_aws_service_event],
        [1.0],
        regions=("us-east-1",),
        day=1.2,
        night=1.2,
    )
    A.append(w.service_actor)
    return w
