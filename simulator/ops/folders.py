"""GetFolder and FindFolder."""

from __future__ import annotations

from lxml import etree

from simulator.context import Context
from simulator.errors import EwsError
from simulator.model import Folder
from simulator.ops.common import each, page_bounds, paged_root, required
from simulator.render import render_folder
from simulator.shapes import parse_shape, requested_ids
from simulator.soap import child, m, response_root, sub, t


def get_folder(ctx: Context, request: etree._Element) -> etree._Element:
    """GetFolder: each requested folder with the requested shape."""
    shape = parse_shape(child(request, "FolderShape"), items=False)
    ids = requested_ids(required(child(request, "FolderIds"), "FolderIds"))
    root, container = response_root("GetFolder")

    def answer(message: etree._Element, element: etree._Element) -> None:
        mailbox, folder = ctx.folder(element)
        render_folder(sub(message, m("Folders")), mailbox, folder, shape)

    each(container, "GetFolder", ids, answer)
    return root


def _descendants(folders: dict[int, Folder], parent: Folder, deep: bool) -> list[Folder]:
    found: list[Folder] = []
    for serial in parent.children:
        folder = folders[serial]
        found.append(folder)
        if deep:
            found.extend(_descendants(folders, folder, deep))
    return found


def find_folder(ctx: Context, request: etree._Element) -> etree._Element:
    """FindFolder: the children (Shallow) or descendants (Deep) of each parent, paged."""
    traversal = request.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise EwsError("ErrorSchemaValidation", f"bad Traversal {traversal!r}", fault=True)
    shape = parse_shape(child(request, "FolderShape"), items=False)
    view = child(request, "IndexedPageFolderView")
    if child(request, "Restriction") is not None:
        raise EwsError(
            "ErrorUnsupportedQueryFilter", "The simulator does not evaluate restrictions."
        )
    parents = requested_ids(required(child(request, "ParentFolderIds"), "ParentFolderIds"))
    root, container = response_root("FindFolder")

    def answer(message: etree._Element, element: etree._Element) -> None:
        mailbox, parent = ctx.folder(element)
        found = (
            []
            if traversal == "SoftDeleted"
            else _descendants(mailbox.folders, parent, traversal == "Deep")
        )
        start, stop = page_bounds(view, len(found))
        holder = paged_root(message, start, stop, len(found))
        folders = sub(holder, t("Folders"))
        for folder in found[start:stop]:
            render_folder(folders, mailbox, folder, shape)

    each(container, "FindFolder", parents, answer)
    return root
