"""The admin pages of the web UI: replication status, sign-in locks (and lifting them), repair
(the drift checks' findings, and resync buttons), and the audit log.

Lifting a lock and asking for a resync are form posts, so they carry the session's form token and
pass the same-origin check like every other state change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from archive.accounts import Principal
from archive.browse.tree import mailbox_id, replication
from archive.repair import folder_names
from archive.web.context import ArchiveContext, client_address, context, session_principal
from archive.web.csrf import STALE_FORM, form_token_ok
from archive.web.ui import _page, _to_login

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ArchiveContext, Depends(context)]
Viewer = Annotated[Principal | None, Depends(session_principal)]
AUDIT_ROWS = 500


def _admin_only(request: Request, me: Principal | None) -> Response | None:
    if me is None:
        return _to_login()
    if not me.is_admin:
        return _page(request, "error.html", 403, me=me, message="Admins only.")
    return None


def _admin_post(request: Request, me: Principal | None, csrf: str) -> Response | None:
    """The answer refusing a form post that is not an admin's with a valid form token."""
    refused = _admin_only(request, me)
    if refused is None and not form_token_ok(request, csrf):
        return _page(request, "error.html", 403, me=me, message=STALE_FORM)
    return refused


@router.get("/admin")
def admin_page(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """Every mailbox's replication state, and the sign-in locks (admins only)."""
    refused = _admin_only(request, me)
    if refused is not None:
        return refused
    with ctx.engine.connect() as conn:
        rows = replication(conn)
        repair = {"drift": ctx.drift.reports(), "folders": folder_names(conn),
                  "enabled": ctx.resync is not None}
    locks = ctx.lockout.current()
    return _page(request, "admin.html", me=me, rows=rows, locks=locks, repair=repair)


@router.post("/admin/unlock")
def unlock(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    scope: Annotated[str, Form(max_length=400)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Lift a sign-in lock (an account name or a client address) and forget its failures."""
    refused = _admin_post(request, me, csrf)
    if refused is not None:
        return refused
    assert me is not None  # noqa: S101 - _admin_post answered otherwise
    name = scope.partition(":")[2] or scope
    cleared = ctx.lockout.unlock(name)
    ctx.audit.record(
        "unlock", user=me.username, client=client_address(request), scope=scope, cleared=cleared
    )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/resync")
def resync(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    mailbox: Annotated[str, Form(max_length=320)],
    folder: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Ask the extractor to read a mailbox, or one of its folders, again from scratch."""
    refused = _admin_post(request, me, csrf)
    if refused is not None:
        return refused
    assert me is not None  # noqa: S101 - _admin_post answered otherwise
    address = mailbox.strip().lower()
    with ctx.engine.connect() as conn:
        known = mailbox_id(conn, address) is not None
    if not known:
        return _page(request, "error.html", 404, me=me, message="No such mailbox.")
    if ctx.resync is None:
        return _page(request, "error.html", 503, me=me,
                     message="This archive has no bus to send a resync request on.")
    ctx.resync(address, folder.strip() or None, f"admin page: {me.username}")
    ctx.metrics.resync_requests.inc()
    ctx.audit.record("resync", user=me.username, client=client_address(request),
                     mailbox=address, folder=folder.strip() or None)
    return RedirectResponse("/admin?resync=requested#repair", status_code=303)


@router.get("/admin/audit")
def audit_page(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """The newest audit events (admins only)."""
    refused = _admin_only(request, me)
    if refused is not None:
        return refused
    events = ctx.audit.newest(AUDIT_ROWS)
    return _page(request, "audit.html", me=me, events=events, path=str(ctx.audit.path))
