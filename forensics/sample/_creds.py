"""Where credentials come from, and the CloudTrail events that mint them.

Every temporary key (``ASIA...``) an actor signs with is minted by an event written to the trail
first: ``AssumeRole`` (both copies when cross-account, joined by ``sharedEventID``),
``AssumeRoleWithSAML`` (IAM Identity Center), ``AssumeRoleWithWebIdentity`` (GitHub OIDC),
``GetSessionToken``, ``GetFederationToken``, ``AWSService`` ``AssumeRole`` (instance profiles,
Lambda, service-linked roles), and ``ConsoleLogin`` for console sessions (whose keys CloudTrail
never shows being issued: their records carry ``sessionCredentialFromConsole``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forensics.sample._ids import access_key, hex_id, iso, principal_id, token, uuid4
from forensics.sample._records import Cred, assumed_role_identity, role_arn, user_identity

if TYPE_CHECKING:
    from forensics.sample._sim import Sim

__all__ = [
    "Assume",
    "Console",
    "Federation",
    "LongTerm",
    "Role",
    "Saml",
    "ServiceAssume",
    "SessionToken",
    "Source",
    "User",
    "WebIdentity",
]

NEVER = 1 << 40


@dataclass(frozen=True, slots=True)
class Role:
    account: str
    name: str
    role_id: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return role_arn(self.account, self.name, self.path)


@dataclass(frozen=True, slots=True)
class User:
    account: str
    name: str
    user_id: str

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"


def _expiration(ts: int) -> str:
    # CloudTrail writes STS expirations in this human format (as in real records)
    from datetime import UTC, datetime

    d = datetime.fromtimestamp(ts, UTC)
    hour = d.hour % 12 or 12
    return f"{d:%b} {d.day}, {d.year}, {hour}:{d:%M:%S} {'AM' if d.hour < 12 else 'PM'}"


class Source:
    """Gives an actor a valid credential at time ``t``, writing any minting events first."""

    cred: Cred | None = None
    duration: int = 3600

    def get(self, sim: Sim, t: int) -> Cred:
        c = self.cred
        if c is None or t >= c.expires - 300:
            c = self.cred = self.mint(sim, t)
        return c

    def mint(self, sim: Sim, t: int) -> Cred:  # pragma: no cover - abstract
        raise NotImplementedError


class LongTerm(Source):
    """An IAM user's access key (``AKIA...``): nothing is minted in the trail."""

    def __init__(self, user: User, key: str) -> None:
        self.user, self.key = user, key
        self.cred = Cred(
            key,
            user_identity(user.account, user.name, user.user_id, key),
            user.account,
            0,
            NEVER,
            user.arn,
        )

    def mint(self, sim: Sim, t: int) -> Cred:
        assert self.cred is not None
        return self.cred


class Console(Source):
    """An IAM user (or root) signing in to the console: ``ConsoleLogin``, then a console session."""

    duration = 12 * 3600

    def __init__(
        self,
        user: User | None,
        account: str,
        ip: str,
        ua: str,
        *,
        mfa: bool = True,
        root: bool = False,
    ) -> None:
        self.user, self.account, self.ip, self.ua, self.mfa, self.root = (
            user,
            account,
            ip,
            ua,
            mfa,
            root,
        )

    def mint(self, sim: Sim, t: int) -> Cred:
        rng = sim.rng
        if self.root:
            ident: dict[str, Any] = {
                "type": "Root",
                "principalId": self.account,
                "arn": f"arn:aws:iam::{self.account}:root",
                "accountId": self.account,
                "accessKeyId": "",
            }
        else:
            assert self.user is not None
            ident = user_identity(self.account, self.user.name, self.user.user_id, "")
            del ident["accessKeyId"]
        sim.emit(
            sim.em.record(
                t,
                ident,
                "signin.amazonaws.com",
                "ConsoleLogin",
                "us-east-1",
                self.ip,
                self.ua,
                self.account,
                resp={"ConsoleLogin": "Success"},
                event_type="AwsConsoleSignIn",
                additional={
                    "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
                    "MobileVersion": "No",
                    "MFAIdentifier": (
                        f"arn:aws:iam::{self.account}:mfa/"
                        f"{self.user.name if self.user else 'root-account-mfa-device'}"
                    ),
                    "MFAUsed": "Yes" if self.mfa else "No",
                },
                tls=False,
            )
        )
        key = access_key(rng, "ASIA")
        t1 = t + 1
        if self.root:
            ident = {
                "type": "Root",
                "principalId": self.account,
                "arn": f"arn:aws:iam::{self.account}:root",
                "accountId": self.account,
                "accessKeyId": key,
                "sessionContext": {
                    "attributes": {"creationDate": iso(t1), "mfaAuthenticated": "true"}
                },
            }
            arn = ident["arn"]
        else:
            assert self.user is not None
            ident = user_identity(
                self.account, self.user.name, self.user.user_id, key, mfa=self.mfa, created=t1
            )
            arn = self.user.arn
        return Cred(
            key,
            ident,
            self.account,
            t1,
            t1 + self.duration,
            arn,
            console=True,
            meta={"minted_by": "console sign-in"},
        )


class SessionToken(Source):
    """``GetSessionToken`` with MFA from a long-term key (CLI users with an MFA policy)."""

    duration = 12 * 3600

    def __init__(self, parent: LongTerm, ip: str, ua: str) -> None:
        self.parent, self.ip, self.ua = parent, ip, ua

    def mint(self, sim: Sim, t: int) -> Cred:
        rng, user = sim.rng, self.parent.user
        p = self.parent.get(sim, t)
        key = access_key(rng, "ASIA")
        serial = f"arn:aws:iam::{user.account}:mfa/{user.name}"
        sim.emit(
            sim.em.record(
                t,
                p.identity,
                "sts.amazonaws.com",
                "GetSessionToken",
                "us-east-1",
                self.ip,
                self.ua,
                user.account,
                req={"durationSeconds": self.duration, "serialNumber": serial},
                resp={
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token(rng, 24),
                        "expiration": _expiration(t + self.duration),
                    }
                },
                read_only=True,
            )
        )
        ident = user_identity(user.account, user.name, user.user_id, key, mfa=True, created=t)
        return Cred(
            key,
            ident,
            user.account,
            t,
            t + self.duration,
            user.arn,
            meta={"minted_by": "GetSessionToken", "parent": p.key},
        )


class Federation(Source):
    """``GetFederationToken`` from an IAM user's key: a ``FederatedUser`` session."""

    duration = 3600

    def __init__(self, parent: LongTerm, name: str, ip: str, ua: str) -> None:
        self.parent, self.name, self.ip, self.ua = parent, name, ip, ua

    def mint(self, sim: Sim, t: int) -> Cred:
        rng, user = sim.rng, self.parent.user
        p = self.parent.get(sim, t)
        key = access_key(rng, "ASIA")
        fed_arn = f"arn:aws:sts::{user.account}:federated-user/{self.name}"
        sim.emit(
            sim.em.record(
                t,
                p.identity,
                "sts.amazonaws.com",
                "GetFederationToken",
                "us-east-1",
                self.ip,
                self.ua,
                user.account,
                req={
                    "name": self.name,
                    "durationSeconds": self.duration,
                    "policyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                },
                resp={
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token(rng, 24),
                        "expiration": _expiration(t + self.duration),
                    },
                    "federatedUser": {
                        "federatedUserId": f"{user.account}:{self.name}",
                        "arn": fed_arn,
                    },
                    "packedPolicySize": 7,
                },
                read_only=True,
            )
        )
        ident = {
            "type": "FederatedUser",
            "principalId": f"{user.account}:{self.name}",
            "arn": fed_arn,
            "accountId": user.account,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "IAMUser",
                    "principalId": user.user_id,
                    "arn": user.arn,
                    "accountId": user.account,
                    "userName": user.name,
                },
                "attributes": {"creationDate": iso(t), "mfaAuthenticated": "false"},
            },
        }
        return Cred(
            key,
            ident,
            user.account,
            t,
            t + self.duration,
            fed_arn,
            meta={"minted_by": "GetFederationToken", "parent": p.key},
        )


class Assume(Source):
    """``sts:AssumeRole`` called with another credential (role chaining, cross-account)."""

    def __init__(
        self,
        role: Role,
        session: str,
        parent: Source,
        ip: str,
        ua: str,
        *,
        region: str = "us-east-1",
        duration: int = 3600,
        source_identity: str | None = None,
    ) -> None:
        self.role, self.session, self.parent = role, session, parent
        self.ip, self.ua, self.region, self.duration = ip, ua, region, duration
        self.source_identity = source_identity

    def mint(self, sim: Sim, t: int) -> Cred:
        p = self.parent.get(sim, t)
        t = max(t, p.minted + 1)
        return assume_role(
            sim,
            t,
            p,
            self.role,
            self.session,
            self.ip,
            self.ua,
            region=self.region,
            duration=self.duration,
            source_identity=self.source_identity,
        )


def assume_role(
    sim: Sim,
    t: int,
    p: Cred,
    role: Role,
    session: str,
    ip: str,
    ua: str,
    *,
    region: str = "us-east-1",
    duration: int = 3600,
    source_identity: str | None = None,
    external_id: str | None = None,
) -> Cred:
    """Write the AssumeRole event(s) made with ``p`` and return the new session's credential.

    Cross-account calls are written twice, once for each account, with one ``sharedEventID``:
    the caller's copy carries the caller's full identity and key, the role owner's copy only the
    calling account (``AWSAccount``), as CloudTrail does; the two are joined by
    ``sharedEventID``.
    """
    rng = sim.rng
    key = access_key(rng, "ASIA")
    session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session}"
    req: dict[str, Any] = {
        "roleArn": role.arn,
        "roleSessionName": session,
        "durationSeconds": duration,
    }
    if external_id:
        req["externalId"] = external_id
    if source_identity:
        req["sourceIdentity"] = source_identity
    resp: dict[str, Any] = {
        "credentials": {
            "accessKeyId": key,
            "sessionToken": token(rng, 24),
            "expiration": _expiration(t + duration),
        },
        "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{session}", "arn": session_arn},
    }
    if source_identity:
        resp["sourceIdentity"] = source_identity
    resources = [{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}]
    cross = p.account != role.account
    shared = uuid4(rng) if cross else None
    sim.emit(
        sim.em.record(
            t,
            p.identity,
            "sts.amazonaws.com",
            "AssumeRole",
            region,
            ip,
            ua,
            p.account,
            req=req,
            resp=resp,
            read_only=True,
            resources=resources,
            shared_event_id=shared,
            console=p.console,
        )
    )
    if cross:  # the role owner's copy names the calling account, not the caller's key
        caller = {
            "type": "AWSAccount",
            "principalId": p.identity.get("principalId", ""),
            "accountId": p.account,
        }
        sim.emit(
            sim.em.record(
                t,
                caller,
                "sts.amazonaws.com",
                "AssumeRole",
                region,
                ip,
                ua,
                role.account,
                req=req,
                resp=resp,
                read_only=True,
                resources=resources,
                shared_event_id=shared,
            )
        )
    mfa = (
        p.identity.get("sessionContext", {}).get("attributes", {}).get("mfaAuthenticated") == "true"
    )
    ident = assumed_role_identity(
        role.account,
        role.name,
        role.role_id,
        session,
        key,
        t,
        path=role.path,
        mfa=mfa,
        source_identity=source_identity,
    )
    return Cred(
        key,
        ident,
        role.account,
        t,
        t + duration,
        session_arn,
        meta={"minted_by": "AssumeRole", "parent": p.key},
    )


class ServiceAssume(Source):
    """An AWS service assuming a role for a resource (instance profile, Lambda, Config...).

    CloudTrail records these as ``AssumeRole`` by an ``AWSService`` identity; the session's
    name is the instance id (EC2) or function name (Lambda).
    """

    def __init__(
        self,
        role: Role,
        service: str,
        session: str,
        *,
        duration: int = 6 * 3600,
        region: str = "eu-west-1",
        ec2: bool = False,
        invoked_by: str | None = None,
        refresh: int | None = None,
    ) -> None:
        self.role, self.service, self.session, self.duration = role, service, session, duration
        self.region, self.ec2, self.invoked_by = region, ec2, invoked_by
        self.refresh = refresh

    def get(self, sim: Sim, t: int) -> Cred:
        c = self.cred
        limit = c.minted + self.refresh if (c is not None and self.refresh) else None
        if c is None or t >= c.expires - 300 or (limit is not None and t >= limit):
            c = self.cred = self.mint(sim, t)
        return c

    def mint(self, sim: Sim, t: int) -> Cred:
        rng, role = sim.rng, self.role
        key = access_key(rng, "ASIA")
        session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{self.session}"
        sim.emit(
            sim.em.record(
                t,
                {"type": "AWSService", "invokedBy": self.service},
                "sts.amazonaws.com",
                "AssumeRole",
                self.region,
                self.service,
                self.service,
                role.account,
                req={
                    "roleArn": role.arn,
                    "roleSessionName": self.session,
                    "durationSeconds": self.duration,
                },
                resp={
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token(rng, 24),
                        "expiration": _expiration(t + self.duration),
                    },
                    "assumedRoleUser": {
                        "assumedRoleId": f"{role.role_id}:{self.session}",
                        "arn": session_arn,
                    },
                },
                read_only=True,
                resources=[{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}],
                shared_event_id=uuid4(rng),
            )
        )
        ident = assumed_role_identity(
            role.account,
            role.name,
            role.role_id,
            self.session,
            key,
            t,
            path=role.path,
            invoked_by=self.invoked_by,
        )
        if self.ec2:
            ident["sessionContext"]["ec2RoleDelivery"] = "2.0"
        return Cred(
            key,
            ident,
            role.account,
            t,
            t + self.duration,
            session_arn,
            meta={"minted_by": "service-issued", "service": self.service},
        )


class Saml(Source):
    """IAM Identity Center sign-in: ``AssumeRoleWithSAML`` into an ``AWSReservedSSO_*`` role."""

    duration = 8 * 3600

    def __init__(self, role: Role, provider: str, email: str, ip: str, ua: str) -> None:
        self.role, self.provider, self.email, self.ip, self.ua = role, provider, email, ip, ua

    def mint(self, sim: Sim, t: int) -> Cred:
        rng, role = sim.rng, self.role
        key = access_key(rng, "ASIA")
        provider_arn = f"arn:aws:iam::{role.account}:saml-provider/{self.provider}"
        session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{self.email}"
        sim.emit(
            sim.em.record(
                t,
                {
                    "type": "SAMLUser",
                    "principalId": f"{self.provider}:{self.email}",
                    "userName": self.email,
                    "identityProvider": self.provider,
                },
                "sts.amazonaws.com",
                "AssumeRoleWithSAML",
                "eu-west-1",
                self.ip,
                self.ua,
                role.account,
                req={
                    "sAMLAssertionID": f"_{hex_id(rng, 32)}",
                    "roleSessionName": self.email,
                    "roleArn": role.arn,
                    "principalArn": provider_arn,
                    "durationSeconds": self.duration,
                },
                resp={
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token(rng, 24),
                        "expiration": _expiration(t + self.duration),
                    },
                    "assumedRoleUser": {
                        "assumedRoleId": f"{role.role_id}:{self.email}",
                        "arn": session_arn,
                    },
                    "subject": self.email,
                    "subjectType": "persistent",
                    "issuer": "https://portal.sso.eu-west-1.amazonaws.com/saml/assertion/"
                    "MDU1NjY2Nzc3N19pbnMtN2Y2ZTVkNGMzYjJhMTkwOA",
                    "audience": "https://signin.aws.amazon.com/saml",
                    "nameQualifier": "Sm9wdEV4YW1wbGVOYW1lUXVhbGlmaWVy",
                },
                read_only=True,
                resources=[
                    {"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn},
                    {
                        "accountId": role.account,
                        "type": "AWS::IAM::SAMLProvider",
                        "ARN": provider_arn,
                    },
                ],
                shared_event_id=uuid4(rng),
                tls=False,
            )
        )
        ident = assumed_role_identity(
            role.account, role.name, role.role_id, self.email, key, t, path=role.path
        )
        return Cred(
            key,
            ident,
            role.account,
            t,
            t + self.duration,
            session_arn,
            meta={"minted_by": "AssumeRoleWithSAML"},
        )


class WebIdentity(Source):
    """GitHub Actions OIDC: ``AssumeRoleWithWebIdentity`` into a deploy role."""

    def __init__(self, role: Role, subject: str, ip: str, ua: str) -> None:
        self.role, self.subject, self.ip, self.ua = role, subject, ip, ua
        self.runs = 0

    def mint(self, sim: Sim, t: int) -> Cred:
        rng, role = sim.rng, self.role
        self.runs += 1
        session = f"GitHubActions-{7_400_000_000 + rng.randrange(10**8)}"
        key = access_key(rng, "ASIA")
        provider = "token.actions.githubusercontent.com"
        provider_arn = f"arn:aws:iam::{role.account}:oidc-provider/{provider}"
        session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session}"
        sim.emit(
            sim.em.record(
                t,
                {
                    "type": "WebIdentityUser",
                    "principalId": f"{provider_arn}:sts.amazonaws.com:{self.subject}",
                    "userName": self.subject,
                    "identityProvider": provider_arn,
                },
                "sts.amazonaws.com",
                "AssumeRoleWithWebIdentity",
                "eu-west-1",
                self.ip,
                self.ua,
                role.account,
                req={
                    "roleArn": role.arn,
                    "roleSessionName": session,
                    "durationSeconds": self.duration,
                },
                resp={
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token(rng, 24),
                        "expiration": _expiration(t + self.duration),
                    },
                    "subjectFromWebIdentityToken": self.subject,
                    "assumedRoleUser": {
                        "assumedRoleId": f"{role.role_id}:{session}",
                        "arn": session_arn,
                    },
                    "provider": provider_arn,
                    "audience": "sts.amazonaws.com",
                },
                read_only=True,
                additional={"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
                resources=[{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}],
                shared_event_id=uuid4(rng),
            )
        )
        ident = assumed_role_identity(
            role.account, role.name, role.role_id, session, key, t, path=role.path
        )
        ident["sessionContext"]["webIdFederationData"] = {
            "federatedProvider": provider_arn,
            "attributes": {},
        }
        return Cred(
            key,
            ident,
            role.account,
            t,
            t + self.duration,
            session_arn,
            meta={"minted_by": "AssumeRoleWithWebIdentity"},
        )


def new_user(rng, account: str, name: str) -> User:
    return User(account, name, principal_id(rng, "AIDA"))


def new_role(rng, account: str, name: str, path: str = "/") -> Role:
    return Role(account, name, principal_id(rng, "AROA"), path)
