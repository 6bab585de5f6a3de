"""From a consumed record to the archive's ingest wire format (see archive/README.md): the Avro
datum's fields, with timestamps as milliseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mfr.bus import Record
from mfr.codec import Codec

# The record type each state topic carries (full Avro name -> wire "type").
WIRE_TYPES = {
    "mfr.replication.FolderState": "FolderState",
    "mfr.replication.MessageState": "MessageState",
    "mfr.replication.MailboxStatus": "MailboxStatus",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def ref(record: Record) -> str:
    """How the archive's errors name a record: ``topic/partition/offset``."""
    return f"{record.topic}/{record.partition}/{record.offset}"


def to_wire(codec: Codec, record: Record, expected: str) -> dict[str, Any]:
    """The wire form of ``record``; raises ``CodecError`` if it is not an ``expected`` record."""
    decoded = codec.decode(record.value, expected)
    return {"type": WIRE_TYPES[decoded.name], "ref": ref(record), "state": _plain(decoded.datum)}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MS
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
