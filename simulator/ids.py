"""EWS-style opaque identifiers: item and folder ids, change keys, watermarks, subscription ids.

Every id is base64 of a small binary record, so it looks like Exchange's and clients must treat it
as
opaque. Ids are minted deterministically from the mailbox number and a per-mailbox serial: a folder
keeps its serial for life (folder ids are stable), an item gets a new serial whenever it moves (item
ids change on move, as in Exchange), and a change key carries a version bumped on every change.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum

_MAGIC = b"\x00\x03S"
_RECORD = struct.Struct(">3sBIQ")  # magic, kind, mailbox number, serial
_CHANGE_KEY = struct.Struct(">BQI")  # kind, serial, version
_WATERMARK = struct.Struct(">3sIQ")  # magic, mailbox number, event sequence


class IdKind(StrEnum):
    """What an identifier names."""

    FOLDER = "F"
    ITEM = "I"
    # Graph's immutable message id (outlook-immutable-id.md): minted from the item's origin, so it
    # survives moves within the mailbox; EWS never hands it out.
    IMMUTABLE = "M"


_KINDS = {ord(kind.value): kind for kind in IdKind}


@dataclass(frozen=True, slots=True)
class DecodedId:
    """The parts of a decoded item or folder id."""

    kind: IdKind
    mailbox_no: int
    serial: int


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _crc(raw: bytes) -> bytes:
    return struct.pack(">I", zlib.crc32(raw))


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def mint_id(kind: IdKind, mailbox_no: int, serial: int) -> str:
    """The EWS id of a folder or item."""
    raw = _RECORD.pack(_MAGIC, ord(kind.value), mailbox_no, serial)
    return _b64(raw + _crc(raw))


def decode_id(text: str) -> DecodedId | None:
    """The parts of an id minted here, or None when it is malformed (not ours, corrupted)."""
    raw = _unb64(text)
    if raw is None or len(raw) != _RECORD.size + 4:
        return None
    body, check = raw[: _RECORD.size], raw[_RECORD.size :]
    if _crc(body) != check:
        return None
    magic, kind, mailbox_no, serial = _RECORD.unpack(body)
    found = _KINDS.get(kind)
    if magic != _MAGIC or found is None:
        return None
    return DecodedId(found, mailbox_no, serial)


def mint_change_key(kind: IdKind, serial: int, version: int) -> str:
    """A change key: different after every modification of the object."""
    return _b64(_CHANGE_KEY.pack(ord(kind.value), serial, version))


def mint_watermark(mailbox_no: int, sequence: int) -> str:
    """A watermark: the position just after event ``sequence`` in a mailbox's event log."""
    raw = _WATERMARK.pack(b"WMK", mailbox_no, sequence)
    return _b64(raw + _crc(raw))


def decode_watermark(text: str) -> tuple[int, int] | None:
    """(mailbox number, sequence) of a watermark, or None when it is malformed."""
    raw = _unb64(text)
    if raw is None or len(raw) != _WATERMARK.size + 4:
        return None
    body = raw[: _WATERMARK.size]
    if _crc(body) != raw[_WATERMARK.size :]:
        return None
    magic, mailbox_no, sequence = _WATERMARK.unpack(body)
    if magic != b"WMK":
        return None
    return mailbox_no, sequence


def mint_subscription_id(backend: str, serial: int, salt: bytes) -> str:
    """A subscription id; like Exchange's, it names the back-end server holding the subscription."""
    raw = bytes([len(backend)]) + backend.encode("ascii") + struct.pack(">Q", serial) + salt
    return _b64(raw)
