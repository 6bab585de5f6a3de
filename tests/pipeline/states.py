"""State records as the extractor writes them, made to test rebuilding: folders renamed and
deleted, messages moved, read, deleted and withdrawn, versions out of order, duplicates, status
updates, and two records the archive must refuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mfr.bus import Producer
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, status_key, topic_name

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """``minutes`` after the scenario's start."""
    return T0 + timedelta(minutes=minutes)


def folder(mailbox: str, key: str, version: int, name: str, **fields: Any) -> dict[str, Any]:
    """A FolderState."""
    return {"mailbox": mailbox, "folder_key": key, "folder_id": f"id-{key}", "display_name": name,
            "folder_class": "IPF.Note", "version": version, "observed_time": at(version),
            **fields}


def message(mailbox: str, key: str, version: int, where: str, **fields: Any) -> dict[str, Any]:
    """A MessageState in folder ``where``."""
    return {"mailbox": mailbox, "message_key": key, "item_id": f"{key}-v{version}",
            "folder_key": where, "last_known_folder_key": where, "item_class": "IPM.Note",
            "subject": f"About {key}", "sender": {"name": "Carol", "email_address": "c@x.org"},
            "to_recipients": [{"name": "Alice", "email_address": "alice@example.com"}],
            "datetime_received": at(-60), "is_read": False, "categories": ["Blue"],
            "version": version, "observed_time": at(version), **fields}


@dataclass(frozen=True)
class Produced:
    """How many records went to each state topic, and how many the archive must refuse."""

    folders: int
    messages: int
    status: int
    refused: int


def produce_states(producer: Producer, bus: BusSettings) -> Produced:
    """Produce the scenario and flush it."""
    codec = Codec()
    alice, bob = "alice@example.com", "bob@example.com"
    folder_states = [
        folder(alice, "inbox", 1, "Inbox", distinguished_name="inbox"),
        folder(alice, "projects", 3, "Projects 2026", parent_folder_key="inbox"),  # renamed...
        folder(alice, "projects", 2, "Projects", parent_folder_key="inbox"),  # ...came late
        folder(alice, "old", 2, "Old"),
        folder(alice, "old", 9, "Old", deleted=True, deleted_time=at(9)),
        folder(alice, "old", 9, "Old", deleted=True, deleted_time=at(9)),  # duplicate
        folder(bob, "inbox", 1, "Inbox"),
    ]
    message_states = [
        message(alice, "m1", 4, "projects", is_read=True),  # moved and read, arrives first
        message(alice, "m1", 1, "inbox"),
        message(alice, "m1", 2, "inbox", is_read=True),
        message(alice, "m1", 2, "inbox", is_read=True),  # duplicate
        message(alice, "m2", 1, "inbox"),
        message(alice, "m2", 5, "deleteditems", last_known_folder_key="inbox", deleted=True,
                deleted_time=at(5), delete_kind="MovedToDeletedItems"),
        message(alice, "m3", 1, "inbox", subject="Soon private"),
        message(alice, "m3", 2, "inbox", flag_status="Flagged"),
        {"mailbox": alice, "message_key": "m3", "last_known_folder_key": "inbox",
         "withdrawn": True, "withdrawn_time": at(6), "version": 6, "observed_time": at(6)},
        message(alice, "m3", 2, "inbox", flag_status="Flagged"),  # older, after the withdrawal
        message(alice, "m4", 7, "old", last_known_folder_key="old", folder_key=None,
                deleted=True, deleted_time=at(9), delete_kind="FolderDeleted"),
        message(alice, "m4", 3, "old"),
        message(bob, "m1", 1, "inbox", subject="Same key, other mailbox"),
        message("eve@elsewhere.net", "x", 1, "inbox"),  # a domain the archive does not accept
    ]
    statuses: list[dict[str, Any]] = [
        {"mailbox": alice, "component": "Extractor", "state": "Live", "messages": 4,
         "updated_time": at(8)},
        # One per key: the status topic is compacted at once (the embedded bus's first flush).
        {"mailbox": alice, "component": "Listener", "state": "Live", "updated_time": at(4)},
        {"mailbox": bob, "component": "Extractor", "state": "Throttled", "updated_time": at(3)},
    ]
    topics = {kind: topic_name(bus, kind) for kind in (Topic.FOLDERS, Topic.MESSAGES,
                                                       Topic.STATUS)}
    for datum in folder_states:
        producer.produce(topics[Topic.FOLDERS], record_key(datum["mailbox"], datum["folder_key"]),
                         codec.encode("FolderState", datum))
    for datum in message_states:
        producer.produce(topics[Topic.MESSAGES],
                         record_key(datum["mailbox"], datum["message_key"]),
                         codec.encode("MessageState", datum))
    producer.produce(topics[Topic.MESSAGES], record_key(alice, "junk"), b"\xc3\x01 not avro")
    for datum in statuses:
        producer.produce(topics[Topic.STATUS], status_key(datum["mailbox"], datum["component"]),
                         codec.encode("MailboxStatus", datum))
    producer.flush()
    return Produced(folders=len(folder_states), messages=len(message_states) + 1,
                    status=len(statuses), refused=2)
