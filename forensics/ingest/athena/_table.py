"""The Athena CloudTrail table: its columns (one list) and the ``CREATE EXTERNAL TABLE`` for it.

The columns are those of AWS's documented table ("Create the table for CloudTrail logs in Athena
using partition projection", Athena user guide), spelled as CloudTrail spells the record fields.
Hive lower-cases every name; the JSON SerDe matches record keys case-insensitively, so the same
list gives the DDL (lower case) and, in tests, the DuckDB view over the same files. A few fields
AWS's example leaves out and the events table needs are added (marked ``# +``): the principal of
a SAML / web-identity user needs ``identityProvider``; ``managementEvent`` and
``sessionContext.sourceIdentity`` are columns of the events table.

Partition projection is on ``account`` (the ``AWSLogs/[o-xxx/]<account>/`` level), ``region``
and ``timestamp`` (``yyyy/MM/dd``, AWS's name), so a query that names them reads only the day
folders of its window.

>>> "accesskeyid: STRING" in ddl("my-trail", org_id="o-a1b2c3d4e5", accounts=["111122223333"])
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

__all__ = [
    "CLOUDTRAIL_COLUMNS",
    "PARTITIONS",
    "REGIONS",
    "STRUCT_FIELDS",
    "ddl",
    "field_names",
    "hive_type",
]

# A column type: "STRING", ("struct", [(name, type), ...]), ("array", type), ("map", k, v).
_IDENTITY = (
    "struct",
    [
        ("type", "STRING"),
        ("principalId", "STRING"),
        ("arn", "STRING"),
        ("accountId", "STRING"),
        ("invokedBy", "STRING"),
        ("accessKeyId", "STRING"),
        ("userName", "STRING"),
        ("identityProvider", "STRING"),  # +
        ("onBehalfOf", ("struct", [("userId", "STRING"), ("identityStoreArn", "STRING")])),
        # + the userIdentity fields the events table has columns for (identity, issue 14)
        ("userId", "STRING"),  # +
        ("identityStoreArn", "STRING"),  # +
        ("credentialId", "STRING"),  # +
        (
            "inScopeOf",  # +
            (
                "struct",
                [
                    ("issuerType", "STRING"),
                    ("credentialsIssuedTo", "STRING"),
                ],
            ),
        ),
        (
            "sessionContext",
            (
                "struct",
                [
                    (
                        "attributes",
                        ("struct", [("mfaAuthenticated", "STRING"), ("creationDate", "STRING")]),
                    ),
                    (
                        "sessionIssuer",
                        (
                            "struct",
                            [
                                ("type", "STRING"),
                                ("principalId", "STRING"),
                                ("arn", "STRING"),
                                ("accountId", "STRING"),
                                ("userName", "STRING"),
                            ],
                        ),
                    ),
                    ("sourceIdentity", "STRING"),  # +
                    ("assumedRoot", "STRING"),  # +
                    ("ec2RoleDelivery", "STRING"),
                    (
                        "webIdFederationData",
                        (
                            "struct",
                            [
                                ("federatedProvider", "STRING"),
                                ("attributes", ("map", "STRING", "STRING")),
                            ],
                        ),
                    ),
                ],
            ),
        ),
    ],
)

#: (record field, type) of every column, in AWS's order.
CLOUDTRAIL_COLUMNS: tuple[tuple[str, object], ...] = (
    ("eventVersion", "STRING"),
    ("userIdentity", _IDENTITY),
    ("eventTime", "STRING"),
    ("eventSource", "STRING"),
    ("eventName", "STRING"),
    ("awsRegion", "STRING"),
    ("sourceIPAddress", "STRING"),
    ("userAgent", "STRING"),
    ("errorCode", "STRING"),
    ("errorMessage", "STRING"),
    ("requestParameters", "STRING"),
    ("responseElements", "STRING"),
    ("additionalEventData", "STRING"),
    ("requestID", "STRING"),
    ("eventID", "STRING"),
    ("readOnly", "STRING"),
    (
        "resources",
        ("array", ("struct", [("ARN", "STRING"), ("accountId", "STRING"), ("type", "STRING")])),
    ),
    ("eventType", "STRING"),
    ("apiVersion", "STRING"),
    ("recipientAccountId", "STRING"),
    ("serviceEventDetails", "STRING"),
    ("sharedEventID", "STRING"),
    ("vpcEndpointId", "STRING"),
    ("vpcEndpointAccountId", "STRING"),
    ("eventCategory", "STRING"),
    ("managementEvent", "STRING"),  # +
    ("insightDetails", "STRING"),  # + Insights records: the API whose rate was unusual
    (
        "addendum",
        (
            "struct",
            [
                ("reason", "STRING"),
                ("updatedFields", "STRING"),
                ("originalRequestID", "STRING"),
                ("originalEventID", "STRING"),
            ],
        ),
    ),
    ("sessionCredentialFromConsole", "STRING"),
    ("edgeDeviceDetails", "STRING"),
    (
        "tlsDetails",
        (
            "struct",
            [
                ("tlsVersion", "STRING"),
                ("cipherSuite", "STRING"),
                ("clientProvidedHostHeader", "STRING"),
            ],
        ),
    ),
)

#: The partition columns, in the order of the S3 layout.
PARTITIONS: tuple[str, ...] = ("account", "region", "timestamp")

#: Commercial regions (projected when ``regions=`` is not given).
REGIONS: tuple[str, ...] = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)  # fmt: skip


def field_names() -> dict[str, str]:
    """Every column and struct field name, lower case -> as CloudTrail spells it.

    >>> field_names()["accesskeyid"]
    'accessKeyId'
    """
    out: dict[str, str] = {}

    def walk(kind: object) -> None:
        if isinstance(kind, tuple) and kind[0] == "struct":
            for name, sub in kind[1]:  # type: ignore[misc]
                out.setdefault(name.lower(), name)
                walk(sub)
        elif isinstance(kind, tuple) and kind[0] == "array":
            walk(kind[1])

    for name, kind in CLOUDTRAIL_COLUMNS:
        out.setdefault(name.lower(), name)
        walk(kind)
    return out


#: Struct-typed top-level columns -> their (CloudTrail-spelled) field names.
STRUCT_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(n for n, _ in kind[1])  # type: ignore[index,misc]
    for name, kind in CLOUDTRAIL_COLUMNS
    if isinstance(kind, tuple) and kind[0] == "struct"
}


def hive_type(kind: object, indent: int = 4) -> str:
    """A column type in Hive DDL (lower-case field names, as AWS writes them)."""
    if isinstance(kind, str):
        return kind
    pad = " " * (indent + 4)
    if kind[0] == "struct":  # type: ignore[index]
        fields = ",\n".join(
            f"{pad}{name.lower()}: {hive_type(sub, indent + 4)}"
            for name, sub in kind[1]  # type: ignore[index,misc]
        )
        return f"STRUCT<\n{fields}>"
    if kind[0] == "array":  # type: ignore[index]
        return f"ARRAY<{hive_type(kind[1], indent)}>"  # type: ignore[index]
    if kind[0] == "map":  # type: ignore[index]
        return f"MAP<{kind[1]},{kind[2]}>"  # type: ignore[index,misc]
    raise ValueError(f"unknown column type {kind!r}")


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _day_text(value: date | datetime | str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime("%Y/%m/%d")


def ddl(
    bucket: str,
    *,
    prefix: str = "",
    org_id: str | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    start: date | datetime | str = "2020-01-01",
    table: str = "cloudtrail_logs",
    database: str | None = None,
) -> str:
    """The ``CREATE EXTERNAL TABLE`` statement for a CloudTrail trail in S3, with partition
    projection on account, region and day.

    Parameters
    ----------
    bucket, prefix
        Where the trail delivers: ``s3://<bucket>/<prefix>/AWSLogs/...``.
    org_id
        An organisation trail's id (``o-xxxxxxxxxx``): its logs sit under ``AWSLogs/<org_id>/``.
    accounts
        The accounts to project (12-digit ids). Without them the account partition is
        *injected*: every query must then name its accounts (``fx.load(..., accounts=[...])``).
    regions
        The regions to project (default: every commercial region).
    start
        The first day of the date projection (up to ``NOW``).
    table, database
        The table's name (and database, if it should be qualified).

    Examples
    --------
    >>> sql = ddl("my-trail", org_id="o-a1b2c3d4e5", accounts=["111122223333"],
    ...           regions=["us-east-1"], start="2026-01-01")
    >>> "'projection.timestamp.range'='2026/01/01,NOW'" in sql
    True
    >>> "s3://my-trail/AWSLogs/o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}" in sql
    True
    """
    if not _BUCKET.match(bucket):
        raise ValueError(f"{bucket!r} is not an S3 bucket name (give the name, not s3://...)")
    if org_id is not None and not _ORG.match(org_id):
        raise ValueError(f"{org_id!r} is not an organisation id; it looks like o-a1b2c3d4e5")
    account_list = sorted(set(accounts)) if accounts is not None else None
    for a in account_list or []:
        if not _ACCOUNT.match(a):
            raise ValueError(f"{a!r} is not a 12-digit AWS account id")
    region_list = sorted(set(regions)) if regions is not None else list(REGIONS)
    for r in region_list:
        if not _REGION.match(r):
            raise ValueError(f"{r!r} is not an AWS region name (like us-east-1)")
    for n in (table, database):
        if n is not None and not _NAME.match(n):
            raise ValueError(f"{n!r}: Athena names are lower case letters, digits and _")
    root = "/".join(p for p in (bucket, prefix.strip("/"), "AWSLogs", org_id or "") if p)
    location = f"s3://{root}/"
    template = f"s3://{root}/${{account}}/CloudTrail/${{region}}/${{timestamp}}"
    columns = ",\n".join(
        f"    {name.lower()} {hive_type(kind)}" for name, kind in CLOUDTRAIL_COLUMNS
    )
    props = [("projection.enabled", "true")]
    if account_list is not None:
        props += [
            ("projection.account.type", "enum"),
            ("projection.account.values", ",".join(account_list)),
        ]
    else:
        props += [("projection.account.type", "injected")]
    props += [
        ("projection.region.type", "enum"),
        ("projection.region.values", ",".join(region_list)),
        ("projection.timestamp.type", "date"),
        ("projection.timestamp.format", "yyyy/MM/dd"),
        ("projection.timestamp.range", f"{_day_text(start)},NOW"),
        ("projection.timestamp.interval", "1"),
        ("projection.timestamp.interval.unit", "DAYS"),
        ("storage.location.template", template),
    ]
    name = f"{database}.{table}" if database else table
    properties = ",\n".join(f"  '{k}'='{v}'" for k, v in props)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{columns}\n)\n"
        "PARTITIONED BY (\n    account STRING,\n    region STRING,\n    `timestamp` STRING\n)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{location}'\n"
        f"TBLPROPERTIES (\n{properties}\n)"
    )
