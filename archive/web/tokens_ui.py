"""``/tokens``: a signed-in user's personal API tokens, made, listed and revoked in the web UI.

A new token is shown once, on the answer to the form that made it, and never again (only its
hash is kept). Every form carries the session's form token and passes the same-origin check.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from archive.accounts import Principal
from archive.errors import AccountError
from archive.tokens import create_api_token, list_api_tokens, revoke_api_token
from archive.web.context import ArchiveContext, client_address, context, session_principal
from archive.web.csrf import STALE_FORM, form_token_ok
from archive.web.ui import _page, _to_login

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ArchiveContext, Depends(context)]
Viewer = Annotated[Principal | None, Depends(session_principal)]


def _tokens_page(
    request: Request, ctx: ArchiveContext, me: Principal, status: int = 200, **values: object
) -> Response:
    values.setdefault("new_token", None)
    values.setdefault("error", None)
    return _page(
        request, "tokens.html", status, me=me, tokens=list_api_tokens(ctx.engine, me.username),
        **values,
    )


def _form_refused(
    request: Request, ctx: ArchiveContext, me: Principal | None, csrf: str
) -> Response | None:
    """Not signed in, or a form without this session's token: the answer; else None."""
    if me is None:
        return _to_login()
    if not form_token_ok(request, csrf):
        return _tokens_page(request, ctx, me, 403, error=STALE_FORM)
    return None


@router.get("/tokens")
def tokens_page(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """Your API tokens, and a form for a new one."""
    if me is None:
        return _to_login()
    return _tokens_page(request, ctx, me)


@router.post("/tokens")
def create_token(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    name: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Make a token called ``name`` and show it, once."""
    refused = _form_refused(request, ctx, me, csrf)
    if refused is not None or me is None:
        return refused or _to_login()
    try:
        token = create_api_token(ctx.engine, me.username, name)
    except AccountError as exc:
        return _tokens_page(request, ctx, me, 400, error=str(exc))
    ctx.audit.record(
        "api_token_created", user=me.username, client=client_address(request), name=name
    )
    return _tokens_page(request, ctx, me, new_token=token, new_name=name)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    token_id: int,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Revoke one of your tokens: a script still holding it is refused from now on."""
    refused = _form_refused(request, ctx, me, csrf)
    if refused is not None or me is None:
        return refused or _to_login()
    if revoke_api_token(ctx.engine, token_id, me.username):
        ctx.audit.record(
            "api_token_revoked", user=me.username, client=client_address(request), id=token_id
        )
    return RedirectResponse("/tokens", status_code=303)
