"""What the extractor knows about a mailbox, in its own types, independent of exchangelib.

``FolderSnapshot`` and ``ItemSnapshot`` are what Exchange said in one GetFolder/GetItem;
``MessageState`` and ``FolderState`` are the contract's state records (``schemas/``) as Python
values, before they get a version and go on the bus.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeleteKind(StrEnum):
    """How a message was deleted (the contract's DeleteKind)."""

    MOVED_TO_DELETED_ITEMS = "MovedToDeletedItems"
    SOFT_DELETED = "SoftDeleted"
    HARD_DELETED = "HardDeleted"
    DELETED_ITEMS_EMPTIED = "DeletedItemsEmptied"
    FOLDER_DELETED = "FolderDeleted"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Address:
    """A mailbox as EWS describes it."""

    name: str | None = None
    email_address: str | None = None
    routing_type: str | None = None


@dataclass(frozen=True)
class FolderSnapshot:
    """One folder as Exchange described it."""

    folder_id: str
    parent_folder_id: str | None
    display_name: str
    folder_class: str | None
    change_key: str | None = None
    distinguished_name: str | None = None
    total_count: int | None = None
    unread_count: int | None = None
    child_folder_count: int | None = None


@dataclass(frozen=True)
class ItemSnapshot:
    """One item's metadata as GetItem returned it (never its body)."""

    item_id: str
    parent_folder_id: str
    item_class: str | None
    change_key: str | None = None
    sensitivity: str | None = None
    subject: str | None = None
    sender: Address | None = None
    author: Address | None = None
    to_recipients: tuple[Address, ...] = ()
    cc_recipients: tuple[Address, ...] = ()
    bcc_recipients: tuple[Address, ...] = ()
    datetime_sent: datetime | None = None
    datetime_received: datetime | None = None
    datetime_created: datetime | None = None
    last_modified_time: datetime | None = None
    size: int | None = None
    importance: str | None = None
    is_read: bool | None = None
    flag_status: str | None = None
    categories: tuple[str, ...] = ()
    has_attachments: bool | None = None
    internet_message_id: str | None = None
    conversation_id: str | None = None
    search_key: str | None = None

    @property
    def fingerprint(self) -> tuple[str | None, str | None]:
        """What a moved copy of this message keeps: its search key and Message-ID."""
        return (self.search_key, self.internet_message_id)


@dataclass(frozen=True)
class MessageState:
    """A message's state record (the contract's MessageState) without its version."""

    mailbox: str
    message_key: str
    last_known_folder_key: str
    item_id: str | None = None
    folder_key: str | None = None
    deleted: bool = False
    deleted_time: datetime | None = None
    delete_kind: DeleteKind | None = None
    withdrawn: bool = False
    withdrawn_time: datetime | None = None
    item: ItemSnapshot | None = field(default=None, compare=True)

    def datum(self, version: int, observed: datetime) -> dict[str, Any]:
        """The Avro datum of this state; a withdrawn state carries no metadata."""
        item = None if self.withdrawn else self.item
        metadata = _metadata(item) if item is not None else _blank_metadata()
        return {
            "mailbox": self.mailbox,
            "message_key": self.message_key,
            "item_id": self.item_id,
            "change_key": self.item.change_key if self.item else None,
            "folder_key": self.folder_key,
            "last_known_folder_key": self.last_known_folder_key,
            "deleted": self.deleted,
            "deleted_time": self.deleted_time,
            "delete_kind": self.delete_kind.value if self.delete_kind else None,
            "withdrawn": self.withdrawn,
            "withdrawn_time": self.withdrawn_time,
            **metadata,
            "version": version,
            "observed_time": observed,
        }

    @property
    def key(self) -> str:
        """The record key's entity part."""
        return self.message_key

    def evolve(self, **changes: Any) -> MessageState:
        """A copy with some fields changed."""
        return replace(self, **changes)


_NOT_METADATA = ("item_id", "parent_folder_id", "change_key")
_LISTS = ("to_recipients", "cc_recipients", "bcc_recipients", "categories")


def _metadata(item: ItemSnapshot) -> dict[str, Any]:
    # What ``asdict`` would give, built by hand: its recursive deep copy was a tenth of an
    # initial sync's CPU, for values that are immutable anyway.
    values = {name: getattr(item, name) for name in _METADATA}
    for name in ("sender", "author"):
        values[name] = _address_datum(values[name])
    for name in ("to_recipients", "cc_recipients", "bcc_recipients"):
        values[name] = [_address_datum(a) for a in values[name]]
    values["categories"] = list(values["categories"])
    return values


def _address_datum(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {"name": address.name, "email_address": address.email_address,
            "routing_type": address.routing_type}


_METADATA = tuple(f.name for f in fields(ItemSnapshot) if f.name not in _NOT_METADATA)


def _blank_metadata() -> dict[str, Any]:
    """Every metadata field, empty: what a withdrawn message's record says."""
    names = [f.name for f in fields(ItemSnapshot) if f.name not in _NOT_METADATA]
    return {name: [] if name in _LISTS else None for name in names}


@dataclass(frozen=True)
class FolderState:
    """A folder's state record (the contract's FolderState) without its version."""

    mailbox: str
    folder_key: str
    snapshot: FolderSnapshot
    parent_folder_key: str | None
    deleted: bool = False
    deleted_time: datetime | None = None
    gone: bool = False  # no longer in Exchange at all (not only in Deleted Items)

    @property
    def key(self) -> str:
        """The record key's entity part."""
        return self.folder_key

    def datum(self, version: int, observed: datetime) -> dict[str, Any]:
        """The Avro datum of this state."""
        snapshot = self.snapshot
        return {
            "mailbox": self.mailbox,
            "folder_key": self.folder_key,
            "folder_id": snapshot.folder_id,
            "change_key": snapshot.change_key,
            "parent_folder_key": self.parent_folder_key,
            "display_name": snapshot.display_name,
            "folder_class": snapshot.folder_class,
            "distinguished_name": snapshot.distinguished_name,
            "total_count": snapshot.total_count,
            "unread_count": snapshot.unread_count,
            "child_folder_count": snapshot.child_folder_count,
            "deleted": self.deleted,
            "deleted_time": self.deleted_time,
            "version": version,
            "observed_time": observed,
        }


def _address_of(value: dict[str, Any] | None) -> Address | None:
    return Address(**value) if value else None


def message_from_datum(datum: dict[str, Any]) -> MessageState:
    """The state a MessageState record describes (the inverse of ``MessageState.datum``)."""
    item = None
    if not datum["withdrawn"] and datum.get("item_class") is not None:
        values: dict[str, Any] = {name: datum[name] for name in _SCALAR_METADATA}
        values.update(
            item_id=datum["item_id"] or "",
            parent_folder_id=datum["folder_key"] or datum["last_known_folder_key"],
            change_key=datum["change_key"],
            sender=_address_of(datum["sender"]),
            author=_address_of(datum["author"]),
            categories=tuple(datum["categories"]),
            **{name: tuple(Address(**a) for a in datum[name])
               for name in ("to_recipients", "cc_recipients", "bcc_recipients")},
        )
        item = ItemSnapshot(**values)
    kind = datum["delete_kind"]
    return MessageState(
        mailbox=datum["mailbox"],
        message_key=datum["message_key"],
        last_known_folder_key=datum["last_known_folder_key"],
        item_id=datum["item_id"],
        folder_key=datum["folder_key"],
        deleted=datum["deleted"],
        deleted_time=datum["deleted_time"],
        delete_kind=DeleteKind(kind) if kind else None,
        withdrawn=datum["withdrawn"],
        withdrawn_time=datum["withdrawn_time"],
        item=item,
    )


_SCALAR_METADATA = (
    "item_class", "sensitivity", "subject", "datetime_sent", "datetime_received",
    "datetime_created", "last_modified_time", "size", "importance", "is_read", "flag_status",
    "has_attachments", "internet_message_id", "conversation_id", "search_key",
)


def folder_from_datum(datum: dict[str, Any], gone: bool = False) -> FolderState:
    """The state a FolderState record describes (the inverse of ``FolderState.datum``)."""
    snapshot = FolderSnapshot(
        folder_id=datum["folder_id"],
        parent_folder_id=datum["parent_folder_key"],
        display_name=datum["display_name"],
        folder_class=datum["folder_class"],
        change_key=datum["change_key"],
        distinguished_name=datum["distinguished_name"],
        total_count=datum["total_count"],
        unread_count=datum["unread_count"],
        child_folder_count=datum["child_folder_count"],
    )
    return FolderState(
        mailbox=datum["mailbox"],
        folder_key=datum["folder_key"],
        snapshot=snapshot,
        parent_folder_key=datum["parent_folder_key"],
        deleted=datum["deleted"],
        deleted_time=datum["deleted_time"],
        gone=gone,
    )
