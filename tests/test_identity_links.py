"""Issue 14, second part: attribution that needs other records of the trail (run at load time by
:func:`forensics.ingest._identity_keys.link_identities`), on records shaped as AWS documents them.

* Identity Center before / after July 2025 (userIdentity reference; "Username in sign-in
  CloudTrail events"): the same person is one principal when a record links name and id.
* The role owner's copy of a cross-account call (``AWSAccount``, ``sharedEventID``; CloudTrail
  record contents and the userIdentity reference): the caller's principal.
* Refused ``AssumeRoleWithSAML``: ``nameQualifier = BASE64(SHA1(issuer + account + "/" +
  provider name))`` (STS API reference, AssumeRoleWithSAML response) joins the issuer key.
"""

from __future__ import annotations

import base64
import hashlib
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.ingest._identity_keys import link_identities, principal_key
from forensics.ingest._loader import wait_for_cache
from forensics.ingest._normalize import normalize_records
from tests._identity_helpers import assume_role, event, session, trail, user
from tests.test_identity_actors import (
    DEV,
    ISSUER,
    JANE_ID,
    JOHN_ID,
    MEMBER,
    MGMT,
    PROD,
    STORE,
    actor_of,
    idc_unknown,
    idc_user,
    ids,
    saml_call,
    sign_in,
)

JANE = f"identitycenter:{STORE}/{JANE_ID}"
SAM_OLD, SAM_NEW = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"


def principal_of(t: fx.Trail, event_id: str) -> str:
    return t.events.filter(pl.col("event_id") == event_id)["principal"].item()


def portal(when, identity, event_id, name="ListAccounts"):
    return event(when, name, identity, source="sso.amazonaws.com", event_id=event_id)


# -- 1. Identity Center, pre- and post-July-2025 forms -------------------------------------------
def test_old_and_new_identity_center_forms_are_one_principal_when_a_record_links_them():
    t = trail(
        [
            portal(0, idc_unknown("jane"), "old"),
            # a newer copy of the old form names both (userName and onBehalfOf.userId)
            portal(1, idc_unknown("jane", JANE_ID), "both"),
            portal(2, idc_user(JANE_ID), "new"),
        ]
    )
    assert {principal_of(t, e) for e in ("old", "both", "new")} == {JANE}
    p = t.principals()
    assert p.height == 1 and p["principal"].item() == JANE
    assert ids(t.for_principal(JANE)) == ["both", "new", "old"]


def test_a_sign_in_user_name_links_the_forms_too():
    signed = sign_in(1, "CredentialChallenge", idc_user(JANE_ID), event_id="signed")
    signed["additionalEventData"] = {"CredentialType": "PASSWORD", "UserName": "jane"}
    t = trail([portal(0, idc_unknown("jane"), "old"), signed])
    assert principal_of(t, "old") == JANE
    assert t.principals().height == 1


def test_nothing_links_them_two_principals_one_person_unknown():
    """Documented: without a record naming both, the name key stays (the kit does not guess)."""
    t = trail([portal(0, idc_unknown("jane"), "old"), portal(1, idc_user(JANE_ID), "new")])
    assert principal_of(t, "old") == f"identitycenter:{MGMT}/jane"
    assert principal_of(t, "new") == JANE


def test_decoys_stay_apart():
    other_store = f"arn:aws:identitystore::{DEV}:identitystore/d-0000000000"
    dev_jane = {**idc_unknown("jane"), "principalId": DEV, "accountId": DEV}
    t = trail(
        [
            portal(0, idc_unknown("jane", JANE_ID), "link"),
            portal(1, idc_unknown("jane"), "old"),
            # the same user name in another account's identity store: someone else
            portal(2, dev_jane, "dev-jane"),
            portal(
                3,
                {
                    **idc_user(JOHN_ID),
                    "onBehalfOf": {"userId": JOHN_ID, "identityStoreArn": other_store},
                },
                "dev-john",
            ),
            # an IAM user with the same name
            event(4, "ListBuckets", user(MGMT, "jane", "AKIAJANEIAM00001"), event_id="iam"),
            # a name linked to two ids (the user was deleted and made again): not guessed
            portal(5, idc_unknown("sam", SAM_OLD), "sam-1"),
            portal(6, idc_unknown("sam", SAM_NEW), "sam-2"),
            portal(7, idc_unknown("sam"), "sam-old"),
        ]
    )
    assert principal_of(t, "old") == JANE
    assert principal_of(t, "dev-jane") == f"identitycenter:{DEV}/jane"
    assert principal_of(t, "iam") == f"arn:aws:iam::{MGMT}:user/jane"
    assert principal_of(t, "sam-old") == f"identitycenter:{MGMT}/sam"
    assert actor_of(t, "sam-old") == f"identitycenter:{MGMT}/sam"
    assert actor_of(t, "dev-jane") != JANE
    with pytest.raises(fx.PrincipalError) as err:
        t.for_principal("jane")
    assert len(err.value.candidates) >= 2


def test_hidden_user_name_never_links():
    t = trail(
        [
            portal(0, idc_unknown("HIDDEN_DUE_TO_SECURITY_REASONS", JANE_ID), "hidden-with-id"),
            sign_in(
                1,
                "CredentialVerification",
                idc_unknown("HIDDEN_DUE_TO_SECURITY_REASONS"),
                "Failure",
                event_id="hidden",
            ),
        ]
    )
    assert principal_of(t, "hidden") == f"hidden-user:{MGMT}"


# -- 2. the role owner's copy of a cross-account call --------------------------------------------
ROLE = f"arn:aws:iam::{MEMBER}:role/Shared"


def owner_copy(when, principal_id, caller_account, shared, event_id, name="AssumeRole"):
    """The role owner's copy as CloudTrail writes it: ``AWSAccount`` with the caller's
    ``principalId`` (an IAM unique id, ``:<session>`` for a role) and account."""
    return event(
        when,
        name,
        {"type": "AWSAccount", "principalId": principal_id, "accountId": caller_account},
        source="sts.amazonaws.com",
        recipient=MEMBER,
        shared=shared,
        event_id=event_id,
        request={"roleArn": ROLE, "roleSessionName": "s"},
    )


def alice():
    return user(DEV, "alice", "AKIAALICE0000001", principalId="AIDAALICEEXAMPLE0001")


def ops(name, key):
    ui = session(DEV, "Ops", name, key)
    ui["principalId"] = f"AROAOPSEXAMPLE00001:{name}"
    return ui


def test_owner_copy_takes_the_callers_principal_by_shared_event_id():
    t = trail(
        [
            assume_role(0, alice(), ROLE, "s", "ASIASHARED000001", shared="sh-1", recipient=DEV),
            owner_copy(0, "AIDAALICEEXAMPLE0001", DEV, "sh-1", "alice-copy"),
            assume_role(
                1,
                ops("x", "ASIAOPSX00000001"),
                ROLE,
                "s",
                "ASIASHARED000002",
                shared="sh-2",
                recipient=DEV,
            ),
            owner_copy(1, "AROAOPSEXAMPLE00001:x", DEV, "sh-2", "ops-copy"),
        ]
    )
    assert principal_of(t, "alice-copy") == f"arn:aws:iam::{DEV}:user/alice"
    assert principal_of(t, "ops-copy") == f"arn:aws:iam::{DEV}:role/Ops"
    got = ids(t.for_principal(f"arn:aws:iam::{DEV}:user/alice"))
    assert "alice-copy" in got and "ops-copy" not in got
    assert t.events["principal"].null_count() == 0


def test_owner_copy_without_the_callers_copy_still_separates_callers():
    t = trail(
        [
            owner_copy(0, "AIDAALICEEXAMPLE0001", DEV, "sh-1", "alice-copy"),
            owner_copy(1, "AROAOPSEXAMPLE00001:x", DEV, "sh-2", "ops-x"),
            owner_copy(2, "AROAOPSEXAMPLE00001:y", DEV, "sh-3", "ops-y"),
            owner_copy(3, "AIDABOBEXAMPLE000001", DEV, "sh-4", "bob-copy"),
            # alice's own records elsewhere in the trail name her unique id and ARN
            event(4, "ListBuckets", alice(), event_id="alice-own"),
        ]
    )
    assert principal_of(t, "alice-copy") == f"arn:aws:iam::{DEV}:user/alice"
    # one role, two sessions: one principal (the role's unique id), as for the caller's copies
    assert (
        principal_of(t, "ops-x") == principal_of(t, "ops-y") == f"account:{DEV}/AROAOPSEXAMPLE00001"
    )
    assert principal_of(t, "bob-copy") == f"account:{DEV}/AIDABOBEXAMPLE000001"
    assert t.principals().filter(pl.col("principal").str.starts_with("account:")).height == 2


def test_owner_copy_shapes_without_a_unique_id_keep_the_account():
    assert principal_key({"type": "AWSAccount", "accountId": DEV}) == f"account:{DEV}"
    assert principal_key({"type": "AWSAccount", "principalId": DEV, "accountId": DEV}) == (
        f"account:{DEV}"
    )
    assert (
        principal_key(
            {"type": "AWSAccount", "principalId": "", "accountId": DEV, "invokedBy": "AWS Internal"}
        )
        == f"account:{DEV}"
    )
    assert principal_key({"type": "AWSAccount", "accountId": "ANONYMOUS_PRINCIPAL"}) == "anonymous"


def test_the_loader_links_copies_and_forms_across_files(tmp_path):
    caller = [
        assume_role(0, alice(), ROLE, "s", "ASIASHARED000001", shared="sh-1", recipient=DEV),
        portal(1, idc_unknown("jane", JANE_ID), "link"),
    ]
    owner = [
        owner_copy(0, "AIDAALICEEXAMPLE0001", DEV, "sh-1", "alice-copy"),
        portal(2, idc_unknown("jane"), "old"),
    ]
    for name, records in (("caller.json", caller), ("owner.json", owner)):
        (tmp_path / name).write_text(json.dumps({"Records": records}))
    t = fx.load(tmp_path, cache=False, workers=1)
    assert principal_of(t, "alice-copy") == f"arn:aws:iam::{DEV}:user/alice"
    assert principal_of(t, "old") == JANE
    # the cache keeps the linked table; a file added later is linked with the others
    cache = tmp_path.parent / f"{tmp_path.name}-cache"
    first = fx.load(tmp_path, cache_dir=cache, workers=1)
    wait_for_cache(cache)
    again = fx.load(tmp_path, cache_dir=cache, workers=1)
    assert again.report.files_from_cache == 2
    assert again.events.drop("source_file").equals(first.events.drop("source_file"))
    assert principal_of(again, "alice-copy") == f"arn:aws:iam::{DEV}:user/alice"
    later = [
        owner_copy(5, "AROAOPSEXAMPLE00001:x", DEV, None, "ops-copy"),
        event(6, "ListBuckets", ops("x", "ASIAOPSX00000001"), event_id="ops-own"),
    ]
    (tmp_path / "later.json").write_text(json.dumps({"Records": later}))
    grown = fx.load(tmp_path, cache_dir=cache, workers=1)
    assert principal_of(grown, "ops-copy") == f"arn:aws:iam::{DEV}:role/Ops"
    assert principal_of(grown, "old") == JANE


# -- 5. refused SAML calls -----------------------------------------------------------------------
def name_qualifier(issuer, account, provider="CorpIdP"):
    digest = hashlib.sha1((issuer + account + "/" + provider).encode()).digest()
    return base64.b64encode(digest).decode()


def test_refused_saml_call_joins_the_issuer_by_the_name_qualifier_hash():
    """The successful call is in another account: the refused call's own nameQualifier is
    not in any response, but it is the hash of the known issuer + its account + provider."""
    member_nq, prod_nq = name_qualifier(ISSUER, MEMBER), name_qualifier(ISSUER, PROD)
    other_nq = name_qualifier("https://other-idp.example/saml", PROD)
    t = trail(
        [
            saml_call(0, MEMBER, member_nq, "jdoe@corp.example", ISSUER, "ASIASAMLMEMBER01"),
            saml_call(1, PROD, prod_nq, "jdoe@corp.example", ISSUER, None, error="AccessDenied"),
            # the same subject refused through another IdP whose issuer the trail never shows
            saml_call(2, PROD, other_nq, "jdoe@corp.example", ISSUER, None, error="AccessDenied"),
        ]
    )
    by_error = t.events.sort("event_time")["principal"].to_list()
    assert by_error[0] == by_error[1] == f"saml:{ISSUER}/jdoe@corp.example"
    assert by_error[2] == f"saml:{other_nq}/jdoe@corp.example"
    got = t.for_principal(f"saml:{ISSUER}/jdoe@corp.example", derived=True)
    assert got.where(error=True).events.height == 1


# -- 4. permission-set sessions through the portal's GetRoleCredentials --------------------------
def grc(when, user_id, credential, event_id, account=PROD, role="AdministratorAccess"):
    """GetRoleCredentials as CloudTrail records it: the person, the account and permission set
    in requestParameters, the credentials hidden (no key in the record)."""
    return event(
        when,
        "GetRoleCredentials",
        idc_user(user_id, credential),
        source="sso.amazonaws.com",
        request={"accountId": account, "roleName": role},
        response=None,
        event_id=event_id,
        recipient=MGMT,
    )


def sso_session(key, name, role="AdministratorAccess"):
    return session(
        PROD,
        f"AWSReservedSSO_{role}_0123456789abcdef",
        name,
        key,
        path="/aws-reserved/sso.amazonaws.com/",
    )


def test_permission_set_session_takes_the_person_of_its_portal_call():
    t = trail(
        [
            grc(0, JANE_ID, "CRED-JANE", "grc-jane"),
            event(1, "ListBuckets", sso_session("ASIASSOJANE000001", "jane"), event_id="use"),
            assume_role(
                2,
                sso_session("ASIASSOJANE000001", "jane"),
                f"arn:aws:iam::{DEV}:role/Deploy",
                "jane",
                "ASIACHAINED000009",
                event_id="chain",
            ),
            event(
                3,
                "PutObject",
                session(DEV, "Deploy", "jane", "ASIACHAINED000009"),
                source="s3.amazonaws.com",
                event_id="chained",
            ),
            # another permission set nobody fetched in the trail: its role, no person
            event(
                4,
                "ListBuckets",
                sso_session("ASIASSORO00000001", "x", "ReadOnly"),
                event_id="other",
            ),
        ]
    )
    assert actor_of(t, "use") == actor_of(t, "chained") == JANE
    assert actor_of(t, "other") != JANE
    assert ids(t.for_principal(JANE_ID, derived=True)) == ["chain", "chained", "grc-jane", "use"]
    jane = t.actors().filter(pl.col("actor") == JANE).row(0, named=True)
    assert "ASIASSOJANE000001" in jane["access_keys"]
    creds = t.credentials().filter(pl.col("access_key_id").str.starts_with("ASIA"))
    assert dict(creds.select("access_key_id", "actor").iter_rows()) == {
        "ASIASSOJANE000001": JANE,
        "ASIACHAINED000009": JANE,
        "ASIASSORO00000001": None,
    }


def test_portal_calls_are_never_guessed_between():
    t = trail(
        [
            # two people fetch the same permission set before one key is first used
            grc(0, JANE_ID, "CRED-JANE", "grc-jane"),
            grc(1, JOHN_ID, "CRED-JOHN", "grc-john"),
            event(2, "ListBuckets", sso_session("ASIASSOWHO0000001", "who"), event_id="who"),
            # one call, two keys that only it fits (one of them came from a call not loaded)
            grc(60, JANE_ID, "CRED-JANE", "grc-jane-2", role="ReadOnly"),
            event(
                61,
                "ListBuckets",
                sso_session("ASIASSORO00000001", "a", "ReadOnly"),
                event_id="ro-1",
            ),
            event(
                62,
                "ListBuckets",
                sso_session("ASIASSORO00000002", "b", "ReadOnly"),
                event_id="ro-2",
            ),
        ]
    )
    for e in ("who", "ro-1", "ro-2"):
        assert actor_of(t, e) not in (JANE, f"identitycenter:{STORE}/{JOHN_ID}")
    creds = t.credentials().filter(pl.col("access_key_id").str.starts_with("ASIASSO"))
    assert set(creds["minted_by"]) == {"GetRoleCredentials"}
    assert creds["minted_by_event_id"].null_count() == creds.height


# -- 3. AWS Sign-In sessions (signInSessionArn) --------------------------------------------------
SIS = f"arn:aws:signin:us-east-1:{DEV}:session/"


def console(key, sis=None):
    """An IAM user's console session credentials; ``sessionContext.signInSessionArn`` names the
    AWS Sign-In session (identity-aware console sessions, ``aws login``)."""
    ui = user(DEV, "alice", key, principalId="AIDAALICEEXAMPLE0001")
    ui["sessionContext"] = {
        "attributes": {"creationDate": "2024-03-01T09:00:00Z", "mfaAuthenticated": "true"}
    }
    if sis:
        ui["sessionContext"]["signInSessionArn"] = sis
    return ui


def test_sign_in_session_arn_is_a_column_and_groups_the_sessions_keys():
    t = trail(
        [
            event(0, "DescribeInstances", console("ASIACONSOLE000001", SIS + "abc"), event_id="a1"),
            event(1, "ListBuckets", console("ASIACONSOLE000002", SIS + "abc"), event_id="a2"),
            # a service that does not stamp the ARN: its key still belongs to the session
            event(2, "GetObject", console("ASIACONSOLE000002"), event_id="a3"),
            # a grant that starts another sign-in session, made from this one
            event(
                3,
                "CreateOAuth2Token",
                console("ASIACONSOLE000001", SIS + "new"),
                source="signin.amazonaws.com",
                event_id="grant",
            ),
            event(4, "ListBuckets", console("ASIACLI0000000001", SIS + "new"), event_id="n1"),
            # the same user's other sign-in session
            event(5, "ListBuckets", console("ASIACONSOLE000009", SIS + "def"), event_id="d1"),
            event(6, "ListBuckets", user(PROD, "bob", "AKIABOB000000001"), event_id="bob"),
        ]
    )
    assert len(t.where(sign_in_session_arn=SIS + "abc")) == 2
    s = t.sessions()
    rows = {r["session"]: r for r in s.iter_rows(named=True)}
    abc = rows[SIS + "abc"]
    assert abc["kind"] == "sign-in session"
    assert abc["events"] == 4  # a1, a2, a3 and the grant made in it
    assert abc["access_keys"] == ["ASIACONSOLE000001", "ASIACONSOLE000002"]
    assert abc["mfa"] is True
    assert rows[SIS + "new"]["events"] == 1 and rows[SIS + "new"]["access_keys"] == [
        "ASIACLI0000000001"
    ]
    assert rows[SIS + "def"]["events"] == 1
    assert rows["AKIABOB000000001"]["kind"] == "access key"
    assert s["events"].sum() == 7


def test_sign_in_session_arn_at_the_top_level_is_read_too():
    ui = console("ASIACONSOLE000001")
    ui["signInSessionArn"] = SIS + "top"
    t = trail([event(0, "ListBuckets", ui)])
    assert t.events["sign_in_session_arn"].item() == SIS + "top"


# -- the linking step itself -----------------------------------------------------------------------
_NAMES = st.sampled_from(["jane", "john", "HIDDEN_DUE_TO_SECURITY_REASONS"])
_UIDS = st.sampled_from([JANE_ID, JOHN_ID, None])
_IDENTITIES = st.one_of(
    st.builds(lambda n, u: idc_unknown(n, u), _NAMES, _UIDS),
    st.builds(lambda u: idc_user(u), st.sampled_from([JANE_ID, JOHN_ID])),
    st.builds(
        lambda pid, acct: {"type": "AWSAccount", "principalId": pid, "accountId": acct},
        st.sampled_from(["AIDAALICEEXAMPLE0001", "AROAOPSEXAMPLE00001:x", "", DEV]),
        st.sampled_from([DEV, PROD]),
    ),
    st.just(alice()),
    st.just(ops("x", "ASIAOPSX00000001")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_IDENTITIES, st.sampled_from(["sh-1", "sh-2", None])), max_size=12))
def test_linking_is_idempotent_and_never_nulls_a_principal(items):
    records = [
        event(i, "AssumeRole", ui, shared=shared, event_id=f"e{i}")
        for i, (ui, shared) in enumerate(items)
    ]
    raw = normalize_records(records, "x.json")
    once = link_identities(raw)
    assert once.height == raw.height and once.columns == raw.columns
    assert once["principal"].null_count() == 0
    assert once.equals(link_identities(once))
    # over a lazy scan (a merge streamed from the cache parts) the same rules give the same rows
    assert link_identities(raw.lazy()).collect().equals(once)
    untouched = [c for c in raw.columns if c not in ("principal", "actor")]
    assert once.select(untouched).equals(raw.select(untouched))


def test_the_access_portal_example_with_a_directory_principal_id_links_too():
    """The IAM Identity Center guide's access-portal example: ``Unknown`` whose ``principalId``
    is the directory's (``example.com//S-1-5-21-…``), ``userName`` the person, plus
    ``onBehalfOf``; the same user's records without ``onBehalfOf`` join it."""
    ad = {
        "type": "Unknown",
        "principalId": "example.com//S-1-5-21-1122334455-3652759393-4233131409-1126",
        "accountId": MGMT,
        "userName": "bobsmith@example.com",
    }
    bob_id = "94d00cd8-e9e6-4810-b177-b08e84775435"
    t = trail(
        [
            portal(0, ad, "name-only"),
            portal(1, {**ad, "onBehalfOf": {"userId": bob_id, "identityStoreArn": STORE}}, "both"),
        ]
    )
    assert (
        principal_of(t, "name-only")
        == principal_of(t, "both")
        == f"identitycenter:{STORE}/{bob_id}"
    )
