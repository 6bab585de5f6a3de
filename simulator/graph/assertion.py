"""Client assertions: the signed JWT an application presents instead of a secret when its
credential is a certificate (RFC 7523, ``client_assertion_type`` =
``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``), checked as Entra checks them.

The assertion must be a JWT signed (RS256 or PS256, the two msal uses) with the private key of a
certificate registered on the application and named in the header by its SHA-1 thumbprint
(``x5t``) or SHA-256 thumbprint (``x5t#S256``); ``iss`` and ``sub`` are the client id, ``aud``
the token endpoint, and ``exp`` and ``jti`` are present. Each failure is one of Entra's AADSTS
codes with its wording (from Entra's error-code reference and its real answers, none of which
are in the reference pages): 50027 malformed or no thumbprint, 700027 key not registered,
expired or not verifying, 700021 ``iss``/``sub`` not the client, 700023 wrong ``aud``, 700024
outside its time range.

The assertion's time window is judged by the wall clock, not the simulator clock: a client signs
with its own clock, and tests advance the simulator clock to age the server's timers (token
lifetimes, subscriptions), which would otherwise make every certificate client fail. The
certificate's validity is the authority's own record, judged on the simulator clock. A ``jti``
seen before is accepted again, because msal reuses one assertion for up to ten minutes.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from simulator.graph.auth import CLOCK_SKEW_S, Application

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = ["RS256", "PS256"]  # msal's: RS256 with x5t, PS256 with x5t#S256
_STAMP = "%m/%d/%Y %H:%M:%S"


class InvalidAssertion(Exception):  # noqa: N818 - named as Entra names the outcome
    """An assertion Entra refuses: its AADSTS code and description (always 401
    ``invalid_client``)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.code = code
        self.description = description


def check_assertion(
    app: Application,
    assertion_type: str | None,
    assertion: str,
    *,
    audience_ok: Callable[[object], bool],
    authority_now: datetime,
) -> None:
    """Raise InvalidAssertion unless ``assertion`` proves ``app``; ``audience_ok`` says whether
    an ``aud`` names this tenant's token endpoint, ``authority_now`` is the simulator's time."""
    if assertion_type != ASSERTION_TYPE:
        raise InvalidAssertion(
            50027, f"Invalid client_assertion_type; it must be '{ASSERTION_TYPE}'."
        )
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise InvalidAssertion(50027, "JWT token is invalid or malformed.") from exc
    x5t = _text(header.get("x5t"))
    x5t_s256 = _text(header.get("x5t#S256"))
    if x5t is None and x5t_s256 is None:
        raise InvalidAssertion(
            50027, "Invalid JWT token. No certificate thumbprint specified in token header."
        )
    named = _thumbprint_hex(x5t_s256 or x5t or "")
    cert = app.certificate(x5t=x5t, x5t_s256=x5t_s256)
    if cert is None:
        raise InvalidAssertion(
            700027,
            "The certificate with identifier used to sign the client assertion is not"
            " registered on application. [Reason - The key was not found., Thumbprint of key"
            f" used by client: '{named}', Please visit the Azure Portal, Graph Explorer or"
            f" directly use MS Graph to see configured keys for app Id '{app.client_id}'.]",
        )
    found = f"Found key 'Start={cert.not_before:{_STAMP}}, End={cert.not_after:{_STAMP}}'"
    if not cert.not_before <= authority_now <= cert.not_after:
        raise InvalidAssertion(
            700027,
            "Client assertion contains an invalid signature. [Reason - The key used is expired.,"
            f" Thumbprint of key used by client: '{named}', {found}]",
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key,  # type: ignore[arg-type]
            algorithms=_ALGORITHMS,
            options={"verify_exp": False, "verify_nbf": False, "verify_aud": False,
                     "verify_iat": False},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise InvalidAssertion(
            700027,
            "Client assertion contains an invalid signature. [Reason - Key was found, but use of"
            f" the key to verify the signature failed., Thumbprint of key used by client:"
            f" '{named}', {found}]",
        ) from exc
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise InvalidAssertion(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    if not audience_ok(claims.get("aud")):
        raise InvalidAssertion(
            700023, "Client assertion audience claim does not match Realm issuer."
        )
    if not _text(claims.get("jti")):
        raise InvalidAssertion(
            50027, "JWT token is invalid or malformed. The 'jti' claim is missing."
        )
    _check_time(claims)


def _check_time(claims: Mapping[str, Any]) -> None:
    now = time.time()
    try:
        expires = float(claims["exp"])
        not_before = float(claims.get("nbf", claims.get("iat", now)))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidAssertion(50027, "JWT token is invalid or malformed. No valid 'exp'.") from exc
    if expires + CLOCK_SKEW_S < now or not_before - CLOCK_SKEW_S > now:
        raise InvalidAssertion(
            700024,
            f"Client assertion is not within its valid time range. Current time: {_iso(now)},"
            f" assertion valid from {_iso(not_before)}, expiry time of assertion"
            f" {_iso(expires)}. Review the documentation at"
            " https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _thumbprint_hex(value: str) -> str:
    """A header's base64url thumbprint in hex capitals, as Entra quotes it back."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex().upper()
    except (binascii.Error, ValueError):
        return value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_STAMP)
