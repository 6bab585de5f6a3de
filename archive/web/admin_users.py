"""``/admin/users``: every user and every API token, with Remove and Revoke (admins only).

A page of its own next to the replication status: it is about who gets in, not what was
replicated. The same tasks exist on the command line (``mfr archive --list-users`` ...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from archive.accounts import Principal, list_ingest_tokens, list_users, remove_user
from archive.errors import AccountError
from archive.tokens import list_api_tokens, revoke_api_token
from archive.web.admin import _admin_only
from archive.web.context import ArchiveContext, client_address, context, session_principal
from archive.web.csrf import STALE_FORM, form_token_ok
from archive.web.ui import _page

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ArchiveContext, Depends(context)]
Viewer = Annotated[Principal | None, Depends(session_principal)]
Csrf = Annotated[str, Form(max_length=100)]


def _users_page(request: Request, ctx: ArchiveContext, me: Principal, status: int = 200,
                error: str | None = None) -> Response:
    return _page(
        request, "admin_users.html", status, me=me, error=error, users=list_users(ctx.engine),
        tokens=list_api_tokens(ctx.engine), ingest=list_ingest_tokens(ctx.engine),
    )


def _form_refused(
    request: Request, ctx: ArchiveContext, me: Principal | None, csrf: str
) -> Response | None:
    """Not an admin, or a form without this session's token: the answer; else None."""
    refused = _admin_only(request, me)
    if refused is not None or me is None:
        return refused
    if not form_token_ok(request, csrf):
        return _users_page(request, ctx, me, 403, STALE_FORM)
    return None


@router.get("/admin/users")
def users_page(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """Users (grants, password or not, tokens), API tokens and ingest tokens."""
    refused = _admin_only(request, me)
    if refused is not None:
        return refused
    assert me is not None  # noqa: S101 - _admin_only answered otherwise
    return _users_page(request, ctx, me)


@router.post("/admin/users/remove")
def remove(
    request: Request, ctx: Ctx, me: Viewer, username: Annotated[str, Form(max_length=320)],
    csrf: Csrf = "",
) -> Response:
    """Remove a user, their grants, sessions and tokens."""
    refused = _form_refused(request, ctx, me, csrf)
    if refused is not None:
        return refused
    assert me is not None  # noqa: S101 - _form_refused answered otherwise
    if username == me.username:
        return _users_page(request, ctx, me, 400, "You cannot remove yourself.")
    try:
        remove_user(ctx.engine, username)
    except AccountError as exc:
        return _users_page(request, ctx, me, 404, str(exc))
    ctx.audit.record("user_removed", user=me.username, client=client_address(request),
                     removed=username)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(request: Request, ctx: Ctx, me: Viewer, token_id: int, csrf: Csrf = "") -> Response:
    """Revoke anyone's API token."""
    refused = _form_refused(request, ctx, me, csrf)
    if refused is not None:
        return refused
    assert me is not None  # noqa: S101 - _form_refused answered otherwise
    if revoke_api_token(ctx.engine, token_id):
        ctx.audit.record("api_token_revoked", user=me.username, client=client_address(request),
                         id=token_id)
    return RedirectResponse("/admin/users", status_code=303)
