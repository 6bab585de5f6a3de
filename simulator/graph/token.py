"""The tenant's authority in the shape of Microsoft's identity platform: the token endpoint, the
OpenID discovery document and the signing keys, so msal (or a plain client-credentials POST) gets
access tokens from the simulator the way it gets them from Entra.

- ``POST /{tenant}/oauth2/v2.0/token``: the client credentials grant of auth-v2-service.md
  (form-encoded ``grant_type=client_credentials``, ``scope=https://graph.microsoft.com/.default``,
  ``client_id``, and ``client_secret`` in the body or HTTP Basic, or a certificate assertion:
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a JWT
  signed with the app certificate's key, naming it by ``x5t`` or ``x5t#S256``, with ``aud`` the
  token endpoint, ``iss`` = ``sub`` = the client id, ``exp`` and ``jti``). The answer is
  auth-v2-service.md's token response.
- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``GET /{tenant}/discovery/v2.0/keys``:
  what msal reads before its first token request. Every URL in them is the simulator's own
  address as the client reached it, and the token endpoint names the tenant by its GUID, as
  Entra's document does (msal takes the tenant from it and uses it as the assertion's ``aud``).

``{tenant}`` is the tenant's GUID or one of its domains (auth-v2-service.md: "GUID or a friendly
name format"): ``simtenant.onmicrosoft.com`` (its initial domain), ``sim.example``, and the
domain of any mailbox in the store.

Errors are Entra's JSON (``error``, ``error_description`` starting with the AADSTS code and
ending with the trace and correlation ids, ``error_codes``, ``timestamp``, ``trace_id``,
``correlation_id``, ``error_uri``), with the status and codes Entra answers; the reference pages
hold none of these, so they follow Entra's error-code reference and the answers it actually gives:
a missing parameter AADSTS900144 (400 ``invalid_request``), unknown tenant AADSTS90002 (400
``invalid_tenant``), unsupported grant AADSTS70003 (400), unknown app AADSTS700016 (400
``unauthorized_client``), bad secret AADSTS7000215, no credential AADSTS7000216 and every bad
assertion (401 ``invalid_client``; ``assertion.py`` has those), a scope without ``/.default``
AADSTS1002012 (400 ``invalid_scope``), scopes of several resources AADSTS70011, a resource other
than Graph AADSTS500011 (400 ``invalid_resource``).

Every answer is in the shared request log as ``graph.token``, ``graph.openid-configuration`` or
``graph.keys`` (account = the client id, result = ``OK`` or ``AADSTS<code>``), so a test can count
the token requests a client makes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mfr.certs import self_signed_rsa
from simulator.graph.assertion import InvalidAssertion, check_assertion
from simulator.graph.auth import GRAPH_APP_ID, GRAPH_AUDIENCE, Application
from simulator.requestlog import LoggedRequest

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

INITIAL_DOMAIN = "simtenant.onmicrosoft.com"
_DOMAINS = frozenset({INITIAL_DOMAIN, "sim.example"})
_GRAPH_RESOURCES = frozenset({GRAPH_AUDIENCE, GRAPH_APP_ID})
_MAX_FORM_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class Refusal(Exception):  # noqa: N818 - it is an answer, not a programming error
    """One of Entra's token errors: HTTP status, OAuth ``error``, AADSTS code, description."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status = status
        self.error = error
        self.code = code
        self.description = description


def routes(face: GraphFace) -> list[BaseRoute]:
    """The authority's routes."""

    async def token(request: Request) -> Response:
        return await _token(face, request)

    async def configuration(request: Request) -> Response:
        return _discovery(face, request, "openid-configuration", _configuration)

    async def keys(request: Request) -> Response:
        return _discovery(face, request, "keys", lambda face, base, tenant: face.auth.jwks())

    return [
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", configuration, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
    ]


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """``register_app``: an app registration with a secret and/or a certificate, granted roles
    and an application access policy (the mailboxes it may open; ``"*"`` for all)."""

    def register_app(
        client_id: str | None = None,
        secret: str | None = None,
        certificate_pem: str | None = None,
        new_certificate: bool = False,
        roles: list[str] | None = None,
        mailboxes: list[str] | None = None,
    ) -> dict[str, Any]:
        client_id = client_id or str(uuid.uuid4())
        existing = face.auth.application(client_id) is not None
        if secret is None and certificate_pem is None and not new_certificate and not existing:
            secret = secrets.token_urlsafe(30)  # an app without a credential could do nothing
        made = self_signed_rsa(f"app {client_id}") if new_certificate else None
        pem = made.cert_pem.decode() if made is not None else certificate_pem
        app = face.auth.register(
            client_id,
            secret=secret,
            certificate_pem=pem,
            roles=set(roles if roles is not None else ["Mail.Read"]),
            mailboxes=set(mailboxes if mailboxes is not None else ["*"]),
        )
        answer: dict[str, Any] = {
            "client_id": client_id,
            "tenant_id": face.auth.tenant_id,
            "roles": sorted(app.roles),
            "mailboxes": sorted(app.mailboxes),
            "thumbprints": [c.thumbprint for c in app.certificates],
        }
        if secret is not None:
            answer["secret"] = secret
        if made is not None:
            answer["private_key_pem"] = made.key_pem.decode()
            answer["certificate_pem"] = made.cert_pem.decode()
        return answer

    return {"register_app": register_app}


# --- the token endpoint -----------------------------------------------------------------------
async def _token(face: GraphFace, request: Request) -> Response:
    started = time.monotonic()
    raw = await request.body()
    form: dict[str, str] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" and len(raw) <= _MAX_FORM_BYTES:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    client_id = form.get("client_id")
    try:
        _tenant(face, request.path_params["tenant"])
        app, lifetime, audience = _grant(face, request, form)
        client_id = app.client_id
        access_token = face.auth.issue_token(app.client_id, lifetime_s=lifetime, audience=audience)
    except Refusal as refusal:
        _log(face, started, "token", client_id, refusal.status, f"AADSTS{refusal.code}")
        return _refuse(face, request, refusal)
    _log(face, started, "token", client_id, 200, "OK")
    body = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }
    return JSONResponse(body, headers={**_NO_STORE, **_echo(request)})


def _grant(
    face: GraphFace, request: Request, form: Mapping[str, str]
) -> tuple[Application, int, str]:
    """The application a client-credentials request authenticates, the token lifetime and the
    audience; a Refusal otherwise (checked in Entra's order: request, grant, client, scope)."""
    basic = _basic(request.headers.get("authorization"))
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type != "client_credentials":
        raise Refusal(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )
    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        raise _missing("client_id")
    scope = form.get("scope")
    if scope is None:
        raise _missing("scope")
    app = face.auth.application(client_id)
    if app is None:
        raise Refusal(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory"
            f" '{face.auth.tenant_id}'. This can happen if the application has not been"
            " installed by the administrator of the tenant or consented to by any user in the"
            " tenant. You may have sent your authentication request to the wrong tenant.",
        )
    if form.get("client_assertion") or form.get("client_assertion_type"):
        try:
            check_assertion(
                app,
                form.get("client_assertion_type"),
                form.get("client_assertion", ""),
                audience_ok=lambda audience: _is_token_endpoint(face, request, audience),
                authority_now=face.clock.now(),
            )
        except InvalidAssertion as invalid:
            raise Refusal(401, "invalid_client", invalid.code, invalid.description) from invalid
    elif "client_secret" in form or basic:
        secret = form["client_secret"] if "client_secret" in form else basic[1] if basic else ""
        if (basic and basic[0] != client_id) or not app.has_secret(secret):
            raise Refusal(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is"
                " the client secret value, not the client secret ID, for a secret added to app"
                f" '{client_id}'.",
            )
    else:
        raise Refusal(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the"
            " 'client_credentials' grant type.",
        )
    audience = _resource(scope)
    return app, face.settings.token_lifetime_s, audience


def _resource(scope: str) -> str:
    """The resource a client-credentials scope names (only ``{resource}/.default`` is allowed,
    and only for Graph), as the token's audience."""
    values = scope.split()
    for value in values:
        if not value.lower().endswith("/.default"):
            raise Refusal(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {value} is not valid. Client credential flows"
                " must have a scope value with /.default suffixed to the resource identifier"
                " (application ID URI).",
            )
    if len(values) != 1:
        raise Refusal(
            400,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid. The scope"
            f" {scope} is not valid.",
        )
    resource = values[0][: -len("/.default")].rstrip("/")
    for known in _GRAPH_RESOURCES:
        if resource.lower() == known:
            return known
    raise Refusal(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named"
        f" {INITIAL_DOMAIN}. This can happen if the application has not been installed by the"
        " administrator of the tenant or consented to by any user in the tenant. You might have"
        " sent your authentication request to the wrong tenant.",
    )


def _is_token_endpoint(face: GraphFace, request: Request, audience: object) -> bool:
    """Whether an assertion's ``aud`` names this tenant's token endpoint (v2 or v1) or its v2
    issuer, on the address the client reached, with the tenant spelt any way it may be."""
    if not isinstance(audience, str):
        return False
    base = str(request.base_url).rstrip("/").lower()
    parts = urlsplit(audience.rstrip("/").lower())
    if f"{parts.scheme}://{parts.netloc}" != base:
        return False
    segments = parts.path.strip("/").split("/")
    if not segments or not _is_tenant(face, segments[0]):
        return False
    return segments[1:] in (["oauth2", "v2.0", "token"], ["oauth2", "token"], ["v2.0"])


# --- discovery --------------------------------------------------------------------------------
def _discovery(
    face: GraphFace,
    request: Request,
    name: str,
    build: Callable[[GraphFace, str, str], dict[str, Any]],
) -> Response:
    started = time.monotonic()
    try:
        tenant = _tenant(face, request.path_params["tenant"])
    except Refusal as refusal:
        _log(face, started, name, None, refusal.status, f"AADSTS{refusal.code}")
        return _refuse(face, request, refusal)
    _log(face, started, name, None, 200, "OK")
    body = build(face, str(request.base_url).rstrip("/"), tenant)
    return JSONResponse(body, headers=_echo(request))


def _configuration(face: GraphFace, base: str, tenant: str) -> dict[str, Any]:
    """Entra's v2 OpenID configuration, every endpoint on the simulator."""
    root = f"{base}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post", "private_key_jwt", "client_secret_basic",
        ],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "grant_types_supported": ["client_credentials"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "nbf", "tid", "appid", "roles", "idtyp", "ver",
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": urlsplit(base).netloc,
        "msgraph_host": urlsplit(base).netloc,
    }  # fmt: skip


# --- helpers ----------------------------------------------------------------------------------
def _tenant(face: GraphFace, given: str) -> str:
    """The tenant's GUID when ``given`` names it, a Refusal (AADSTS90002) otherwise."""
    if _is_tenant(face, given):
        return face.auth.tenant_id
    raise Refusal(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{given}' not found. Check to make sure you have the correct tenant ID and are"
        " signing into the correct cloud. Check with your subscription administrator, this may"
        " happen if there are no active subscriptions for the tenant.",
    )


def _is_tenant(face: GraphFace, given: str) -> bool:
    name = unquote(given).lower()
    if name == face.auth.tenant_id.lower() or name in _DOMAINS:
        return True
    with face.store.lock:
        return any(m.smtp.lower().endswith("@" + name) for m in face.store.mailboxes.values())


def _basic(authorization: str | None) -> tuple[str, str] | None:
    """HTTP Basic client credentials (RFC 6749 2.3.1: form-encoded id and secret)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (unquote(user.replace("+", " ")), unquote(password.replace("+", " "))) if sep else None


def _missing(name: str) -> Refusal:
    return Refusal(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def _refuse(face: GraphFace, request: Request, refusal: Refusal) -> Response:
    """Entra's error JSON for a refusal."""
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    stamp = face.clock.now().strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": refusal.error,
        "error_description": f"AADSTS{refusal.code}: {refusal.description}\r\n"
        f"Trace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [refusal.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{str(request.base_url).rstrip('/')}/error?code={refusal.code}",
    }
    return JSONResponse(body, refusal.status, headers={**_NO_STORE, **_echo(request)})


def _echo(request: Request) -> dict[str, str]:
    """Entra answers with a request id and echoes the client's correlation id."""
    headers = {"x-ms-request-id": str(uuid.uuid4())}
    if request.headers.get("client-request-id"):
        headers["client-request-id"] = request.headers["client-request-id"]
    return headers


def _log(
    face: GraphFace, started: float, name: str, client_id: str | None, status: int, result: str
) -> None:
    face.request_log.add(
        LoggedRequest(
            at=face.clock.monotonic(),
            when=face.clock.now(),
            operation=f"graph.{name}",
            account=client_id,
            mailbox=None,
            backend=None,
            status=status,
            result=result,
            duration_s=time.monotonic() - started,
        )
    )
