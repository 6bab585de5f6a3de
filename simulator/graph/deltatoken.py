"""Delta state tokens: what a delta client knows about one collection, as an opaque string.

The technique of EWS's SyncState (``simulator/syncstate.py``), whose range coding it reuses: a
compressed, CRC-checked record, here in unpadded URL-safe base64 because it travels in a URL
(``$skiptoken``/``$deltatoken``). It is bound to the mailbox, the folder (msgfolderroot for the
folder tree) and the kind of delta, and holds the serials the client was told about, its
position in the mailbox's change sequence, the mailbox's token epoch, whether the first round is
still under way, and the query options of the initial request. Serials compress well: a token
for a 12,400-message folder whose serials interleave with three other folders' is 2.5 KB.

``DeltaTokens`` keeps the epochs: expiring a mailbox's tokens (or every mailbox's) bumps its
epoch, and a token minted under an older one reads as expired, which is how the simulator plays
Outlook's delta token cache dropping old tokens (delta-query-overview.md, "Token duration").
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import threading
import zlib
from dataclasses import dataclass

from simulator.mailbox import Mailbox
from simulator.syncstate import _ranges, _read_ranges, _varint

_HEAD = struct.Struct(">3scIQQQB")  # magic, kind, mailbox, folder, epoch, position, flags
_MAGIC = b"GD1"
_INITIAL = 1
_MAX_DECODED = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeltaState:
    """What a delta client knows about one collection, and the options its round runs with."""

    kind: str
    mailbox_no: int
    folder: int
    epoch: int
    position: int
    known: frozenset[int]
    options: dict[str, str]
    initial: bool


class InvalidTokenError(Exception):
    """A token that is not one of ours for this collection."""


class ExpiredTokenError(Exception):
    """A token of ours from before its mailbox's tokens were expired."""

    def __init__(self, state: DeltaState) -> None:
        super().__init__("expired")
        self.state = state


class DeltaTokens:
    """Mints and reads delta tokens, and keeps each mailbox's token epoch: expiring a
    mailbox's tokens bumps its epoch, and a token minted under an older one is expired."""

    def __init__(self) -> None:
        self._all = 0
        self._by_mailbox: dict[str, int] = {}
        self._lock = threading.Lock()

    def epoch(self, smtp: str) -> int:
        """The current epoch of a mailbox's tokens."""
        with self._lock:
            return self._all + self._by_mailbox.get(smtp.lower(), 0)

    def expire(self, smtp: str | None = None) -> None:
        """Invalidate every outstanding token of a mailbox (of every mailbox when None)."""
        with self._lock:
            if smtp is None:
                self._all += 1
            else:
                self._by_mailbox[smtp.lower()] = self._by_mailbox.get(smtp.lower(), 0) + 1

    def encode(self, state: DeltaState) -> str:
        """The opaque token for a state."""
        flags = _INITIAL if state.initial else 0
        head = _HEAD.pack(
            _MAGIC,
            state.kind.encode(),
            state.mailbox_no,
            state.folder,
            state.epoch,
            state.position,
            flags,
        )
        options = json.dumps(state.options, separators=(",", ":")).encode()
        body = head + zlib.compress(_varint(len(options)) + options + _ranges(state.known))
        raw = body + struct.pack(">I", zlib.crc32(body))
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(self, token: str, kind: str, mailbox: Mailbox, folder: int) -> DeltaState:
        """The state a token holds; ``InvalidTokenError`` when it is not ours for this collection,
        ``ExpiredTokenError`` when its epoch is over."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidTokenError from exc
        if len(raw) < _HEAD.size + 4 or struct.pack(">I", zlib.crc32(raw[:-4])) != raw[-4:]:
            raise InvalidTokenError
        magic, raw_kind, number, serial, epoch, position, flags = _HEAD.unpack(raw[: _HEAD.size])
        if (magic, raw_kind, number, serial) != (_MAGIC, kind.encode(), mailbox.number, folder):
            raise InvalidTokenError
        try:
            rest = zlib.decompressobj().decompress(raw[_HEAD.size : -4], _MAX_DECODED)
            length, start = _read_varint(rest)
            options = json.loads(rest[start : start + length])
            known = _read_ranges(rest[start + length :])
        except (zlib.error, ValueError) as exc:
            raise InvalidTokenError from exc
        if not isinstance(options, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()
        ):
            raise InvalidTokenError
        state = DeltaState(
            kind, number, serial, epoch, position, known, options, bool(flags & _INITIAL)
        )
        if epoch != self.epoch(mailbox.smtp):
            raise ExpiredTokenError(state)
        return state


def _read_varint(raw: bytes) -> tuple[int, int]:
    value = shift = 0
    for index, byte in enumerate(raw):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")
