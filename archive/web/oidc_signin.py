"""``/login/oidc``: the sign-in button's way to the organisation's identity provider, and the
callback it returns to. Password sign-in stays beside it, for break-glass accounts and demos.

The callback checks everything (``archive.oidc``) before a session starts; a refusal answers the
sign-in page with the reason, a 401 (a 502 when the provider cannot be reached), and goes into
the audit log and the sign-in metric like a wrong password does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from archive.accounts import external_user
from archive.oidc import OidcClient, OidcRefusal
from archive.web.context import client_address, context, sign_in
from archive.web.ui import _page

router = APIRouter(include_in_schema=False)
CALLBACK = "oidc_callback"


def _client(request: Request) -> OidcClient | None:
    found: OidcClient | None = getattr(request.app.state, "oidc", None)
    return found


@router.get("/login/oidc")
async def start(request: Request) -> Response:
    """Off to the identity provider (with state, nonce and a PKCE challenge)."""
    client = _client(request)
    if client is None:
        return _page(request, "login.html", 404, error="Sign-in with an identity provider is "
                     "not configured here.")
    outcome = await client.redirect(request, str(request.url_for(CALLBACK)))
    if isinstance(outcome, OidcRefusal):
        return _refusal(request, outcome)
    return outcome


@router.get("/login/oidc/callback", name=CALLBACK)
async def callback(request: Request) -> Response:
    """Back from the provider: check the ID token, find or create the user, start a session."""
    client = _client(request)
    if client is None:
        return RedirectResponse("/login", status_code=303)
    outcome = await client.complete(request)
    if isinstance(outcome, OidcRefusal):
        return _refusal(request, outcome)
    ctx = context(request)
    principal = await run_in_threadpool(
        external_user, ctx.engine, outcome.address, admin=outcome.admin
    )
    if principal is None:
        return _refusal(request, OidcRefusal(403, "Your account is disabled in the archive."))
    await run_in_threadpool(sign_in, request, principal)
    ctx.metrics.sign_ins.labels("ok").inc()
    ctx.audit.record("sign_in", user=principal.username, client=client_address(request),
                     method="oidc", admin=principal.is_admin)
    return RedirectResponse("/", status_code=303)


def _refusal(request: Request, refusal: OidcRefusal) -> Response:
    ctx = context(request)
    ctx.metrics.sign_ins.labels("refused").inc()
    ctx.audit.record("sign_in_failed", user=None, client=client_address(request), method="oidc",
                     reason=refusal.message)
    return _page(request, "login.html", refusal.status, error=refusal.message)
