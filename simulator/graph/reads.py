"""Graph reads: the user, mailFolders, childFolders, a folder's messages, one message.

**Which folders Graph shows.** ``GET /users/{id}/mailFolders`` lists the children of
msgfolderroot (user-list-mailfolders.md: "directly under the root folder", alphabetically in its
sample), ``childFolders`` one folder's children (mailfolder-list-childfolders.md). Both, and
``mailFolders/delta``, show **mail folders only**: folders whose class is ``IPF.Note`` or
``IPF.Note.*``, or that have no class (Top of Information Store, the Recoverable Items
folders: nothing marks them as another kind, and they are reachable as mail folders by name).
Calendar (``IPF.Appointment``), Contacts, Tasks, Notes (``IPF.StickyNote``) and Journal are
left out. No Microsoft page says so; the evidence is
real Exchange Online behaviour reported publicly: /me/mailFolders never enumerates Calendar,
Contacts or Tasks (they live under /calendars, /contacts; kellylford/QuickMail#613), folders of
another class such as ``IPF.Imap`` are missing from the listing though reachable by id
(s1t5/mail-archiver#370, microsoftgraph/microsoft-graph-explorer-v4#2415), and ``calendar`` is
no well-known name of mailFolders (microsoftgraph/microsoft-graph-docs-contrib#4058). So a folder
of any class can still be read **by its id**; ``childFolderCount`` counts the children Graph
would list.

**Well-known names** are those of mailfolder.md that the mailbox has (inbox, sentitems,
deleteditems, drafts, junkemail, outbox, archive, conversationhistory, msgfolderroot,
recoverableitemsdeletions), plus recoverableitemsroot, recoverableitemspurges and
recoverableitemsversions, EWS's distinguished names that Outlook's REST API also takes by name
(the Exch-Rest PowerShell module reads ``MailFolders/recoverableitemsroot/childfolders``); they
are case-insensitive. Any other word (``calendar``, ``root``) is not an id either: 400
``ErrorInvalidIdMalformed`` "Id is malformed.", as Outlook answers an id it cannot parse. A
well-formed id of a folder or message that is not there (deleted, or a message's default id
from before a move) is 404 ``ErrorItemNotFound``. A message read through a folder must be in
that folder.

**Hidden folders**: the simulator's mailboxes have none, so ``isHidden`` is false and
``includeHiddenFolders`` changes nothing.

**Paging** (user-list-mailfolders.md's tip): ``$top`` or ``Prefer: odata.maxpagesize`` (the
smaller when both are given) sets the page size (default ``default_page_size``, 10 as that
page says; at most ``max_page_size``); ``@odata.nextLink`` repeats the query with the next
``$skip``. Messages list newest first
(receivedDateTime desc); ``$orderby=receivedDateTime asc|desc`` is understood, and ``$filter``
takes comparisons on receivedDateTime, isRead and hasAttachments (the simulator's subset of
mailfolder-list-messages.md's OData support; anything else is a 400). ``$select`` and
``$expand=singleValueExtendedProperties($filter=...)`` shape each listed message as they shape
one read by id (the extractor's drift check lists a folder ``$top=1000&$select=id`` with the
class and sensitivity properties). Folders list by displayName and take no ``$filter``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from simulator.graph import delta, odata, render
from simulator.graph.errors import GraphError, bad_request, not_found
from simulator.graph.ids import find_message, to_ews, user_id
from simulator.graph.request import GraphContext, GraphResponse, GraphRoute
from simulator.ids import IdKind, decode_id
from simulator.mailbox import Mailbox
from simulator.model import Folder, Item

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

WELL_KNOWN = frozenset(
    {
        "archive", "conversationhistory", "deleteditems", "drafts", "inbox", "junkemail",
        "msgfolderroot", "outbox", "recoverableitemsdeletions", "recoverableitemspurges",
        "recoverableitemsroot", "recoverableitemsversions", "sentitems",
    }
)  # fmt: skip
_LIST_OPTIONS = ("$select", "$top", "$skip", "$expand")
_MESSAGE_FILTER = {
    "receiveddatetime": ("receivedDateTime", frozenset({"eq", "ne", "gt", "ge", "lt", "le"})),
    "isread": ("isRead", frozenset({"eq", "ne"})),
    "hasattachments": ("hasAttachments", frozenset({"eq", "ne"})),
}
_ORDERS = {"receiveddatetime": True, "receiveddatetime desc": True, "receiveddatetime asc": False}


# --- folders: which, and how they are named -------------------------------------------------
def is_mail_folder(folder: Folder) -> bool:
    """Whether Graph's mailFolders collections show this folder (see the module docstring)."""
    cls = folder.folder_class
    return not folder.search_folder and (
        cls is None or cls == "IPF.Note" or cls.startswith("IPF.Note.")
    )


def mail_children(mailbox: Mailbox, folder: Folder) -> list[Folder]:
    """The child folders Graph lists under ``folder``."""
    children = (mailbox.folders[c] for c in folder.children)
    return [c for c in children if is_mail_folder(c)]


def resolve_folder(mailbox: Mailbox, ref: str) -> Folder:
    """The folder a path segment names: a well-known name or an id; 400 or 404 otherwise."""
    if ref.lower() in WELL_KNOWN:
        serial = mailbox.distinguished.get(ref.lower())
        if serial is not None and serial in mailbox.folders:
            return mailbox.folders[serial]
        raise not_found("The specified folder could not be found in the store.")
    decoded = decode_id(to_ews(ref))
    if decoded is None or decoded.kind is not IdKind.FOLDER:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    found = mailbox.folders.get(decoded.serial) if decoded.mailbox_no == mailbox.number else None
    if found is None:
        raise not_found("The specified object was not found in the store.")
    return found


def resolve_message(mailbox: Mailbox, ref: str) -> Item:
    """The live message a default or immutable id names; 400 malformed, 404 not there."""
    decoded = decode_id(to_ews(ref))
    if decoded is None or decoded.kind not in (IdKind.ITEM, IdKind.IMMUTABLE):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    item = find_message(mailbox, ref)
    if item is None:
        raise not_found("The specified object was not found in the store.")
    return item


def page_size(ctx: GraphContext, top: int | None) -> int:
    """The page size a request asks for: the smaller of ``$top`` and ``odata.maxpagesize``,
    else the default; never above the face's maximum."""
    settings = ctx.face.settings
    asked = [n for n in (top, ctx.request.max_page_size()) if n]
    wanted = min(asked) if asked else settings.default_page_size
    return max(1, min(wanted, settings.max_page_size))


def _user_segment(ctx: GraphContext) -> str:
    return f"users('{quote(ctx.user or '', safe='@')}')"


def _query(
    ctx: GraphContext, allowed: Sequence[str], properties: Sequence[str], type_name: str
) -> odata.Query:
    return odata.parse(
        ctx.request.query,
        allowed=allowed,
        properties=properties,
        type_name=type_name,
        max_top=ctx.face.settings.max_page_size,
    )


def _page(ctx: GraphContext, query: odata.Query, total: int, size: int) -> dict[str, str]:
    """The nextLink annotation (if another page follows)."""
    if query.skip + size >= total:
        return {}
    params = {k: v for k, v in ctx.request.query.items() if k.lower() != "$skip"}
    params["$skip"] = str(query.skip + size)
    return {"@odata.nextLink": odata.link(ctx.request.base_url, ctx.request.path, params)}


# --- handlers --------------------------------------------------------------------------------
def get_user(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id | userPrincipalName}``."""
    mailbox = ctx.target()
    return GraphResponse(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users/$entity",
            "id": user_id(mailbox.smtp),
            "displayName": mailbox.address.name,
            "mail": mailbox.smtp,
            "userPrincipalName": mailbox.smtp,
        }
    )


def _folder_list(ctx: GraphContext, folders: list[Folder], fragment: str) -> GraphResponse:
    mailbox = ctx.target()
    query = _query(ctx, _LIST_OPTIONS, render.FOLDER_SELECTABLE, render.FOLDER_TYPE)
    folders = sorted(folders, key=lambda f: (f.name.lower(), f.serial))
    size = page_size(ctx, query.top)
    rows = [
        render.folder(
            mailbox,
            f,
            child_count=len(mail_children(mailbox, f)),
            select=query.select,
            extended=query.expand,
        )
        for f in folders[query.skip : query.skip + size]
    ]
    body: dict[str, Any] = {
        "@odata.context": odata.context(ctx.request.base_url, fragment, query.select)
    }
    body.update(_page(ctx, query, len(folders), size))
    body["value"] = rows
    return GraphResponse(body)


def list_folders(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders``: the mail folders under msgfolderroot."""
    mailbox = ctx.target()
    top = mailbox.folder_by_name("msgfolderroot")
    return _folder_list(ctx, mail_children(mailbox, top), f"{_user_segment(ctx)}/mailFolders")


def list_child_folders(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id}/childFolders``."""
    mailbox = ctx.target()
    parent = resolve_folder(mailbox, ctx.params["folder"])
    fragment = f"{_user_segment(ctx)}/mailFolders('{ctx.params['folder']}')/childFolders"
    return _folder_list(ctx, mail_children(mailbox, parent), fragment)


def _one_folder(ctx: GraphContext, found: Folder, fragment: str) -> GraphResponse:
    mailbox = ctx.target()
    query = _query(ctx, ("$select", "$expand"), render.FOLDER_SELECTABLE, render.FOLDER_TYPE)
    body: dict[str, Any] = {
        "@odata.context": odata.context(ctx.request.base_url, fragment, query.select)
    }
    body.update(
        render.folder(
            mailbox,
            found,
            child_count=len(mail_children(mailbox, found)),
            select=query.select,
            extended=query.expand,
        )
    )
    return GraphResponse(body)


def get_folder(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id or well-known name}``."""
    found = resolve_folder(ctx.target(), ctx.params["folder"])
    return _one_folder(ctx, found, f"{_user_segment(ctx)}/mailFolders/$entity")


def get_child_folder(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id}/childFolders/{id}``."""
    mailbox = ctx.target()
    parent = resolve_folder(mailbox, ctx.params["folder"])
    found = resolve_folder(mailbox, ctx.params["child"])
    if found.parent != parent.serial:
        raise not_found("The specified object was not found in the store.")
    fragment = f"{_user_segment(ctx)}/mailFolders('{ctx.params['folder']}')/childFolders/$entity"
    return _one_folder(ctx, found, fragment)


def list_messages(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id}/messages``: newest first, paged."""
    mailbox = ctx.target()
    folder = resolve_folder(mailbox, ctx.params["folder"])
    allowed = (*_LIST_OPTIONS, "$filter", "$orderby")
    query = _query(ctx, allowed, render.MESSAGE_SELECTABLE, render.MESSAGE_TYPE)
    given = odata.options(ctx.request.query)
    conditions = odata.parse_filter(given["$filter"], _MESSAGE_FILTER) if "$filter" in given else ()
    newest_first = True
    if query.orderby is not None:
        order = " ".join(query.orderby.lower().split())
        if order not in _ORDERS:
            raise bad_request(
                f"The simulator orders messages only by receivedDateTime, not '{query.orderby}'."
            )
        newest_first = _ORDERS[order]
    items = [i for i in folder.items.values() if _matches(i, conditions)]
    items.sort(key=lambda i: (i.received or datetime.min, i.serial), reverse=newest_first)
    size = page_size(ctx, query.top)
    rows = [
        render.message(
            mailbox, i, immutable=ctx.immutable_ids, select=query.select, extended=query.expand
        )
        for i in items[query.skip : query.skip + size]
    ]
    fragment = f"{_user_segment(ctx)}/mailFolders('{ctx.params['folder']}')/messages"
    body: dict[str, Any] = {
        "@odata.context": odata.context(ctx.request.base_url, fragment, query.select)
    }
    body.update(_page(ctx, query, len(items), size))
    body["value"] = rows
    return GraphResponse(body)


def _matches(item: Item, conditions: Sequence[odata.Comparison]) -> bool:
    values = {
        "receivedDateTime": item.received,
        "isRead": item.is_read,
        "hasAttachments": item.has_attachments,
    }
    return all(c.holds(values[c.field]) for c in conditions)


def _one_message(ctx: GraphContext, item: Item) -> GraphResponse:
    mailbox = ctx.target()
    query = _query(ctx, ("$select", "$expand"), render.MESSAGE_SELECTABLE, render.MESSAGE_TYPE)
    fragment = f"{_user_segment(ctx)}/messages/$entity"
    body: dict[str, Any] = {
        "@odata.context": odata.context(ctx.request.base_url, fragment, query.select)
    }
    body.update(
        render.message(
            mailbox, item, immutable=ctx.immutable_ids, select=query.select, extended=query.expand
        )
    )
    return GraphResponse(body)


def get_message(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/messages/{id}`` (a default or an immutable id)."""
    return _one_message(ctx, resolve_message(ctx.target(), ctx.params["id"]))


def get_folder_message(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id}/mailFolders/{id}/messages/{id}``: the message must be in that folder."""
    mailbox = ctx.target()
    folder = resolve_folder(mailbox, ctx.params["folder"])
    item = resolve_message(mailbox, ctx.params["id"])
    if item.folder != folder.serial:
        raise not_found("The specified object was not found in the store.")
    return _one_message(ctx, item)


def routes() -> list[GraphRoute]:
    """The read routes. The delta routes come first: the face tries routes in order and the
    literal ``delta`` segment must win over ``{folder}`` and ``{id}`` (registering them again
    after ours, as the face does, changes nothing)."""
    base = "/users/{user}/mailFolders"
    return [
        *delta.routes(),
        GraphRoute("GET", "/users/{user}", "user.get", get_user),
        GraphRoute("GET", base, "mailFolder.list", list_folders),
        GraphRoute("GET", base + "/{folder}", "mailFolder.get", get_folder),
        GraphRoute(
            "GET", base + "/{folder}/childFolders", "mailFolder.childFolders", list_child_folders
        ),
        GraphRoute(
            "GET", base + "/{folder}/childFolders/{child}", "mailFolder.get", get_child_folder
        ),
        GraphRoute("GET", base + "/{folder}/messages", "message.list", list_messages),
        GraphRoute("GET", base + "/{folder}/messages/{id}", "message.get", get_folder_message),
        GraphRoute("GET", "/users/{user}/messages/{id}", "message.get", get_message),
    ]


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part (none)."""
    return {}
