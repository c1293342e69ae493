"""Issue 14: the person behind the session. Records shaped as AWS documents them, plus decoys.

Sources of the shapes (AWS documentation):

* CloudTrail userIdentity element (incl. the July 2025 IAM Identity Center change:
  ``IdentityCenterUser`` with ``onBehalfOf.userId`` / ``identityStoreArn`` and ``credentialId``):
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html
* Identity Center sign-in events (``CredentialChallenge``, ``CredentialVerification``,
  ``UserAuthentication``; ``type: Unknown`` with ``userName`` before July 2025):
  https://docs.aws.amazon.com/singlesignon/latest/userguide/understanding-sign-in-events.html
* AssumeRoleWithSAML / AssumeRoleWithWebIdentity CloudTrail examples:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html
* Track privileged tasks (``sts:AssumeRoot``, ``assumedRoot``):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-track-privileged-tasks.html
* Cross-account AssumeRole (the owner's copy is ``AWSAccount`` with the same ``sharedEventID``):
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
* Console sign-in with an unknown user name (``HIDDEN_DUE_TO_SECURITY_REASONS``):
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html
* Trusted identity propagation (``onBehalfOf`` on a role session), Lambda ``inScopeOf``.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.ingest._identity_keys import DETAIL_COLUMNS, identity_details, principal_key
from forensics.ingest._normalize import json_text
from tests._identity_helpers import assume_role, event, root, session, trail, user

MGMT, MEMBER, DEV, PROD = "111111111111", "222222222222", "333333333333", "444444444444"
STORE = f"arn:aws:identitystore::{MGMT}:identitystore/d-9067642ac7"
JANE_ID, JOHN_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1", "906745ba2f-2f1c-4d8b-9e2d-1f0a3c3b8e71"


# -- record builders shaped as the documentation shows them --------------------------------------
def idc_user(user_id: str, credential: str | None = "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxF"):
    """``IdentityCenterUser`` (July 2025 onwards), as on the userIdentity reference page."""
    ui = {
        "type": "IdentityCenterUser",
        "accountId": MGMT,
        "onBehalfOf": {"userId": user_id, "identityStoreArn": STORE},
    }
    if credential:
        ui["credentialId"] = credential
    return ui


def idc_unknown(name: str, user_id: str | None = None):
    """The pre-2025 form: ``Unknown``, principalId/accountId = the account, userName the person;
    newer copies also carry ``onBehalfOf``."""
    ui = {
        "type": "Unknown",
        "principalId": MGMT,
        "arn": "",
        "accountId": MGMT,
        "accessKeyId": "",
        "userName": name,
    }
    if user_id:
        ui["onBehalfOf"] = {"userId": user_id, "identityStoreArn": STORE}
    return ui


def sign_in(when, name, identity, outcome="Success", error=None, **kw):
    return event(
        when,
        name,
        identity,
        source="signin.amazonaws.com",
        agent="Mozilla/5.0",
        additionalEventData={"CredentialType": "PASSWORD"},
        serviceEventDetails={name: outcome},
        error=error,
        recipient=MGMT,
        **kw,
    )


def saml_call(when, account, nq, subject, issuer, new_key, error=None):
    """AssumeRoleWithSAML as in the IAM CloudTrail examples; nameQualifier differs per account."""
    resp = None
    if not error:
        resp = {
            "credentials": {"accessKeyId": new_key, "sessionToken": "x", "expiration": "x"},
            "assumedRoleUser": {
                "assumedRoleId": f"AROASAML{account}:{subject}",
                "arn": f"arn:aws:sts::{account}:assumed-role/Engineers/{subject}",
            },
            "subject": subject,
            "subjectType": "persistent",
            "issuer": issuer,
            "audience": "https://signin.aws.amazon.com/saml",
            "nameQualifier": nq,
        }
    return event(
        when,
        "AssumeRoleWithSAML",
        {
            "type": "SAMLUser",
            "principalId": f"{nq}:{subject}",
            "userName": subject,
            "identityProvider": nq,
        },
        source="sts.amazonaws.com",
        request={
            "roleArn": f"arn:aws:iam::{account}:role/Engineers",
            "principalArn": f"arn:aws:iam::{account}:saml-provider/CorpIdP",
        },
        response=resp,
        recipient=account,
        error=error,
    )


def web_identity(when, sub, new_key=None, error=None, user_name=True, **kw):
    """AssumeRoleWithWebIdentity from GitHub Actions (an IAM OIDC provider in the account)."""
    provider = f"arn:aws:iam::{DEV}:oidc-provider/token.actions.githubusercontent.com"
    ui = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:sts.amazonaws.com:{sub}",
        "identityProvider": provider,
    }
    if user_name:
        ui["userName"] = sub
    resp = None
    if new_key and not error:
        resp = {
            "credentials": {"accessKeyId": new_key, "sessionToken": "x", "expiration": "x"},
            "subjectFromWebIdentityToken": sub,
            "assumedRoleUser": {
                "assumedRoleId": "AROADEPLOY:GitHubActions",
                "arn": f"arn:aws:sts::{DEV}:assumed-role/Deploy/GitHubActions",
            },
            "provider": provider,
            "audience": "sts.amazonaws.com",
        }
    return event(
        when,
        "AssumeRoleWithWebIdentity",
        ui,
        source="sts.amazonaws.com",
        request={"roleArn": f"arn:aws:iam::{DEV}:role/Deploy", "roleSessionName": "GitHubActions"},
        response=resp,
        recipient=DEV,
        error=error,
        **kw,
    )


def actor_of(t: fx.Trail, event_id: str) -> str:
    return t.with_actors().events.filter(pl.col("event_id") == event_id)["actor"].item()


def ids(t: fx.Trail) -> list[str]:
    return sorted(t.events["event_id"].to_list())


# -- Identity Center --------------------------------------------------------------------------
def test_pre_2025_identity_center_users_are_not_merged_per_account():
    t = trail(
        [
            event(0, "ListAccounts", idc_unknown("jane"), source="sso.amazonaws.com", event_id="a"),
            event(1, "ListAccounts", idc_unknown("john"), source="sso.amazonaws.com", event_id="b"),
        ]
    )
    principals = t.events["principal"].to_list()
    assert principals == [f"identitycenter:{MGMT}/jane", f"identitycenter:{MGMT}/john"]
    assert not any(p.startswith("Unknown:") for p in principals)


def test_sign_in_events_separate_the_people_so_spraying_shows():
    # as AWS records a wrong password: no errorCode, the outcome in serviceEventDetails
    names = ["jane", "john", "ann", "raj"]
    records = []
    for i, n in enumerate(names):
        records.append(sign_in(2 * i, "CredentialChallenge", idc_unknown(n)))
        records.append(sign_in(2 * i + 1, "CredentialVerification", idc_unknown(n), "Failure"))
    t = trail(records)
    p = t.principals()
    assert p.height == 4  # four people tried, one principal each
    assert p["failed_console_logins"].to_list() == [1, 1, 1, 1]
    assert p["console_logins"].to_list() == [0, 0, 0, 0]


def test_sign_in_user_name_joins_the_old_and_new_forms():
    """After July 2025 a successful sign-in names the user in additionalEventData.UserName."""
    new = sign_in(1, "CredentialChallenge", idc_user(JANE_ID), event_id="new")
    new["additionalEventData"] = {"CredentialType": "PASSWORD", "UserName": "jane"}
    t = trail(
        [
            event(
                0, "ListAccounts", idc_unknown("jane"), source="sso.amazonaws.com", event_id="old"
            ),
            new,
            event(2, "ListAccounts", idc_unknown("john"), source="sso.amazonaws.com", event_id="j"),
            sign_in(3, "UserAuthentication", idc_user(JANE_ID), event_id="auth"),
        ]
    )
    jane = f"identitycenter:{STORE}/{JANE_ID}"
    assert actor_of(t, "old") == actor_of(t, "new") == jane
    assert ids(t.for_principal("jane", derived=True)) == ["auth", "new", "old"]
    assert t.principals().filter(pl.col("principal") == jane)["console_logins"].item() == 1


def test_hidden_identity_center_user_name_is_not_a_person():
    ui = idc_unknown("HIDDEN_DUE_TO_SECURITY_REASONS")
    assert principal_key(ui) == f"hidden-user:{MGMT}"


def test_same_person_pre_and_post_2025_is_one_actor():
    t = trail(
        [
            event(
                0, "ListAccounts", idc_unknown("jane"), source="sso.amazonaws.com", event_id="old"
            ),
            # a newer copy of the old form names both (userName and onBehalfOf.userId)
            event(1, "ListAccounts", idc_unknown("jane", JANE_ID), source="sso.amazonaws.com"),
            event(2, "ListAccounts", idc_user(JANE_ID), source="sso.amazonaws.com", event_id="new"),
            event(3, "ListAccounts", idc_unknown("john"), source="sso.amazonaws.com", event_id="j"),
        ]
    )
    jane = f"identitycenter:{STORE}/{JANE_ID}"
    assert actor_of(t, "old") == actor_of(t, "new") == jane
    assert actor_of(t, "j") != jane
    got = t.for_principal("jane", derived=True)
    assert len(got) == 3 and "j" not in ids(got)
    actors = t.actors()
    assert actors.filter(pl.col("actor") == jane)["names"].to_list() == [["jane"]]


def test_identity_center_user_with_ids_outside_on_behalf_of_is_keyed():
    ui = {
        "type": "IdentityCenterUser",
        "accountId": MGMT,
        "userId": JOHN_ID,
        "identityStoreArn": STORE,
    }
    assert principal_key(ui) == f"identitycenter:{STORE}/{JOHN_ID}"
    assert principal_key({"type": "IdentityCenterUser", "accountId": MGMT}) != principal_key(ui)


def test_on_behalf_of_on_a_role_session_names_the_person_and_their_minted_keys():
    # trusted identity propagation: an application role session acting for Jane
    tip = session(PROD, "QBusinessApp", "app-session", "ASIATIPSESSION001")
    tip["onBehalfOf"] = {"userId": JANE_ID, "identityStoreArn": STORE}
    decoy = session(PROD, "QBusinessApp", "app-session", "ASIATIPSESSION002")  # same role+name
    decoy["onBehalfOf"] = {"userId": JOHN_ID, "identityStoreArn": STORE}
    t = trail(
        [
            event(0, "ListAccounts", idc_user(JANE_ID), source="sso.amazonaws.com", event_id="p"),
            event(1, "GetObject", tip, source="s3.amazonaws.com", event_id="tip"),
            assume_role(
                2,
                tip,
                f"arn:aws:iam::{DEV}:role/Reader",
                "chain",
                "ASIACHAINED000001",
                event_id="mint",
            ),
            event(
                3,
                "ListBuckets",
                session(DEV, "Reader", "chain", "ASIACHAINED000001"),
                event_id="chained",
            ),
            event(4, "GetObject", decoy, source="s3.amazonaws.com", event_id="decoy"),
        ]
    )
    assert t.events.filter(pl.col("event_id") == "tip")["on_behalf_of_user_id"].item() == JANE_ID
    got = t.for_principal(JANE_ID, derived=True)
    assert ids(got) == ["chained", "mint", "p", "tip"]
    assert got.events["actor"].unique().to_list() == [f"identitycenter:{STORE}/{JANE_ID}"]


# -- SAML and web identity --------------------------------------------------------------------
ISSUER = "https://idp.corp.example/saml"


def test_saml_person_in_three_accounts_is_one_principal_and_a_name_finds_it():
    t = trail(
        [
            saml_call(0, MEMBER, "nqMEMBER==", "jdoe@corp.example", ISSUER, "ASIASAMLMEMBER01"),
            saml_call(1, DEV, "nqDEV==", "jdoe@corp.example", ISSUER, "ASIASAMLDEV00001"),
            saml_call(2, PROD, "nqPROD==", "jdoe@corp.example", ISSUER, "ASIASAMLPROD0001"),
            event(
                3,
                "ListBuckets",
                session(PROD, "Engineers", "jdoe@corp.example", "ASIASAMLPROD0001"),
                event_id="use",
            ),
        ]
    )
    saml = t.events.filter(pl.col("identity_type") == "SAMLUser")["principal"].unique()
    assert saml.to_list() == [f"saml:{ISSUER}/jdoe@corp.example"]
    got = t.for_principal("jdoe@corp.example", derived=True)
    assert len(got) == 4
    assert actor_of(t, "use") == f"saml:{ISSUER}/jdoe@corp.example"


def test_saml_same_subject_at_another_idp_is_someone_else():
    other = "https://other-idp.example/saml"
    t = trail(
        [
            saml_call(0, MEMBER, "nqA==", "jdoe@corp.example", ISSUER, "ASIASAMLA0000001"),
            saml_call(1, MEMBER, "nqB==", "jdoe@corp.example", other, "ASIASAMLB0000001"),
            event(
                2,
                "ListBuckets",
                session(MEMBER, "Engineers", "jdoe@corp.example", "ASIASAMLA0000001"),
                event_id="a",
            ),
            event(
                3,
                "ListBuckets",
                session(MEMBER, "Engineers", "jdoe@corp.example", "ASIASAMLB0000001"),
                event_id="b",
            ),
            # a refused call (no response) in the same account: the nameQualifier alias
            saml_call(4, MEMBER, "nqA==", "jdoe@corp.example", ISSUER, None, error="AccessDenied"),
        ]
    )
    with pytest.raises(fx.PrincipalError) as err:
        t.for_principal("jdoe@corp.example")
    assert len(err.value.candidates) == 2
    mine = t.for_principal(f"saml:{ISSUER}/jdoe@corp.example", derived=True)
    assert "a" in ids(mine) and "b" not in ids(mine)
    assert mine.where(error=True).events.height == 1  # the refused call is the same person


def test_web_identity_refused_call_joins_the_same_subject():
    sub = "repo:corp/app:ref:refs/heads/main"
    t = trail(
        [
            web_identity(0, sub, "ASIAGITHUB000001", event_id="ok"),
            web_identity(1, sub, error="AccessDenied", user_name=False, event_id="refused"),
            web_identity(
                2, "repo:corp/other:ref:refs/heads/main", "ASIAGITHUB000002", event_id="other"
            ),
            event(
                3,
                "PutObject",
                session(DEV, "Deploy", "GitHubActions", "ASIAGITHUB000001"),
                source="s3.amazonaws.com",
                event_id="deploy",
            ),
            event(
                4,
                "PutObject",
                session(DEV, "Deploy", "GitHubActions", "ASIAGITHUB000002"),
                source="s3.amazonaws.com",
                event_id="decoy",
            ),
        ]
    )
    by_id = dict(t.events.select("event_id", "principal").iter_rows())
    assert (
        by_id["ok"]
        == by_id["refused"]
        == (f"webidentity:token.actions.githubusercontent.com/{sub}")
    )
    assert ids(t.for_principal(sub, derived=True)) == ["deploy", "ok", "refused"]
    assert ids(t.for_principal("repo:corp/app:*", derived=True)) == ["deploy", "ok", "refused"]
    assert ids(t.for_principal("repo:corp/app", derived=True)) == ["deploy", "ok", "refused"]
    assert len(t.for_principal("repo:corp/*", derived=True)) == 5
    with pytest.raises(fx.PrincipalError, match=r"^no "):
        t.for_principal("main")  # the end of a branch name is not a subject


# -- AssumeRoot ---------------------------------------------------------------------------------
def assume_root_call(when, caller, new_key, event_id):
    """As on "Track privileged tasks": the caller's session carries ``assumedRoot`` too."""
    caller = {**caller, "sessionContext": {**caller["sessionContext"], "assumedRoot": "true"}}
    return event(
        when,
        "AssumeRoot",
        caller,
        source="sts.amazonaws.com",
        region="us-west-2",
        request={
            "targetPrincipal": MEMBER,
            "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"},
        },
        response={
            "credentials": {
                "accessKeyId": new_key,
                "sessionToken": "x",
                "expiration": "Oct 25, 2024, 9:07:11 PM",
            }
        },
        event_id=event_id,
    )


def root_session(account, key):
    ui = root(account, key)
    ui["sessionContext"] = {
        "attributes": {"creationDate": "2024-10-25T20:52:11Z", "mfaAuthenticated": "false"},
        "assumedRoot": "true",
    }
    return ui


def test_assume_root_mints_a_root_session_and_keeps_the_lineage():
    admin = user(MGMT, "john", "AKIAJOHN00000001")
    john_session = session(MGMT, "John", "JohnRole1", "ASIAJOHNROLE0001")
    t = trail(
        [
            assume_role(
                0, admin, f"arn:aws:iam::{MGMT}:role/John", "JohnRole1", "ASIAJOHNROLE0001"
            ),
            assume_root_call(1, john_session, "ASIAROOTSESSION01", "ar"),
            event(
                2,
                "DeleteBucketPolicy",
                root_session(MEMBER, "ASIAROOTSESSION01"),
                source="s3.amazonaws.com",
                event_id="privileged",
            ),
            # the same root account signed in for real: another actor
            event(
                3,
                "ConsoleLogin",
                root(MEMBER),
                source="signin.amazonaws.com",
                response={"ConsoleLogin": "Success"},
                event_id="real-root",
            ),
        ]
    )
    creds = (
        t.credentials().filter(pl.col("access_key_id") == "ASIAROOTSESSION01").row(0, named=True)
    )
    assert creds["minted_by"] == "AssumeRoot"
    assert creds["parent_access_key_id"] == "ASIAJOHNROLE0001"
    assert creds["principal"] == f"arn:aws:iam::{MEMBER}:root"
    chain = t.lineage("ASIAROOTSESSION01").chain["access_key_id"].to_list()
    assert chain == ["AKIAJOHN00000001", "ASIAJOHNROLE0001", "ASIAROOTSESSION01"]
    rows = t.events.filter(pl.col("event_id").is_in(["privileged", "real-root"]))
    assert dict(rows.select("event_id", "assumed_root").iter_rows()) == {
        "privileged": True,
        "real-root": None,
    }
    john = f"arn:aws:iam::{MGMT}:user/john"
    assert actor_of(t, "privileged") == john
    assert actor_of(t, "real-root") == f"arn:aws:iam::{MEMBER}:root"
    got = t.for_principal("john", derived=True)
    assert "privileged" in ids(got) and "real-root" not in ids(got)


def test_assume_root_exactly_as_documented_does_not_loop():
    # the page's example reuses one placeholder key for the caller and the new session
    caller = session(MGMT, "JohnDoe", "JohnRole1", "ASIAIOSFODNN7EXAMPLE")
    t = trail([assume_root_call(0, caller, "ASIAIOSFODNN7EXAMPLE", "doc")])
    assert t.events["principal"].item() == f"arn:aws:iam::{MGMT}:role/JohnDoe"
    lin = t.lineage("ASIAIOSFODNN7EXAMPLE")
    assert lin.chain.height >= 1
    assert t.actors().height == 1


def test_assume_root_session_without_its_minting_call_is_not_the_real_root():
    t = trail(
        [
            event(
                0,
                "DeleteBucketPolicy",
                root_session(MEMBER, "ASIAROOTSESSION09"),
                event_id="orphan",
            ),
            event(
                1,
                "ConsoleLogin",
                root(MEMBER),
                source="signin.amazonaws.com",
                response={"ConsoleLogin": "Success"},
                event_id="real",
            ),
        ]
    )
    assert actor_of(t, "orphan") == f"assumed-root:{MEMBER}"
    assert actor_of(t, "real") == f"arn:aws:iam::{MEMBER}:root"


# -- smaller shapes ---------------------------------------------------------------------------
def test_unknown_with_a_role_session_is_the_role_not_a_phantom():
    ui = {
        "type": "Unknown",
        "principalId": "AROAEXAMPLE:jane",
        "arn": f"arn:aws:sts::{PROD}:assumed-role/Admin/jane",
        "accountId": PROD,
        "accessKeyId": "ASIAUNKNOWN000001",
    }
    t = trail(
        [
            event(0, "GetObject", ui, event_id="u"),
            event(1, "ListBuckets", session(PROD, "Admin", "jane", "ASIAUNKNOWN000001")),
        ]
    )
    assert t.events["principal"].unique().to_list() == [f"arn:aws:iam::{PROD}:role/Admin"]


def test_hidden_user_name_is_not_a_made_up_user():
    ui = {
        "type": "IAMUser",
        "principalId": "",
        "accountId": PROD,
        "accessKeyId": "",
        "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    t = trail([sign_in(0, "ConsoleLogin", ui, error="Failed authentication")])
    principal = t.events["principal"].item()
    assert principal == f"hidden-user:{PROD}"
    assert ":user/" not in principal


def test_cross_account_owner_copy_takes_the_callers_actor():
    alice = user(DEV, "alice", "AKIAALICE0000001")
    bob = user(PROD, "bob", "AKIABOB000000001")
    role = f"arn:aws:iam::{MEMBER}:role/Shared"

    def owner_copy(when, caller_account, shared, event_id):
        return event(
            when,
            "AssumeRole",
            {"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": caller_account},
            source="sts.amazonaws.com",
            recipient=MEMBER,
            shared=shared,
            event_id=event_id,
            request={"roleArn": role, "roleSessionName": "s"},
        )

    t = trail(
        [
            assume_role(0, alice, role, "s", "ASIASHARED000001", shared="sh-1", recipient=DEV),
            owner_copy(0, DEV, "sh-1", "alice-owner-copy"),
            assume_role(1, bob, role, "s", "ASIASHARED000002", shared="sh-2", recipient=PROD),
            owner_copy(1, PROD, "sh-2", "bob-owner-copy"),
        ]
    )
    assert actor_of(t, "alice-owner-copy") == f"arn:aws:iam::{DEV}:user/alice"
    assert actor_of(t, "bob-owner-copy") == f"arn:aws:iam::{PROD}:user/bob"


def test_aws_service_event_names_the_service():
    record = event(
        0,
        "CreateGrant",
        {"accountId": PROD, "invokedBy": "AWS Internal"},
        source="kms.amazonaws.com",
        eventType="AwsServiceEvent",
    )
    t = trail([record])
    assert t.events["principal"].item() == "service:kms.amazonaws.com"
    assert len(t.for_principal("kms.amazonaws.com")) == 1


def test_federated_user_name_resolves():
    fed = {
        "type": "FederatedUser",
        "principalId": f"{PROD}:Bob",
        "arn": f"arn:aws:sts::{PROD}:federated-user/Bob",
        "accountId": PROD,
        "accessKeyId": "ASIAFEDERATED0001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": "AIDABROKER",
                "arn": f"arn:aws:iam::{PROD}:user/broker",
                "accountId": PROD,
                "userName": "broker",
            },
            "attributes": {"creationDate": "2024-03-01T08:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    t = trail(
        [
            event(0, "ListBuckets", fed, event_id="f"),
            event(1, "ListUsers", user(PROD, "broker", "AKIABROKER000001"), event_id="b"),
        ]
    )
    assert ids(t.for_principal("Bob")) == ["f"]
    assert actor_of(t, "f") == f"federated:arn:aws:iam::{PROD}:user/broker/Bob"


def test_lambda_and_instance_sessions_name_the_workload():
    fn = f"arn:aws:lambda:us-east-1:{PROD}:function:ExampleFunction"
    lam = session(PROD, "FnRole", "ExampleFunction", "ASIALAMBDA0000001")
    lam["inScopeOf"] = {"issuerType": "AWS::Lambda::Function", "credentialsIssuedTo": fn}
    ec2 = session(PROD, "WebRole", "i-0123456789abcdef0", "ASIAINSTANCE00001")
    ec2["sessionContext"]["ec2RoleDelivery"] = "2.0"
    named_like_ec2 = session(PROD, "WebRole", "i-0123456789abcdef0", "ASIASPOOFED000001")
    t = trail(
        [
            event(0, "GetObject", lam, event_id="l"),
            event(1, "GetObject", ec2, event_id="e"),
            event(2, "GetObject", named_like_ec2, event_id="spoof"),
        ]
    )
    assert t.events.filter(pl.col("event_id") == "l")["in_scope_of"].item() == fn
    assert actor_of(t, "l") == fn
    assert actor_of(t, "e") == f"ec2:{PROD}/i-0123456789abcdef0"
    assert actor_of(t, "spoof") != actor_of(t, "e")  # a session name alone proves nothing


# -- the interface ------------------------------------------------------------------------------
def test_every_row_has_an_actor_and_a_principal():
    t = trail(
        [
            event(0, "X", None),
            event(1, "Y", {"type": "Brand new"}),
            event(2, "Z", session(PROD, "R", "s", "ASIANOORIGIN00001")),
        ]
    )
    got = t.with_actors().events
    assert got["actor"].null_count() == 0 and got["principal"].null_count() == 0


def test_sessions_one_row_per_key_or_sign_in_credential():
    t = trail(
        [
            sign_in(0, "UserAuthentication", idc_user(JANE_ID, "CRED-JANE-1")),
            event(1, "ListAccounts", idc_user(JANE_ID, "CRED-JANE-1"), source="sso.amazonaws.com"),
            event(2, "ListBuckets", user(PROD, "bob", "AKIABOB000000001"), region="eu-west-1"),
            event(3, "ListBuckets", user(PROD, "bob", "AKIABOB000000001"), error="AccessDenied"),
        ]
    )
    s = t.sessions()
    assert s["session"].to_list() == ["CRED-JANE-1", "AKIABOB000000001"]
    bob = s.row(1, named=True)
    assert (bob["kind"], bob["events"], bob["errors"], bob["regions"]) == (
        "access key",
        2,
        1,
        ["eu-west-1", "us-east-1"],
    )
    assert s.row(0, named=True)["kind"] == "sign-in credential"
    cred = t.credentials().filter(pl.col("access_key_id") == "CRED-JANE-1").row(0, named=True)
    assert cred["kind"] == "sign-in credential" and cred["minted_by"] == "sign-in"


def test_names_the_kit_prints_are_accepted_back():
    t = trail(
        [
            event(0, "ListBuckets", user(PROD, "ci-deploy", "AKIACIDEPLOY00001"), event_id="u"),
            event(
                1,
                "ListBuckets",
                session(PROD, "x", "s", "ASIAROLEX00000001", path="/ops/"),
                event_id="r",
            ),
        ]
    )
    assert ids(t.for_principal("user/ci-deploy")) == ["u"]
    assert ids(t.for_principal("role/x")) == ["r"]
    assert ids(t.for_principal("role/ops/x")) == ["r"]
    assert ids(t.for_principal("user/ci-*")) == ["u"]


def test_where_accepts_every_string_column_and_names_them_when_wrong():
    t = trail([event(0, "ListAccounts", idc_user(JANE_ID, "CRED-1"), source="sso.amazonaws.com")])
    assert len(t.where(credential_id="CRED-1")) == 1
    assert len(t.where(on_behalf_of_user_id=JANE_ID, identity_store_arn=STORE)) == 1
    assert len(t.where(source_file="scenario.json")) == 1
    with pytest.raises(ValueError, match="credential_id") as err:
        t.where(no_such_column="x")
    assert "no_such_column" in str(err.value)


def test_user_identity_is_kept_whole_as_json():
    ui = idc_user(JANE_ID)
    ui["invokedByDelegate"] = {"accountId": PROD}  # a field with no column of its own
    t = trail([event(0, "ListAccounts", ui)])
    text = t.events["user_identity"].cast(pl.String)
    kept = text.str.json_path_match("$.invokedByDelegate.accountId").item()
    assert kept == PROD


def _portal_call(when, user_id, credential, event_id, account=PROD, role="AdministratorAccess"):
    return event(
        when,
        "GetRoleCredentials",
        idc_user(user_id, credential),
        source="sso.amazonaws.com",
        request={"accountId": account, "roleName": role},
        response=None,  # the portal hides the credentials
        event_id=event_id,
        recipient=MGMT,
    )


def _sso_session(key, name):
    return session(
        PROD,
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        name,
        key,
        path="/aws-reserved/sso.amazonaws.com/",
    )


def test_get_role_credentials_ties_a_key_only_when_one_call_fits():
    t = trail(
        [
            event(
                0,
                "CreateToken",
                idc_user(JANE_ID, "CRED-JANE"),
                source="sso-oauth.amazonaws.com",
                event_id="token",
            ),
            _portal_call(1, JANE_ID, "CRED-JANE", "grc-jane"),
            event(2, "ListBuckets", _sso_session("ASIASSOJANE000001", "jane"), event_id="use"),
            # later two people fetch the same permission set: the next key is not guessed
            _portal_call(30, JANE_ID, "CRED-JANE", "grc-jane-2"),
            _portal_call(31, JOHN_ID, "CRED-JOHN", "grc-john"),
            event(32, "ListBuckets", _sso_session("ASIASSOJOHN000001", "john"), event_id="use2"),
        ]
    )
    creds = t.credentials()
    jane = creds.filter(pl.col("access_key_id") == "ASIASSOJANE000001").row(0, named=True)
    assert (jane["minted_by"], jane["minted_by_event_id"], jane["parent_access_key_id"]) == (
        "GetRoleCredentials",
        "grc-jane",
        "CRED-JANE",
    )
    john = creds.filter(pl.col("access_key_id") == "ASIASSOJOHN000001").row(0, named=True)
    assert john["minted_by"] == "GetRoleCredentials"
    assert john["minted_by_event_id"] is None and john["parent_access_key_id"] is None
    token = creds.filter(pl.col("access_key_id") == "CRED-JANE").row(0, named=True)
    assert (token["kind"], token["minted_by"], token["minted_by_event_id"]) == (
        "sign-in credential",
        "CreateToken",
        "token",
    )
    chain = t.lineage("ASIASSOJANE000001").chain["access_key_id"].to_list()
    assert chain == ["CRED-JANE", "ASIASSOJANE000001"]


def test_a_name_that_is_an_iam_user_and_a_subject_is_ambiguous():
    t = trail(
        [
            event(0, "ListBuckets", user(PROD, "jdoe@corp.example", "AKIAJDOE000000001")),
            saml_call(1, MEMBER, "nqA==", "jdoe@corp.example", ISSUER, "ASIASAMLA0000001"),
        ]
    )
    with pytest.raises(fx.PrincipalError) as err:
        t.for_principal("jdoe@corp.example")
    assert len(err.value.candidates) == 2


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
_value = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_fields = st.sampled_from(
    [
        "type",
        "arn",
        "accountId",
        "principalId",
        "userName",
        "onBehalfOf",
        "inScopeOf",
        "credentialId",
        "sessionContext",
        "userId",
        "identityStoreArn",
        "identityProvider",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(
        [
            "IAMUser",
            "Root",
            "AssumedRole",
            "Unknown",
            "IdentityCenterUser",
            "SAMLUser",
            "WebIdentityUser",
            "FederatedUser",
            "AWSAccount",
            "",
        ]
    ),
    fields=st.dictionaries(_fields, _value, max_size=6),
)
def test_identity_details_never_raise(kind, fields):
    ui = {**fields, "type": kind}
    details = identity_details(ui, json_text)
    assert len(details) == len(DETAIL_COLUMNS)
    assert details[0] is None or (isinstance(details[0], str) and details[0])
    assert principal_key(ui)


def test_actors_and_sessions_agree_without_the_user_identity_text():
    """Grouping on the userIdentity text is a shortcut; a table without it (another source)
    gives the same answer the long way."""
    alice = user(DEV, "alice", "AKIAALICE0000001")
    records = [
        event(0, "ListBuckets", alice, ip="192.0.2.1"),
        assume_role(1, alice, f"arn:aws:iam::{PROD}:role/Admin", "a", "ASIAADMIN0000001"),
        event(
            2, "GetObject", session(PROD, "Admin", "a", "ASIAADMIN0000001"), error="AccessDenied"
        ),
        event(3, "ListAccounts", idc_user(JANE_ID, "CRED-9"), source="sso.amazonaws.com"),
    ]
    full = trail(records)
    bare = fx.Trail(
        full.events.with_columns(pl.lit(None).cast(pl.Categorical).alias("user_identity"))
    )
    for name in ("actors", "sessions"):
        a, b = getattr(full, name)(), getattr(bare, name)()
        assert a.equals(b), name
