"""SyncState: an opaque token saying what a sync client already knows about one folder.

Like Exchange's (which holds id sets and change-number sets), it records the set of objects the
client has been told about and the position in the mailbox's change sequence it has seen up to. It
is
base64 of a compressed, checksummed record bound to the mailbox, the folder and the kind of sync; a
token that does not decode, or belongs elsewhere, is ErrorInvalidSyncStateData.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass

from simulator.errors import EwsError

_HEAD = struct.Struct(">3scIQQ")  # magic, kind (H/I), mailbox number, folder serial, position
_MAGIC = b"SS1"
_MAX_DECODED = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SyncState:
    """What a client knows: ``known`` object serials, and changes up to ``position``."""

    kind: str
    mailbox_no: int
    folder: int
    position: int
    known: frozenset[int]


def _ranges(serials: frozenset[int]) -> bytes:
    out = bytearray()
    previous_end = 0
    ordered = sorted(serials)
    i = 0
    while i < len(ordered):
        start = ordered[i]
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out += _varint(start - previous_end) + _varint(j - i)
        previous_end = ordered[j]
        i = j + 1
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_ranges(raw: bytes) -> frozenset[int]:
    values: list[int] = []
    value = shift = 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(value)
            value = shift = 0
        elif shift > 63:
            raise ValueError("varint too long")
    if shift or len(values) % 2:
        raise ValueError("truncated ranges")
    serials: set[int] = set()
    end = 0
    for gap, extra in zip(values[::2], values[1::2], strict=True):
        start = end + gap
        end = start + extra
        serials.update(range(start, end + 1))
    return frozenset(serials)


def encode(state: SyncState) -> str:
    """The opaque token for a sync state."""
    body = _HEAD.pack(
        _MAGIC, state.kind.encode(), state.mailbox_no, state.folder, state.position
    ) + zlib.compress(_ranges(state.known))
    return base64.b64encode(body + struct.pack(">I", zlib.crc32(body))).decode("ascii")


def decode(token: str, kind: str, mailbox_no: int, folder: int) -> SyncState:
    """The sync state a token holds; ErrorInvalidSyncStateData when it is not one of ours for this
    mailbox, folder and kind of sync."""
    invalid = EwsError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
    )
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise invalid from exc
    if len(raw) < _HEAD.size + 4:
        raise invalid
    body, check = raw[:-4], raw[-4:]
    if struct.pack(">I", zlib.crc32(body)) != check:
        raise invalid
    magic, raw_kind, mailbox, folder_serial, position = _HEAD.unpack(body[: _HEAD.size])
    if (
        magic != _MAGIC
        or raw_kind != kind.encode()
        or mailbox != mailbox_no
        or folder_serial != folder
    ):
        raise invalid
    try:
        decompressor = zlib.decompressobj()
        ranges = decompressor.decompress(body[_HEAD.size :], _MAX_DECODED)
        known = _read_ranges(ranges)
    except (zlib.error, ValueError) as exc:
        raise invalid from exc
    return SyncState(kind, mailbox, folder_serial, position, known)
