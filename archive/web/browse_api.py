"""The browse API (``/api/v1``): what a signed-in user may read, as JSON.

Every mailbox route checks the grant before looking anything up: a mailbox that is not the
caller's answers 403 whether or not it exists; one of the caller's the archive has never received
a record for answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from archive.accounts import Principal
from archive.browse.listing import NEWEST_FIRST, MessageFilter, message_detail, message_page
from archive.browse.models import (
    FolderTree,
    MailboxReplication,
    MailboxSummary,
    MessageDetail,
    MessagePage,
    TimeOutOfRangeError,
    to_ms,
)
from archive.browse.ordering import SORT_PATTERN, BadCursorError, Order
from archive.browse.tree import folder_tree, mailbox_id, replication, summaries
from archive.web.context import ArchiveContext, api_principal, audit_admin_read, context
from archive.web.export import export_response
from archive.web.listview import ListView, list_view
from archive.web.signin import Refused, attempt_sign_in, attempt_sign_out

router = APIRouter(prefix="/api/v1", tags=["browse"])
Ctx = Annotated[ArchiveContext, Depends(context)]
Me = Annotated[Principal, Depends(api_principal)]
MailboxPath = Annotated[str, Path(max_length=320, description="the mailbox's SMTP address")]
At = Annotated[
    datetime | None,
    Query(description="show the mailbox as it was at this time (ISO 8601; naive means UTC)"),
]


class Credentials(BaseModel):
    """A sign-in."""

    username: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class SessionInfo(BaseModel):
    """Who is signed in."""

    username: str
    is_admin: bool
    mailboxes: list[str]


@router.post(
    "/session",
    summary="Sign in (sets the session cookie)",
    response_model=SessionInfo,
    responses={
        401: {"description": "unknown user or wrong password"},
        429: {"description": "too many failed sign-ins: slowed down or locked (Retry-After)"},
    },
)
def create_session(credentials: Credentials, request: Request) -> SessionInfo:
    """Check the credentials and start a session. Repeated failures for an account or from an
    address are slowed down, then locked (429 with Retry-After), whatever the password."""
    outcome = attempt_sign_in(request, credentials.username, credentials.password)
    if isinstance(outcome, Refused):
        raise HTTPException(outcome.status, outcome.message.lower(), headers=outcome.headers)
    return _info(outcome)


@router.get("/session", summary="Who is signed in", response_model=SessionInfo)
def read_session(me: Me) -> SessionInfo:
    """The signed-in user and the mailboxes they may read."""
    return _info(me)


@router.delete("/session", summary="Sign out", status_code=204)
def delete_session(request: Request) -> None:
    """End the session, on the server too: the same cookie signs nobody in afterwards."""
    attempt_sign_out(request)


def _info(principal: Principal) -> SessionInfo:
    return SessionInfo(
        username=principal.username,
        is_admin=principal.is_admin,
        mailboxes=sorted(principal.mailboxes),
    )


def readable_mailbox(mailbox: MailboxPath, me: Me, ctx: Ctx, request: Request) -> int:
    """The id of ``mailbox`` if the caller may read it (403) and the archive holds it (404)."""
    if not me.may_read(mailbox):
        raise HTTPException(status_code=403, detail="this mailbox is not yours to read")
    audit_admin_read(request, me, mailbox)
    with ctx.engine.connect() as conn:
        found = mailbox_id(conn, mailbox.strip().lower())
    if found is None:
        raise HTTPException(status_code=404, detail="the archive holds no such mailbox")
    return found


Box = Annotated[int, Depends(readable_mailbox)]


@router.get("/mailboxes", summary="The mailboxes you may read", response_model=list[MailboxSummary])
def list_mailboxes(me: Me, ctx: Ctx) -> list[MailboxSummary]:
    """Your own mailbox(es) and those delegated to you; every mailbox for an admin."""
    with ctx.engine.connect() as conn:
        return summaries(conn, None if me.is_admin else me.mailboxes)


@router.get(
    "/mailboxes/{mailbox}/folders", summary="The folder tree with counts", response_model=FolderTree
)
def get_folders(mailbox: MailboxPath, box: Box, ctx: Ctx, at: At = None) -> FolderTree:
    """Folders depth-first, deleted ones included and marked; ``at`` shows the tree as it was."""
    when = _ms("at", at)
    with ctx.engine.connect() as conn:
        return folder_tree(conn, mailbox.strip().lower(), box, when)


@router.get(
    "/mailboxes/{mailbox}/messages",
    summary="Messages of a folder (or the whole mailbox), newest first or sorted, paged, filtered",
    response_model=MessagePage,
)
def list_messages(
    box: Box,
    ctx: Ctx,
    folder: Annotated[str | None, Query(max_length=512, description="a folder key")] = None,
    include_deleted: Annotated[bool, Query(description="show deleted messages")] = True,
    only_deleted: Annotated[bool, Query(description="deleted messages only")] = False,
    unread: Annotated[bool, Query(description="unread messages only")] = False,
    flagged: Annotated[bool, Query(description="flagged messages only")] = False,
    has_attachments: Annotated[bool, Query(description="ones with attachments only")] = False,
    sender: Annotated[str | None, Query(max_length=200, description="in name or address")] = None,
    subject: Annotated[str | None, Query(max_length=200, description="in the subject")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in any metadata")] = None,
    received_from: Annotated[datetime | None, Query(description="received at or after")] = None,
    received_to: Annotated[datetime | None, Query(description="received before")] = None,
    at: At = None,
    sort: Annotated[str | None, Query(
        pattern=SORT_PATTERN,
        description="received, sender, subject or size; a leading - for descending "
        "(default: -received, newest first)",
    )] = None,
    cursor: Annotated[str | None, Query(max_length=4096, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> MessagePage:
    """Deleted messages appear at their last known folder, marked deleted. A cursor holds its
    order: pass the same ``sort`` with it."""
    wanted = MessageFilter(
        folder_key=folder,
        include_deleted=include_deleted,
        only_deleted=only_deleted,
        unread=unread,
        flagged=flagged,
        with_attachments=has_attachments,
        sender=sender,
        subject=subject,
        text=q,
        received_from=_ms("received_from", received_from),
        received_to=_ms("received_to", received_to),
        at=_ms("at", at),
    )
    return _page(ctx, box, wanted, cursor, limit, Order.parse(sort))


@router.get(
    "/mailboxes/{mailbox}/search",
    summary="Search the mailbox's metadata (subject, people, categories, Message-ID)",
    response_model=MessagePage,
)
def search(
    box: Box,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    include_deleted: bool = True,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> MessagePage:
    """Every word of ``q`` must occur (case-insensitive) in some metadata of the message."""
    return _page(ctx, box, MessageFilter(include_deleted=include_deleted, text=q), cursor, limit)


def _ms(name: str, when: datetime | None) -> int | None:
    if when is None:
        return None
    try:
        return to_ms(when)
    except TimeOutOfRangeError as exc:
        raise HTTPException(status_code=400, detail=f"{name}: {exc}") from exc


def _page(
    ctx: ArchiveContext, box: int, wanted: MessageFilter, cursor: str | None, limit: int,
    order: Order = NEWEST_FIRST,
) -> MessagePage:
    limit = min(limit, ctx.settings.page_size_max)
    try:
        with ctx.engine.connect() as conn:
            return message_page(conn, box, wanted, cursor, limit, order)
    except BadCursorError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@router.get(
    "/mailboxes/{mailbox}/export.{fmt}",
    summary="A message list (folder, search, conversation; filtered) as CSV or JSON",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}},
        400: {"description": "a bad parameter, or more messages than one export may hold"},
    },
)
def export(
    mailbox: MailboxPath,
    box: Box,
    ctx: Ctx,
    fmt: Annotated[str, Path(pattern="^(csv|json)$")],
    view: Annotated[ListView, Depends(list_view)],
) -> StreamingResponse:
    """The list the web UI's mailbox page shows with the same parameters (``folder``, ``q``,
    ``scope``, ``conversation``, ``deleted``, ``sender``, ``since``, ``until``, ``unread``,
    ``flagged``, ``attachments``, ``sort``, ``at``), every page of it, streamed: metadata
    only, deleted messages marked. At most ``export_max_messages`` (else 400)."""
    return export_response(ctx, box, mailbox, view, fmt)


@router.get(
    "/mailboxes/{mailbox}/messages/{message_id}",
    summary="A message's metadata and its history of locations and changes",
    response_model=MessageDetail,
)
def get_message(box: Box, ctx: Ctx, message_id: int) -> MessageDetail:
    """404 if the mailbox holds no such message (or it was withdrawn, or the id is not one the
    archive could have handed out)."""
    with ctx.engine.connect() as conn:
        found = message_detail(conn, box, message_id)
    if found is None:
        raise HTTPException(status_code=404, detail="no such message in this mailbox")
    return found


@router.get(
    "/admin/mailboxes",
    summary="Every mailbox's replication state (admins only)",
    response_model=list[MailboxReplication],
)
def admin_mailboxes(me: Me, ctx: Ctx) -> list[MailboxReplication]:
    """Counts, last change, lag and each pipeline component's last status, per mailbox."""
    if not me.is_admin:
        raise HTTPException(status_code=403, detail="admins only")
    with ctx.engine.connect() as conn:
        return replication(conn)
