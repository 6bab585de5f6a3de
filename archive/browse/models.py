"""What the browse API answers (also what the web UI renders). Times are UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field


def from_ms(millis: int | None) -> datetime | None:
    """A contract timestamp as an aware UTC datetime."""
    return None if millis is None else at_ms(millis)


def at_ms(millis: int) -> datetime:
    """A non-null contract timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, UTC)


class TimeOutOfRangeError(ValueError):
    """A time that has no place in UTC between the years 1 and 9999 (it could not be shown)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_LAST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // timedelta(
    milliseconds=1
)


def to_ms(when: datetime) -> int:
    """An API datetime (naive means UTC) as milliseconds since the epoch; a time whose UTC
    falls outside the years 1 to 9999 (say 0001-01-01T00:00+14:00) is refused."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    millis = (when - _EPOCH) // timedelta(milliseconds=1)
    if not _FIRST_MS <= millis <= _LAST_MS:
        raise TimeOutOfRangeError(f"{when.isoformat()} is outside the years 1 to 9999 in UTC")
    return millis


class Address(BaseModel):
    """A person on a message."""

    name: str | None = None
    email_address: str | None = None
    routing_type: str | None = None


class MailboxSummary(BaseModel):
    """A mailbox the caller may read."""

    address: str
    last_change_time: datetime | None = Field(description="newest change replicated")
    last_ingest_time: datetime | None = Field(description="when the archive last received one")
    folders: int
    messages: int
    deleted_messages: int


class FolderNode(BaseModel):
    """A folder with its place in the tree and its counts (from the archive's own records)."""

    folder_key: str
    parent_folder_key: str | None
    display_name: str
    distinguished_name: str | None
    deleted: bool
    deleted_time: datetime | None
    messages: int = Field(description="messages shown here, deleted ones included")
    deleted_messages: int
    unread: int
    exchange_total_count: int | None = Field(description="TotalCount as Exchange last reported")


class FolderTree(BaseModel):
    """A mailbox's folders, parents before children, siblings by name."""

    mailbox: str
    at: datetime | None = Field(description="the time the tree is shown as of; null: now")
    last_change_time: datetime | None
    folders: list[FolderNode]


class MessageSummary(BaseModel):
    """One line of a message list."""

    id: int = Field(description="the archive's id of the message, unique within the archive")
    message_key: str
    folder_key: str | None = Field(description="where it is in Exchange now (null: gone)")
    last_known_folder_key: str | None = Field(description="where it is shown")
    subject: str | None
    sender: Address | None
    to_recipients: list[Address] = Field(default_factory=list)
    received: datetime | None
    sent: datetime | None
    sort_time: datetime
    is_read: bool | None
    flag_status: str | None
    importance: str | None
    has_attachments: bool | None
    size: int | None
    deleted: bool
    deleted_time: datetime | None
    delete_kind: str | None
    deleted_before_replication: bool = Field(
        default=False,
        description="already deleted when first replicated: the time of deletion is unknown "
        "(deleted_time is then when it was first seen)",
    )


class MessagePage(BaseModel):
    """A page of messages, newest first; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[MessageSummary]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    """One version of a message as it was received: where it was and what it looked like."""

    version: int
    valid_from: datetime = Field(description="when this state was observed in Exchange")
    folder_key: str | None
    folder_name: str | None
    last_known_folder_key: str | None
    deleted: bool
    delete_kind: str | None
    subject: str | None
    is_read: bool | None
    flag_status: str | None
    withdrawn: bool


class MessageDetail(MessageSummary):
    """A message's full metadata and its history of locations and changes."""

    item_class: str | None
    author: Address | None
    cc_recipients: list[Address]
    bcc_recipients: list[Address]
    created: datetime | None
    last_modified: datetime | None
    sensitivity: str | None
    categories: list[str]
    internet_message_id: str | None
    conversation_id: str | None
    version: int
    observed_time: datetime
    history: list[HistoryEntry]


class ComponentStatus(BaseModel):
    """One pipeline component's report about a mailbox (the contract's MailboxStatus)."""

    component: str
    state: str
    initial_sync_percent: float | None
    folders: int | None
    messages: int | None
    last_change_time: datetime | None
    lag_ms: int | None
    last_error: str | None
    last_error_time: datetime | None
    updated_time: datetime


class MailboxReplication(MailboxSummary):
    """A mailbox's replication as the admin page shows it."""

    lag_ms: int | None = Field(description="ingest time minus observed time of the last change")
    components: list[ComponentStatus]
