"""Folders and items as EWS XML, in the element order types.xsd requires.

Each property is a (field URI, writer) pair listed in schema order; a shape selects which are
written. Items render as the element their class calls for (t:Message, t:MeetingRequest, ...).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime

from lxml import etree

from simulator.mailbox import Mailbox
from simulator.model import Address, Folder, Item
from simulator.shapes import ExtendedRequest, Shape
from simulator.soap import T, ews_datetime, sub, t

Writer = Callable[[list[str], Mailbox, Item], None]

PR_SEARCH_KEY = 0x300B
# Characters XML 1.0 cannot carry at all; a subject set through the control API may contain them.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
# Our own markup, escaped above: parsed without the hostile-input restrictions' cost.
_TRUSTED = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
_MESSAGE_PREFIXES = ("IPM.Note", "REPORT.", "IPM.Schedule.Meeting", "IPM.Outlook.Recall")


_ELEMENT_BY_PREFIX = (
    ("IPM.Schedule.Meeting.Request", "MeetingRequest"),
    ("IPM.Schedule.Meeting.Canceled", "MeetingCancellation"),
    ("IPM.Schedule.Meeting.Resp", "MeetingResponse"),
    *((prefix, "Message") for prefix in _MESSAGE_PREFIXES),
    ("IPM.Appointment", "CalendarItem"),
    ("IPM.Contact", "Contact"),
    ("IPM.Task", "Task"),
    ("IPM.Post", "PostItem"),
)


def item_element(item_class: str) -> str:
    """The EWS element for an item class (t:Item for classes without their own)."""
    for prefix, element in _ELEMENT_BY_PREFIX:
        if item_class.startswith(prefix):
            return element
    return "Item"


def _esc(text: str) -> str:
    """Text safe inside an element or a double-quoted attribute (characters XML forbids dropped)."""
    if not _SPECIAL.search(text):
        return text
    text = _FORBIDDEN.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _text(name: str, value: Callable[[Mailbox, Item], str | None]) -> Writer:
    def write(out: list[str], mailbox: Mailbox, item: Item) -> None:
        text = value(mailbox, item)
        if text is not None:
            out.append(f"<t:{name}>{_esc(text)}</t:{name}>")

    return write


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _when(value: datetime | None) -> str | None:
    return None if value is None else ews_datetime(value)


def _mailbox(out: list[str], address: Address) -> None:
    out.append(
        f"<t:Mailbox><t:Name>{_esc(address.name)}</t:Name><t:EmailAddress>{_esc(address.email)}"
        "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox"
        "</t:MailboxType></t:Mailbox>"
    )


def _single(name: str) -> Writer:
    def write(out: list[str], mailbox: Mailbox, item: Item) -> None:
        if item.sender is not None:
            out.append(f"<t:{name}>")
            _mailbox(out, item.sender)
            out.append(f"</t:{name}>")

    return write


def _recipients(name: str, pick: Callable[[Item], list[Address]]) -> Writer:
    def write(out: list[str], mailbox: Mailbox, item: Item) -> None:
        addresses = pick(item)
        if addresses:
            out.append(f"<t:{name}>")
            for address in addresses:
                _mailbox(out, address)
            out.append(f"</t:{name}>")

    return write


def _item_id(out: list[str], mailbox: Mailbox, item: Item) -> None:
    item_id, change_key = mailbox.item_id(item.serial), mailbox.item_change_key(item)
    out.append(f'<t:ItemId Id="{item_id}" ChangeKey="{change_key}"/>')


def _parent_id(out: list[str], mailbox: Mailbox, item: Item) -> None:
    folder = mailbox.folders[item.folder]
    out.append(
        f'<t:ParentFolderId Id="{mailbox.folder_id(folder.serial)}" '
        f'ChangeKey="{mailbox.folder_change_key(folder)}"/>'
    )


def _body(out: list[str], mailbox: Mailbox, item: Item) -> None:
    out.append('<t:Body BodyType="Text" IsTruncated="false"></t:Body>')


def _categories(out: list[str], mailbox: Mailbox, item: Item) -> None:
    if item.categories:
        strings = "".join(f"<t:String>{_esc(c)}</t:String>" for c in item.categories)
        out.append(f"<t:Categories>{strings}</t:Categories>")


def _flag(out: list[str], mailbox: Mailbox, item: Item) -> None:
    out.append(f"<t:Flag><t:FlagStatus>{item.flag.value}</t:FlagStatus></t:Flag>")


def _names(addresses: list[Address]) -> str:
    return "; ".join(a.name for a in addresses)


ITEM_PROPERTIES: tuple[tuple[str, Writer], ...] = (
    ("item:ItemId", _item_id),
    ("item:ParentFolderId", _parent_id),
    ("item:ItemClass", _text("ItemClass", lambda mb, i: i.item_class)),
    ("item:Subject", _text("Subject", lambda mb, i: i.subject)),
    ("item:Sensitivity", _text("Sensitivity", lambda mb, i: i.sensitivity.value)),
    ("item:Body", _body),
    ("item:DateTimeReceived", _text("DateTimeReceived", lambda mb, i: _when(i.received))),
    ("item:Size", _text("Size", lambda mb, i: str(i.size))),
    ("item:Categories", _categories),
    ("item:Importance", _text("Importance", lambda mb, i: i.importance.value)),
    ("item:IsDraft", _text("IsDraft", lambda mb, i: _bool(i.is_draft))),
    ("item:DateTimeSent", _text("DateTimeSent", lambda mb, i: _when(i.sent))),
    ("item:DateTimeCreated", _text("DateTimeCreated", lambda mb, i: _when(i.created))),
    ("item:DisplayCc", _text("DisplayCc", lambda mb, i: _names(i.cc))),
    ("item:DisplayTo", _text("DisplayTo", lambda mb, i: _names(i.to))),
    ("item:HasAttachments", _text("HasAttachments", lambda mb, i: _bool(i.has_attachments))),
    ("extended", lambda out, mb, i: None),  # placeholder: extended properties go here
    ("item:LastModifiedName", _text("LastModifiedName", lambda mb, i: mb.address.name)),
    ("item:LastModifiedTime", _text("LastModifiedTime", lambda mb, i: _when(i.modified))),
    ("item:IsAssociated", _text("IsAssociated", lambda mb, i: "false")),
    ("item:Flag", _flag),
)
MESSAGE_PROPERTIES: tuple[tuple[str, Writer], ...] = (
    ("message:Sender", _single("Sender")),
    ("message:ToRecipients", _recipients("ToRecipients", lambda i: i.to)),
    ("message:CcRecipients", _recipients("CcRecipients", lambda i: i.cc)),
    ("message:IsReadReceiptRequested", _text("IsReadReceiptRequested", lambda mb, i: "false")),
    ("message:From", _single("From")),
    ("message:InternetMessageId", _text("InternetMessageId", lambda mb, i: i.internet_message_id)),
    ("message:IsRead", _text("IsRead", lambda mb, i: _bool(i.is_read))),
)
_MESSAGE_ELEMENTS = frozenset(
    {"Message", "MeetingRequest", "MeetingResponse", "MeetingCancellation"}
)

_ITEM_EXTENDED: dict[int, tuple[str, Callable[[Mailbox, Item], str]]] = {
    PR_SEARCH_KEY: ("Binary", lambda mb, i: base64.b64encode(i.search_key).decode()),
    0x0E08: ("Integer", lambda mb, i: str(i.size)),
    0x1035: ("String", lambda mb, i: i.internet_message_id),
    0x0E07: ("Integer", lambda mb, i: "1" if i.is_read else "0"),
    # PR_FLAG_STATUS: 0 not flagged, 1 complete, 2 flagged (what clients read on every version)
    0x1090: ("Integer", lambda mb, i: {"Complete": "1", "Flagged": "2"}.get(i.flag.value, "0")),
    0x0036: ("Integer", lambda mb, i: str(["Normal", "Personal", "Private", "Confidential"].index(
        i.sensitivity.value))),
}  # fmt: skip
_FOLDER_EXTENDED: dict[int, tuple[str, Callable[[Mailbox, Folder], str | None]]] = {
    0x670A: ("SystemTime", lambda mb, f: _when(f.local_commit_time_max)),
    0x670B: ("Integer", lambda mb, f: str(f.deleted_count_total)),
    0x3613: ("String", lambda mb, f: f.folder_class),
}


def _extended(parent: etree._Element, request: ExtendedRequest, value: str | None) -> None:
    if value is None:
        return
    prop = sub(parent, t("ExtendedProperty"))
    sub(prop, t("ExtendedFieldURI"), **request.attrs)
    sub(prop, t("Value"), value)


def _extended_text(out: list[str], request: ExtendedRequest, value: str | None) -> None:
    if value is None:
        return
    attrs = " ".join(f'{k}="{_esc(v)}"' for k, v in request.attrs.items())
    out.append(
        f"<t:ExtendedProperty><t:ExtendedFieldURI {attrs}/><t:Value>{_esc(value)}</t:Value>"
        "</t:ExtendedProperty>"
    )


def item_markup(mailbox: Mailbox, item: Item, shape: Shape) -> str:
    """``item`` as an XML fragment (declaring the t: prefix) with the properties asked for.

    Items are written as text and parsed once, rather than built element by element: GetItem and
    SyncFolderItems are the hot paths, and this is several times faster."""
    name = item_element(item.item_class)
    out = [f'<t:{name} xmlns:t="{T}">']
    fields = shape.fields
    for uri, write in ITEM_PROPERTIES:
        if uri == "extended":
            for request in shape.extended:
                known = _ITEM_EXTENDED.get(request.tag) if request.tag is not None else None
                _extended_text(out, request, None if known is None else known[1](mailbox, item))
        elif uri in fields:
            write(out, mailbox, item)
    if name in _MESSAGE_ELEMENTS:
        for uri, write in MESSAGE_PROPERTIES:
            if uri in fields:
                write(out, mailbox, item)
    out.append(f"</t:{name}>")
    return "".join(out)


def render_item(parent: etree._Element, mailbox: Mailbox, item: Item, shape: Shape) -> None:
    """Append ``item`` to ``parent`` with the properties ``shape`` asks for."""
    parent.append(etree.fromstring(item_markup(mailbox, item, shape), parser=_TRUSTED))


def _folder_id(parent: etree._Element, name: str, mailbox: Mailbox, folder: Folder) -> None:
    sub(
        parent,
        t(name),
        Id=mailbox.folder_id(folder.serial),
        ChangeKey=mailbox.folder_change_key(folder),
    )


def render_folder(parent: etree._Element, mailbox: Mailbox, folder: Folder, shape: Shape) -> None:
    """Append ``folder`` to ``parent`` with the properties ``shape`` asks for."""
    element = sub(parent, t(folder.element))
    wants = shape.fields
    if "folder:FolderId" in wants:
        _folder_id(element, "FolderId", mailbox, folder)
    if "folder:ParentFolderId" in wants and folder.parent is not None:
        _folder_id(element, "ParentFolderId", mailbox, mailbox.folders[folder.parent])
    if "folder:FolderClass" in wants and folder.folder_class:
        sub(element, t("FolderClass"), folder.folder_class)
    if "folder:DisplayName" in wants:
        sub(element, t("DisplayName"), folder.name)
    if "folder:TotalCount" in wants:
        sub(element, t("TotalCount"), str(len(folder.items)))
    if "folder:ChildFolderCount" in wants:
        sub(element, t("ChildFolderCount"), str(len(folder.children)))
    for request in shape.extended:
        known = _FOLDER_EXTENDED.get(request.tag) if request.tag is not None else None
        _extended(element, request, None if known is None else known[1](mailbox, folder))
    if "folder:EffectiveRights" in wants:
        rights = sub(element, t("EffectiveRights"))
        for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify"):
            sub(rights, t(name), "true")
        sub(rights, t("Read"), "true")
    if "folder:DistinguishedFolderId" in wants and folder.distinguished:
        sub(element, t("DistinguishedFolderId"), folder.distinguished)
    if "folder:UnreadCount" in wants and folder.element not in ("CalendarFolder", "ContactsFolder"):
        sub(element, t("UnreadCount"), str(folder.unread_count()))
