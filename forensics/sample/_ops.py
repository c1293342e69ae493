"""The API calls background actors make: one small function per call, as CloudTrail logs it.

Each function takes ``(sim, actor, cred, ts, region)`` and emits one record (two for a
cross-account call: the caller's copy and the owner's copy, joined by ``sharedEventID``).
``actor.data`` holds what the actor works on (buckets, secrets, parameters, functions...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forensics.sample._ids import b64, hex_id, token, uuid4

if TYPE_CHECKING:
    from forensics.sample._records import Cred
    from forensics.sample._sim import Actor, Sim

__all__ = ["OPS"]

_DENIED = "AccessDenied"
_FUNCTIONS = ("orders-processor", "orders-api", "etl-exporter")
_STACKS = ("orders-prod", "web-prod", "network-prod", "data-lake")


def _denied(cred: Cred, action: str, resource: str = "*") -> tuple[str, str]:
    return (
        _DENIED,
        f"User: {cred.arn} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action",
    )


_YMD: dict[int, str] = {}


def _ymd(ts: int) -> str:
    day = ts // 86400
    s = _YMD.get(day)
    if s is None:
        s = _YMD[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y/%m/%d")
    return s


def _s3(
    sim: Sim,
    a: Actor,
    cred: Cred,
    ts: int,
    region: str,
    name: str,
    bucket: str,
    key: str | None,
    owner: str,
    *,
    ro: bool,
    nbytes: int = 0,
    error=None,
    kms: str | None = None,
) -> None:
    rng = sim.rng
    host = f"{bucket}.s3.{region}.amazonaws.com"
    req: dict[str, Any] = {"bucketName": bucket, "Host": host}
    res: list[dict[str, str]] = []
    if key is not None:
        req["key"] = key
        res.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
    else:
        req.update(
            {
                "list-type": "2",
                "prefix": a.data.get("prefix", ""),
                "delimiter": "/",
                "encoding-type": "url",
            }
        )
    res.append({"accountId": owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"})
    resp = None
    if name == "PutObject" and error is None:
        resp = {"x-amz-server-side-encryption": "aws:kms" if kms else "AES256"}
        if kms:
            resp["x-amz-server-side-encryption-aws-kms-key-id"] = kms
            resp["x-amz-server-side-encryption-bucket-key-enabled"] = "true"
    add = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": nbytes if name == "PutObject" else 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": b64(rng, 57),
        "bytesTransferredOut": nbytes if name == "GetObject" and error is None else 0,
    }
    shared = uuid4(rng) if owner != cred.account else None
    sim.call(
        a,
        cred,
        ts,
        region,
        "s3.amazonaws.com",
        name,
        req=req,
        resp=resp,
        ro=ro,
        error=error,
        additional=add,
        resources=res,
        mgmt=False,
        host=host,
        shared=shared,
    )
    if shared is not None:  # the bucket owner's copy: same call, seen from the other account
        mine = sim.out[-1]
        ident = {
            "type": "AWSAccount",
            "principalId": cred.identity.get("principalId", ""),
            "accountId": cred.account,
        }
        sim.emit(
            sim.em.record(
                ts,
                ident,
                "s3.amazonaws.com",
                name,
                region,
                mine["sourceIPAddress"],
                mine["userAgent"],
                owner,
                req=req,
                resp=resp,
                read_only=ro,
                error=error,
                additional=add,
                resources=res,
                management=False,
                shared_event_id=shared,
                vpce=mine.get("vpcEndpointId"),
                host=host,
            )
        )
    # S3 Bucket Keys: KMS is called once per bucket key lifetime, not for every object
    if (
        kms
        and error is None
        and name in ("GetObject", "PutObject")
        and (a.data.get("all_kms") or rng.random() < 0.2)
    ):
        ident = dict(cred.identity)
        ident["invokedBy"] = "s3.amazonaws.com"
        op = "Decrypt" if name == "GetObject" else "GenerateDataKey"
        req2: dict[str, Any] = {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}"}}
        if op == "Decrypt":
            req2["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        else:
            req2.update({"keyId": kms, "keySpec": "AES_256"})
        sim.emit(
            sim.em.record(
                ts,
                ident,
                "kms.amazonaws.com",
                op,
                region,
                "s3.amazonaws.com",
                "s3.amazonaws.com",
                cred.account,
                req=req2,
                read_only=True,
                resources=[{"accountId": kms.split(":")[4], "type": "AWS::KMS::Key", "ARN": kms}],
            )
        )


def _pick_bucket(sim: Sim, a: Actor, write: bool):
    buckets = a.data["write_buckets" if write else "read_buckets"]
    return buckets[0] if len(buckets) == 1 else sim.rng.choice(buckets)


def s3_get(sim, a, cred, ts, region):
    rng = sim.rng
    bucket, owner, prefix, kms, bregion = _pick_bucket(sim, a, False)
    key = f"{prefix}{_ymd(ts - rng.randrange(3) * 86400)}/part-{rng.randrange(4000):05d}.parquet"
    err = None
    if rng.random() < 0.03:
        err = ("NoSuchKey", "The specified key does not exist.")
    _s3(
        sim,
        a,
        cred,
        ts,
        bregion,
        "GetObject",
        bucket,
        key,
        owner,
        ro=True,
        nbytes=rng.randrange(2_000, 40_000_000),
        error=err,
        kms=kms,
    )


def s3_put(sim, a, cred, ts, region):
    rng = sim.rng
    bucket, owner, prefix, kms, bregion = _pick_bucket(sim, a, True)
    key = f"{prefix}{_ymd(ts)}/{hex_id(rng, 8)}-{rng.randrange(1000):04d}.json.gz"
    _s3(
        sim,
        a,
        cred,
        ts,
        bregion,
        "PutObject",
        bucket,
        key,
        owner,
        ro=False,
        nbytes=rng.randrange(500, 5_000_000),
        kms=kms,
    )


def s3_head(sim, a, cred, ts, region):
    rng = sim.rng
    bucket, owner, prefix, _kms, bregion = _pick_bucket(sim, a, False)
    key = f"{prefix}{_ymd(ts)}/part-{rng.randrange(4000):05d}.parquet"
    _s3(sim, a, cred, ts, bregion, "HeadObject", bucket, key, owner, ro=True)


def s3_list(sim, a, cred, ts, region):
    bucket, owner, _prefix, _kms, bregion = _pick_bucket(sim, a, False)
    _s3(sim, a, cred, ts, bregion, "ListObjects", bucket, None, owner, ro=True)


def s3_list_buckets(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        "us-east-1",
        "s3.amazonaws.com",
        "ListBuckets",
        req={"Host": "s3.amazonaws.com"},
        ro=True,
        additional={
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": b64(sim.rng, 57),
            "bytesTransferredOut": 3120,
        },
        host="s3.amazonaws.com",
    )


def _bucket_mgmt(name: str):
    def op(sim, a, cred, ts, region):
        bucket = sim.rng.choice(sim.world.all_buckets)
        err = None
        if name == "GetBucketPolicy" and sim.rng.random() < 0.4:
            err = ("NoSuchBucketPolicy", "The bucket policy does not exist")
        sim.call(
            a,
            cred,
            ts,
            region,
            "s3.amazonaws.com",
            name,
            req={
                "bucketName": bucket[0],
                "Host": f"{bucket[0]}.s3.{bucket[4]}.amazonaws.com",
                name.removeprefix("GetBucket").lower(): "",
            },
            ro=True,
            error=err,
            resources=[
                {
                    "accountId": bucket[1],
                    "type": "AWS::S3::Bucket",
                    "ARN": f"arn:aws:s3:::{bucket[0]}",
                }
            ],
            additional={
                "SignatureVersion": "SigV4",
                "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": b64(sim.rng, 57),
                "bytesTransferredOut": 0 if err else 512,
            },
        )

    return op


def caller_identity(sim, a, cred, ts, region):
    sim.call(a, cred, ts, region, "sts.amazonaws.com", "GetCallerIdentity", ro=True)


def ec2_describe(name: str, req: dict[str, Any] | None = None):
    def op(sim, a, cred, ts, region):
        err = None
        if a.data.get("throttle") and sim.rng.random() < 0.04:
            err = ("Client.RequestLimitExceeded", "Request limit exceeded.")
        sim.call(
            a,
            cred,
            ts,
            region,
            "ec2.amazonaws.com",
            name,
            req=req if req is not None else {"filterSet": {}},
            ro=True,
            error=err,
        )

    return op


describe_instances = ec2_describe(
    "DescribeInstances",
    {
        "instancesSet": {},
        "filterSet": {
            "items": [
                {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}
            ]
        },
    },
)


def run_instances(sim, a, cred, ts, region):
    rng = sim.rng
    inst, eni = f"i-0{hex_id(rng, 16)}", f"eni-0{hex_id(rng, 16)}"
    subnet, sg = a.data["subnet"], a.data["sg"]
    ip = f"10.20.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}"
    az = f"{region}{rng.choice('abc')}"
    ami = a.data["ami"]
    req = {
        "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
        "instanceType": "m6i.large",
        "blockDeviceMapping": {},
        "subnetId": subnet,
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": uuid4(rng),
        "iamInstanceProfile": {"arn": a.data["instance_profile"]},
        "tagSpecificationSet": {
            "items": [
                {
                    "resourceType": "instance",
                    "tags": [
                        {"key": "Name", "value": "app-server"},
                        {"key": "team", "value": "platform"},
                    ],
                }
            ]
        },
        "launchTemplate": {"launchTemplateId": a.data["lt"], "version": "$Latest"},
    }
    resp = {
        "requestId": uuid4(rng),
        "reservationId": f"r-0{hex_id(rng, 16)}",
        "ownerId": cred.account,
        "groupSet": {},
        "instancesSet": {
            "items": [
                {
                    "instanceId": inst,
                    "imageId": ami,
                    "instanceState": {"code": 0, "name": "pending"},
                    "privateDnsName": f"ip-{ip.replace('.', '-')}.{region}.compute.internal",
                    "amiLaunchIndex": 0,
                    "productCodes": {},
                    "instanceType": "m6i.large",
                    "launchTime": ts * 1000,
                    "placement": {"availabilityZone": az, "tenancy": "default"},
                    "monitoring": {"state": "disabled"},
                    "subnetId": subnet,
                    "vpcId": a.data["vpc"],
                    "privateIpAddress": ip,
                    "stateReason": {"code": "pending", "message": "pending"},
                    "architecture": "x86_64",
                    "rootDeviceType": "ebs",
                    "rootDeviceName": "/dev/xvda",
                    "blockDeviceMapping": {},
                    "virtualizationType": "hvm",
                    "hypervisor": "xen",
                    "iamInstanceProfile": {
                        "arn": a.data["instance_profile"],
                        "id": "AIPA" + token(rng, 17).upper(),
                    },
                    "groupSet": {"items": [{"groupId": sg, "groupName": "app-server"}]},
                    "networkInterfaceSet": {
                        "items": [
                            {
                                "networkInterfaceId": eni,
                                "subnetId": subnet,
                                "vpcId": a.data["vpc"],
                                "ownerId": cred.account,
                                "status": "in-use",
                                "macAddress": ":".join(
                                    f"{rng.randrange(256):02x}" for _ in range(6)
                                ),
                                "privateIpAddress": ip,
                                "sourceDestCheck": True,
                                "interfaceType": "interface",
                                "groupSet": {"items": [{"groupId": sg, "groupName": "app-server"}]},
                                "attachment": {
                                    "attachmentId": f"eni-attach-0{hex_id(rng, 16)}",
                                    "deviceIndex": 0,
                                    "networkCardIndex": 0,
                                    "status": "attaching",
                                    "attachTime": ts * 1000,
                                    "deleteOnTermination": True,
                                },
                                "privateIpAddressesSet": {
                                    "item": [{"privateIpAddress": ip, "primary": True}]
                                },
                                "ipv6AddressesSet": {},
                                "tagSet": {},
                            }
                        ]
                    },
                    "ebsOptimized": True,
                    "enaSupport": True,
                    "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                    "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                    "metadataOptions": {
                        "state": "pending",
                        "httpTokens": "required",
                        "httpPutResponseHopLimit": 2,
                        "httpEndpoint": "enabled",
                    },
                    "tagSet": {
                        "items": [
                            {"key": "Name", "value": "app-server"},
                            {"key": "team", "value": "platform"},
                        ]
                    },
                }
            ]
        },
    }
    sim.call(a, cred, ts, region, "ec2.amazonaws.com", "RunInstances", req=req, resp=resp, ro=False)


def create_tags(sim, a, cred, ts, region):
    inst = sim.rng.choice(a.data["instances"])
    sim.call(
        a,
        cred,
        ts,
        region,
        "ec2.amazonaws.com",
        "CreateTags",
        req={
            "resourcesSet": {"items": [{"resourceId": inst}]},
            "tagSet": {"items": [{"key": "deployed-at", "value": str(ts)}]},
        },
        resp={"requestId": uuid4(sim.rng), "_return": True},
        ro=False,
    )


def kms_decrypt(sim, a, cred, ts, region):
    key = a.data["kms"]
    sim.call(
        a,
        cred,
        ts,
        region,
        "kms.amazonaws.com",
        "Decrypt",
        req={
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"app": a.data.get("app", "orders"), "env": "prod"},
        },
        ro=True,
        resources=[{"accountId": key.split(":")[4], "type": "AWS::KMS::Key", "ARN": key}],
    )


def kms_decrypt_shared(sim, a, cred, ts, region):
    """Decrypt with another account's key: both accounts log it, with the caller's full identity.

    KMS writes the key owner's copy with the caller's ``userIdentity`` (key included), so the
    same temporary key shows up in a second account's trail.
    """
    key = a.data["shared_kms"]
    owner = key.split(":")[4]
    shared = uuid4(sim.rng)
    req = {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "keyId": key,
        "encryptionContext": {"dataset": "partner-reference"},
    }
    res = [{"accountId": owner, "type": "AWS::KMS::Key", "ARN": key}]
    sim.call(
        a,
        cred,
        ts,
        key.split(":")[3],
        "kms.amazonaws.com",
        "Decrypt",
        req=req,
        ro=True,
        resources=res,
        shared=shared,
    )
    mine = sim.out[-1]
    sim.emit(
        sim.em.record(
            ts,
            cred.identity,
            "kms.amazonaws.com",
            "Decrypt",
            mine["awsRegion"],
            mine["sourceIPAddress"],
            mine["userAgent"],
            owner,
            req=req,
            read_only=True,
            resources=res,
            shared_event_id=shared,
            vpce=mine.get("vpcEndpointId"),
        )
    )


def kms_gdk(sim, a, cred, ts, region):
    key = a.data["kms"]
    sim.call(
        a,
        cred,
        ts,
        region,
        "kms.amazonaws.com",
        "GenerateDataKey",
        req={
            "keyId": key,
            "keySpec": "AES_256",
            "encryptionContext": {"app": a.data.get("app", "orders"), "env": "prod"},
        },
        ro=True,
        resources=[{"accountId": key.split(":")[4], "type": "AWS::KMS::Key", "ARN": key}],
    )


def secret_get(sim, a, cred, ts, region):
    rng = sim.rng
    secret = rng.choice(a.data["secrets"])
    err = None
    if rng.random() < 0.01:
        err = (
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
        )
    sim.call(
        a,
        cred,
        ts,
        secret.split(":")[3],
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        req={"secretId": secret, **({"versionStage": "AWSPENDING"} if err else {})},
        ro=True,
        error=err,
        resources=None
        if err
        else [
            {
                "accountId": secret.split(":")[4],
                "type": "AWS::SecretsManager::Secret",
                "ARN": secret,
            }
        ],
    )


def ssm_get(sim, a, cred, ts, region):
    rng = sim.rng
    params = a.data["params"]
    if rng.random() < 0.5:
        name = rng.choice(params)
        err = ("ParameterNotFound", None) if rng.random() < 0.02 else None
        if err:
            err = ("ParameterNotFound", f"Parameter {name}-v2 not found.")
        sim.call(
            a,
            cred,
            ts,
            region,
            "ssm.amazonaws.com",
            "GetParameter",
            req={"name": name if err is None else f"{name}-v2", "withDecryption": True},
            ro=True,
            error=err,
        )
    else:
        sim.call(
            a,
            cred,
            ts,
            region,
            "ssm.amazonaws.com",
            "GetParameters",
            req={"names": rng.sample(params, min(3, len(params))), "withDecryption": True},
            ro=True,
        )


def ssm_agent(sim, a, cred, ts, region):
    rng = sim.rng
    inst = cred.identity["principalId"].split(":", 1)[1] if "i-" in cred.arn else "i-0"
    r = rng.random()
    if r < 0.55:
        sim.call(
            a,
            cred,
            ts,
            region,
            "ec2messages.amazonaws.com",
            "GetMessages",
            req={
                "destination": inst,
                "messagesRequestId": uuid4(rng),
                "visibilityTimeoutInSeconds": 10,
            },
            ro=True,
            agent=True,
        )
    elif r < 0.85:
        sim.call(
            a,
            cred,
            ts,
            region,
            "ssm.amazonaws.com",
            "UpdateInstanceInformation",
            req={
                "instanceId": inst,
                "agentVersion": "3.3.131.0",
                "agentStatus": "Active",
                "platformType": "Linux",
                "platformName": "Amazon Linux",
                "platformVersion": "2023",
                "iPAddress": a.vpce_ip,
                "computerName": f"ip-{a.vpce_ip.replace('.', '-')}.{region}.compute.internal",
                "agentName": "amazon-ssm-agent",
                "availabilityZone": f"{region}a",
                "availabilityZoneId": "euw1-az1",
                "sSMConnectionChannel": "ssmmessages",
            },
            ro=False,
            agent=True,
        )
    else:
        sim.call(
            a,
            cred,
            ts,
            region,
            "ssm.amazonaws.com",
            "ListInstanceAssociations",
            req={"instanceId": inst, "maxResults": 20},
            ro=True,
            agent=True,
        )


def lambda_update(sim, a, cred, ts, region):
    rng = sim.rng
    fn = rng.choice(a.data.get("functions") or _FUNCTIONS)
    arn = f"arn:aws:lambda:{region}:{cred.account}:function:{fn}"
    sim.call(
        a,
        cred,
        ts,
        region,
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        req={
            "functionName": fn,
            "s3Bucket": a.data["write_buckets"][0][0],
            "s3Key": f"lambda/{fn}/{hex_id(rng, 40)}.zip",
            "publish": True,
            "dryRun": False,
        },
        resp={
            "functionName": fn,
            "functionArn": arn,
            "runtime": "python3.12",
            "role": f"arn:aws:iam::{cred.account}:role/{fn}-role",
            "handler": "app.handler",
            "codeSize": rng.randrange(10_000, 9_000_000),
            "description": "",
            "timeout": 30,
            "memorySize": 512,
            "lastModified": f"{_ymd(ts).replace('/', '-')}T00:00:00.000+0000",
            "codeSha256": token(rng, 43) + "=",
            "version": str(rng.randrange(2, 300)),
            "tracingConfig": {"mode": "PassThrough"},
            "revisionId": uuid4(rng),
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "packageType": "Zip",
            "architectures": ["arm64"],
            "ephemeralStorage": {"size": 512},
            "snapStart": {"applyOn": "None", "optimizationStatus": "Off"},
            "runtimeVersionConfig": {
                "runtimeVersionArn": "arn:aws:lambda:" + region + "::runtime:" + hex_id(rng, 64)
            },
            "loggingConfig": {"logFormat": "Text", "logGroup": f"/aws/lambda/{fn}"},
        },
        ro=False,
        resources=None,
    )


def lambda_get(sim, a, cred, ts, region):
    fn = sim.rng.choice(a.data.get("functions") or _FUNCTIONS)
    sim.call(
        a,
        cred,
        ts,
        region,
        "lambda.amazonaws.com",
        "GetFunction20150331v2",
        req={"functionName": fn},
        ro=True,
    )


def cfn_describe(sim, a, cred, ts, region):
    stack = sim.rng.choice(a.data.get("stacks") or _STACKS)
    sim.call(
        a,
        cred,
        ts,
        region,
        "cloudformation.amazonaws.com",
        "DescribeStacks",
        req={"stackName": stack},
        ro=True,
    )


def ecr_token(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        region,
        "ecr.amazonaws.com",
        "GetAuthorizationToken",
        ro=True,
        req={"registryIds": [cred.account]},
    )


def logs_create_stream(sim, a, cred, ts, region):
    fn = a.data.get("app", "app")
    sim.call(
        a,
        cred,
        ts,
        region,
        "logs.amazonaws.com",
        "CreateLogStream",
        req={
            "logGroupName": f"/aws/lambda/{fn}",
            "logStreamName": f"{_ymd(ts)}/[$LATEST]{hex_id(sim.rng, 32)}",
        },
        ro=False,
    )


def iam_read(name: str):
    def op(sim, a, cred, ts, region):
        rng = sim.rng
        role = rng.choice(sim.world.all_roles)
        req: dict[str, Any] | None
        if name in ("GetRole", "ListAttachedRolePolicies", "ListRolePolicies"):
            req = {"roleName": role.name}
        elif name == "GetPolicy":
            req = {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
        elif name == "GetUser":
            req = None
        else:
            req = {"maxItems": 100} if rng.random() < 0.5 else None
        err = None
        if a.data.get("throttle") and rng.random() < 0.05:
            err = ("Throttling", "Rate exceeded")
        elif a.data.get("readonly_denied") and rng.random() < 0.05:
            err = _denied(cred, f"iam:{name}", f"arn:aws:iam::{cred.account}:role/{role.name}")
        sim.call(a, cred, ts, "us-east-1", "iam.amazonaws.com", name, req=req, ro=True, error=err)

    return op


def console_browse(sim, a, cred, ts, region):
    """What a console page load does: a handful of Describe/List calls."""
    op = sim.rng.choice(_CONSOLE_READS)
    op(sim, a, cred, ts, region)


def guardduty_findings(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        region,
        "guardduty.amazonaws.com",
        "ListFindings",
        req={
            "detectorId": sim.world.detector(cred.account, region),
            "maxResults": 50,
            "sortCriteria": {"attributeName": "updatedAt", "orderBy": "DESC"},
        },
        ro=True,
    )


def athena_query(sim, a, cred, ts, region):
    rng = sim.rng
    qid = uuid4(rng)
    sim.call(
        a,
        cred,
        ts,
        region,
        "athena.amazonaws.com",
        "StartQueryExecution",
        req={
            "queryString": "SELECT customer_id, sum(amount) FROM sales.orders WHERE "
            f"dt = '{_ymd(ts)}' GROUP BY 1",
            "clientRequestToken": uuid4(rng),
            "queryExecutionContext": {"database": "sales"},
            "resultConfiguration": {"outputLocation": "s3://acme-data-athena-results/"},
            "workGroup": "analysts",
        },
        resp={"queryExecutionId": qid},
        ro=False,
    )


def glue_job(sim, a, cred, ts, region):
    rng = sim.rng
    sim.call(
        a,
        cred,
        ts,
        region,
        "glue.amazonaws.com",
        "StartJobRun",
        req={
            "jobName": rng.choice(["orders-compaction", "customer-export"]),
            "arguments": {"--run_date": _ymd(ts)},
        },
        resp={"jobRunId": f"jr_{hex_id(rng, 64)}"},
        ro=False,
    )


def glue_get_table(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        region,
        "glue.amazonaws.com",
        "GetTable",
        req={"databaseName": "sales", "name": sim.rng.choice(["orders", "customers", "refunds"])},
        ro=True,
    )


def cloudtrail_lookup(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        region,
        "cloudtrail.amazonaws.com",
        "LookupEvents",
        req={
            "maxResults": 50,
            "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}],
        },
        ro=True,
    )


def cloudtrail_describe(sim, a, cred, ts, region):
    sim.call(
        a,
        cred,
        ts,
        region,
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        req={"includeShadowTrails": True},
        ro=True,
    )


def org_list_accounts(sim, a, cred, ts, region):
    sim.call(a, cred, ts, "us-east-1", "organizations.amazonaws.com", "ListAccounts", ro=True)


def kms_describe(sim, a, cred, ts, region):
    key = sim.rng.choice(sim.world.all_kms)
    sim.call(
        a,
        cred,
        ts,
        key.split(":")[3],
        "kms.amazonaws.com",
        "DescribeKey",
        req={"keyId": key},
        ro=True,
        resources=[{"accountId": key.split(":")[4], "type": "AWS::KMS::Key", "ARN": key}],
    )


def write_denied(sim, a, cred, ts, region):
    """A read-only user trying a write in the console: AccessDenied."""
    inst = sim.rng.choice(sim.world.instances_a)
    sim.call(
        a,
        cred,
        ts,
        region,
        "ec2.amazonaws.com",
        "StopInstances",
        req={"instancesSet": {"items": [{"instanceId": inst}]}, "force": False},
        ro=False,
        error=(
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: "
            f"{cred.arn} is not authorized to perform: ec2:StopInstances on "
            f"resource: arn:aws:ec2:{region}:{cred.account}:instance/{inst} "
            "because no identity-based policy allows the "
            "ec2:StopInstances action. Encoded authorization failure "
            f"message: {token(sim.rng, 120)}",
        ),
    )


def cloudfront_invalidate(sim, a, cred, ts, region):
    rng = sim.rng
    sim.call(
        a,
        cred,
        ts,
        "us-east-1",
        "cloudfront.amazonaws.com",
        "CreateInvalidation",
        req={
            "distributionId": "E2QWRUHAPOMQZL",
            "invalidationBatch": {
                "paths": {"quantity": 1, "items": ["/*"]},
                "callerReference": f"gha-{rng.randrange(10**9)}",
            },
        },
        resp={
            "location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/"
            f"E2QWRUHAPOMQZL/invalidation/I{token(rng, 13).upper()}",
            "invalidation": {
                "id": f"I{token(rng, 13).upper()}",
                "status": "InProgress",
                "createTime": ts * 1000,
            },
        },
        ro=False,
    )


_TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
    '"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def iam_admin(sim, a, cred, ts, region):
    """Everyday IAM changes by administrators (so that IAM writes are not only the attacker's)."""
    rng = sim.rng
    name = (
        f"{rng.choice(['reports', 'billing-sync', 'image-resize', 'audit-export'])}-"
        f"{rng.choice(['lambda', 'task'])}-role"
    )
    arn = f"arn:aws:iam::{cred.account}:role/{name}"
    kind = rng.random()
    if kind < 0.25:
        sim.call(
            a,
            cred,
            ts,
            "us-east-1",
            "iam.amazonaws.com",
            "CreateRole",
            req={
                "roleName": name,
                "assumeRolePolicyDocument": _TRUST,
                "description": "managed by terraform",
                "tags": [{"key": "team", "value": "platform"}],
            },
            resp={
                "role": {
                    "path": "/",
                    "roleName": name,
                    "roleId": "AROA" + token(rng, 17).upper(),
                    "arn": arn,
                    "createDate": f"{_ymd(ts).replace('/', '-')}T00:00:00Z",
                    "assumeRolePolicyDocument": _TRUST,
                    "tags": [{"key": "team", "value": "platform"}],
                }
            },
            ro=False,
        )
    elif kind < 0.6:
        sim.call(
            a,
            cred,
            ts,
            "us-east-1",
            "iam.amazonaws.com",
            "AttachRolePolicy",
            req={
                "roleName": name,
                "policyArn": rng.choice(
                    [
                        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                    ]
                ),
            },
            ro=False,
        )
    elif kind < 0.85:
        sim.call(
            a,
            cred,
            ts,
            "us-east-1",
            "iam.amazonaws.com",
            "PutRolePolicy",
            req={
                "roleName": name,
                "policyName": "inline-access",
                "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                '"Action":["s3:GetObject"],"Resource":'
                '"arn:aws:s3:::acme-platform-app-uploads/*"}]}',
            },
            ro=False,
        )
    else:
        sim.call(
            a,
            cred,
            ts,
            "us-east-1",
            "iam.amazonaws.com",
            "TagRole",
            req={"roleName": name, "tags": [{"key": "cost-center", "value": "cc-1042"}]},
            ro=False,
        )


_CONSOLE_READS = [
    describe_instances,
    ec2_describe("DescribeSecurityGroups"),
    ec2_describe("DescribeVolumes"),
    ec2_describe("DescribeVpcs"),
    iam_read("ListRoles"),
    iam_read("GetRole"),
    s3_list_buckets,
    kms_describe,
    cloudtrail_describe,
    lambda_get,
    cfn_describe,
    guardduty_findings,
]

OPS: dict[str, Any] = {
    "s3_get": s3_get,
    "s3_put": s3_put,
    "s3_head": s3_head,
    "s3_list": s3_list,
    "s3_list_buckets": s3_list_buckets,
    "s3_acl": _bucket_mgmt("GetBucketAcl"),
    "s3_policy": _bucket_mgmt("GetBucketPolicy"),
    "s3_versioning": _bucket_mgmt("GetBucketVersioning"),
    "s3_encryption": _bucket_mgmt("GetBucketEncryption"),
    "caller_identity": caller_identity,
    "describe_instances": describe_instances,
    "describe_sgs": ec2_describe("DescribeSecurityGroups"),
    "describe_volumes": ec2_describe("DescribeVolumes"),
    "describe_enis": ec2_describe("DescribeNetworkInterfaces"),
    "describe_vpcs": ec2_describe("DescribeVpcs"),
    "describe_snapshots": ec2_describe(
        "DescribeSnapshots", {"ownersSet": {"items": [{"owner": "self"}]}, "filterSet": {}}
    ),
    "run_instances": run_instances,
    "create_tags": create_tags,
    "kms_decrypt": kms_decrypt,
    "kms_gdk": kms_gdk,
    "kms_decrypt_shared": kms_decrypt_shared,
    "kms_describe": kms_describe,
    "secret_get": secret_get,
    "ssm_get": ssm_get,
    "ssm_agent": ssm_agent,
    "lambda_update": lambda_update,
    "lambda_get": lambda_get,
    "cfn_describe": cfn_describe,
    "ecr_token": ecr_token,
    "logs_stream": logs_create_stream,
    "iam_get_role": iam_read("GetRole"),
    "iam_list_roles": iam_read("ListRoles"),
    "iam_role_policies": iam_read("ListAttachedRolePolicies"),
    "iam_get_policy": iam_read("GetPolicy"),
    "console_browse": console_browse,
    "guardduty_findings": guardduty_findings,
    "athena_query": athena_query,
    "glue_job": glue_job,
    "glue_get_table": glue_get_table,
    "cloudtrail_lookup": cloudtrail_lookup,
    "cloudtrail_describe": cloudtrail_describe,
    "org_list_accounts": org_list_accounts,
    "write_denied": write_denied,
    "iam_admin": iam_admin,
    "cloudfront_invalidate": cloudfront_invalidate,
}
