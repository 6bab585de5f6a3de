"""The web UI: sign in, then the three panes (folders, messages, metadata) of a mailbox, now or
as it was at a chosen time, and the admin page. Server-rendered (Jinja2) with a little JS; every
page costs a few indexed queries, whatever the size of the folder. Times are shown in UTC."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from archive.accounts import Principal
from archive.browse.listing import BadCursorError, MessageFilter, message_detail, message_page
from archive.browse.models import FolderNode, FolderTree, to_ms
from archive.browse.tree import folder_tree, mailbox_id, replication, summaries
from archive.web.context import ArchiveContext, context, session_principal, sign_in, sign_out

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else "—"


def _duration(millis: int | None) -> str:
    if millis is None:
        return "—"
    seconds = millis / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


templates.env.filters["duration"] = _duration
Ctx = Annotated[ArchiveContext, Depends(context)]
Viewer = Annotated[Principal | None, Depends(session_principal)]


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, values, status_code=status)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return _page(request, "login.html", error=None)


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Check the credentials; on success start a session and go to the mailboxes."""
    principal = ctx.identity.authenticate(username, password)
    ctx.metrics.sign_ins.labels("ok" if principal else "refused").inc()
    if principal is None:
        return _page(request, "login.html", 401, error="Unknown user or wrong password.")
    sign_in(request, principal)
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session."""
    sign_out(request)
    return _to_login()


@router.get("/")
def home(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """One mailbox: open it; several: list them."""
    if me is None:
        return _to_login()
    with ctx.engine.connect() as conn:
        boxes = summaries(conn, None if me.is_admin else me.mailboxes)
    if len(boxes) == 1 and not me.is_admin:
        return RedirectResponse(f"/mailbox/{boxes[0].address}", status_code=303)
    return _page(request, "mailboxes.html", me=me, mailboxes=boxes)


@router.get("/mailbox/{mailbox}")
def mailbox_page(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    mailbox: str,
    folder: Annotated[str | None, Query(max_length=512)] = None,
    message: int | None = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    deleted: Annotated[str, Query(pattern="^(show|hide)$")] = "show",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The three panes of ``mailbox``."""
    if me is None:
        return _to_login()
    address = mailbox.strip().lower()
    if not me.may_read(address):
        return _page(request, "error.html", 403, me=me, message="This mailbox is not yours.")
    at_ms = _parse_at(at)
    with ctx.engine.connect() as conn:
        box = mailbox_id(conn, address)
        if box is None:
            return _page(request, "error.html", 404, me=me, message="No such mailbox here.")
        tree = folder_tree(conn, address, box, at_ms)
        chosen = folder or _default_folder(tree)
        wanted = MessageFilter(
            folder_key=None if q else chosen, include_deleted=deleted == "show", text=q, at=at_ms
        )
        try:
            page = message_page(conn, box, wanted, cursor, PAGE_SIZE)
        except BadCursorError:
            page = message_page(conn, box, wanted, None, PAGE_SIZE)
        detail = message_detail(conn, box, message) if message is not None else None
    view = {"folder": chosen, "at": at if at_ms is not None else None, "q": q, "deleted": deleted}
    return _page(
        request,
        "mailbox.html",
        me=me,
        mailbox=address,
        tree=_with_depth(tree.folders),
        names={f.folder_key: f.display_name for f in tree.folders},
        tree_info=tree,
        page=page,
        detail=detail,
        view=view,
        query=lambda **change: _query(view, change),
    )


@router.get("/admin")
def admin_page(request: Request, ctx: Ctx, me: Viewer) -> Response:
    """Every mailbox's replication state (admins only)."""
    if me is None:
        return _to_login()
    if not me.is_admin:
        return _page(request, "error.html", 403, me=me, message="Admins only.")
    with ctx.engine.connect() as conn:
        rows = replication(conn)
    return _page(request, "admin.html", me=me, rows=rows)


def _parse_at(at: str | None) -> int | None:
    if not at:
        return None
    try:
        return to_ms(datetime.fromisoformat(at))
    except ValueError:
        return None


def _default_folder(tree: FolderTree) -> str | None:
    for node in tree.folders:
        if node.distinguished_name == "inbox":
            return node.folder_key
    return tree.folders[0].folder_key if tree.folders else None


def _with_depth(nodes: list[FolderNode]) -> list[tuple[FolderNode, int]]:
    depth: dict[str, int] = {}
    out = []
    for node in nodes:  # parents come before their children
        level = depth.get(node.parent_folder_key or "", -1) + 1
        depth[node.folder_key] = level
        out.append((node, level))
    return out


def _query(view: dict[str, Any], change: dict[str, Any]) -> str:
    """The query string of this view with ``change`` applied (None drops a parameter)."""
    merged = {**view, **change}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})
