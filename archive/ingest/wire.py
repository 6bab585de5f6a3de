"""The ingest wire format (JSON), version 1: a batch of state records from the Avro contract.

Each record carries the Avro record's fields under ``state`` unchanged in meaning: timestamps are
integers, milliseconds since the epoch (UTC), as the contract's ``timestamp-millis``; enum symbols
are strings; ``Address`` is an object. Fields the archive does not know are ignored (a newer
contract may add some); known fields are checked strictly. ``ref`` is the sender's name for the
record (the publisher uses ``topic/partition/offset``) and is echoed in every error about it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from mfr.topics import normalise_mailbox

MAX_KEY = 512
MAX_TEXT = 32_768
MAX_LIST = 5000
MAX_MS = 2**53  # every timestamp JSON can carry exactly
Millis = Annotated[int, Field(ge=-MAX_MS, le=MAX_MS, strict=True)]
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z]+$")]
Count = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
Version = Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)]
Flag = Annotated[bool, Field(strict=True)]


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    mailbox: str = Field(max_length=320, pattern=r"^\s*[^@\s]+@[^@\s]+\s*$")

    @field_validator("mailbox")
    @classmethod
    def _lower(cls, value: str) -> str:
        return normalise_mailbox(value)


class Address(BaseModel):
    """A mailbox as EWS describes it (the contract's ``Address``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Text | None = None
    email_address: Text | None = None
    routing_type: Annotated[str, Field(max_length=64)] | None = None


class FolderState(_State):
    """The contract's ``FolderState``."""

    folder_key: Key
    folder_id: Key
    change_key: Key | None = None
    parent_folder_key: Key | None = None
    display_name: Text
    folder_class: Annotated[str, Field(max_length=255)] | None = None
    distinguished_name: Annotated[str, Field(max_length=64)] | None = None
    total_count: Count | None = None
    unread_count: Count | None = None
    child_folder_count: Count | None = None
    deleted: Flag = False
    deleted_time: Millis | None = None
    version: Version
    observed_time: Millis


class MessageState(_State):
    """The contract's ``MessageState``; a withdrawn one carries no metadata the archive keeps."""

    message_key: Key
    item_id: Key | None = None
    change_key: Key | None = None
    folder_key: Key | None = None
    last_known_folder_key: Key
    deleted: Flag = False
    deleted_time: Millis | None = None
    delete_kind: Symbol | None = None
    withdrawn: Flag = False
    withdrawn_time: Millis | None = None
    item_class: Annotated[str, Field(max_length=255)] | None = None
    subject: Text | None = None
    sender: Address | None = None
    author: Address | None = None
    to_recipients: Annotated[list[Address], Field(max_length=MAX_LIST)] = []
    cc_recipients: Annotated[list[Address], Field(max_length=MAX_LIST)] = []
    bcc_recipients: Annotated[list[Address], Field(max_length=MAX_LIST)] = []
    datetime_sent: Millis | None = None
    datetime_received: Millis | None = None
    datetime_created: Millis | None = None
    last_modified_time: Millis | None = None
    size: Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)] | None = None
    importance: Symbol | None = None
    sensitivity: Symbol | None = None
    is_read: Flag | None = None
    flag_status: Symbol | None = None
    categories: Annotated[list[Text], Field(max_length=MAX_LIST)] = []
    has_attachments: Flag | None = None
    internet_message_id: Text | None = None
    conversation_id: Key | None = None
    search_key: Key | None = None
    version: Version
    observed_time: Millis


class MailboxStatus(_State):
    """The contract's ``MailboxStatus``: one component's view of one mailbox's replication."""

    component: Symbol
    state: Symbol
    initial_sync_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    folders: Count | None = None
    messages: Count | None = None
    last_change_time: Millis | None = None
    lag_ms: Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)] | None = None
    last_error: Text | None = None
    last_error_time: Millis | None = None
    updated_time: Millis


Ref = Annotated[str, Field(max_length=300)] | None


class FolderRecord(BaseModel):
    """A folder state record."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["FolderState"]
    ref: Ref = None
    state: FolderState


class MessageRecord(BaseModel):
    """A message state record."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["MessageState"]
    ref: Ref = None
    state: MessageState


class StatusRecord(BaseModel):
    """A mailbox status record."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["MailboxStatus"]
    ref: Ref = None
    state: MailboxStatus


IngestRecord = Annotated[FolderRecord | MessageRecord | StatusRecord, Field(discriminator="type")]
_RECORD = TypeAdapter[FolderRecord | MessageRecord | StatusRecord](IngestRecord)


class IngestBatch(BaseModel):
    """``POST /api/ingest/v1/batches``: records applied together, all or none."""

    model_config = ConfigDict(extra="forbid")
    records: list[IngestRecord] = Field(min_length=1)


class Rejection(BaseModel):
    """One record the archive will never accept as sent, and why."""

    index: int = Field(description="position of the record in the batch, from 0")
    ref: str | None = Field(description="the record's ref, as sent")
    reason: str


class IngestAccepted(BaseModel):
    """The batch was applied (or was already held): the sender may commit it."""

    records: int = Field(description="records in the batch")
    applied: int = Field(description="records that became a key's current state")
    history: int = Field(description="versions added to the history")
    stale: int = Field(description="records that changed nothing: duplicates, replays")


class IngestRejected(BaseModel):
    """Nothing was written: the listed records can never be accepted; the others can be resent."""

    detail: str
    rejected: list[Rejection]


def parse_record(index: int, raw: object) -> FolderRecord | MessageRecord | StatusRecord:
    """The record at ``index``, checked; raises ``RecordRejectedError`` naming it otherwise."""
    try:
        return _RECORD.validate_python(raw)
    except ValidationError as exc:
        raise RecordRejectedError(index, _ref_of(raw), _describe(exc)) from exc


class RecordRejectedError(ValueError):
    """A record that is invalid as sent."""

    def __init__(self, index: int, ref: str | None, reason: str) -> None:
        super().__init__(f"record {index} ({ref}): {reason}")
        self.rejection = Rejection(index=index, ref=ref, reason=reason)


def _ref_of(raw: object) -> str | None:
    ref = raw.get("ref") if isinstance(raw, dict) else None
    return ref[:300] if isinstance(ref, str) else None


def _describe(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in err['loc']) or 'record'}: {err['msg']}"
        for err in exc.errors(include_url=False)[:5]
    ]
    return "; ".join(problems)
