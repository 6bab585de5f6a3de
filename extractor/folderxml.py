"""GetFolder's answer read straight from its XML into ``FolderSnapshot``s.

A folder's Modified event costs one GetFolder (the check that tells a count change from a
rename or a move, ``extractor/README.md``), so at 100 new messages a second it is as frequent
as GetItem. exchangelib turned each answer into a ``Folder`` object (with its root, its
``FolderId`` and an ``EWSElement`` per field) only for us to copy out four values, and built
the request's ``FolderShape`` and a ``Folder`` object per id every time: a fifth of the
extractor's CPU per new message. As ``itemxml.py`` does for GetItem, exchangelib still sends the
request and parses the envelope; the shape is built once per mailbox, the ids are written as
``t:FolderId`` elements, and the answer's elements are read with lxml. The meaning stays
exchangelib's (types.xsd's BaseFolderType): empty text reads as absent, a name never does (an
unnamed folder is ``""``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from exchangelib.errors import MalformedResponseError
from exchangelib.services import GetFolder
from exchangelib.util import create_element

from extractor.model import FolderSnapshot
from mfr.ews.values import read_int, type_children


class SnapshotGetFolder(GetFolder):  # type: ignore[misc]
    """exchangelib's GetFolder for ids, answering ``FolderSnapshot``s (error answers still come
    back as exchangelib's exception instances) with a ``FolderShape`` made once (``shape``)."""

    def __init__(self, *args: Any, shape: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shape = shape

    def call(self, folders: Sequence[str], additional_fields: Any = None,
             shape: Any = None) -> Any:
        """``folders``: folder ids; the shape is the one given at construction."""
        return self._elems_to_objs(self._chunked_get_elements(
            self.get_payload, items=list(folders), additional_fields=None, shape=None))

    def _elems_to_objs(self, elems: Any) -> Any:
        for elem in elems:
            yield elem if isinstance(elem, Exception) else snapshot(elem)

    def get_payload(self, folders: Sequence[str], additional_fields: Any, shape: Any) -> Any:
        """The shape made once (an element has one parent, so a copy goes in), then the ids."""
        payload = create_element(f"m:{self.SERVICE_NAME}")
        payload.append(copy.deepcopy(self._shape))
        ids = create_element("m:FolderIds")
        for folder_id in folders:
            ids.append(create_element("t:FolderId", attrs={"Id": folder_id}))
        payload.append(ids)
        return payload


def snapshot(elem: Any) -> FolderSnapshot:
    """The name, parent, class and counts of one folder element (any BaseFolderType)."""
    folder_id = change_key = parent = folder_class = None
    name = ""
    counts: dict[str, int | None] = {"TotalCount": None, "UnreadCount": None,
                                     "ChildFolderCount": None}
    for field, child in type_children(elem):
        if field == "FolderId":
            folder_id, change_key = child.get("Id"), child.get("ChangeKey")
        elif field == "ParentFolderId":
            parent = child.get("Id")
        elif field == "DisplayName":
            name = child.text or ""
        elif field == "FolderClass":
            folder_class = child.text or None
        elif field in counts and child.text:
            counts[field] = read_int(child.text.strip())
    if not folder_id:
        raise MalformedResponseError(f"a GetFolder answer's {elem.tag} without a FolderId")
    return FolderSnapshot(
        folder_id=folder_id, parent_folder_id=parent, display_name=name,
        folder_class=folder_class, change_key=change_key, total_count=counts["TotalCount"],
        unread_count=counts["UnreadCount"], child_folder_count=counts["ChildFolderCount"])
