"""A leaked-key incident with decoys, as hand-written CloudTrail records (blast radius, graph).

Story (minutes after T0, account A = 111111111111, B = 222222222222):

* 1-2: alice herself uses her key AKIAALICELEAKED0001 (before the leak): a morning session.
* 10-40: the attacker (203.0.113.9) uses the same key: AssumeRole Deploy as session "alice",
  reads payroll/2024.csv, chains into account B's Audit role, is denied a secret there, creates
  user svc-backup with an access key and a password, runs an instance with the new key, and
  signs in to the console as svc-backup.

Decoys that must never appear in the attacker's blast radius:

* bob assumes the same Deploy role at the same minute, with the same session name "alice";
* bob and carol read the same payroll bucket and object;
* alice's second key AKIAALICESECOND0001 (legitimate), and the session it opens.
"""

from __future__ import annotations

from tests._identity_helpers import assume_role, create_access_key, event, session, user

A = "111111111111"
B = "222222222222"
LEAKED = "AKIAALICELEAKED0001"
SECOND = "AKIAALICESECOND0001"
MORNING = "ASIAALICEMORNING001"
ATTACK = "ASIAATTACK000000001"
ATTACK_B = "ASIAATTACKB00000001"
BACKDOOR = "AKIABACKDOOR0000001"
CONSOLE = "ASIACONSOLE00000001"
BOB_KEY = "AKIABOB000000000001"
BOB_SESSION = "ASIABOBSESSION00001"
ALICE_LEGIT = "ASIAALICELEGIT00001"
CAROL_KEY = "AKIACAROL0000000001"
ATTACKER_IP = "203.0.113.9"
DEPLOY = f"arn:aws:iam::{A}:role/Deploy"
AUDIT_B = f"arn:aws:iam::{B}:role/Audit"
PAYROLL = "arn:aws:s3:::payroll"
PAYROLL_OBJ = "arn:aws:s3:::payroll/2024.csv"
BACKDOOR_USER = f"arn:aws:iam::{A}:user/svc-backup"

DECOY_KEYS = {SECOND, BOB_KEY, BOB_SESSION, ALICE_LEGIT, CAROL_KEY}
ATTACK_KEYS = {LEAKED, ATTACK, ATTACK_B, BACKDOOR, CONSOLE}


def _get_object(when: float, who: dict, bucket: str, key: str, **kw) -> dict:
    return event(when, "GetObject", who, source="s3.amazonaws.com", readOnly=True,
                 request={"bucketName": bucket, "key": key}, managementEvent=False, **kw)


def incident_records() -> list[dict]:
    alice = user(A, "alice", LEAKED)
    alice2 = user(A, "alice", SECOND)
    bob = user(A, "bob", BOB_KEY)
    carol = user(A, "carol", CAROL_KEY)
    atk = {"ip": ATTACKER_IP, "agent": "python-requests/2.31"}
    attack_session = session(A, "Deploy", "alice", ATTACK)
    bob_session = session(A, "Deploy", "alice", BOB_SESSION)
    attack_b = session(B, "Audit", "x", ATTACK_B)
    backdoor = user(A, "svc-backup", BACKDOOR)
    morning = session(A, "Deploy", "alice-morning", MORNING)
    legit = session(A, "ReadOnly", "alice", ALICE_LEGIT)
    console_identity = user(A, "svc-backup", CONSOLE)
    return [
        # alice, before the leak, with the key that will leak
        assume_role(1, alice, DEPLOY, "alice-morning", MORNING),
        _get_object(2, morning, "reports", "q1.pdf"),
        # the attacker
        event(10, "GetCallerIdentity", alice, source="sts.amazonaws.com", readOnly=True, **atk),
        assume_role(11, alice, DEPLOY, "alice", ATTACK, **atk),
        _get_object(12, attack_session, "payroll", "2024.csv", **atk),
        assume_role(13, attack_session, AUDIT_B, "x", ATTACK_B, recipient=A, **atk),
        event(14, "ListBuckets", attack_b, source="s3.amazonaws.com", readOnly=True,
              recipient=B, **atk),
        event(14.5, "GetSecretValue", attack_b, source="secretsmanager.amazonaws.com",
              request={"secretId": "prod/db"}, readOnly=True, error="AccessDenied",
              recipient=B, **atk),
        event(15, "CreateUser", attack_session, source="iam.amazonaws.com",
              request={"userName": "svc-backup"},
              response={"user": {"arn": BACKDOOR_USER, "userName": "svc-backup"}}, **atk),
        create_access_key(16, attack_session, "svc-backup", BACKDOOR, **atk),
        event(17, "CreateLoginProfile", attack_session, source="iam.amazonaws.com",
              request={"userName": "svc-backup", "passwordResetRequired": False}, **atk),
        event(30, "RunInstances", backdoor, source="ec2.amazonaws.com",
              request={"instancesSet": {"items": [{"imageId": "ami-miner"}]}},
              response={"instancesSet": {"items": [{"instanceId": "i-miner"}]}}, **atk),
        event(39, "ConsoleLogin", user(A, "svc-backup"), source="signin.amazonaws.com",
              response={"ConsoleLogin": "Success"}, **atk),
        event(40, "DescribeInstances", console_identity, readOnly=True,
              sessionCredentialFromConsole="true", ip=ATTACKER_IP,
              agent="console.ec2.amazonaws.com"),
        # decoys, at the same time
        assume_role(11, bob, DEPLOY, "alice", BOB_SESSION),
        _get_object(12, bob_session, "payroll", "2024.csv"),
        event(13, "PutObject", bob_session, source="s3.amazonaws.com",
              request={"bucketName": "payroll", "key": "2025.csv"}, readOnly=False),
        _get_object(12.5, carol, "payroll", "2024.csv"),
        event(20, "DescribeInstances", alice2, readOnly=True),
        assume_role(21, alice2, f"arn:aws:iam::{A}:role/ReadOnly", "alice", ALICE_LEGIT),
        _get_object(22, legit, "reports", "q2.pdf"),
    ]
