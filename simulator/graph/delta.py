"""Delta queries: ``mailFolders/{id}/messages/delta`` per folder and ``mailFolders/delta`` for
the folder tree, over the same change tracking as EWS's SyncFolderItems/SyncFolderHierarchy
(``simulator/sync.py``).

**State tokens** (``deltatoken.py``) carry the query options of the initial request
(``$select``, ``$expand``, ``$filter``, ``$top``, ``changeType``): the nextLink and deltaLink
carry only ``$skiptoken``/``$deltatoken``, as "the state tokens also encode and include other
query parameters" (delta-query-overview.md). Options sent again with a token
are ignored; the token's win. ``Prefer: odata.maxpagesize`` is read on every request (the
samples of delta-query-messages.md send it each time). Tokens hold serials, not ids, so one
round may mix default and immutable ids page by page (outlook-immutable-id.md: immutable ids
work with existing delta links).

**Pages** hold at most the page size of *reported* changes; a page ends just before the next
reported change, a skip token follows while any remain, the last page has the delta link, and a
page may be empty (delta-query-overview.md allows a nextLink "even if the current response may
contain an empty result").

**Messages** (delta-query-messages.md): new and changed messages in full (or as ``$select``
says, ``id`` always, ``@odata.type`` and ``@odata.etag`` on each), gone ones as
``{"@odata.type", "id", "@removed": {"reason": "deleted"}}``; ``changed`` is the directory's
reason for a restorable object, mail is never that. A move shows as ``@removed`` in the source
folder and as new in the destination, with the same immutable id. With immutable ids, a message
that left and came back between two syncs is one message: its ``@removed`` is dropped and the
live one reported. ``changeType=created|updated|deleted`` filters later rounds only: the first
round returns every message (the doc's example 2), and filtered changes still advance the
state. ``$filter`` takes only ``receivedDateTime ge|gt {value}``, ``$orderby`` only
``receivedDateTime desc`` (accepted; order is not guaranteed anyway), ``$search`` nothing. The
5,000-message cap of a filtered delta is not simulated.

**Folders** (mailfolder-delta.md): the mail folders (``reads.is_mail_folder``) anywhere below
msgfolderroot, flat, each with its parentFolderId, parents before children; ``$select`` only.

**Expired and garbage tokens.** The pages disagree: delta-query-overview.md says an expired
Outlook token gets "a 40X-series error with error codes such as ``syncStateNotFound``" and,
elsewhere, that a ``410 Gone`` with a ``Location`` header of a fresh initial URL means "restart
with a full synchronization"; errors.md has ``syncStateNotFound`` (token expired) and
``resyncRequired`` (token no longer valid). Exchange Online answers an expired Outlook delta
token ``410 Gone`` with code ``SyncStateNotFound`` (microsoftgraph/microsoft-graph-docs#2350),
so both readings are served at once: **410 Gone + Location** always, code ``syncStateNotFound``
(errors.md's spelling; clients should compare codes case-insensitively) for a token of ours
whose epoch was expired (``expire_delta_tokens``), ``resyncRequired`` for a token that does not
decode or belongs to another mailbox, folder or kind of delta. The Location of an expired token
repeats its initial query options; that of a garbage one cannot, and is the bare delta URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from simulator.graph import odata, reads, render
from simulator.graph.deltatoken import (
    DeltaState,
    DeltaTokens,
    ExpiredTokenError,
    InvalidTokenError,
)
from simulator.graph.errors import GraphError, bad_request
from simulator.graph.ids import folder_id, serial_message_id
from simulator.graph.request import GraphContext, GraphResponse, GraphRoute
from simulator.mailbox import Mailbox
from simulator.model import Folder
from simulator.sync import Change, ChangeKind, folder_changes, item_changes

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

_TOKENS = ("$deltatoken", "$skiptoken")
MESSAGES, FOLDERS = "M", "F"
_MESSAGE_OPTIONS = ("$select", "$top", "$expand", "$filter", "$orderby", *_TOKENS)
_FOLDER_OPTIONS = ("$select", *_TOKENS)
_RECEIVED_FILTER = {"receiveddatetime": ("receivedDateTime", frozenset({"ge", "gt"}))}
_CHANGE_TYPES = {
    "created": frozenset({ChangeKind.CREATE}),
    "updated": frozenset({ChangeKind.UPDATE, ChangeKind.READ_FLAG}),
    "deleted": frozenset({ChangeKind.DELETE}),
}


def _state(
    ctx: GraphContext, kind: str, folder: Folder, validate: Callable[[dict[str, str]], object]
) -> DeltaState:
    """The state a request continues from (a fresh one for an initial request)."""
    mailbox = ctx.target()
    tokens: DeltaTokens = ctx.face.tokens
    given = odata.options(ctx.request.query)
    present = [given[t] for t in _TOKENS if given.get(t)]
    if len(present) > 1:
        raise bad_request("Only one of $deltatoken and $skiptoken may be given.")
    if not present:
        # an empty $deltatoken is the initial query (delta-query-overview.md, reset)
        options = {k: v for k, v in ctx.request.query.items() if k.lower() not in _TOKENS}
        validate(options)
        return DeltaState(
            kind,
            mailbox.number,
            folder.serial,
            tokens.epoch(mailbox.smtp),
            0,
            frozenset(),
            options,
            True,
        )
    try:
        return tokens.decode(present[0], kind, mailbox, folder.serial)
    except ExpiredTokenError as expired:
        raise _reset(
            ctx,
            "syncStateNotFound",
            "The sync state generation is not found: the delta token is expired "
            "and data must be synchronized again.",
            expired.state.options,
        ) from None
    except InvalidTokenError:
        raise _reset(
            ctx,
            "resyncRequired",
            "The delta token is no longer valid, and the app must reset the sync state.",
            {},
        ) from None


def _reset(ctx: GraphContext, code: str, message: str, options: dict[str, str]) -> GraphError:
    location = odata.link(ctx.request.base_url, ctx.request.path, options)
    return GraphError(410, code, message, headers={"Location": location})


def _cut(
    mailbox: Mailbox,
    changes: Sequence[Change],
    state: DeltaState,
    limit: int,
    shown: Callable[[Change], bool],
    joins: Callable[[Change], bool],
) -> tuple[list[Change], DeltaState, bool]:
    """Take changes (in sync.py's order) until ``limit`` are shown and the next shown one would
    overflow the page; returns the shown ones, the state after everything taken, and whether
    that was all. A hidden change still moves the state on; ``joins`` says whether a created
    object joins the client's known set (one outside the collection does not)."""
    known = set(state.known)
    out: list[Change] = []
    last: Change | None = None
    for change in changes:
        visible = shown(change)
        if visible and len(out) >= limit:
            break
        last = change
        if change.kind is ChangeKind.DELETE:
            known.discard(change.serial)
        elif change.kind is ChangeKind.CREATE and joins(change):
            known.add(change.serial)
        if visible:
            out.append(change)
    complete = last is changes[-1] if changes else True
    if complete or last is None:
        position = mailbox.seq if complete else state.position
    else:
        position = max(state.position, last.key[0])
    after = DeltaState(
        state.kind,
        state.mailbox_no,
        state.folder,
        state.epoch,
        position,
        frozenset(known),
        state.options,
        state.initial and not complete,
    )
    return out, after, complete


def _answer(
    ctx: GraphContext, type_name: str, rows: list[dict[str, Any]], after: DeltaState, complete: bool
) -> GraphResponse:
    """A delta page: the rows, then a deltaLink (round over) or a nextLink (more to come)."""
    name, param = (
        ("@odata.deltaLink", "$deltatoken") if complete else ("@odata.nextLink", "$skiptoken")
    )
    token = ctx.face.tokens.encode(after)
    body = {
        "@odata.context": odata.context(
            ctx.request.base_url, f"Collection({type_name.rpartition('.')[2]})"
        ),
        name: odata.link(ctx.request.base_url, ctx.request.path, {param: token}),
        "value": rows,
    }
    return GraphResponse(body)


def _message_query(
    ctx: GraphContext, options: dict[str, str]
) -> tuple[odata.Query, tuple[odata.Comparison, ...], frozenset[ChangeKind] | None]:
    """The validated options of a message delta round."""
    query = odata.parse(
        options,
        allowed=_MESSAGE_OPTIONS,
        properties=render.MESSAGE_SELECTABLE,
        type_name=render.MESSAGE_TYPE,
        max_top=ctx.face.settings.max_page_size,
    )
    given = odata.options(options)
    conditions = (
        odata.parse_filter(given["$filter"], _RECEIVED_FILTER) if "$filter" in given else ()
    )
    if (
        query.orderby is not None
        and " ".join(query.orderby.lower().split()) != "receiveddatetime desc"
    ):
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "$orderby supports only receivedDateTime desc in a delta query.",
        )
    raw = next((v for k, v in options.items() if k.lower() == "changetype"), None)
    kinds = None
    if raw is not None:
        kinds = _CHANGE_TYPES.get(raw.strip().lower())
        if kinds is None:
            raise bad_request(f"Invalid changeType '{raw}': use created, updated or deleted.")
    return query, conditions, kinds


def message_delta(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id}/messages/delta``."""
    mailbox = ctx.target()
    folder = reads.resolve_folder(mailbox, ctx.params["folder"])
    state = _state(ctx, MESSAGES, folder, lambda options: _message_query(ctx, options))
    query, conditions, kinds = _message_query(ctx, state.options)
    immutable = ctx.immutable_ids
    batch = item_changes(mailbox, folder, state.known, state.position, 1 << 62)

    def joins(change: Change) -> bool:
        item = change.item
        return item is not None and all(c.holds(item.received) for c in conditions)

    def shown(change: Change) -> bool:
        if change.kind is ChangeKind.CREATE and not joins(change):
            return False
        if kinds is not None and not state.initial and change.kind not in kinds:
            return False
        if change.kind is ChangeKind.DELETE and immutable:
            # the same message back in this folder under a new serial: report the live one only
            origin = mailbox.serial_origin.get(change.serial, change.serial)
            return mailbox.origin_index.get(origin) not in folder.items
        return True

    changes, after, complete = _cut(
        mailbox, batch.changes, state, reads.page_size(ctx, query.top), shown, joins
    )
    rows = []
    for change in changes:
        if change.item is None:
            rows.append(
                render.removed(
                    serial_message_id(mailbox, change.serial, immutable=immutable),
                    render.MESSAGE_TYPE,
                )
            )
        else:
            rows.append(
                render.message(
                    mailbox,
                    change.item,
                    immutable=immutable,
                    select=query.select,
                    extended=query.expand,
                    typed=True,
                )
            )
    return _answer(ctx, render.MESSAGE_TYPE, rows, after, complete)


def _folder_query(ctx: GraphContext, options: dict[str, str]) -> odata.Query:
    return odata.parse(
        options,
        allowed=_FOLDER_OPTIONS,
        properties=render.FOLDER_SELECTABLE,
        type_name=render.FOLDER_TYPE,
        max_top=ctx.face.settings.max_page_size,
    )


def folder_delta(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/delta``: the mail folder tree below msgfolderroot."""
    mailbox = ctx.target()
    root = mailbox.folder_by_name("msgfolderroot")
    state = _state(ctx, FOLDERS, root, lambda options: _folder_query(ctx, options))
    query = _folder_query(ctx, state.options)
    batch = folder_changes(mailbox, root, state.known, state.position, 1 << 62)

    def joins(change: Change) -> bool:
        return change.folder is not None and reads.is_mail_folder(change.folder)

    def shown(change: Change) -> bool:
        return change.kind is not ChangeKind.CREATE or joins(change)

    changes, after, complete = _cut(
        mailbox, batch.changes, state, reads.page_size(ctx, None), shown, joins
    )
    rows = [
        render.removed(folder_id(mailbox, change.serial))
        if change.folder is None
        else render.folder(
            mailbox,
            change.folder,
            child_count=len(reads.mail_children(mailbox, change.folder)),
            select=query.select,
        )
        for change in changes
    ]
    return _answer(ctx, render.FOLDER_TYPE, rows, after, complete)


def routes() -> list[GraphRoute]:
    """The delta routes (``delta`` and its qualified name ``microsoft.graph.delta``)."""
    out = []
    for name in ("delta", "microsoft.graph.delta"):
        out += [
            GraphRoute(
                "GET", f"/users/{{user}}/mailFolders/{name}", "mailFolder.delta", folder_delta
            ),
            GraphRoute(
                "GET",
                f"/users/{{user}}/mailFolders/{{folder}}/messages/{name}",
                "message.delta",
                message_delta,
            ),
        ]
    return out


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """``expire_delta_tokens(smtp=None)``: every outstanding token of a mailbox (or of all)
    answers 410 from now on."""
    return {"expire_delta_tokens": face.tokens.expire}


__all__ = ["DeltaTokens", "controls", "folder_delta", "message_delta", "routes"]
