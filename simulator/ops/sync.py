"""SyncFolderHierarchy and SyncFolderItems."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from simulator.context import Context
from simulator.errors import EwsError
from simulator.mailbox import Mailbox
from simulator.model import Folder
from simulator.ops.common import bounded_int
from simulator.render import render_folder, render_item
from simulator.shapes import Shape, parse_shape, requested_ids
from simulator.soap import child, error_message, m, response_root, sub, success_message, t, text_of
from simulator.sync import Batch, ChangeKind, folder_changes, item_changes
from simulator.syncstate import SyncState, decode, encode

MAX_CHANGES = 512
Builder = Callable[[etree._Element, Context, etree._Element], None]


def _sync_folder(
    ctx: Context, request: etree._Element, default: str | None
) -> tuple[Mailbox, Folder]:
    holder = child(request, "SyncFolderId")
    ids = [] if holder is None else requested_ids(holder)
    if ids:
        return ctx.folder(ids[0])
    if default is None:
        raise EwsError("ErrorSchemaValidation", "SyncFolderId is required.", fault=True)
    mailbox = ctx.target()
    return mailbox, mailbox.folder_by_name(default)


def _state(request: etree._Element, kind: str, mailbox: Mailbox, folder: Folder) -> SyncState:
    token = text_of(request, "SyncState")
    if not token:
        return SyncState(kind, mailbox.number, folder.serial, 0, frozenset())
    return decode(token, kind, mailbox.number, folder.serial)


def _respond(
    operation: str, build: Builder, ctx: Context, request: etree._Element
) -> etree._Element:
    root, container = response_root(operation)
    try:
        message = success_message(etree.Element("scratch"), operation)
        build(message, ctx, request)
        container.append(message)
    except EwsError as error:
        if error.fault:
            raise
        error_message(container, operation, error)
    return root


def _header(
    message: etree._Element, state: SyncState, batch: Batch, last_name: str
) -> etree._Element:
    token = encode(
        SyncState(state.kind, state.mailbox_no, state.folder, batch.position, batch.known)
    )
    sub(message, m("SyncState"), token)
    sub(message, m(last_name), "true" if batch.last_in_range else "false")
    return sub(message, m("Changes"))


def _hierarchy(message: etree._Element, ctx: Context, request: etree._Element) -> None:
    shape = parse_shape(child(request, "FolderShape"), items=False)
    mailbox, root = _sync_folder(ctx, request, "msgfolderroot")
    state = _state(request, "H", mailbox, root)
    batch = folder_changes(mailbox, root, state.known, state.position, 1 << 30)
    changes = _header(message, state, batch, "IncludesLastFolderInRange")
    for change in batch.changes:
        element = sub(changes, t(change.kind.value))
        if change.folder is None:
            sub(element, t("FolderId"), Id=mailbox.folder_id(change.serial))
        else:
            render_folder(element, mailbox, change.folder, shape)


def _items(message: etree._Element, ctx: Context, request: etree._Element) -> None:
    shape: Shape = parse_shape(child(request, "ItemShape"), items=True, summary=True)
    limit = bounded_int(request, "MaxChangesReturned", MAX_CHANGES, 1, MAX_CHANGES)
    mailbox, folder = _sync_folder(ctx, request, None)
    state = _state(request, "I", mailbox, folder)
    batch = item_changes(mailbox, folder, state.known, state.position, limit)
    changes = _header(message, state, batch, "IncludesLastItemInRange")
    for change in batch.changes:
        if state.position and ctx.faults is not None and ctx.faults.take_lost_sync():
            continue  # lost: the state above has moved past it all the same
        element = sub(changes, t(change.kind.value))
        if change.item is None:
            sub(element, t("ItemId"), Id=mailbox.item_id(change.serial))
        elif change.kind is ChangeKind.READ_FLAG:
            item = change.item
            sub(
                element,
                t("ItemId"),
                Id=mailbox.item_id(item.serial),
                ChangeKey=mailbox.item_change_key(item),
            )
            sub(element, t("IsRead"), "true" if item.is_read else "false")
        else:
            render_item(element, mailbox, change.item, shape)


def sync_folder_hierarchy(ctx: Context, request: etree._Element) -> etree._Element:
    """SyncFolderHierarchy: folder changes below the sync folder since the SyncState."""
    return _respond("SyncFolderHierarchy", _hierarchy, ctx, request)


def sync_folder_items(ctx: Context, request: etree._Element) -> etree._Element:
    """SyncFolderItems: item changes in one folder since the SyncState, at most
    MaxChangesReturned (1-512) per call."""
    return _respond("SyncFolderItems", _items, ctx, request)
