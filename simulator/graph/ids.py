"""Graph's identifiers for the same objects the EWS face names.

Graph's REST ids are EWS ids in URL-safe base64 (``+`` and ``/`` become ``-`` and ``_``), so a
default message id changes on every move, exactly as its EWS id does. With
``Prefer: IdType="ImmutableId"`` (outlook-immutable-id.md) a message is named by its origin
instead: the same id across moves within the mailbox, a new one for a copy. Folder ids never
change. Users are named by a GUID (stable per address) or by their userPrincipalName.
"""

from __future__ import annotations

import uuid

from simulator.ids import IdKind, decode_id, mint_id
from simulator.mailbox import Mailbox
from simulator.model import Folder, Item

_USERS = uuid.UUID("5f0c3d8e-7a7e-4f6b-9d0e-3f1f6c1f2a10")
_TO_URL = str.maketrans("+/", "-_")
_FROM_URL = str.maketrans("-_", "+/")


def user_id(smtp: str) -> str:
    """The user's object id in the directory (a GUID, stable per address)."""
    return str(uuid.uuid5(_USERS, smtp.strip().lower()))


def to_graph(ews_id: str) -> str:
    """The Graph spelling of an EWS id."""
    return ews_id.translate(_TO_URL)


def to_ews(graph_id: str) -> str:
    """The EWS spelling of a Graph id (EWS ids pass through unchanged)."""
    return graph_id.translate(_FROM_URL)


def folder_id(mailbox: Mailbox, serial: int) -> str:
    """A folder's Graph id."""
    return to_graph(mailbox.folder_id(serial))


def message_id(mailbox: Mailbox, item: Item, *, immutable: bool) -> str:
    """A message's Graph id: its current default id, or its immutable id."""
    if immutable:
        return to_graph(mint_id(IdKind.IMMUTABLE, mailbox.number, item.origin))
    return to_graph(mailbox.item_id(item.serial))


def serial_message_id(mailbox: Mailbox, serial: int, *, immutable: bool) -> str:
    """The Graph id of a message by a serial it had, also when it is gone (a delta's @removed
    entry, a notification about a deleted message)."""
    if immutable:
        origin = mailbox.serial_origin.get(serial, serial)
        return to_graph(mint_id(IdKind.IMMUTABLE, mailbox.number, origin))
    return to_graph(mailbox.item_id(serial))


def find_message(mailbox: Mailbox, graph_id: str) -> Item | None:
    """The live message a default or immutable Graph id names in this mailbox, or None."""
    decoded = decode_id(to_ews(graph_id))
    if decoded is None or decoded.mailbox_no != mailbox.number:
        return None
    if decoded.kind is IdKind.ITEM:
        return mailbox.item(decoded.serial)
    if decoded.kind is IdKind.IMMUTABLE:
        return mailbox.item_by_origin(decoded.serial)
    return None


def find_folder(mailbox: Mailbox, ref: str) -> Folder | None:
    """The folder a Graph id or a well-known name (``inbox``, ``msgfolderroot``...) names."""
    serial = mailbox.distinguished.get(ref.lower())
    if serial is not None:
        return mailbox.folders.get(serial)
    decoded = decode_id(to_ews(ref))
    if decoded is None or decoded.kind is not IdKind.FOLDER or decoded.mailbox_no != mailbox.number:
        return None
    return mailbox.folders.get(decoded.serial)
