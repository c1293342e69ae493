"""Resources each event touched: the mapping table, canonical ARNs, fallbacks, coverage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import forensics as fx
from forensics.resources import RULES, Rule, event_resources
from tests._identity_helpers import event, session, trail, user

ACCT = "111122223333"
ALICE = user(ACCT, "alice", "AKIAALICE000000001")


def arns(records: list[dict]) -> dict[str, tuple[str, str, bool]]:
    """arn -> (resource_type, access, created) for the records' resources."""
    frame = event_resources(trail(records))
    return {
        r["arn"]: (r["resource_type"], r["access"], r["created"])
        for r in frame.iter_rows(named=True)
    }


def one(source: str, name: str, request=None, response=None, *, region="us-east-1", **kw):
    return event(0, name, ALICE, source=f"{source}.amazonaws.com", request=request,
                 response=response, region=region, **kw)


# One hand-made record per mapping family: (record, {arn: (type, access, created)} expected).
CASES = {
    "s3 object read": (
        one("s3", "GetObject", {"bucketName": "loot", "key": "a/ring.txt"}, readOnly=True),
        {
            "arn:aws:s3:::loot": ("AWS::S3::Bucket", "read", False),
            "arn:aws:s3:::loot/a/ring.txt": ("AWS::S3::Object", "read", False),
        },
    ),
    "s3 copy reads the source": (
        one("s3", "CopyObject", {"bucketName": "dst", "key": "k",
                                 "x-amz-copy-source": "src/path/k"}, readOnly=False),
        {
            "arn:aws:s3:::dst": ("AWS::S3::Bucket", "write", False),
            "arn:aws:s3:::dst/k": ("AWS::S3::Object", "write", False),
            "arn:aws:s3:::src/path/k": ("AWS::S3::Object", "read", False),
        },
    ),
    "iam create user and key": (
        one("iam", "CreateUser", {"userName": "eve", "path": "/ops/"},
            {"user": {"arn": f"arn:aws:iam::{ACCT}:user/ops/eve", "userName": "eve"}}),
        {f"arn:aws:iam::{ACCT}:user/ops/eve": ("AWS::IAM::User", "write", True)},
    ),
    "iam access key (pseudo-ARN) of a user": (
        one("iam", "CreateAccessKey", {"userName": "eve"},
            {"accessKey": {"accessKeyId": "AKIANEWKEY00000001", "userName": "eve"}}),
        {
            f"arn:aws:iam::{ACCT}:user/eve": ("AWS::IAM::User", "write", False),
            f"arn:aws:iam::{ACCT}:access-key/AKIANEWKEY00000001":
                ("AWS::IAM::AccessKey", "write", True),
        },
    ),
    "iam login profile": (
        one("iam", "CreateLoginProfile", {"userName": "eve"}),
        {
            f"arn:aws:iam::{ACCT}:user/eve": ("AWS::IAM::User", "write", False),
            f"arn:aws:iam::{ACCT}:login-profile/eve": ("AWS::IAM::LoginProfile", "write", True),
        },
    ),
    "iam role, policy, group, instance profile": (
        one("iam", "AttachRolePolicy", {"roleName": "r1",
                                        "policyArn": "arn:aws:iam::aws:policy/AdminAccess"}),
        {
            f"arn:aws:iam::{ACCT}:role/r1": ("AWS::IAM::Role", "write", False),
            "arn:aws:iam::aws:policy/AdminAccess": ("AWS::IAM::Policy", "write", False),
        },
    ),
    "iam group and instance profile": (
        one("iam", "AddRoleToInstanceProfile", {"roleName": "r1",
                                                "instanceProfileName": "ip1"}),
        {
            f"arn:aws:iam::{ACCT}:role/r1": ("AWS::IAM::Role", "write", False),
            f"arn:aws:iam::{ACCT}:instance-profile/ip1":
                ("AWS::IAM::InstanceProfile", "write", False),
        },
    ),
    "iam group": (
        one("iam", "AddUserToGroup", {"groupName": "admins", "userName": "eve"}),
        {
            f"arn:aws:iam::{ACCT}:group/admins": ("AWS::IAM::Group", "write", False),
            f"arn:aws:iam::{ACCT}:user/eve": ("AWS::IAM::User", "write", False),
        },
    ),
    "sts role and the session it opens": (
        one("sts", "AssumeRole",
            {"roleArn": "arn:aws:iam::999988887777:role/x", "roleSessionName": "s"},
            {"credentials": {"accessKeyId": "ASIANEW0000000001"},
             "assumedRoleUser": {"arn": "arn:aws:sts::999988887777:assumed-role/x/s"}},
            readOnly=True),
        {
            "arn:aws:iam::999988887777:role/x": ("AWS::IAM::Role", "read", False),
            "arn:aws:sts::999988887777:assumed-role/x/s": ("AWS::STS::AssumedRole", "read", True),
        },
    ),
    "ec2 run instances creates the instance, reads the image": (
        one("ec2", "RunInstances",
            {"instancesSet": {"items": [{"imageId": "ami-1", "keyName": "kp"}]},
             "groupSet": {"items": [{"groupId": "sg-1"}]}},
            {"instancesSet": {"items": [{"instanceId": "i-a"}, {"instanceId": "i-b"}]}},
            region="eu-west-1"),
        {
            f"arn:aws:ec2:eu-west-1:{ACCT}:instance/i-a": ("AWS::EC2::Instance", "write", True),
            f"arn:aws:ec2:eu-west-1:{ACCT}:instance/i-b": ("AWS::EC2::Instance", "write", True),
            "arn:aws:ec2:eu-west-1::image/ami-1": ("AWS::EC2::Image", "read", False),
            f"arn:aws:ec2:eu-west-1:{ACCT}:key-pair/kp": ("AWS::EC2::KeyPair", "read", False),
            f"arn:aws:ec2:eu-west-1:{ACCT}:security-group/sg-1":
                ("AWS::EC2::SecurityGroup", "read", False),
        },
    ),
    "ec2 snapshot, volume, vpc": (
        one("ec2", "CreateSnapshot", {"volumeId": "vol-1"}, {"snapshotId": "snap-9",
                                                              "volumeId": "vol-1"}),
        {
            f"arn:aws:ec2:us-east-1:{ACCT}:volume/vol-1": ("AWS::EC2::Volume", "write", False),
            "arn:aws:ec2:us-east-1::snapshot/snap-9": ("AWS::EC2::Snapshot", "write", True),
        },
    ),
    "ec2 vpc created": (
        one("ec2", "CreateVpc", {"cidrBlock": "10.0.0.0/16"}, {"vpc": {"vpcId": "vpc-7"}}),
        {f"arn:aws:ec2:us-east-1:{ACCT}:vpc/vpc-7": ("AWS::EC2::VPC", "write", True)},
    ),
    "lambda function (versioned event name)": (
        one("lambda", "UpdateFunctionCode20150331v2", {"functionName": "fn"}),
        {f"arn:aws:lambda:us-east-1:{ACCT}:function:fn": ("AWS::Lambda::Function", "write",
                                                          False)},
    ),
    "secrets manager by name and by ARN": (
        one("secretsmanager", "GetSecretValue", {"secretId": "prod/db"}, readOnly=True),
        {f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:prod/db":
            ("AWS::SecretsManager::Secret", "read", False)},
    ),
    "ssm parameters": (
        one("ssm", "GetParameters", {"names": ["/a/b", "c"]}, readOnly=True),
        {
            f"arn:aws:ssm:us-east-1:{ACCT}:parameter/a/b": ("AWS::SSM::Parameter", "read", False),
            f"arn:aws:ssm:us-east-1:{ACCT}:parameter/c": ("AWS::SSM::Parameter", "read", False),
        },
    ),
    "ssm send command targets": (
        one("ssm", "SendCommand", {"instanceIds": ["i-1", "i-2"],
                                   "documentName": "AWS-RunShellScript"},
            {"command": {"commandId": "c-1"}}),
        {
            f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-1": ("AWS::EC2::Instance", "write", False),
            f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-2": ("AWS::EC2::Instance", "write", False),
            f"arn:aws:ssm:us-east-1:{ACCT}:document/AWS-RunShellScript":
                ("AWS::SSM::Document", "read", False),
            f"arn:aws:ssm:us-east-1:{ACCT}:command/c-1": ("AWS::SSM::Command", "write", True),
        },
    ),
    "kms key id and alias": (
        one("kms", "Decrypt", {"keyId": "alias/app"}, readOnly=True),
        {f"arn:aws:kms:us-east-1:{ACCT}:alias/app": ("AWS::KMS::Key", "read", False)},
    ),
    "kms key uuid": (
        one("kms", "DisableKey", {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        {f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab":
            ("AWS::KMS::Key", "write", False)},
    ),
    "dynamodb table": (
        one("dynamodb", "Scan", {"tableName": "users"}, readOnly=True),
        {f"arn:aws:dynamodb:us-east-1:{ACCT}:table/users": ("AWS::DynamoDB::Table", "read",
                                                            False)},
    ),
    "rds instance, snapshot": (
        one("rds", "CreateDBSnapshot", {"dBInstanceIdentifier": "db1",
                                        "dBSnapshotIdentifier": "exfil"}),
        {
            f"arn:aws:rds:us-east-1:{ACCT}:db:db1": ("AWS::RDS::DBInstance", "write", False),
            f"arn:aws:rds:us-east-1:{ACCT}:snapshot:exfil": ("AWS::RDS::DBSnapshot", "write",
                                                             True),
        },
    ),
    "rds cluster": (
        one("rds", "DeleteDBCluster", {"dBClusterIdentifier": "c1"}),
        {f"arn:aws:rds:us-east-1:{ACCT}:cluster:c1": ("AWS::RDS::DBCluster", "write", False)},
    ),
    "cloudtrail trail": (
        one("cloudtrail", "StopLogging", {"name": "org-trail"}),
        {f"arn:aws:cloudtrail:us-east-1:{ACCT}:trail/org-trail": ("AWS::CloudTrail::Trail",
                                                                  "write", False)},
    ),
    "guardduty detector": (
        one("guardduty", "DeleteDetector", {"detectorId": "abc123"}),
        {f"arn:aws:guardduty:us-east-1:{ACCT}:detector/abc123": ("AWS::GuardDuty::Detector",
                                                                 "write", False)},
    ),
    "cloudwatch log group": (
        one("logs", "DeleteLogGroup", {"logGroupName": "/aws/lambda/x"}),
        {f"arn:aws:logs:us-east-1:{ACCT}:log-group:/aws/lambda/x": ("AWS::Logs::LogGroup",
                                                                    "write", False)},
    ),
    "sns topic": (
        one("sns", "Publish", {"topicArn": f"arn:aws:sns:us-east-1:{ACCT}:alerts"}),
        {f"arn:aws:sns:us-east-1:{ACCT}:alerts": ("AWS::SNS::Topic", "write", False)},
    ),
    "sqs queue from its URL": (
        one("sqs", "PurgeQueue", {"queueUrl": "https://sqs.us-east-1.amazonaws.com/444455556666/q1"}),
        {"arn:aws:sqs:us-east-1:444455556666:q1": ("AWS::SQS::Queue", "write", False)},
    ),
    "ecr repository": (
        one("ecr", "BatchGetImage", {"repositoryName": "app"}, readOnly=True),
        {f"arn:aws:ecr:us-east-1:{ACCT}:repository/app": ("AWS::ECR::Repository", "read",
                                                          False)},
    ),
    "eks cluster": (
        one("eks", "DescribeCluster", {"name": "prod"}, readOnly=True),
        {f"arn:aws:eks:us-east-1:{ACCT}:cluster/prod": ("AWS::EKS::Cluster", "read", False)},
    ),
    "cloudformation stack": (
        one("cloudformation", "DeleteStack", {"stackName": "web"}),
        {f"arn:aws:cloudformation:us-east-1:{ACCT}:stack/web": ("AWS::CloudFormation::Stack",
                                                                "write", False)},
    ),
    "organizations account": (
        one("organizations", "LeaveOrganization", None),
        {f"arn:aws:organizations::{ACCT}:account/{ACCT}": ("AWS::Organizations::Account",
                                                           "write", False)},
    ),
    "denied call": (
        one("secretsmanager", "GetSecretValue", {"secretId": "prod/db"}, readOnly=True,
            error="AccessDenied"),
        {f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:prod/db":
            ("AWS::SecretsManager::Secret", "denied", False)},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mapping(case: str) -> None:
    record, expected = CASES[case]
    assert arns([record]) == expected


def test_columns_follow_the_events_table() -> None:
    frame = event_resources(trail([CASES["s3 object read"][0]]))
    assert frame.columns[:6] == [
        "event_id", "event_time", "principal", "access_key_id", "event_name", "event_source",
    ]
    row = frame.row(0, named=True)
    assert row["principal"] == f"arn:aws:iam::{ACCT}:user/alice"
    assert row["access_key_id"] == "AKIAALICE000000001"
    assert row["service"] == "s3"
    assert fx.Trail(trail([CASES["s3 object read"][0]]).events).resources().height == 2


def test_unknown_api_falls_back_to_resources_and_arn_looking_values() -> None:
    listed = one("newsvc", "DoThing", {"target": "x"},
                 resources=[{"ARN": "arn:aws:newsvc:us-east-1:111122223333:thing/t1",
                             "accountId": ACCT, "type": "AWS::NewSvc::Thing"}])
    scanned = one("othersvc", "Poke", {"deep": {"list": [
        "arn:aws:othersvc:us-east-1:111122223333:widget/w1"]}})
    denied = one("thirdsvc", "Delete", {"id": "z"}, error="AccessDenied")
    denied["errorMessage"] = (
        f"User: arn:aws:iam::{ACCT}:user/alice is not authorized to perform: thirdsvc:Delete "
        f"on resource: arn:aws:thirdsvc:us-east-1:{ACCT}:gizmo/g1 because no policy allows it"
    )
    found = arns([listed, scanned, denied])
    assert found == {
        "arn:aws:newsvc:us-east-1:111122223333:thing/t1": ("AWS::NewSvc::Thing", "write", False),
        "arn:aws:othersvc:us-east-1:111122223333:widget/w1": (None, "write", False),
        f"arn:aws:thirdsvc:us-east-1:{ACCT}:gizmo/g1": (None, "denied", False),
    }


def test_odd_json_is_read_record_by_record_with_the_same_answer() -> None:
    good = one("s3", "GetObject", {"bucketName": "b1", "key": "k"}, readOnly=True)
    # bucketName is an object here: the group's schema cannot decode it, nothing may crash.
    odd = one("s3", "GetObject", {"bucketName": {"weird": True}, "key": "k2"}, readOnly=True)
    as_list = one("s3", "GetObject", ["not", "an", "object"], readOnly=True)
    as_text = one("s3", "GetObject", "bucketName=b2", readOnly=True)
    found = arns([good, odd, as_list, as_text])
    assert set(found) == {"arn:aws:s3:::b1", "arn:aws:s3:::b1/k"}


def test_short_iam_names_complete_to_the_path_the_trail_shows() -> None:
    records = [
        one("iam", "CreateRole", {"roleName": "deploy", "path": "/ci/"},
            {"role": {"arn": f"arn:aws:iam::{ACCT}:role/ci/deploy"}}),
        one("iam", "AttachRolePolicy", {"roleName": "deploy",
                                        "policyArn": "arn:aws:iam::aws:policy/Admin"}),
    ]
    frame = event_resources(trail(records))
    assert set(frame.filter(pl.col("resource_type") == "AWS::IAM::Role")["arn"]) == {
        f"arn:aws:iam::{ACCT}:role/ci/deploy"
    }


def test_secret_names_complete_to_the_arn_with_its_suffix() -> None:
    full = f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:prod/db-AbC123"
    records = [
        one("secretsmanager", "CreateSecret", {"name": "prod/db"}, {"arn": full}),
        one("secretsmanager", "GetSecretValue", {"secretId": "prod/db"}, readOnly=True),
        one("secretsmanager", "GetSecretValue", {"secretId": full}, readOnly=True),
    ]
    frame = event_resources(trail(records))
    assert set(frame["arn"]) == {full}
    assert frame.height == 3


def test_account_and_region_come_from_the_event() -> None:
    caller = session("444455556666", "ops", "s1", "ASIAOPS00000000001")
    rec = event(0, "GetParameter", caller, source="ssm.amazonaws.com", region="ap-south-1",
                request={"name": "/x"}, readOnly=True)
    frame = event_resources(trail([rec]))
    assert frame["arn"].to_list() == ["arn:aws:ssm:ap-south-1:444455556666:parameter/x"]
    assert frame.select("account_id", "region").row(0) == ("444455556666", "ap-south-1")


def test_rules_validate_themselves() -> None:
    with pytest.raises(ValueError, match="unknown names"):
        Rule("s3.amazonaws.com", ("*",), "request.bucketName", "arn:aws:s3:::{bucket}", "T")
    with pytest.raises(ValueError, match="bad path"):
        Rule("s3.amazonaws.com", ("*",), "bucketName", "arn:aws:s3:::{value}", "T")
    assert all(r.type.startswith("AWS::") for r in RULES)


def test_empty_trail() -> None:
    frame = event_resources(trail([]))
    assert frame.height == 0 and "arn" in frame.columns


def test_coverage_of_the_shared_external_data(external: Path) -> None:
    """Share of events that yield at least one resource, over the real external samples."""
    parts = [
        "otrf-security-datasets",
        "panther-analysis/extracted/test_scenarios",
        "invictus-ir-aws_dataset",
        "stratus-red-team",
        "traildiscover",
        "plaso",
    ]
    events = pl.concat([fx.load(str(external / p), cache=False).events for p in parts])
    frame = event_resources(fx.Trail(events))
    total = events.select(pl.struct("source_file", "source_index").n_unique()).item()
    covered = frame.select("event_id").n_unique()
    by_event = events.select(pl.col("event_id").n_unique()).item()
    share = covered / by_event
    print(f"\nresource coverage: {covered}/{by_event} events ({share:.1%}), {frame.height} rows, "
          f"{frame['arn'].n_unique()} distinct ARNs ({total} records)")
    assert share >= 0.55
    # The storylines' resources are there, canonical.
    assert "arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a/ring.txt" in set(frame["arn"])
    assert frame.filter(pl.col("arn").str.contains("instance/i-05261ffb46217cdc3"))[
        "created"].any()
