"""App-only access to the Graph face: registered applications, the tokens they get, and checks.

Exchange Online accepts an application's access token when it is signed by the tenant's
authority, meant for Graph (``aud``), within its lifetime, issued for this tenant, and carries an
application role such as ``Mail.Read``; an application access policy may then limit it to some
mailboxes (auth-limit-mailbox-access.md: a denied mailbox answers 403 ``ErrorAccessDenied``
"Access to OData is disabled."). Tokens here are RS256 JWTs with Entra's claims for app-only
Graph tokens (v1.0 tokens: ``iss`` ``https://sts.windows.net/{tid}/``, ``tid``, ``appid``,
``roles``, ``idtyp`` = ``app``; auth-v2-service.md shows the token request and response, not the
claims, so these follow what Entra puts in real Graph tokens).

Every check on a Graph call answers 401 ``InvalidAuthenticationToken`` in Graph's error shape
(errors.md) with its own message, in the order a validator meets them: no token, not a JWT,
signature, issuer/tenant, audience, lifetime. Lifetimes are judged on the simulator's clock so a
test can make a token expire, with the five minutes of clock skew Microsoft's token validation
allows by default (Microsoft.IdentityModel's ``TokenValidationParameters.DefaultClockSkew``; not
in the reference pages): a token is refused once ``exp`` is more than 300 s past.

The signing key is published as a JWKS (``token.py``) with a self-signed certificate (``x5c``)
and ``kid`` = ``x5t`` = its base64url SHA-1 thumbprint, as Entra publishes its keys.
Applications authenticate to the token endpoint with a secret or a certificate; certificates are
kept with both thumbprints because msal names one by SHA-1 (``x5t``) or SHA-256 (``x5t#S256``).
"""

from __future__ import annotations

import base64
import hmac
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from mfr.certs import certificate_for
from simulator.clock import Clock
from simulator.graph.errors import GraphError

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_AUDIENCES = frozenset({GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", GRAPH_APP_ID})
MAIL_ROLES = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"})
CLOCK_SKEW_S = 300
# Graph's challenge on a 401 names the authority and Graph's own application id.
_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize",'
    f' client_id="{GRAPH_APP_ID}"'
)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE headers and JWKS spell bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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


@dataclass(frozen=True, slots=True)
class Certificate:
    """An application's certificate credential: its public key, validity and thumbprints."""

    pem: bytes
    public_key: PublicKeyTypes
    not_before: datetime
    not_after: datetime
    sha1: bytes
    sha256: bytes

    @classmethod
    def load(cls, pem: bytes | str) -> Certificate:
        """Parse a PEM certificate (ValueError when it is not one)."""
        raw = pem.encode() if isinstance(pem, str) else pem
        cert = x509.load_pem_x509_certificate(raw)
        return cls(
            pem=raw,
            public_key=cert.public_key(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha1=cert.fingerprint(hashes.SHA1()),  # noqa: S303 - x5t is SHA-1 by definition
            sha256=cert.fingerprint(hashes.SHA256()),
        )

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint in hex capitals, as the Azure portal shows it."""
        return self.sha1.hex().upper()


@dataclass(slots=True)
class Application:
    """An app registration: its client id, credentials, granted roles and mailbox scope."""

    client_id: str
    secrets: set[str] = field(default_factory=set)
    certificates: list[Certificate] = field(default_factory=list)
    roles: frozenset[str] = frozenset({"Mail.Read"})
    mailboxes: frozenset[str] = frozenset({"*"})

    def has_secret(self, secret: str) -> bool:
        """Whether ``secret`` is one of the app's secrets (compared in constant time)."""
        given = secret.encode()
        return any(hmac.compare_digest(given, s.encode()) for s in self.secrets)

    def certificate(self, *, x5t: str | None, x5t_s256: str | None) -> Certificate | None:
        """The registered certificate a JOSE header names by either thumbprint (msal pads its
        base64url with ``=``, which RFC 7515 omits; Entra takes both)."""
        x5t = None if x5t is None else x5t.rstrip("=")
        x5t_s256 = None if x5t_s256 is None else x5t_s256.rstrip("=")
        for cert in self.certificates:
            if x5t_s256 is not None and hmac.compare_digest(x5t_s256, b64url(cert.sha256)):
                return cert
            if x5t is not None and hmac.compare_digest(x5t, b64url(cert.sha1)):
                return cert
        return None


class GraphAuth:
    """The tenant's authority: applications, signing key, issuing and verifying tokens."""

    def __init__(self, clock: Clock, tenant_id: str) -> None:
        self.clock = clock
        self.tenant_id = tenant_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_certificate = Certificate.load(
            certificate_for(self._key, "accounts.sim.example", days=3650)
        )
        self.key_id = b64url(self.signing_certificate.sha1)
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
        certificate_pem: bytes | str | None = None,
        roles: frozenset[str] | set[str] = frozenset({"Mail.Read"}),
        mailboxes: frozenset[str] | set[str] = frozenset({"*"}),
    ) -> Application:
        """Register (or update) an application: add a secret and/or a certificate, and set its
        granted roles and the mailboxes its access policy allows (``"*"``: all)."""
        cert = None if certificate_pem is None else Certificate.load(certificate_pem)
        with self._lock:
            app = self._apps.setdefault(client_id, Application(client_id))
            if secret is not None:
                app.secrets.add(secret)
            if cert is not None and all(c.sha256 != cert.sha256 for c in app.certificates):
                app.certificates.append(cert)
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
        overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token for a registered application (what the token endpoint gives).
        ``overrides`` replaces claims, for tests that need a token of another tenant or one not
        yet valid."""
        app = self.application(client_id)
        if app is None:
            raise KeyError(client_id)
        now = int(self.clock.now().timestamp())
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, client_id))
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "appid": client_id,
            "appidacr": "1",
            "azp": client_id,
            "tid": self.tenant_id,
            "oid": object_id,
            "sub": object_id,
            "idtyp": "app",
            "roles": sorted(app.roles),
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }
        claims.update(overrides or {})
        headers = {"kid": self.key_id, "x5t": self.key_id}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def jwks(self) -> dict[str, Any]:
        """The authority's signing keys as a JWK Set (RFC 7517), with Entra's extra members."""
        numbers = self._key.public_key().public_numbers()
        der = base64.b64encode(
            x509.load_pem_x509_certificate(self.signing_certificate.pem).public_bytes(
                serialization.Encoding.DER
            )
        ).decode()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.key_id,
                    "x5t": self.key_id,
                    "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                    "x5c": [der],
                }
            ]
        }

    def verify(self, authorization: str | None) -> Principal:
        """The principal an Authorization header proves, or 401 with Graph's error body."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated("Access token is empty.")
        if token.count(".") != 2:
            raise _unauthenticated(
                "IDX14100: JWT is not well formed, there are no dots (.). The token needs to be"
                " in JWS or JWE Compact Serialization Format."
            )
        try:
            jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthenticated("IDX14100: JWT is not well formed.") from exc
        try:
            claims = jwt.decode(
                token,
                self.public_pem,
                algorithms=["RS256"],
                # Lifetimes are judged below on the simulator clock; PyJWT would use the wall
                # clock, and refuse every token issued after a test advanced time.
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "verify_aud": False},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise _unauthenticated("Access token validation failure. Invalid signature.") from exc
        if claims.get("tid") != self.tenant_id or claims.get("iss") != self.issuer:
            raise _unauthenticated("Access token validation failure. Invalid issuer.")
        if claims.get("aud") not in _AUDIENCES:
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        self._check_lifetime(claims)
        app = self.application(str(claims.get("appid", "")))
        if app is None:
            raise _unauthenticated("Access token validation failure. Unknown application.")
        roles = claims.get("roles", [])
        return Principal(
            app_id=app.client_id,
            tenant_id=self.tenant_id,
            roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
            mailboxes=app.mailboxes,
        )

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        now = self.clock.now().timestamp()
        try:
            expires = float(claims["exp"])
            not_before = float(claims.get("nbf", claims.get("iat", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise _unauthenticated("Lifetime validation failed, the token has no expiry.") from exc
        if expires + CLOCK_SKEW_S < now:
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        if not_before - CLOCK_SKEW_S > now:
            raise _unauthenticated("Lifetime validation failed, the token is not yet valid.")


def _unauthenticated(message: str) -> GraphError:
    return GraphError(
        401, "InvalidAuthenticationToken", message, headers={"WWW-Authenticate": _CHALLENGE}
    )
