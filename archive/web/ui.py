"""The web UI: sign in, then the three panes (folders, messages, metadata) of a mailbox, now or
as it was at a chosen time, and the admin page. Server-rendered (Jinja2) with a little JS; every
page costs a few indexed queries (and a count), whatever the size of the folder. Times are sent
in UTC and shown in the browser's time zone by app.js, with UTC on hover."""

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
from archive.browse.listing import (
    MessageFilter,
    message_detail,
    message_page,
    page_place,
)
from archive.browse.models import FolderNode, FolderTree, TimeOutOfRangeError, from_ms, to_ms
from archive.browse.ordering import SORT_PATTERN, BadCursorError, Order
from archive.browse.tree import first_change_time, folder_tree, mailbox_id, summaries
from archive.web.context import ArchiveContext, audit_admin_read, context, session_principal
from archive.web.csrf import STALE_FORM, form_token, form_token_ok
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
    folder: Annotated[str | None, Query(max_length=512)] = None,
    message: int | None = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    deleted: Annotated[str, Query(pattern="^(show|hide)$")] = "show",
    cursor: Annotated[str | None, Query(max_length=4096)] = None,  # a sorted one holds a key
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN)] = None,
) -> Response:
    """The three panes of ``mailbox``."""
    if me is None:
        return _to_login()
    address = mailbox.strip().lower()
    if not me.may_read(address):
        return _page(request, "error.html", 403, me=me, message="This mailbox is not yours.")
    audit_admin_read(request, me, address)
    try:
        at_ms = _parse_at(at)
    except ValueError as exc:
        reason = str(exc) if isinstance(exc, TimeOutOfRangeError) else "not a date and time"
        problem = (f"“As it was on” {at!r}: {reason}. Use a form like 2024-05-01T09:30 (UTC) "
                   "or 2024-05-01T09:30+02:00.")
        return _page(request, "error.html", 400, me=me, message=problem)
    with ctx.engine.connect() as conn:
        box = mailbox_id(conn, address)
        if box is None:
            return _page(request, "error.html", 404, me=me, message="No such mailbox here.")
        tree = folder_tree(conn, address, box, at_ms)
        first = first_change_time(conn, box) if at_ms is not None and not tree.folders else None
        chosen = folder or _default_folder(tree)
        wanted = MessageFilter(
            folder_key=None if q else chosen, include_deleted=deleted == "show", text=q, at=at_ms
        )
        order = Order.parse(sort)
        try:
            page = message_page(conn, box, wanted, cursor, PAGE_SIZE, order)
        except BadCursorError:
            cursor = None
            page = message_page(conn, box, wanted, None, PAGE_SIZE, order)
        place = page_place(conn, box, wanted, cursor, PAGE_SIZE, order=order)
        detail = message_detail(conn, box, message) if message is not None else None
    # The cursor is part of the view: selecting a message keeps the page it is on.
    view = {"folder": chosen, "at": at if at_ms is not None else None, "q": q,
            "deleted": deleted, "cursor": cursor, "sort": None if order.is_default else sort}
    kinds = {f.folder_key: f.distinguished_name for f in tree.folders}
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
        sent_folder=not q and kinds.get(chosen or "") == "sentitems",
        order=order,
        detail=detail,
        view=view,
        query=lambda **change: _query(view, change),
    )


def _parse_at(at: str | None) -> int | None:
    """``at`` in ms; a ValueError (TimeOutOfRangeError included) if it is not a time."""
    return to_ms(datetime.fromisoformat(at)) if at else None


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
