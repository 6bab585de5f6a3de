"""Builders of ingest records (the wire format) for the tests."""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000_000  # a fixed "now" for records, in ms
HOUR = 3_600_000


def folder(mailbox: str, key: str, version: int, **fields: Any) -> dict[str, Any]:
    """A FolderState record."""
    state = {
        "mailbox": mailbox,
        "folder_key": key,
        "folder_id": f"id-{key}",
        "display_name": key.title(),
        "parent_folder_key": "root" if key != "root" else None,
        "folder_class": "IPF.Note",
        "version": version,
        "observed_time": T0 + version * 1000,
    }
    state.update(fields)
    return {"type": "FolderState", "ref": f"folders/{key}/{version}", "state": state}


def message(mailbox: str, key: str, version: int, folder_key: str = "inbox", **fields: Any
            ) -> dict[str, Any]:
    """A MessageState record in ``folder_key``."""
    state = {
        "mailbox": mailbox,
        "message_key": key,
        "item_id": f"item-{key}-{version}",
        "folder_key": folder_key,
        "last_known_folder_key": folder_key,
        "subject": f"Subject {key} v{version}",
        "sender": {"name": "Carol Sender", "email_address": "carol@example.org"},
        "to_recipients": [{"name": "Alice", "email_address": mailbox}],
        "datetime_received": T0 - 10 * HOUR,
        "is_read": False,
        "version": version,
        "observed_time": T0 + version * 1000,
    }
    state.update(fields)
    return {"type": "MessageState", "ref": f"messages/{key}/{version}", "state": state}


def status(mailbox: str, component: str, updated: int, **fields: Any) -> dict[str, Any]:
    """A MailboxStatus record."""
    state = {"mailbox": mailbox, "component": component, "state": "Live", "updated_time": updated}
    state.update(fields)
    return {"type": "MailboxStatus", "ref": f"status/{component}/{updated}", "state": state}


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    """An ingest request body."""
    return {"records": list(records)}
