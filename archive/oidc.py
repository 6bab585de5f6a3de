"""Sign-in with the organisation's OpenID Connect provider: the archive as a relying party.

People in an outage should sign in the way they always do, with their corporate identity, not
with a password someone made for them beforehand. The flow is the authorization code with PKCE
(S256), a nonce and a state, by authlib's Starlette client (the state, nonce and code verifier
travel in the signed session cookie). The ID token must be signed by a key of the provider's
JWKS, name exactly the configured issuer, have this archive's client id among its audiences, be
unexpired and carry the nonce; any failure is a refusal that says which check failed, never an
error page. The identity's email claim is its mailbox address: the user reads that mailbox only,
and is an admin when the address is in ``admin_emails`` or a group of ``admin_groups`` is in the
groups claim (decided again at every sign-in).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from starlette.requests import Request
from starlette.responses import Response

from archive.accounts import mailbox_address
from archive.errors import AccountError
from archive.settings import OidcSettings

log = structlog.get_logger(__name__)
_CLAIM_PROBLEMS = {
    "aud": "the identity token was issued for another application (its audience is not this "
    "archive's client id)",
    "iss": "the identity token comes from an issuer this archive does not trust",
    "nonce": "the identity token does not belong to this sign-in (nonce)",
    "azp": "the identity token was issued to another application (authorized party)",
}


@dataclass(frozen=True)
class Identity:
    """Whom the provider vouched for: their mailbox, and whether they are an admin here."""

    address: str
    admin: bool


@dataclass(frozen=True)
class OidcRefusal:
    """A sign-in through the provider that did not happen: HTTP status and what to tell."""

    status: int
    message: str


class OidcClient:
    """The archive's client at one provider (discovery and keys fetched once, keys again when a
    token names a key the archive has not seen: the provider rotated them)."""

    def __init__(self, settings: OidcSettings) -> None:
        assert settings.issuer is not None  # noqa: S101 - enabled settings have both
        assert settings.client_secret is not None  # noqa: S101
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else True
        )
        registry = OAuth()
        registry.register(
            name="corporate",
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.scopes,
                "code_challenge_method": "S256",
                "verify": verify,
                "timeout": 15,
            },
        )
        self._client: Any = registry.create_client("corporate")

    @property
    def label(self) -> str:
        """The sign-in button's text."""
        return self.settings.button_label

    async def redirect(self, request: Request, callback_url: str) -> Response | OidcRefusal:
        """The redirect to the provider's authorization endpoint."""
        try:
            metadata = await self._client.load_server_metadata()
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                return _unreachable(f"its discovery document names issuer "
                                    f"{metadata.get('issuer')!r}, not {self.issuer!r}")
            response: Response = await self._client.authorize_redirect(request, callback_url)
        except (httpx.HTTPError, ValueError) as exc:
            self._client.server_metadata.pop("_loaded_at", None)
            return _unreachable(f"{type(exc).__name__}: {exc}")
        return response

    async def complete(self, request: Request) -> Identity | OidcRefusal:
        """Finish the sign-in the provider sent back: exchange the code, check the ID token."""
        options = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.settings.client_id},
        }
        try:
            token = await self._client.authorize_access_token(request, claims_options=options)
        except (httpx.HTTPError, JoseError, AuthlibBaseError) as exc:
            return _refusal_for(exc)
        claims = dict(token.get("userinfo") or {})
        if not claims:
            return _refused("the provider sent no identity token")
        wanted = [self.settings.email_claim]
        if self.settings.admin_groups:
            wanted.append(self.settings.groups_claim)
        if any(name not in claims for name in wanted):
            # Many providers put profile claims only behind the userinfo endpoint in this flow.
            try:
                extra = dict(await self._client.userinfo(token=token))
            except (httpx.HTTPError, AuthlibBaseError) as exc:
                return _refusal_for(exc)
            if extra.get("sub") != claims.get("sub"):
                return _refused("the provider's userinfo answer is about another user")
            claims = {**extra, **claims}
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> Identity | OidcRefusal:
        claim = self.settings.email_claim
        raw = claims.get(claim)
        if not isinstance(raw, str):
            return _refused(f"the identity token has no {claim!r} claim to name your mailbox")
        if claims.get("email_verified") is False:
            return _refused("the identity provider has not verified your email address")
        try:
            address = mailbox_address(raw)
        except AccountError as exc:
            return _refused(str(exc))
        groups = claims.get(self.settings.groups_claim) or []
        in_admin_group = isinstance(groups, list) and bool(
            {str(g) for g in groups} & set(self.settings.admin_groups)
        )
        admins = {a.strip().lower() for a in self.settings.admin_emails}
        return Identity(address, admin=address in admins or in_admin_group)


def _refusal_for(exc: Exception) -> OidcRefusal:
    """What to tell the person whose sign-in failed with ``exc``."""
    if isinstance(exc, httpx.HTTPError):
        return _unreachable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BadSignatureError | InvalidKeyIdError):
        return _refused("the identity token's signature does not verify against the identity "
                        "provider's published keys")
    if isinstance(exc, ExpiredTokenError):
        return _refused("the identity token has expired")
    if isinstance(exc, ClaimError):
        return _refused(_CLAIM_PROBLEMS.get(
            exc.claim, f"the identity token's {exc.claim!r} claim is missing or wrong"))
    if isinstance(exc, JoseError):
        return _refused(f"the identity token is not valid ({exc.error})")
    said = getattr(exc, "description", None) or getattr(exc, "error", None) or "no reason given"
    return OidcRefusal(400, f"The identity provider did not sign you in: {said}.")


def _refused(why: str) -> OidcRefusal:
    return OidcRefusal(401, f"Sign-in refused: {why}.")


def _unreachable(why: str) -> OidcRefusal:
    log.error("identity provider unusable", reason=why)
    return OidcRefusal(
        502, "The identity provider cannot be reached or answered wrongly; try again later or "
        "sign in with a password. (The archive's log has the details.)"
    )
