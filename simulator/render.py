"""Folders and items as EWS XML, in the element order types.xsd requires.

Each property is a (field URI, writer) pair listed in schema order; a shape selects which are
written. Items render as the element their class calls for (t:Message, t:MeetingRequest, ...).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime

from lxml import etree

from simulator.mailbox import Mailbox
from simulator.model import Address, Folder, Item
from simulator.shapes import ExtendedRequest, Shape
from simulator.soap import ews_datetime, sub, t

Writer = Callable[[etree._Element, Mailbox, Item], None]
FolderWriter = Callable[[etree._Element, Mailbox, Folder], None]

PR_SEARCH_KEY = 0x300B
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


def _text(name: str, value: Callable[[Mailbox, Item], str | None]) -> Writer:
    def write(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
        text = value(mailbox, item)
        if text is not None:
            sub(parent, t(name), text)

    return write


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _when(value: datetime | None) -> str | None:
    return None if value is None else ews_datetime(value)


def _mailbox(parent: etree._Element, address: Address) -> None:
    box = sub(parent, t("Mailbox"))
    sub(box, t("Name"), address.name)
    sub(box, t("EmailAddress"), address.email)
    sub(box, t("RoutingType"), "SMTP")
    sub(box, t("MailboxType"), "Mailbox")


def _single(name: str) -> Writer:
    def write(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
        if item.sender is not None:
            _mailbox(sub(parent, t(name)), item.sender)

    return write


def _recipients(name: str, pick: Callable[[Item], list[Address]]) -> Writer:
    def write(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
        addresses = pick(item)
        if addresses:
            holder = sub(parent, t(name))
            for address in addresses:
                _mailbox(holder, address)

    return write


def _item_id(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
    sub(
        parent,
        t("ItemId"),
        Id=mailbox.item_id(item.serial),
        ChangeKey=mailbox.item_change_key(item),
    )


def _parent_id(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
    folder = mailbox.folders[item.folder]
    sub(
        parent,
        t("ParentFolderId"),
        Id=mailbox.folder_id(folder.serial),
        ChangeKey=mailbox.folder_change_key(folder),
    )


def _body(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
    sub(parent, t("Body"), "", BodyType="Text", IsTruncated="false")


def _categories(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
    if item.categories:
        holder = sub(parent, t("Categories"))
        for category in item.categories:
            sub(holder, t("String"), category)


def _flag(parent: etree._Element, mailbox: Mailbox, item: Item) -> None:
    sub(sub(parent, t("Flag")), t("FlagStatus"), item.flag.value)


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
    ("extended", lambda parent, mb, i: None),  # placeholder: extended properties go here
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

_ITEM_EXTENDED: dict[int, tuple[str, Callable[[Mailbox, Item], str]]] = {
    PR_SEARCH_KEY: ("Binary", lambda mb, i: base64.b64encode(i.search_key).decode()),
    0x0E08: ("Integer", lambda mb, i: str(i.size)),
    0x1035: ("String", lambda mb, i: i.internet_message_id),
    0x0E07: ("Integer", lambda mb, i: "1" if i.is_read else "0"),
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


def render_item(parent: etree._Element, mailbox: Mailbox, item: Item, shape: Shape) -> None:
    """Append ``item`` to ``parent`` with the properties ``shape`` asks for."""
    element_name = item_element(item.item_class)
    element = sub(parent, t(element_name))
    for uri, write in ITEM_PROPERTIES:
        if uri == "extended":
            for request in shape.extended:
                known = _ITEM_EXTENDED.get(request.tag) if request.tag is not None else None
                _extended(element, request, None if known is None else known[1](mailbox, item))
        elif uri in shape.fields:
            write(element, mailbox, item)
    if element_name in ("Message", "MeetingRequest", "MeetingResponse", "MeetingCancellation"):
        for uri, write in MESSAGE_PROPERTIES:
            if uri in shape.fields:
                write(element, mailbox, item)


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
