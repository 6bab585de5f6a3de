"""Graph's JSON for messages and mail folders, read into the extractor's snapshots: the same values
EWS gives for the same message, so a record does not depend on the API that fed it.

What Graph v1.0 lacks is read through single-value extended properties, because the CSDL's
``message`` has no sensitivity, message class, size or search key, and its ``mailFolder`` no
folder class (``metadata/v1.0-Prod.csdl``: mailFolder has only childFolderCount, displayName,
isHidden, parentFolderId, totalItemCount and unreadItemCount). The MAPI tags are [MS-OXPROPS]'s:
PR_SENSITIVITY ``Integer 0x0036`` (0 normal, 1 personal, 2 private, 3 confidential),
PR_MESSAGE_CLASS ``String 0x001A``, PR_MESSAGE_SIZE ``Integer 0x0E08``, PR_SEARCH_KEY ``Binary
0x300B`` and PR_CONTAINER_CLASS ``String 0x3613``. Graph returns every value as a string
(singlevaluelegacyextendedproperty-get.md casts non-string ones), binary ones base64 encoded,
which is exactly how EWS's search key is kept. Ids in answers are matched by type and number,
since Graph may spell ``0x0036`` as ``0x36``.

Enum spellings follow the CSDL (``importance``: low/normal/high; ``followupFlagStatus``:
notFlagged/complete/flagged) and are turned into EWS's (Low, NotFlagged...), which the contract
uses. Graph gives an SMTP address per recipient and no routing type; the routing type is SMTP
whenever the address is one, as EWS reports for the same mailbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from extractor.model import Address, FolderSnapshot, ItemSnapshot

SENSITIVITY = "Integer 0x0036"
MESSAGE_CLASS = "String 0x001A"
MESSAGE_SIZE = "Integer 0x0E08"
SEARCH_KEY = "Binary 0x300B"
CONTAINER_CLASS = "String 0x3613"

# MISSION.md's metadata, never bodies: what every message read $selects.
MESSAGE_FIELDS = (
    "subject", "from", "sender", "toRecipients", "ccRecipients", "bccRecipients",
    "sentDateTime", "receivedDateTime", "createdDateTime", "lastModifiedDateTime", "importance",
    "isRead", "flag", "categories", "hasAttachments", "internetMessageId", "parentFolderId",
    "conversationId", "changeKey",
)  # fmt: skip
FOLDER_FIELDS = (
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
)
_SENSITIVITIES = {0: "Normal", 1: "Personal", 2: "Private", 3: "Confidential"}
_FLAGS = {"notflagged": "NotFlagged", "complete": "Complete", "flagged": "Flagged"}


def expand(*property_ids: str) -> str:
    """The ``$expand`` that brings these extended properties along."""
    wanted = " or ".join(f"id eq '{p}'" for p in property_ids)
    return f"singleValueExtendedProperties($filter={wanted})"


MESSAGE_QUERY = {
    "$select": ",".join(MESSAGE_FIELDS),
    "$expand": expand(SENSITIVITY, MESSAGE_CLASS, MESSAGE_SIZE, SEARCH_KEY),
}
FOLDER_CLASS_QUERY = {"$select": "id", "$expand": expand(CONTAINER_CLASS)}
# The drift check's count: only what the filters judge (no metadata), as many a page as Outlook
# gives ("$top ... within the range of 1 and 1000", Graph's List messages page; the offline
# reference lacks it), so a folder costs one request per 1,000 messages.
COUNT_PAGE = 1000
COUNT_QUERY = {
    "$top": str(COUNT_PAGE),
    "$select": "id",
    "$expand": expand(SENSITIVITY, MESSAGE_CLASS),
}


def _property_key(property_id: str) -> tuple[str, int] | None:
    kind, _, tag = property_id.strip().partition(" ")
    try:
        return kind.lower(), int(tag.strip(), 16)
    except ValueError:
        return None


def extended(entity: dict[str, Any], property_id: str) -> str | None:
    """The value of one single-value extended property, if the entity carries it."""
    wanted = _property_key(property_id)
    for prop in entity.get("singleValueExtendedProperties") or ():
        if isinstance(prop, dict) and _property_key(str(prop.get("id", ""))) == wanted:
            value = prop.get("value")
            return None if value is None else str(value)
    return None


def _integer(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _when(value: Any) -> datetime | None:
    """A UTC datetime to the millisecond (what Avro keeps), from Graph's ISO 8601 text."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _address(recipient: Any) -> Address | None:
    if not isinstance(recipient, dict) or not isinstance(recipient.get("emailAddress"), dict):
        return None
    email = recipient["emailAddress"]
    address = email.get("address")
    return Address(email.get("name"), address, "SMTP" if address and "@" in address else None)


def _addresses(recipients: Any) -> tuple[Address, ...]:
    return tuple(a for a in (_address(r) for r in recipients or ()) if a is not None)


def _title(value: Any) -> str | None:
    return value[:1].upper() + value[1:] if isinstance(value, str) and value else None


def item(message: dict[str, Any]) -> ItemSnapshot:
    """A message (as read with ``MESSAGE_QUERY``) as the extractor's snapshot."""
    item_class, sensitivity = classes(message)
    flag = message.get("flag") if isinstance(message.get("flag"), dict) else {}
    status = str((flag or {}).get("flagStatus") or "")
    return ItemSnapshot(
        item_id=str(message["id"]),
        parent_folder_id=str(message.get("parentFolderId") or ""),
        item_class=item_class,
        change_key=message.get("changeKey"),
        sensitivity=sensitivity,
        subject=message.get("subject"),
        sender=_address(message.get("sender")),
        author=_address(message.get("from")),
        to_recipients=_addresses(message.get("toRecipients")),
        cc_recipients=_addresses(message.get("ccRecipients")),
        bcc_recipients=_addresses(message.get("bccRecipients")),
        datetime_sent=_when(message.get("sentDateTime")),
        datetime_received=_when(message.get("receivedDateTime")),
        datetime_created=_when(message.get("createdDateTime")),
        last_modified_time=_when(message.get("lastModifiedDateTime")),
        size=_integer(extended(message, MESSAGE_SIZE)),
        importance=_title(message.get("importance")),
        is_read=message.get("isRead"),
        flag_status=_FLAGS.get(status.lower()) if status else None,
        categories=tuple(message.get("categories") or ()),
        has_attachments=message.get("hasAttachments"),
        internet_message_id=message.get("internetMessageId"),
        conversation_id=message.get("conversationId"),
        search_key=extended(message, SEARCH_KEY),
    )


def classes(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """A message's class and sensitivity, as the filters read them: one reading for the sync
    (``item``) and the drift check's count (``COUNT_QUERY``), so both judge a message alike."""
    sensitivity = _integer(extended(message, SENSITIVITY))
    return (
        extended(message, MESSAGE_CLASS),
        _SENSITIVITIES.get(sensitivity) if sensitivity is not None else None,
    )


def folder(entry: dict[str, Any], folder_class: str | None) -> FolderSnapshot:
    """A mailFolder (as the folder delta returns it) with its class, read separately."""
    return FolderSnapshot(
        folder_id=str(entry["id"]),
        parent_folder_id=entry.get("parentFolderId"),
        display_name=str(entry.get("displayName") or ""),
        folder_class=folder_class,
        total_count=entry.get("totalItemCount"),
        unread_count=entry.get("unreadItemCount"),
        child_folder_count=entry.get("childFolderCount"),
    )


def removed(entry: dict[str, Any]) -> bool:
    """Whether a delta entry says the object left the collection."""
    return "@removed" in entry
