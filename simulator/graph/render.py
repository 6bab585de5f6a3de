"""Messages and mail folders as Graph v1.0 JSON, property by property as the CSDL types them.

The property names, their JSON types and the enum spellings come from ``metadata/v1.0-Prod.csdl``
(``message`` < ``outlookItem`` < ``entity``; ``mailFolder``; ``recipient``/``emailAddress``;
``followupFlag``; ``itemBody``; the ``importance``, ``followupFlagStatus`` and
``inferenceClassificationType`` enums), which the reference INDEX puts above the prose pages.
Without ``$select`` a message carries what Outlook returns by default (message.md's JSON minus
``uniqueBody`` and ``internetMessageHeaders``, which are returned only when selected); a
``$select`` narrows it, and ``id`` and ``@odata.etag`` (``W/"{changeKey}"``) always come along
(the delta samples of delta-query-messages.md show both with a ``$select``).

The simulator keeps metadata, not content: ``body``/``uniqueBody`` are empty text, and
``bodyPreview`` is empty. Dates are UTC, ISO-8601 with ``Z`` and whole seconds, as Outlook
writes them. ``conversationId`` and ``conversationIndex`` are derived from the Internet
Message-ID so a copy stays in its conversation.

**No sensitivity and no message class.** The message type has neither (the CSDL has no such
property), so, as on real Graph, they are read as single-value extended properties: PR_SENSITIVITY
``Integer 0x36`` (0 normal, 1 personal, 2 private, 3 confidential; [MS-OXPROPS]), PR_MESSAGE_CLASS
``String 0x1a``, PR_MESSAGE_SIZE ``Integer 0xe08``, PR_SEARCH_KEY ``Binary 0x300b`` (base64).
**Folder class.** mailFolder in v1.0 has no class property either (the CSDL's mailFolder has
only childFolderCount, displayName, isHidden, parentFolderId, totalItemCount, unreadItemCount;
the class is not in mailfolder.md), so PR_CONTAINER_CLASS is ``String 0x3613``, absent when the
folder has none. Extended property values are strings (the CSDL types ``value`` Edm.String,
singlevaluelegacyextendedproperty-get.md says non-string values are cast). An answer spells the
id canonically: the type name as EWS spells it and the property id in lower-case hex without
leading zeros (``Integer 0x36``), however the request spelled it; ids are matched
case-insensitively and as numbers. Properties the object lacks are left out, and an object with
none of the requested ones has no ``singleValueExtendedProperties`` at all.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from simulator.graph.ids import folder_id, message_id
from simulator.graph.odata import ExtendedId
from simulator.mailbox import Mailbox
from simulator.model import Address, Folder, Item, Sensitivity

MESSAGE_TYPE = "microsoft.graph.message"
FOLDER_TYPE = "microsoft.graph.mailFolder"
SENSITIVITY_CODES = {
    Sensitivity.NORMAL: 0,
    Sensitivity.PERSONAL: 1,
    Sensitivity.PRIVATE: 2,
    Sensitivity.CONFIDENTIAL: 3,
}
PR_MESSAGE_CLASS = 0x001A
PR_SENSITIVITY = 0x0036
PR_MESSAGE_SIZE = 0x0E08
PR_SEARCH_KEY = 0x300B
PR_CONTAINER_CLASS = 0x3613


def when(value: datetime | None) -> str | None:
    """A UTC timestamp as Outlook's Graph writes it: 2024-05-01T10:00:00Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recipient(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {"emailAddress": {"name": address.name, "address": address.email}}


def _recipients(addresses: Iterable[Address]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"name": a.name, "address": a.email}} for a in addresses]


def _conversation(item: Item) -> bytes:
    return hashlib.blake2b(item.internet_message_id.encode(), digest_size=22).digest()


def _empty_body(_m: Mailbox, _i: Item) -> dict[str, str]:
    return {"contentType": "text", "content": ""}


Getter = Callable[[Mailbox, Item], Any]

# Every structural property of message (and outlookItem) but id, in Outlook's default order.
MESSAGE_PROPERTIES: dict[str, Getter] = {
    "createdDateTime": lambda m, i: when(i.created),
    "lastModifiedDateTime": lambda m, i: when(i.modified),
    "changeKey": lambda m, i: m.item_change_key(i),
    "categories": lambda m, i: list(i.categories),
    "receivedDateTime": lambda m, i: when(i.received),
    "sentDateTime": lambda m, i: when(i.sent),
    "hasAttachments": lambda m, i: i.has_attachments,
    "internetMessageId": lambda m, i: i.internet_message_id,
    "subject": lambda m, i: i.subject,
    "bodyPreview": lambda m, i: "",
    "importance": lambda m, i: i.importance.value.lower(),
    "parentFolderId": lambda m, i: folder_id(m, i.folder),
    "conversationId": lambda m, i: base64.urlsafe_b64encode(_conversation(i)[:16]).decode(),
    "conversationIndex": lambda m, i: base64.b64encode(_conversation(i)).decode(),
    "isDeliveryReceiptRequested": lambda m, i: False,
    "isReadReceiptRequested": lambda m, i: False,
    "isRead": lambda m, i: i.is_read,
    "isDraft": lambda m, i: i.is_draft,
    "webLink": lambda m, i: (
        "https://outlook.office365.com/owa/?ItemID="
        + quote(m.item_id(i.serial), safe="")
        + "&exvsurl=1&viewmodel=ReadMessageItem"
    ),
    "inferenceClassification": lambda m, i: "focused",
    "body": _empty_body,
    "sender": lambda m, i: _recipient(i.sender),
    "from": lambda m, i: _recipient(i.sender),
    "toRecipients": lambda m, i: _recipients(i.to),
    "ccRecipients": lambda m, i: _recipients(i.cc),
    "bccRecipients": lambda m, i: [],
    "replyTo": lambda m, i: [],
    "flag": lambda m, i: {"flagStatus": i.flag.value[0].lower() + i.flag.value[1:]},
    "uniqueBody": _empty_body,
    "internetMessageHeaders": lambda m, i: [],
}
MESSAGE_SELECTABLE = ("id", *MESSAGE_PROPERTIES)
_MESSAGE_DEFAULT = tuple(
    p for p in MESSAGE_PROPERTIES if p not in {"uniqueBody", "internetMessageHeaders"}
)

_MESSAGE_EXTENDED: dict[tuple[str, int], Getter] = {
    ("Integer", PR_SENSITIVITY): lambda m, i: str(SENSITIVITY_CODES[i.sensitivity]),
    ("String", PR_MESSAGE_CLASS): lambda m, i: i.item_class,
    ("Integer", PR_MESSAGE_SIZE): lambda m, i: str(i.size),
    ("Binary", PR_SEARCH_KEY): lambda m, i: base64.b64encode(i.search_key).decode(),
}


def message(
    mailbox: Mailbox,
    item: Item,
    *,
    immutable: bool,
    select: Sequence[str] | None = None,
    extended: Sequence[ExtendedId] | None = None,
    typed: bool = False,
) -> dict[str, Any]:
    """A message as Graph returns it. ``typed`` adds ``@odata.type`` (delta entries carry it)."""
    out: dict[str, Any] = {}
    if typed:
        out["@odata.type"] = "#" + MESSAGE_TYPE
    out["@odata.etag"] = f'W/"{mailbox.item_change_key(item)}"'
    out["id"] = message_id(mailbox, item, immutable=immutable)
    for name in _MESSAGE_DEFAULT if select is None else select:
        if name != "id":
            out[name] = MESSAGE_PROPERTIES[name](mailbox, item)
    if extended:
        values = []
        for wanted in extended:
            getter = (
                None
                if wanted.tag is None
                else _MESSAGE_EXTENDED.get((wanted.type_name, wanted.tag))
            )
            if getter is not None:
                values.append({"id": wanted.spelled, "value": getter(mailbox, item)})
        if values:
            out["singleValueExtendedProperties"] = values
    return out


def removed(object_id: str, type_name: str | None = None) -> dict[str, Any]:
    """A delta entry for an object gone from the collection (delta-query-overview.md: its id
    and ``@removed``; Outlook's reason is ``deleted``: ``changed`` means restorable from Entra's
    deletedItems, which mail never is)."""
    out: dict[str, Any] = {}
    if type_name is not None:
        out["@odata.type"] = "#" + type_name
    out["id"] = object_id
    out["@removed"] = {"reason": "deleted"}
    return out


FOLDER_SELECTABLE = (
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
)


def folder(
    mailbox: Mailbox,
    found: Folder,
    *,
    child_count: int,
    select: Sequence[str] | None = None,
    extended: Sequence[ExtendedId] | None = None,
) -> dict[str, Any]:
    """A mailFolder as Graph returns it; ``child_count`` is how many child mail folders it has
    (the caller decides which children Graph shows)."""
    values: dict[str, Any] = {
        "id": folder_id(mailbox, found.serial),
        "displayName": found.name,
        "parentFolderId": None if found.parent is None else folder_id(mailbox, found.parent),
        "childFolderCount": child_count,
        "unreadItemCount": found.unread_count(),
        "totalItemCount": len(found.items),
        "isHidden": False,
    }
    out = {"id": values["id"]}
    for name in FOLDER_SELECTABLE if select is None else select:
        out[name] = values[name]
    if extended:
        props = [
            {"id": wanted.spelled, "value": found.folder_class}
            for wanted in extended
            if (wanted.type_name, wanted.tag) == ("String", PR_CONTAINER_CLASS)
            and found.folder_class is not None
        ]
        if props:
            out["singleValueExtendedProperties"] = props
    return out
