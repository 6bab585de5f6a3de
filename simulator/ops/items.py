"""GetItem and FindItem."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from simulator.context import Context
from simulator.errors import EwsError
from simulator.model import Item
from simulator.ops.common import each, page_bounds, paged_root, required
from simulator.render import render_item
from simulator.shapes import parse_shape, requested_ids
from simulator.soap import child, m, response_root, sub, t

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def get_item(ctx: Context, request: etree._Element) -> etree._Element:
    """GetItem: each requested item with the requested shape (one response message per id)."""
    shape = parse_shape(child(request, "ItemShape"), items=True)
    ids = requested_ids(required(child(request, "ItemIds"), "ItemIds"))
    root, container = response_root("GetItem")

    def answer(message: etree._Element, element: etree._Element) -> None:
        mailbox, item = ctx.item(element)
        render_item(sub(message, m("Items")), mailbox, item, shape)

    each(container, "GetItem", ids, answer, required_container="Items")
    return root


def _newest_first(item: Item) -> datetime:
    return item.received or _EPOCH


def find_item(ctx: Context, request: etree._Element) -> etree._Element:
    """FindItem: the items of each folder, newest first, paged (restrictions are not evaluated)."""
    traversal = request.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "SoftDeleted", "Associated"):
        raise EwsError("ErrorSchemaValidation", f"bad Traversal {traversal!r}", fault=True)
    shape = parse_shape(child(request, "ItemShape"), items=True, summary=True)
    view = child(request, "IndexedPageItemView")
    if child(request, "Restriction") is not None or child(request, "QueryString") is not None:
        raise EwsError(
            "ErrorUnsupportedQueryFilter", "The simulator does not evaluate restrictions."
        )
    parents = requested_ids(required(child(request, "ParentFolderIds"), "ParentFolderIds"))
    root, container = response_root("FindItem")

    def answer(message: etree._Element, element: etree._Element) -> None:
        mailbox, folder = ctx.folder(element)
        found = (
            []
            if traversal != "Shallow"
            else sorted(folder.items.values(), key=_newest_first, reverse=True)
        )
        start, stop = page_bounds(view, len(found))
        items = sub(paged_root(message, start, stop, len(found)), t("Items"))
        for item in found[start:stop]:
            render_item(items, mailbox, item, shape)

    each(container, "FindItem", parents, answer)
    return root
