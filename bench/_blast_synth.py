"""A synthetic events table for the graph / blast-radius benchmark (used when forensics.sample
is not available). Vectorised polars, deterministic; ~1M rows in a few seconds.

Background: 300 IAM users with long-term keys, 60 roles assumed by them (AssumeRole responses
carry the new ASIA keys), S3 object reads/writes over 40 buckets, EC2 / Secrets Manager / SSM /
KMS traffic. Incident: ``AKIAINCIDENTLEAKED01`` assumes ``role/ops-admin`` (ASIAINCIDENTSESS0001),
reads a bucket, creates user ``backdoor`` and its key ``AKIAINCIDENTBACKDOOR``, which runs an
instance.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from forensics._schema import conform

ACCOUNT = "111122223333"
START = datetime(2026, 1, 1, tzinfo=UTC)
LEAKED = "AKIAINCIDENTLEAKED01"


def _fmt(template: str, *exprs: pl.Expr) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next expression (JSON-safe, unlike
    ``pl.format`` in polars 2, which reads braces as column names)."""
    pieces = template.split("{}")
    parts: list[pl.Expr] = []
    for i, piece in enumerate(pieces):
        if piece:
            parts.append(pl.lit(piece))
        if i < len(exprs):
            parts.append(exprs[i].cast(pl.String))
    return pl.concat_str(parts)


def _h(n: int, seed: int, mod: int) -> pl.Expr:
    return (pl.int_range(n, dtype=pl.UInt64).hash(seed) % mod).cast(pl.Int64)


def synth_events(n: int = 1_000_000, *, days: int = 7) -> pl.DataFrame:
    """``n`` background events plus a small incident, as an events table (time order)."""
    span_us = days * 86_400 * 1_000_000
    base = pl.DataFrame({"i": pl.int_range(n, eager=True)}).with_columns(
        _h(n, 1, 300).alias("user"),
        _h(n, 2, 100).alias("kind"),
        _h(n, 3, 40).alias("bucket"),
        _h(n, 4, 20_000).alias("obj"),
        _h(n, 5, span_us).alias("t"),
        _h(n, 6, 60).alias("role"),
        _h(n, 7, 50).alias("sess"),
    )
    user_arn = _fmt("arn:aws:iam::{}:user/user{}", pl.lit(ACCOUNT), pl.col("user"))
    user_key = _fmt("AKIA{}", pl.col("user").cast(pl.String).str.zfill(16))
    sess_key = _fmt(
        "ASIA{}{}",
        pl.col("role").cast(pl.String).str.zfill(8),
        pl.col("sess").cast(pl.String).str.zfill(8),
    )
    role_arn = _fmt("arn:aws:iam::{}:role/role{}", pl.lit(ACCOUNT), pl.col("role"))
    is_role = pl.col("kind") < 40  # 40% of calls by role sessions
    k = pl.col("kind")
    name = (
        pl.when(k < 30).then(pl.lit("GetObject"))
        .when(k < 38).then(pl.lit("PutObject"))
        .when(k < 50).then(pl.lit("DescribeInstances"))
        .when(k < 60).then(pl.lit("GetSecretValue"))
        .when(k < 70).then(pl.lit("GetParameter"))
        .when(k < 80).then(pl.lit("Decrypt"))
        .when(k < 88).then(pl.lit("ListBuckets"))
        .when(k < 95).then(pl.lit("GetCallerIdentity"))
        .otherwise(pl.lit("AssumeRole"))
    )
    source = (
        pl.when(k < 38).then(pl.lit("s3.amazonaws.com"))
        .when(k < 50).then(pl.lit("ec2.amazonaws.com"))
        .when(k < 60).then(pl.lit("secretsmanager.amazonaws.com"))
        .when(k < 70).then(pl.lit("ssm.amazonaws.com"))
        .when(k < 80).then(pl.lit("kms.amazonaws.com"))
        .when(k < 88).then(pl.lit("s3.amazonaws.com"))
        .otherwise(pl.lit("sts.amazonaws.com"))
    )
    bucket = _fmt("bucket-{}", pl.col("bucket"))
    request = (
        pl.when(k < 38).then(_fmt('{"bucketName":"{}","key":"data/{}.csv"}', bucket,
                                        pl.col("obj")))
        .when(k < 50).then(_fmt('{"instancesSet":{"items":[{"instanceId":"i-{}"}]}}',
                                     pl.col("obj")))
        .when(k < 60).then(_fmt('{"secretId":"app/secret{}"}', pl.col("bucket")))
        .when(k < 70).then(_fmt('{"name":"/app/param{}"}', pl.col("bucket")))
        .when(k < 80).then(pl.lit('{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}'))
        .when(k < 95).then(pl.lit(None, pl.String))
        .otherwise(_fmt('{"roleArn":"{}","roleSessionName":"s{}"}', role_arn,
                             pl.col("sess")))
    )
    # AssumeRole by a user mints the session key that role calls use.
    response = pl.when(k >= 95).then(
        _fmt(
            '{"credentials":{"accessKeyId":"{}","expiration":"x"},'
            '"assumedRoleUser":{"arn":"arn:aws:sts::{}:assumed-role/role{}/s{}"}}',
            sess_key, pl.lit(ACCOUNT), pl.col("role"), pl.col("sess"),
        )
    )
    kms = pl.when(k.is_between(70, 79)).then(
        pl.concat_list(
            pl.struct(
                _fmt("arn:aws:kms:us-east-1:{}:key/k{}", pl.lit(ACCOUNT), pl.col("bucket"))
                .alias("arn"),
                pl.lit(ACCOUNT).alias("account_id"),
                pl.lit("AWS::KMS::Key").alias("type"),
            )
        )
    )
    role_caller = is_role & (k < 95)
    frame = base.select(
        (pl.lit(START) + pl.duration(microseconds=pl.col("t"))).alias("event_time"),
        _fmt("ev-{}", pl.col("i")).alias("event_id"),
        name.alias("event_name"),
        source.alias("event_source"),
        pl.lit("us-east-1").alias("aws_region"),
        (k >= 38).and_(k != 95).alias("read_only"),
        _fmt("10.0.{}.{}", pl.col("user") % 250, pl.col("role")).alias("source_ip"),
        pl.lit("aws-cli/2.15").alias("user_agent"),
        pl.when(pl.col("obj") % 97 == 0).then(pl.lit("AccessDenied")).alias("error_code"),
        pl.lit(ACCOUNT).alias("recipient_account_id"),
        pl.when(role_caller).then(pl.lit("AssumedRole")).otherwise(pl.lit("IAMUser"))
        .alias("identity_type"),
        pl.when(role_caller)
        .then(_fmt("arn:aws:sts::{}:assumed-role/role{}/s{}", pl.lit(ACCOUNT),
                        pl.col("role"), pl.col("sess")))
        .otherwise(user_arn).alias("principal_arn"),
        pl.lit(ACCOUNT).alias("account_id"),
        pl.when(role_caller).then(sess_key).otherwise(user_key).alias("access_key_id"),
        pl.when(role_caller).then(role_arn).alias("session_issuer_arn"),
        pl.when(role_caller).then(role_arn).otherwise(user_arn).alias("principal"),
        request.alias("request_parameters"),
        response.alias("response_elements"),
        kms.alias("resources"),
    )
    return conform(pl.concat([frame, _incident()], how="diagonal_relaxed")).sort("event_time")


def _incident() -> pl.DataFrame:
    def t(h: int, m: int) -> datetime:
        return datetime(2026, 1, 4, h, m, tzinfo=UTC)

    leaked_user = f"arn:aws:iam::{ACCOUNT}:user/deploy"
    role = f"arn:aws:iam::{ACCOUNT}:role/ops-admin"
    sess = f"arn:aws:sts::{ACCOUNT}:assumed-role/ops-admin/x"
    rows = [
        (t(2, 0), "inc-1", "GetCallerIdentity", "sts", LEAKED, leaked_user, "IAMUser", None, None),
        (t(2, 1), "inc-2", "AssumeRole", "sts", LEAKED, leaked_user, "IAMUser",
         f'{{"roleArn":"{role}","roleSessionName":"x"}}',
         f'{{"credentials":{{"accessKeyId":"ASIAINCIDENTSESS0001"}},'
         f'"assumedRoleUser":{{"arn":"{sess}"}}}}'),
        (t(2, 5), "inc-3", "GetObject", "s3", "ASIAINCIDENTSESS0001", role, "AssumedRole",
         '{"bucketName":"bucket-7","key":"data/secret.csv"}', None),
        (t(2, 9), "inc-4", "CreateUser", "iam", "ASIAINCIDENTSESS0001", role, "AssumedRole",
         '{"userName":"backdoor"}',
         f'{{"user":{{"arn":"arn:aws:iam::{ACCOUNT}:user/backdoor","userName":"backdoor"}}}}'),
        (t(2, 10), "inc-5", "CreateAccessKey", "iam", "ASIAINCIDENTSESS0001", role,
         "AssumedRole", '{"userName":"backdoor"}',
         '{"accessKey":{"accessKeyId":"AKIAINCIDENTBACKDOOR","userName":"backdoor"}}'),
        (t(3, 0), "inc-6", "RunInstances", "ec2", "AKIAINCIDENTBACKDOOR",
         f"arn:aws:iam::{ACCOUNT}:user/backdoor", "IAMUser",
         '{"instancesSet":{"items":[{"imageId":"ami-1"}]}}',
         '{"instancesSet":{"items":[{"instanceId":"i-miner"}]}}'),
    ]
    return pl.DataFrame(
        [
            {
                "event_time": r[0], "event_id": r[1], "event_name": r[2],
                "event_source": f"{r[3]}.amazonaws.com", "aws_region": "us-east-1",
                "access_key_id": r[4], "principal": r[5], "identity_type": r[6],
                "principal_arn": sess if r[6] == "AssumedRole" else r[5],
                "session_issuer_arn": role if r[6] == "AssumedRole" else None,
                "request_parameters": r[7], "response_elements": r[8],
                "recipient_account_id": ACCOUNT, "account_id": ACCOUNT,
                "source_ip": "203.0.113.66", "user_agent": "python-requests/2.31",
                "read_only": r[2] in ("GetCallerIdentity", "GetObject"),
            }
            for r in rows
        ]
    )
