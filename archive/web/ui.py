"""The web UI: sign in, then the three panes (folders, messages, metadata) of a mailbox, now or
as it was at a chosen time, and the admin page. Server-rendered (Jinja2) with a little JS; every
page costs a few indexed queries (and a count), whatever the size of the folder. Times are sent
in UTC and shown in the browser's time zone by app.js, with UTC on hover."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from archive.accounts import Principal
from archive.browse.listing import (
    conversation_of,
    message_detail,
    message_page,
    page_place,
)
from archive.browse.models import FolderNode, FolderTree, from_ms
from archive.browse.ordering import BadCursorError
from archive.browse.tree import first_change_time, folder_tree, mailbox_id, summaries
from archive.web.context import ArchiveContext, audit_admin_read, context, session_principal
from archive.web.csrf import STALE_FORM, form_token, form_token_ok
from archive.web.listview import BadViewError, ListView, list_view
from archive.web.signin import Refused, attempt_sign_in, attempt_sign_out

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else "—"
# The ISO form a <time> element carries; app.js shows it in the browser's time zone.
templates.env.filters["iso"] = lambda d: d.isoformat() if d else ""


def _duration(millis: int | None) -> str:
    if millis is None:
        return "—"
    seconds = millis / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


templates.env.filters["duration"] = _duration


def _size(octets: int | None) -> str:
    if octets is None:
        return "—"
    return f"{octets / 1024:.0f} KB" if octets >= 1024 else f"{octets} B"


templates.env.filters["size"] = _size


def _when_ms(millis: int | None) -> str:
    shown = from_ms(millis)
    return "—" if shown is None else shown.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["when_ms"] = _when_ms
Ctx = Annotated[ArchiveContext, Depends(context)]
Viewer = Annotated[Principal | None, Depends(session_principal)]


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("csrf_token", form_token(request))
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
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the credentials; on success start a session and go to the mailboxes."""
    if not form_token_ok(request, csrf):
        return _page(request, "login.html", 403, error=STALE_FORM)
    outcome = attempt_sign_in(request, username, password)
    if isinstance(outcome, Refused):
        response = _page(request, "login.html", outcome.status, error=outcome.message)
        response.headers.update(outcome.headers)
        return response
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """End the session (on the server too: the old cookie no longer signs anyone in)."""
    if not form_token_ok(request, csrf):
        return _page(request, "error.html", 403, me=None, message=STALE_FORM)
    attempt_sign_out(request)
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
    view: Annotated[ListView, Depends(list_view)],
    message: int | None = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,  # a sorted one holds a key
) -> Response:
    """The three panes of ``mailbox``."""
    if me is None:
        return _to_login()
    address = mailbox.strip().lower()
    if not me.may_read(address):
        return _page(request, "error.html", 403, me=me, message="This mailbox is not yours.")
    audit_admin_read(request, me, address)
    try:
        view.check()
    except BadViewError as exc:
        return _page(request, "error.html", 400, me=me, message=str(exc))
    at_ms = view.message_filter(None).at
    with ctx.engine.connect() as conn:
        box = mailbox_id(conn, address)
        if box is None:
            return _page(request, "error.html", 404, me=me, message="No such mailbox here.")
        tree = folder_tree(conn, address, box, at_ms)
        first = first_change_time(conn, box) if at_ms is not None and not tree.folders else None
        chosen = view.folder or _default_folder(tree)
        thread = conversation_of(conn, box, view.conversation) if view.conversation else None
        if view.conversation and thread is None:
            return _page(request, "error.html", 404, me=me,
                         message="That message is not here, or belongs to no conversation.")
        wanted = view.message_filter(chosen, thread)
        order = view.order()
        try:
            page = message_page(conn, box, wanted, cursor, PAGE_SIZE, order)
        except BadCursorError:
            cursor = None
            page = message_page(conn, box, wanted, None, PAGE_SIZE, order)
        place = page_place(conn, box, wanted, cursor, PAGE_SIZE, order=order,
                           total=_folder_total(tree, chosen, view))
        detail = message_detail(conn, box, message) if message is not None else None
    # The cursor is part of the view: selecting a message keeps the page it is on.
    params = {**view.params(), "folder": chosen, "cursor": cursor}
    if at_ms is None:
        params.pop("at", None)
    kinds = {f.folder_key: f.distinguished_name for f in tree.folders}
    listing_many = bool(view.q) or view.conversation is not None
    return _page(
        request,
        "mailbox.html",
        me=me,
        mailbox=address,
        tree=_with_depth(tree.folders),
        names={f.folder_key: f.display_name for f in tree.folders},
        tree_info=tree,
        page=page,
        place=place,
        first_change=first,
        sent_folder=not listing_many and kinds.get(chosen or "") == "sentitems",
        show_folder=listing_many and not (view.q and view.scope == "folder"),
        order=order,
        detail=detail,
        view=view,
        params=params,
        query=lambda **change: _query(params, change),
        export=lambda fmt: f"/api/v1/mailboxes/{address}/export.{fmt}"
        + _query(params, {"cursor": None}),
    )


def _folder_total(tree: FolderTree, chosen: str | None, view: ListView) -> int | None:
    """How many messages the list holds, from the tree's counts, when it is a whole folder
    (deleted ones shown, hidden or alone; no search, filter or conversation); else None."""
    narrowed = (view.q, view.conversation, view.sender, view.since, view.until, view.unread,
                view.flagged, view.attachments)
    node = next((f for f in tree.folders if f.folder_key == chosen), None)
    if node is None or any(narrowed):
        return None
    shown = {"show": node.messages, "hide": node.messages - node.deleted_messages,
             "only": node.deleted_messages}
    return shown.get(view.deleted)


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
