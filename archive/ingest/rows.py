"""From checked wire states to table rows (column name -> value)."""

from __future__ import annotations

import json
from typing import Any

from archive.ingest.wire import Address, FolderState, MailboxStatus, MessageState

# Never replicated; a record that carries one anyway is treated as withdrawn (defence in depth).
WITHHELD_SENSITIVITY = frozenset({"Personal", "Private"})

Row = dict[str, Any]


def folder_row(state: FolderState) -> Row:
    """The columns of ``folders`` and ``folder_history`` a folder state sets."""
    return state.model_dump(
        include={
            "folder_id", "change_key", "parent_folder_key", "display_name", "folder_class",
            "distinguished_name", "total_count", "unread_count", "child_folder_count",
            "deleted", "deleted_time",
        }
    )


def is_withdrawn(state: MessageState) -> bool:
    """Whether the archive must forget this message's metadata."""
    return state.withdrawn or state.sensitivity in WITHHELD_SENSITIVITY


def message_row(state: MessageState) -> Row:
    """The columns of ``messages`` and ``message_history`` a message state sets."""
    if is_withdrawn(state):
        return _withdrawn_row(state)
    sender = state.sender or Address()
    return {
        "withdrawn": False,
        "withdrawn_time": None,
        **state.model_dump(
            include={
                "item_id", "change_key", "folder_key", "last_known_folder_key", "deleted",
                "deleted_time", "delete_kind", "item_class", "subject", "datetime_sent",
                "datetime_received", "datetime_created", "last_modified_time", "size",
                "importance", "sensitivity", "is_read", "flag_status", "has_attachments",
                "internet_message_id", "conversation_id", "search_key",
            }
        ),
        "sender_name": sender.name,
        "sender_address": sender.email_address,
        "author": _json(state.author.model_dump()) if state.author else None,
        "to_recipients": _addresses(state.to_recipients),
        "cc_recipients": _addresses(state.cc_recipients),
        "bcc_recipients": _addresses(state.bcc_recipients),
        "categories": _json(state.categories),
        "sort_time": sort_time(state),
        "search_text": _search_text(state),
    }


def sort_time(state: MessageState) -> int:
    """Where the message sorts in a newest-first list."""
    for when in (state.datetime_received, state.datetime_sent, state.datetime_created):
        if when is not None:
            return when
    return state.observed_time


def status_row(state: MailboxStatus) -> Row:
    """The columns of ``mailbox_status`` a status sets."""
    return state.model_dump(exclude={"mailbox"})


def _withdrawn_row(state: MessageState) -> Row:
    blank: Row = dict.fromkeys(
        (
            "item_id", "change_key", "folder_key", "last_known_folder_key", "deleted_time",
            "delete_kind", "item_class", "subject", "sender_name", "sender_address", "author",
            "to_recipients", "cc_recipients", "bcc_recipients", "datetime_sent",
            "datetime_received", "datetime_created", "last_modified_time", "size", "importance",
            "sensitivity", "is_read", "flag_status", "categories", "has_attachments",
            "internet_message_id", "conversation_id", "search_key", "search_text",
        )
    )
    return {
        **blank,
        "withdrawn": True,
        "withdrawn_time": state.withdrawn_time or state.observed_time,
        "deleted": False,
        "sort_time": state.observed_time,
    }


def _addresses(addresses: list[Address]) -> str | None:
    return _json([a.model_dump() for a in addresses]) if addresses else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _search_text(state: MessageState) -> str:
    people = [state.sender, state.author, *state.to_recipients, *state.cc_recipients]
    parts = [state.subject or "", state.internet_message_id or "", *state.categories]
    for person in people:
        if person is not None:
            parts += [person.name or "", person.email_address or ""]
    return " ".join(part for part in parts if part).lower()[:MAX_SEARCH_TEXT]


MAX_SEARCH_TEXT = 20_000
