"""One record of every contract schema with every field set, and the same record as an older
released version would have written it, for the schema-evolution tests.

The samples use only enum symbols every released version has, so each version can write them;
``GRAPH_EVENT`` is the exception on purpose: a current record older readers must cope with.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import fastavro.schema

from mfr.codec import MARKER

NOW = datetime(2026, 11, 23, 12, 30, 15, 123000, tzinfo=UTC)
EARLIER = datetime(2026, 11, 20, 8, 0, 0, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

BOB = {"name": "Bob", "email_address": "bob@contoso.com", "routing_type": "SMTP"}
ALICE = {"name": "Alice", "email_address": "alice@contoso.com", "routing_type": "SMTP"}

SAMPLES: dict[str, dict[str, Any]] = {
    "ChangeEvent": {
        "event_id": "5b1f0c1e-2b8a-4f0e-9d2c-1a2b3c4d5e6f",
        "mailbox": "alice@contoso.com",
        "event_type": "Moved",
        "target": "Item",
        "id": "AAMk-new",
        "change_key": "CQAAAB",
        "parent_folder_id": "AAMk-archive",
        "old_id": "AAMk-old",
        "old_parent_folder_id": "AAMk-inbox",
        "unread_count": 4,
        "watermark": "AQAAAA==",
        "previous_watermark": "AQAAAB==",
        "subscription_id": "sub-1",
        "source": "Streaming",
        "reason": None,
        "event_time": EARLIER,
        "received_time": NOW,
    },
    "Checkpoint": {
        "mailbox": "alice@contoso.com",
        "scope": "Folder",
        "folder_id": "AAMk-inbox",
        "sync_state": "H4sIAAAAAAAEAO29",
        "watermark": "AQAAAA==",
        "phase": "InitialSync",
        "pages": 3,
        "items_synced": 1536,
        "items_total": 4000,
        "updated_time": NOW,
        "exchange_api": "Ews",
    },
    "DeadLetter": {
        "source_topic": "mfr.changes",
        "source_partition": 2,
        "source_offset": 912,
        "key": "alice@contoso.com",
        "value": b"\xc3\x01\x00\xff garbage",
        "headers": {"trace": b"\x01\x02"},
        "stage": "extractor",
        "error_type": "CodecError",
        "reason": "corrupt body",
        "attempts": 3,
        "failed_time": NOW,
    },
    "FolderState": {
        "mailbox": "alice@contoso.com",
        "folder_key": "AAMk-f1",
        "folder_id": "AAMk-f1",
        "change_key": "AQAAABYA",
        "parent_folder_key": "AAMk-root",
        "display_name": "Projekte ✓",
        "folder_class": "IPF.Note",
        "distinguished_name": None,
        "total_count": 120,
        "unread_count": 7,
        "child_folder_count": 2,
        "deleted": True,
        "deleted_time": NOW,
        "version": 12,
        "observed_time": NOW,
        "exchange_api": "Graph",
    },
    "MailboxStatus": {
        "mailbox": "alice@contoso.com",
        "component": "Extractor",
        "state": "InitialSync",
        "initial_sync_percent": 42.5,
        "folders": 31,
        "messages": 10234,
        "last_change_time": EARLIER,
        "lag_ms": 850,
        "last_error": "ErrorServerBusy",
        "last_error_time": EARLIER,
        "updated_time": NOW,
    },
    "MessageState": {
        "mailbox": "alice@contoso.com",
        "message_key": "AAMk-key",
        "item_id": "AAMk-id",
        "change_key": "CQAAABYA",
        "folder_key": "AAMk-deleted",
        "last_known_folder_key": "AAMk-f1",
        "deleted": True,
        "deleted_time": NOW,
        "delete_kind": "MovedToDeletedItems",
        "withdrawn": False,
        "withdrawn_time": None,
        "item_class": "IPM.Note",
        "subject": "Quarterly numbers — café ☕",
        "sender": BOB,
        "author": ALICE,
        "to_recipients": [ALICE],
        "cc_recipients": [BOB, ALICE],
        "bcc_recipients": [],
        "datetime_sent": EARLIER,
        "datetime_received": EARLIER,
        "datetime_created": EARLIER,
        "last_modified_time": NOW,
        "size": 12345,
        "importance": "High",
        "sensitivity": "Confidential",
        "is_read": True,
        "flag_status": "Complete",
        "categories": ["Red", "Finance"],
        "has_attachments": True,
        "internet_message_id": "<abc@contoso.com>",
        "conversation_id": "AAQk-conv",
        "search_key": "q83vEjRWeJA=",
        "version": 7,
        "observed_time": NOW,
        "exchange_api": "Ews",
    },
}

GRAPH_EVENT: dict[str, Any] = {
    **SAMPLES["ChangeEvent"],
    "event_type": "Created",
    "source": "Webhook",
    "id": "AAkALg-imm",
    "parent_folder_id": None,
    "old_id": None,
    "old_parent_folder_id": None,
    "change_key": None,
    "watermark": None,
    "previous_watermark": None,
    "event_time": None,
}


def field_names(schema_path: Path) -> list[str]:
    """The top-level field names of a schema file."""
    return [field["name"] for field in json.loads(schema_path.read_text())["fields"]]


def as_written_by(schema_path: Path, datum: dict[str, Any]) -> dict[str, Any]:
    """The datum restricted to the fields the schema at ``schema_path`` has."""
    names = set(field_names(schema_path))
    return {key: value for key, value in datum.items() if key in names}


def encode_with(schema_path: Path, datum: dict[str, Any]) -> bytes:
    """Single-object encoding with the schema file itself, without our codec: the ``avro``
    package writes the body, fastavro computes the fingerprint."""
    text = schema_path.read_text()
    canonical = fastavro.schema.to_parsing_canonical_form(json.loads(text))
    fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    buffer = io.BytesIO()
    buffer.write(MARKER + fingerprint)
    avro.io.DatumWriter(avro.schema.parse(text)).write(datum, avro.io.BinaryEncoder(buffer))
    return buffer.getvalue()


def plain(value: Any) -> Any:
    """A decoded datum as Java's AvroCheck prints it: timestamps in epoch milliseconds, bytes in
    hex, everything else JSON."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, bytes):
        return value.hex()
    return value
