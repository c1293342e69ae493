"""The resource mapping: which request/response fields of which API name which resource.

This module is DATA. Each :class:`Rule` says: for events of ``source`` whose name is in
``events``, read the JSON ``path`` (in ``requestParameters`` or ``responseElements``) and turn
every value found into an ARN with the ``arn`` template. To teach the kit a new API, add a line.

Paths: ``request.a.b`` / ``response.a.b``; ``[]`` after a key walks a list
(``response.instancesSet.items[].instanceId``, ``request.names[]``). A rule with ``path=None``
fires once per event (for calls whose resource is implicit, e.g. ``LeaveOrganization``).

Templates: ``{partition}``, ``{region}``, ``{account}`` come from the event (account = the
recipient account, else the caller's); ``{value}`` is the value found; other names come from
``extra`` (more scalar paths of the same event) or from named groups of ``match`` (a regex the
value must match, else the rule skips it). A value that already is an ARN is kept as it is when
the template ends with ``{value}`` and uses no extra field.

Event names: ``"*"`` is every event of the source; ``"Name*"`` a prefix (Lambda's versioned
names, e.g. ``CreateFunction20150331``). ``created=True`` marks ids the call creates;
``access="read"`` marks resources only used by a writing call (the AMI in ``RunInstances``).

AWS has no ARN for an access key or a login profile; the kit uses the pseudo-ARNs
``arn:aws:iam::<account>:access-key/<id>`` and ``arn:aws:iam::<account>:login-profile/<user>``.

>>> any(r.source == "s3.amazonaws.com" for r in RULES)
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["RULES", "Rule"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH = re.compile(r"^(request|response)\.[A-Za-z0-9_\-]+(\[\])?(\.[A-Za-z0-9_\-]+(\[\])?)*$")
_EVENT_COLUMNS = frozenset({"partition", "region", "account", "value"})


@dataclass(frozen=True)
class Rule:
    """One way an API names a resource (see the module docstring)."""

    source: str
    events: tuple[str, ...]
    path: str | None
    arn: str
    type: str
    extra: tuple[tuple[str, str], ...] = ()
    match: str | None = None
    created: bool = False
    access: str | None = None
    placeholders: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        where = f"rule {self.source} {self.events} {self.path!r}"
        paths = [self.path, *(p for _, p in self.extra)] if self.path else [
            p for _, p in self.extra
        ]
        for p in paths:
            if not _PATH.match(p):
                raise ValueError(f"{where}: bad path {p!r} (want request.a.b[] or response.x)")
        for _, p in self.extra:
            if "[]" in p:
                raise ValueError(f"{where}: extra path {p!r} may not walk a list")
        groups = set(re.compile(self.match).groupindex) if self.match else set()
        names = tuple(_PLACEHOLDER.findall(self.arn))
        known = _EVENT_COLUMNS | {k for k, _ in self.extra} | groups
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{where}: template {self.arn!r} uses unknown names {unknown}")
        if self.path is None and "value" in names:
            raise ValueError(f"{where}: a rule without a path cannot use {{value}}")
        if self.access not in (None, "read", "write"):
            raise ValueError(f"{where}: access must be None, 'read' or 'write'")
        object.__setattr__(self, "placeholders", names)

    @property
    def passthrough(self) -> bool:
        """Whether a value that already is an ARN is kept as it is."""
        return self.arn.endswith("{value}") and not self.extra and self.match is None

    def applies_to(self, event_name: str) -> bool:
        """Whether this rule reads events named ``event_name``."""
        for e in self.events:
            if e == "*" or e == event_name or (e.endswith("*") and event_name.startswith(e[:-1])):
                return True
        return False


def _rules(source: str, *rows: tuple) -> list[Rule]:
    """Rules of one service from compact rows ``(events, path, arn, type, **options)``."""
    out = []
    for row in rows:
        events, path, arn, rtype, *rest = row
        options = rest[0] if rest else {}
        extra = tuple(options.pop("extra", {}).items())
        names = ("*",) if events == "*" else tuple(events.split())
        out.append(Rule(source, names, path, arn, rtype, extra=extra, **options))
    return out


# ARN prefixes, per service (region / account placeholders filled from the event).
_IAM = "arn:{partition}:iam::{account}:"
_EC2 = "arn:{partition}:ec2:{region}:{account}:"
_EC2_NOACCT = "arn:{partition}:ec2:{region}::"
_SSM = "arn:{partition}:ssm:{region}:{account}:"
_RDS = "arn:{partition}:rds:{region}:{account}:"

_S3_OBJECT_APIS = (
    "GetObject PutObject DeleteObject HeadObject CopyObject GetObjectAcl PutObjectAcl "
    "GetObjectTagging PutObjectTagging DeleteObjectTagging RestoreObject SelectObjectContent "
    "CreateMultipartUpload UploadPart UploadPartCopy CompleteMultipartUpload "
    "AbortMultipartUpload ListParts GetObjectAttributes GetObjectRetention PutObjectRetention "
    "GetObjectLegalHold PutObjectLegalHold GetObjectTorrent"
)
_CLOUDTRAIL_TRAIL_APIS = (
    "CreateTrail DeleteTrail UpdateTrail StartLogging StopLogging GetTrailStatus GetTrail "
    "GetEventSelectors PutEventSelectors GetInsightSelectors PutInsightSelectors"
)
_SSM_PARAMETER_APIS = (
    "GetParameter PutParameter DeleteParameter GetParameterHistory LabelParameterVersion "
    "UnlabelParameterVersion"
)
_EKS_CLUSTER_APIS = (
    "CreateCluster DescribeCluster DeleteCluster UpdateClusterConfig UpdateClusterVersion "
    "AssociateAccessPolicy DisassociateAccessPolicy ListAssociatedAccessPolicies "
    "CreateAccessEntry DescribeAccessEntry DeleteAccessEntry UpdateAccessEntry ListAccessEntries"
)

RULES: tuple[Rule, ...] = tuple(
    # ---- S3 -------------------------------------------------------------------------------
    _rules(
        "s3.amazonaws.com",
        ("*", "request.bucketName", "arn:{partition}:s3:::{value}", "AWS::S3::Bucket"),
        ("ListAccessPoints", "request.bucket", "arn:{partition}:s3:::{value}", "AWS::S3::Bucket"),
        ("CreateBucket", "request.bucketName", "arn:{partition}:s3:::{value}",
         "AWS::S3::Bucket", {"created": True}),
        (_S3_OBJECT_APIS, "request.key", "arn:{partition}:s3:::{bucket}/{value}",
         "AWS::S3::Object", {"extra": {"bucket": "request.bucketName"}}),
        ("CopyObject UploadPartCopy", "request.x-amz-copy-source",
         "arn:{partition}:s3:::{src}", "AWS::S3::Object",
         {"match": r"^/?(?P<src>[^?]+)", "access": "read"}),
    )
    # ---- IAM ------------------------------------------------------------------------------
    + _rules(
        "iam.amazonaws.com",
        ("*", "request.userName", _IAM + "user/{value}", "AWS::IAM::User"),
        ("CreateUser", "response.user.arn", _IAM + "user/{value}", "AWS::IAM::User",
         {"created": True}),
        ("*", "request.roleName", _IAM + "role/{value}", "AWS::IAM::Role"),
        ("CreateRole CreateServiceLinkedRole", "response.role.arn", _IAM + "role/{value}",
         "AWS::IAM::Role", {"created": True}),
        ("*", "request.groupName", _IAM + "group/{value}", "AWS::IAM::Group"),
        ("CreateGroup", "response.group.arn", _IAM + "group/{value}", "AWS::IAM::Group",
         {"created": True}),
        ("*", "request.policyArn", _IAM + "policy/{value}", "AWS::IAM::Policy"),
        ("CreatePolicy", "response.policy.arn", _IAM + "policy/{value}", "AWS::IAM::Policy",
         {"created": True}),
        ("*", "request.instanceProfileName", _IAM + "instance-profile/{value}",
         "AWS::IAM::InstanceProfile"),
        ("CreateInstanceProfile", "response.instanceProfile.arn",
         _IAM + "instance-profile/{value}", "AWS::IAM::InstanceProfile", {"created": True}),
        ("CreateAccessKey", "response.accessKey.accessKeyId", _IAM + "access-key/{value}",
         "AWS::IAM::AccessKey", {"created": True}),
        ("*", "request.accessKeyId", _IAM + "access-key/{value}", "AWS::IAM::AccessKey"),
        ("CreateLoginProfile UpdateLoginProfile DeleteLoginProfile GetLoginProfile",
         "request.userName", _IAM + "login-profile/{value}", "AWS::IAM::LoginProfile"),
        ("CreateLoginProfile", "request.userName", _IAM + "login-profile/{value}",
         "AWS::IAM::LoginProfile", {"created": True}),
        ("*", "request.serialNumber", _IAM + "mfa/{value}", "AWS::IAM::MFADevice"),
        ("*", "request.sAMLProviderArn", _IAM + "saml-provider/{value}",
         "AWS::IAM::SAMLProvider"),
        ("*", "request.openIDConnectProviderArn", _IAM + "oidc-provider/{value}",
         "AWS::IAM::OIDCProvider"),
    )
    # ---- STS ------------------------------------------------------------------------------
    + _rules(
        "sts.amazonaws.com",
        ("AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity", "request.roleArn",
         _IAM + "role/{value}", "AWS::IAM::Role"),
        ("AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity",
         "response.assumedRoleUser.arn", "{value}", "AWS::STS::AssumedRole",
         {"created": True}),
        ("AssumeRoleWithSAML", "request.principalArn", _IAM + "saml-provider/{value}",
         "AWS::IAM::SAMLProvider", {"access": "read"}),
        ("GetFederationToken", "response.federatedUser.arn", "{value}",
         "AWS::STS::FederatedUser", {"created": True}),
    )
    # ---- EC2 ------------------------------------------------------------------------------
    + _rules(
        "ec2.amazonaws.com",
        ("*", "request.instanceId", _EC2 + "instance/{value}", "AWS::EC2::Instance"),
        ("*", "request.instancesSet.items[].instanceId", _EC2 + "instance/{value}",
         "AWS::EC2::Instance"),
        ("*", "response.instancesSet.items[].instanceId", _EC2 + "instance/{value}",
         "AWS::EC2::Instance"),
        ("RunInstances", "response.instancesSet.items[].instanceId",
         _EC2 + "instance/{value}", "AWS::EC2::Instance", {"created": True}),
        ("RunInstances", "request.instancesSet.items[].imageId", _EC2_NOACCT + "image/{value}",
         "AWS::EC2::Image", {"access": "read"}),
        ("RunInstances", "request.instancesSet.items[].keyName", _EC2 + "key-pair/{value}",
         "AWS::EC2::KeyPair", {"access": "read"}),
        ("RunInstances", "request.groupSet.items[].groupId", _EC2 + "security-group/{value}",
         "AWS::EC2::SecurityGroup", {"access": "read"}),
        ("RunInstances", "request.iamInstanceProfile.arn", _IAM + "instance-profile/{value}",
         "AWS::IAM::InstanceProfile", {"access": "read"}),
        ("RunInstances", "request.iamInstanceProfile.name", _IAM + "instance-profile/{value}",
         "AWS::IAM::InstanceProfile", {"access": "read"}),
        ("AssociateIamInstanceProfile ReplaceIamInstanceProfileAssociation",
         "request.AssociateIamInstanceProfileRequest.IamInstanceProfile.Name",
         _IAM + "instance-profile/{value}", "AWS::IAM::InstanceProfile", {"access": "read"}),
        ("AssociateIamInstanceProfile ReplaceIamInstanceProfileAssociation",
         "request.ReplaceIamInstanceProfileAssociationRequest.IamInstanceProfile.Name",
         _IAM + "instance-profile/{value}", "AWS::IAM::InstanceProfile", {"access": "read"}),
        ("*", "request.volumeId", _EC2 + "volume/{value}", "AWS::EC2::Volume"),
        ("CreateVolume", "response.volumeId", _EC2 + "volume/{value}", "AWS::EC2::Volume",
         {"created": True}),
        ("*", "request.snapshotId", _EC2_NOACCT + "snapshot/{value}", "AWS::EC2::Snapshot"),
        ("CopySnapshot", "request.sourceSnapshotId", _EC2_NOACCT + "snapshot/{value}",
         "AWS::EC2::Snapshot", {"access": "read"}),
        ("CreateSnapshot CopySnapshot", "response.snapshotId",
         _EC2_NOACCT + "snapshot/{value}", "AWS::EC2::Snapshot", {"created": True}),
        ("*", "request.imageId", _EC2_NOACCT + "image/{value}", "AWS::EC2::Image"),
        ("CopyImage", "request.sourceImageId", _EC2_NOACCT + "image/{value}",
         "AWS::EC2::Image", {"access": "read"}),
        ("CreateImage RegisterImage CopyImage", "response.imageId",
         _EC2_NOACCT + "image/{value}", "AWS::EC2::Image", {"created": True}),
        ("*", "request.groupId", _EC2 + "security-group/{value}", "AWS::EC2::SecurityGroup"),
        ("CreateSecurityGroup", "response.groupId", _EC2 + "security-group/{value}",
         "AWS::EC2::SecurityGroup", {"created": True}),
        ("*", "request.vpcId", _EC2 + "vpc/{value}", "AWS::EC2::VPC"),
        ("CreateVpc CreateDefaultVpc", "response.vpc.vpcId", _EC2 + "vpc/{value}",
         "AWS::EC2::VPC", {"created": True}),
        ("*", "request.subnetId", _EC2 + "subnet/{value}", "AWS::EC2::Subnet"),
        ("CreateSubnet", "response.subnet.subnetId", _EC2 + "subnet/{value}",
         "AWS::EC2::Subnet", {"created": True}),
        ("*", "request.keyName", _EC2 + "key-pair/{value}", "AWS::EC2::KeyPair"),
        ("CreateKeyPair ImportKeyPair", "request.keyName", _EC2 + "key-pair/{value}",
         "AWS::EC2::KeyPair", {"created": True}),
        ("*", "request.networkInterfaceId", _EC2 + "network-interface/{value}",
         "AWS::EC2::NetworkInterface"),
        ("*", "request.internetGatewayId", _EC2 + "internet-gateway/{value}",
         "AWS::EC2::InternetGateway"),
        ("*", "request.routeTableId", _EC2 + "route-table/{value}", "AWS::EC2::RouteTable"),
        ("*", "request.natGatewayId", _EC2 + "natgateway/{value}", "AWS::EC2::NatGateway"),
        ("*", "request.networkAclId", _EC2 + "network-acl/{value}", "AWS::EC2::NetworkAcl"),
        ("*", "request.allocationId", _EC2 + "elastic-ip/{value}", "AWS::EC2::EIP"),
        ("*", "request.launchTemplateId", _EC2 + "launch-template/{value}",
         "AWS::EC2::LaunchTemplate"),
        # Describe* filters by id (the item sets of the EC2 query API)
        ("*", "request.vpcSet.items[].vpcId", _EC2 + "vpc/{value}", "AWS::EC2::VPC"),
        ("*", "request.subnetSet.items[].subnetId", _EC2 + "subnet/{value}", "AWS::EC2::Subnet"),
        ("*", "request.volumeSet.items[].volumeId", _EC2 + "volume/{value}", "AWS::EC2::Volume"),
        ("*", "request.snapshotSet.items[].snapshotId", _EC2_NOACCT + "snapshot/{value}",
         "AWS::EC2::Snapshot"),
        ("*", "request.imagesSet.items[].imageId", _EC2_NOACCT + "image/{value}",
         "AWS::EC2::Image"),
        ("*", "request.securityGroupIdSet.items[].groupId", _EC2 + "security-group/{value}",
         "AWS::EC2::SecurityGroup"),
        ("*", "request.internetGatewayIdSet.items[].internetGatewayId",
         _EC2 + "internet-gateway/{value}", "AWS::EC2::InternetGateway"),
        ("*", "request.networkInterfaceIdSet.items[].networkInterfaceId",
         _EC2 + "network-interface/{value}", "AWS::EC2::NetworkInterface"),
        ("*", "request.routeTableIdSet.items[].routeTableId", _EC2 + "route-table/{value}",
         "AWS::EC2::RouteTable"),
        ("DescribeNatGateways", "request.DescribeNatGatewaysRequest.NatGatewayId.content",
         _EC2 + "natgateway/{value}", "AWS::EC2::NatGateway"),
        ("DescribeInstanceCreditSpecifications",
         "request.DescribeInstanceCreditSpecificationsRequest.InstanceId.content",
         _EC2 + "instance/{value}", "AWS::EC2::Instance"),
        ("DeleteFlowLogs", "request.DeleteFlowLogsRequest.FlowLogId.content",
         _EC2 + "vpc-flow-log/{value}", "AWS::EC2::FlowLog"),
        ("CreateInternetGateway", "response.internetGateway.internetGatewayId",
         _EC2 + "internet-gateway/{value}", "AWS::EC2::InternetGateway", {"created": True}),
        ("*", "request.trafficMirrorTargetId", _EC2 + "traffic-mirror-target/{value}",
         "AWS::EC2::TrafficMirrorTarget"),
        ("*", "request.trafficMirrorFilterId", _EC2 + "traffic-mirror-filter/{value}",
         "AWS::EC2::TrafficMirrorFilter"),
    )
    + _rules(
        "ec2-instance-connect.amazonaws.com",
        ("*", "request.instanceId", _EC2 + "instance/{value}", "AWS::EC2::Instance"),
    )
    # ---- Lambda ---------------------------------------------------------------------------
    + _rules(
        "lambda.amazonaws.com",
        ("*", "request.functionName", "arn:{partition}:lambda:{region}:{account}:function:{value}",
         "AWS::Lambda::Function"),
        ("CreateFunction*", "response.functionArn", "{value}", "AWS::Lambda::Function",
         {"created": True}),
        ("CreateFunction* UpdateFunctionConfiguration*", "request.role",
         _IAM + "role/{value}", "AWS::IAM::Role", {"access": "read"}),
        ("CreateFunction* UpdateFunctionCode*", "request.code.s3Bucket",
         "arn:{partition}:s3:::{value}", "AWS::S3::Bucket", {"access": "read"}),
        ("*", "request.layerName", "arn:{partition}:lambda:{region}:{account}:layer:{value}",
         "AWS::Lambda::LayerVersion"),
    )
    # ---- Secrets Manager ------------------------------------------------------------------
    + _rules(
        "secretsmanager.amazonaws.com",
        ("*", "request.secretId",
         "arn:{partition}:secretsmanager:{region}:{account}:secret:{value}",
         "AWS::SecretsManager::Secret"),
        ("BatchGetSecretValue", "request.secretIdList[]",
         "arn:{partition}:secretsmanager:{region}:{account}:secret:{value}",
         "AWS::SecretsManager::Secret"),
        ("CreateSecret", "response.arn", "{value}", "AWS::SecretsManager::Secret",
         {"created": True}),
        ("*", "request.kmsKeyId", "arn:{partition}:kms:{region}:{account}:key/{value}",
         "AWS::KMS::Key", {"access": "read"}),
    )
    # ---- SSM ------------------------------------------------------------------------------
    + _rules(
        "ssm.amazonaws.com",
        (_SSM_PARAMETER_APIS, "request.name", _SSM + "parameter/{p}", "AWS::SSM::Parameter",
         {"match": r"^/?(?P<p>.+)$"}),
        ("GetParameters DeleteParameters", "request.names[]", _SSM + "parameter/{p}",
         "AWS::SSM::Parameter", {"match": r"^/?(?P<p>.+)$"}),
        ("GetParametersByPath", "request.path", _SSM + "parameter/{p}", "AWS::SSM::Parameter",
         {"match": r"^/?(?P<p>.+)$"}),
        ("SendCommand", "request.instanceIds[]", _EC2 + "instance/{value}",
         "AWS::EC2::Instance"),
        ("SendCommand StartAutomationExecution", "request.documentName",
         _SSM + "document/{value}", "AWS::SSM::Document", {"access": "read"}),
        ("SendCommand", "response.command.commandId", _SSM + "command/{value}",
         "AWS::SSM::Command", {"created": True}),
        ("StartSession", "request.target", _EC2 + "instance/{i}", "AWS::EC2::Instance",
         {"match": r"^(?P<i>m?i-[0-9A-Za-z]+)$"}),
        ("StartSession", "response.sessionId", _SSM + "session/{value}",
         "AWS::SSM::Session", {"created": True}),
        ("ResumeSession TerminateSession", "request.sessionId", _SSM + "session/{value}",
         "AWS::SSM::Session"),
        ("GetCommandInvocation ListCommandInvocations UpdateInstanceInformation "
         "UpdateInstanceAssociationStatus ListInstanceAssociations PutInventory "
         "PutComplianceItems GetConnectionStatus",
         "request.instanceId", _EC2 + "instance/{value}", "AWS::EC2::Instance"),
        ("GetCommandInvocation ListCommandInvocations CancelCommand", "request.commandId",
         _SSM + "command/{value}", "AWS::SSM::Command"),
        ("GetDocument DescribeDocument UpdateDocument DeleteDocument", "request.name",
         _SSM + "document/{value}", "AWS::SSM::Document"),
    )
    # ---- KMS ------------------------------------------------------------------------------
    + _rules(
        "kms.amazonaws.com",
        ("*", "request.keyId", "arn:{partition}:kms:{region}:{account}:{k}", "AWS::KMS::Key",
         {"match": r"^(?P<k>alias/.+)$"}),
        ("*", "request.keyId", "arn:{partition}:kms:{region}:{account}:key/{k}",
         "AWS::KMS::Key", {"match": r"^(?P<k>(?:mrk-)?[0-9a-fA-F-]{32,36})$"}),
        ("*", "request.keyId", "{k}", "AWS::KMS::Key", {"match": r"^(?P<k>arn:.+)$"}),
        ("CreateKey", "response.keyMetadata.arn", "{value}", "AWS::KMS::Key",
         {"created": True}),
        ("CreateAlias DeleteAlias UpdateAlias", "request.aliasName",
         "arn:{partition}:kms:{region}:{account}:{value}", "AWS::KMS::Alias"),
        ("CreateAlias UpdateAlias", "request.targetKeyId",
         "arn:{partition}:kms:{region}:{account}:key/{value}", "AWS::KMS::Key"),
    )
    # ---- DynamoDB -------------------------------------------------------------------------
    + _rules(
        "dynamodb.amazonaws.com",
        ("*", "request.tableName", "arn:{partition}:dynamodb:{region}:{account}:table/{value}",
         "AWS::DynamoDB::Table"),
        ("CreateTable", "request.tableName",
         "arn:{partition}:dynamodb:{region}:{account}:table/{value}", "AWS::DynamoDB::Table",
         {"created": True}),
        ("ExportTableToPointInTime", "request.tableArn", "{value}", "AWS::DynamoDB::Table",
         {"access": "read"}),
        ("ExportTableToPointInTime", "request.s3Bucket", "arn:{partition}:s3:::{value}",
         "AWS::S3::Bucket"),
    )
    # ---- RDS ------------------------------------------------------------------------------
    + _rules(
        "rds.amazonaws.com",
        ("*", "request.dBInstanceIdentifier", _RDS + "db:{value}", "AWS::RDS::DBInstance"),
        ("CreateDBInstance CreateDBInstanceReadReplica RestoreDBInstanceFromDBSnapshot",
         "request.dBInstanceIdentifier", _RDS + "db:{value}", "AWS::RDS::DBInstance",
         {"created": True}),
        ("*", "request.dBClusterIdentifier", _RDS + "cluster:{value}", "AWS::RDS::DBCluster"),
        ("CreateDBCluster RestoreDBClusterFromSnapshot", "request.dBClusterIdentifier",
         _RDS + "cluster:{value}", "AWS::RDS::DBCluster", {"created": True}),
        ("*", "request.dBSnapshotIdentifier", _RDS + "snapshot:{value}",
         "AWS::RDS::DBSnapshot"),
        ("CreateDBSnapshot CopyDBSnapshot", "request.dBSnapshotIdentifier",
         _RDS + "snapshot:{value}", "AWS::RDS::DBSnapshot", {"created": True}),
        ("*", "request.dBClusterSnapshotIdentifier", _RDS + "cluster-snapshot:{value}",
         "AWS::RDS::DBClusterSnapshot"),
        ("*", "request.globalClusterIdentifier", "arn:{partition}:rds::{account}:global-cluster:{value}",
         "AWS::RDS::GlobalCluster"),
        ("StartExportTask", "request.sourceArn", "{value}", "AWS::RDS::DBSnapshot",
         {"access": "read"}),
        ("StartExportTask", "request.s3BucketName", "arn:{partition}:s3:::{value}",
         "AWS::S3::Bucket"),
        ("*", "request.resourceArn", "{value}", "AWS::RDS::Resource"),
        ("*", "request.resourceName", "{value}", "AWS::RDS::Resource"),
    )
    # ---- CloudTrail -----------------------------------------------------------------------
    + _rules(
        "cloudtrail.amazonaws.com",
        (_CLOUDTRAIL_TRAIL_APIS, "request.name",
         "arn:{partition}:cloudtrail:{region}:{account}:trail/{value}",
         "AWS::CloudTrail::Trail"),
        (_CLOUDTRAIL_TRAIL_APIS, "request.trailName",
         "arn:{partition}:cloudtrail:{region}:{account}:trail/{value}",
         "AWS::CloudTrail::Trail"),
        ("CreateTrail", "response.trailARN", "{value}", "AWS::CloudTrail::Trail",
         {"created": True}),
        ("DescribeTrails", "request.trailNameList[]",
         "arn:{partition}:cloudtrail:{region}:{account}:trail/{value}",
         "AWS::CloudTrail::Trail"),
        ("CreateTrail UpdateTrail", "request.s3BucketName", "arn:{partition}:s3:::{value}",
         "AWS::S3::Bucket", {"access": "read"}),
        ("ListTags", "request.resourceIdList[]", "{value}", "AWS::CloudTrail::Trail"),
    )
    # ---- GuardDuty ------------------------------------------------------------------------
    + _rules(
        "guardduty.amazonaws.com",
        ("*", "request.detectorId",
         "arn:{partition}:guardduty:{region}:{account}:detector/{value}",
         "AWS::GuardDuty::Detector"),
        ("CreateDetector", "response.detectorId",
         "arn:{partition}:guardduty:{region}:{account}:detector/{value}",
         "AWS::GuardDuty::Detector", {"created": True}),
    )
    # ---- CloudWatch Logs ------------------------------------------------------------------
    + _rules(
        "logs.amazonaws.com",
        ("*", "request.logGroupName",
         "arn:{partition}:logs:{region}:{account}:log-group:{value}", "AWS::Logs::LogGroup"),
        ("CreateLogGroup", "request.logGroupName",
         "arn:{partition}:logs:{region}:{account}:log-group:{value}", "AWS::Logs::LogGroup",
         {"created": True}),
        ("*", "request.logGroupIdentifier",
         "arn:{partition}:logs:{region}:{account}:log-group:{value}", "AWS::Logs::LogGroup"),
    )
    # ---- SNS / SQS ------------------------------------------------------------------------
    + _rules(
        "sns.amazonaws.com",
        ("*", "request.topicArn", "arn:{partition}:sns:{region}:{account}:{value}",
         "AWS::SNS::Topic"),
        ("CreateTopic", "response.topicArn", "{value}", "AWS::SNS::Topic", {"created": True}),
        ("Unsubscribe ConfirmSubscription GetSubscriptionAttributes", "request.subscriptionArn",
         "{value}", "AWS::SNS::Subscription"),
    )
    + _rules(
        "sqs.amazonaws.com",
        ("*", "request.queueUrl", "arn:{partition}:sqs:{region}:{qa}:{qn}", "AWS::SQS::Queue",
         {"match": r"^https?://[^/]+/(?P<qa>\d{12})/(?P<qn>[^/?#]+)"}),
        ("CreateQueue", "response.queueUrl", "arn:{partition}:sqs:{region}:{qa}:{qn}",
         "AWS::SQS::Queue", {"match": r"^https?://[^/]+/(?P<qa>\d{12})/(?P<qn>[^/?#]+)",
                             "created": True}),
        ("CreateQueue", "request.queueName", "arn:{partition}:sqs:{region}:{account}:{value}",
         "AWS::SQS::Queue", {"created": True}),
    )
    # ---- Containers -----------------------------------------------------------------------
    + _rules(
        "ecr.amazonaws.com",
        ("*", "request.repositoryName",
         "arn:{partition}:ecr:{region}:{account}:repository/{value}", "AWS::ECR::Repository"),
        ("CreateRepository", "request.repositoryName",
         "arn:{partition}:ecr:{region}:{account}:repository/{value}", "AWS::ECR::Repository",
         {"created": True}),
        ("DescribeRepositories", "request.repositoryNames[]",
         "arn:{partition}:ecr:{region}:{account}:repository/{value}", "AWS::ECR::Repository"),
    )
    + _rules(
        "eks.amazonaws.com",
        (_EKS_CLUSTER_APIS, "request.name",
         "arn:{partition}:eks:{region}:{account}:cluster/{value}", "AWS::EKS::Cluster"),
        ("CreateCluster", "request.name", "arn:{partition}:eks:{region}:{account}:cluster/{value}",
         "AWS::EKS::Cluster", {"created": True}),
        ("*", "request.clusterName", "arn:{partition}:eks:{region}:{account}:cluster/{value}",
         "AWS::EKS::Cluster"),
        ("CreateAccessEntry AssociateAccessPolicy", "request.principalArn", "{value}",
         "AWS::IAM::Principal", {"access": "read"}),
    )
    + _rules(
        "ecs.amazonaws.com",
        ("*", "request.cluster", "arn:{partition}:ecs:{region}:{account}:cluster/{value}",
         "AWS::ECS::Cluster"),
        ("*", "request.clusterName", "arn:{partition}:ecs:{region}:{account}:cluster/{value}",
         "AWS::ECS::Cluster"),
        ("CreateCluster", "response.cluster.clusterArn", "{value}", "AWS::ECS::Cluster",
         {"created": True}),
        ("CreateService", "response.service.serviceArn", "{value}", "AWS::ECS::Service",
         {"created": True}),
    )
    # ---- CloudFormation -------------------------------------------------------------------
    + _rules(
        "cloudformation.amazonaws.com",
        ("*", "request.stackName",
         "arn:{partition}:cloudformation:{region}:{account}:stack/{value}",
         "AWS::CloudFormation::Stack"),
        ("CreateStack", "response.stackId", "{value}", "AWS::CloudFormation::Stack",
         {"created": True}),
        ("*", "request.stackSetName",
         "arn:{partition}:cloudformation:{region}:{account}:stackset/{value}",
         "AWS::CloudFormation::StackSet"),
    )
    # ---- Organizations --------------------------------------------------------------------
    + _rules(
        "organizations.amazonaws.com",
        ("*", "request.accountId", "arn:{partition}:organizations::{account}:account/{value}",
         "AWS::Organizations::Account"),
        ("LeaveOrganization", None, "arn:{partition}:organizations::{account}:account/{account}",
         "AWS::Organizations::Account"),
        ("CreateAccount", "response.createAccountStatus.accountId",
         "arn:{partition}:organizations::{account}:account/{value}",
         "AWS::Organizations::Account", {"created": True}),
    )
    # ---- a few more services seen in attacks ---------------------------------------------
    + _rules(
        "events.amazonaws.com",
        ("PutRule DeleteRule DisableRule EnableRule DescribeRule", "request.name",
         "arn:{partition}:events:{region}:{account}:rule/{value}", "AWS::Events::Rule"),
        ("ListTargetsByRule RemoveTargets PutTargets", "request.rule",
         "arn:{partition}:events:{region}:{account}:rule/{value}", "AWS::Events::Rule"),
    )
    + _rules(
        "config.amazonaws.com",
        ("*", "request.configRuleName",
         "arn:{partition}:config:{region}:{account}:config-rule/{value}", "AWS::Config::ConfigRule"),
        ("*", "request.configurationRecorderName",
         "arn:{partition}:config:{region}:{account}:configuration-recorder/{value}",
         "AWS::Config::ConfigurationRecorder"),
        ("*", "request.deliveryChannelName",
         "arn:{partition}:config:{region}:{account}:delivery-channel/{value}",
         "AWS::Config::DeliveryChannel"),
    )
    + _rules(
        "elasticfilesystem.amazonaws.com",
        ("*", "request.fileSystemId",
         "arn:{partition}:elasticfilesystem:{region}:{account}:file-system/{value}",
         "AWS::EFS::FileSystem"),
    )
    + _rules(
        "glue.amazonaws.com",
        ("*", "request.endpointName", "arn:{partition}:glue:{region}:{account}:devEndpoint/{value}",
         "AWS::Glue::DevEndpoint"),
    )
    + _rules(
        "ses.amazonaws.com",
        ("*", "request.identity", "arn:{partition}:ses:{region}:{account}:identity/{value}",
         "AWS::SES::EmailIdentity"),
        ("*", "request.emailIdentity",
         "arn:{partition}:ses:{region}:{account}:identity/{value}", "AWS::SES::EmailIdentity"),
        ("VerifyEmailIdentity", "request.emailAddress",
         "arn:{partition}:ses:{region}:{account}:identity/{value}", "AWS::SES::EmailIdentity"),
    )
    + _rules(
        "rolesanywhere.amazonaws.com",
        ("*", "request.trustAnchorId",
         "arn:{partition}:rolesanywhere:{region}:{account}:trust-anchor/{value}",
         "AWS::RolesAnywhere::TrustAnchor"),
        ("*", "request.profileId",
         "arn:{partition}:rolesanywhere:{region}:{account}:profile/{value}",
         "AWS::RolesAnywhere::Profile"),
        ("CreateTrustAnchor", "response.trustAnchor.trustAnchorArn", "{value}",
         "AWS::RolesAnywhere::TrustAnchor", {"created": True}),
        ("CreateProfile", "response.profile.profileArn", "{value}",
         "AWS::RolesAnywhere::Profile", {"created": True}),
    )
)
