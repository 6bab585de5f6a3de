"""Property shapes: which properties a request asks for (BaseShape plus AdditionalProperties).

Exchange's IdOnly/Default/AllProperties base shapes are approximated by fixed sets of field URIs;
extended properties are answered for the MAPI tags the simulator models (PR_SEARCH_KEY and a few
others) and silently omitted otherwise, as Exchange omits properties an object does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from simulator.errors import EwsError
from simulator.soap import child, local

ITEM_DEFAULT = frozenset(
    {
        "item:ItemId", "item:Subject", "item:Sensitivity", "item:DateTimeReceived", "item:Size",
        "item:Importance", "item:IsDraft", "item:DateTimeSent", "item:DateTimeCreated",
        "item:DisplayCc", "item:DisplayTo", "item:HasAttachments", "item:LastModifiedTime",
        "message:Sender", "message:From", "message:IsRead",
    }
)  # fmt: skip
ITEM_ALL = ITEM_DEFAULT | frozenset(
    {
        "item:ParentFolderId", "item:ItemClass", "item:Body", "item:Categories",
        "item:IsAssociated", "item:Flag", "item:LastModifiedName", "message:ToRecipients",
        "message:CcRecipients", "message:InternetMessageId", "message:IsReadReceiptRequested",
    }
)  # fmt: skip
FOLDER_DEFAULT = frozenset(
    {"folder:FolderId", "folder:DisplayName", "folder:TotalCount", "folder:ChildFolderCount",
     "folder:UnreadCount"}
)  # fmt: skip
FOLDER_ALL = FOLDER_DEFAULT | frozenset(
    {"folder:ParentFolderId", "folder:FolderClass", "folder:EffectiveRights",
     "folder:DistinguishedFolderId"}
)  # fmt: skip
BASE_SHAPES = ("IdOnly", "Default", "AllProperties")
# What FindItem and SyncFolderItems never return, whatever the shape asks: finditem-operation.md
# ("does not return any of the message body formats or the recipient lists"; DisplayTo/DisplayCc
# are the recipient summary), syncfolderitems-operation.md ("similar to the FindItem operation in
# that it cannot return properties like Body or Attachments"), and the AllProperties answer in
# how-to-synchronize-items-by-using-ews-in-exchange.md (DisplayTo, no ToRecipients).
NOT_IN_SUMMARIES = frozenset(
    {"item:Body", "item:Attachments", "message:ToRecipients", "message:CcRecipients",
     "message:BccRecipients"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExtendedRequest:
    """An extended property asked for: its MAPI tag and the attributes to echo back."""

    tag: int | None
    attrs: dict[str, str]


@dataclass(frozen=True, slots=True)
class Shape:
    """The properties to return for each object."""

    fields: frozenset[str]
    extended: tuple[ExtendedRequest, ...] = ()

    def wants(self, uri: str) -> bool:
        """Whether the property named by this field URI is asked for."""
        return uri in self.fields


ID_ONLY_ITEMS = Shape(frozenset({"item:ItemId"}))


def _tag(attrs: dict[str, str]) -> int | None:
    raw = attrs.get("PropertyTag")
    if raw is None:
        return None
    try:
        return int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    except ValueError as exc:
        raise EwsError("ErrorInvalidExtendedPropertyValue", f"bad PropertyTag {raw!r}") from exc


def parse_shape(
    element: etree._Element | None, *, items: bool, summary: bool = False
) -> Shape:
    """Read an ItemShape/FolderShape element (missing: the Default shape). ``summary``: for
    FindItem and SyncFolderItems, which leave out what ``NOT_IN_SUMMARIES`` names (silently,
    as a property an item does not have is left out)."""
    base = "Default"
    if element is not None:
        base_el = child(element, "BaseShape")
        base = "" if base_el is None or base_el.text is None else base_el.text.strip()
    if base not in BASE_SHAPES:
        raise EwsError("ErrorSchemaValidation", f"unknown BaseShape {base!r}", fault=True)
    default, everything, id_uri = (
        (ITEM_DEFAULT, ITEM_ALL, "item:ItemId")
        if items
        else (FOLDER_DEFAULT, FOLDER_ALL, "folder:FolderId")
    )
    fields = {id_uri} | (set(everything) if base == "AllProperties" else set())
    if base == "Default":
        fields |= default
    extended: list[ExtendedRequest] = []
    extra = None if element is None else child(element, "AdditionalProperties")
    for path in [] if extra is None else list(extra):
        if not isinstance(path.tag, str):
            continue
        kind = local(path)
        if kind == "FieldURI" and path.get("FieldURI"):
            fields.add(str(path.get("FieldURI")))
        elif kind == "ExtendedFieldURI":
            attrs = {str(k): str(v) for k, v in path.attrib.items()}
            extended.append(ExtendedRequest(_tag(attrs), attrs))
    if summary:
        fields -= NOT_IN_SUMMARIES
    return Shape(frozenset(fields), tuple(extended))


def requested_ids(element: etree._Element) -> list[etree._Element]:
    """The id elements (FolderId, DistinguishedFolderId, ItemId) under ``element``, in order."""
    wanted = {"FolderId", "DistinguishedFolderId", "ItemId"}
    return [e for e in element if isinstance(e.tag, str) and local(e) in wanted]
