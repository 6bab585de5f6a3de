"""App-only access to the Graph face: registered applications, the tokens they get, and checks.

Exchange Online accepts an application's access token when it is signed by the tenant's
authority, meant for Graph (``aud``), unexpired, and carries an application role such as
``Mail.Read``; an application access policy may then limit it to some mailboxes
(auth-limit-mailbox-access.md: a denied mailbox answers 403 ``ErrorAccessDenied`` "Access to OData
is disabled."). Tokens here are RS256 JWTs with Entra's claims (``tid``, ``appid``, ``roles``,
``idtyp``), checked against the simulator's clock so tests can make one expire.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.clock import Clock
from simulator.graph.errors import GraphError

GRAPH_AUDIENCE = "https://graph.microsoft.com"
_AUDIENCES = frozenset(
    {GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", "00000003-0000-0000-c000-000000000000"}
)
MAIL_ROLES = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for: an application in a tenant, its roles and scope."""

    app_id: str
    tenant_id: str
    roles: frozenset[str]
    mailboxes: frozenset[str]

    def may_access(self, smtp: str) -> bool:
        """Whether the application access policy lets this application open ``smtp``."""
        return "*" in self.mailboxes or smtp.lower() in self.mailboxes

    def require_mailbox(self, smtp: str) -> None:
        """403 unless the token carries a mail role and the policy allows the mailbox."""
        if not self.roles & MAIL_ROLES:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        if not self.may_access(smtp):
            raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")


@dataclass(slots=True)
class Application:
    """An app registration: its client id, credentials, granted roles and mailbox scope."""

    client_id: str
    secrets: set[str] = field(default_factory=set)
    certificates: list[bytes] = field(default_factory=list)  # PEM
    roles: frozenset[str] = frozenset({"Mail.Read"})
    mailboxes: frozenset[str] = frozenset({"*"})


class GraphAuth:
    """The tenant's authority: applications, signing key, issuing and verifying tokens."""

    def __init__(self, clock: Clock, tenant_id: str) -> None:
        self.clock = clock
        self.tenant_id = tenant_id
        self.key_id = uuid.uuid4().hex
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._apps: dict[str, Application] = {}
        self._lock = threading.Lock()

    @property
    def issuer(self) -> str:
        """The ``iss`` of access tokens (Entra's v1 issuer for Graph app tokens)."""
        return f"https://sts.windows.net/{self.tenant_id}/"

    def register(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        roles: frozenset[str] | set[str] = frozenset({"Mail.Read"}),
        mailboxes: frozenset[str] | set[str] = frozenset({"*"}),
    ) -> Application:
        """Register (or update) an application with a secret and/or a certificate."""
        with self._lock:
            app = self._apps.setdefault(client_id, Application(client_id))
            if secret is not None:
                app.secrets.add(secret)
            if certificate_pem is not None:
                app.certificates.append(certificate_pem)
            app.roles = frozenset(roles)
            app.mailboxes = frozenset(m.lower() for m in mailboxes)
            return app

    def application(self, client_id: str) -> Application | None:
        """A registered application."""
        with self._lock:
            return self._apps.get(client_id)

    def issue_token(
        self,
        client_id: str,
        *,
        lifetime_s: int = 3599,
        audience: str = GRAPH_AUDIENCE,
    ) -> str:
        """A signed access token for a registered application (what the token endpoint gives)."""
        app = self.application(client_id)
        if app is None:
            raise KeyError(client_id)
        now = int(self.clock.now().timestamp())
        claims = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "appid": client_id,
            "azp": client_id,
            "tid": self.tenant_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)),
            "idtyp": "app",
            "roles": sorted(app.roles),
            "ver": "1.0",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, authorization: str | None) -> Principal:
        """The principal an Authorization header proves, or 401 with Graph's error body."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated("Access token is empty.")
        try:
            claims = jwt.decode(
                token,
                self.public_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise _unauthenticated("IDX14100: JWT is not well formed.") from exc
        now = self.clock.now().timestamp()
        if claims.get("aud") not in _AUDIENCES:
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        if float(claims.get("exp", 0)) <= now:
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        if float(claims.get("nbf", 0)) > now + 300:
            raise _unauthenticated("Lifetime validation failed, the token is not yet valid.")
        if claims.get("tid") != self.tenant_id:
            raise _unauthenticated("Access token validation failure. Invalid issuer.")
        app = self.application(str(claims.get("appid", "")))
        if app is None:
            raise _unauthenticated("Access token validation failure. Unknown application.")
        return Principal(
            app_id=app.client_id,
            tenant_id=self.tenant_id,
            roles=frozenset(str(r) for r in claims.get("roles", [])),
            mailboxes=app.mailboxes,
        )


def _unauthenticated(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="", authorization_uri="", client_id=""'},
    )
