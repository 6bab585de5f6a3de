"""The orders a message list can be read in (received, sender, subject, size; either way) and
the opaque keyset cursors of each.

Every order is a total order on ``(key, id)``, so paging by keyset never skips or repeats a
message. In a folder, every order walks an index on ``(mailbox, folder, key, id)`` (the keys are
``archive.store.tables.order_keys``, the very expressions those indexes hold), either way, from
the cursor on; a search or a conversation sorts its matches. The newest-first cursor keeps its
old form, so cursors handed out before sorting existed stay valid.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, tuple_

from archive.store.tables import order_keys

BIGINT = 2**63  # every id and time in the store is a signed 64-bit integer
SORTS = ("received", "sender", "subject", "size")
SORT_PATTERN = "^(-?(received|sender|subject|size))?$"  # empty: newest first


class BadCursorError(ValueError):
    """A cursor that this archive did not hand out."""


def encode_cursor(sort_time: int, ident: int) -> str:
    """The opaque cursor after the row (sort_time, ident) of the newest-first order."""
    return base64.urlsafe_b64encode(f"{sort_time}:{ident}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (sort_time, id) a newest-first cursor points after."""
    try:
        sort_time, ident = (int(part) for part in _unpad(cursor).split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursorError("cursor is not one this archive handed out") from exc
    if not (-BIGINT <= sort_time < BIGINT and 0 <= ident < BIGINT):
        raise BadCursorError("cursor is not one this archive handed out (numbers out of range)")
    return sort_time, ident


def _unpad(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


@dataclass(frozen=True)
class Order:
    """One of SORTS, descending or not (``-subject``: Z to A)."""

    name: str = "received"
    descending: bool = True

    @classmethod
    def parse(cls, text: str | None) -> Order:
        """``received``, ``-size``…; None or empty: newest first. ValueError otherwise."""
        if not text:
            return cls()
        name = text.removeprefix("-")
        if name not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)} (- for descending)")
        return cls(name, text.startswith("-"))

    @property
    def text(self) -> str:
        """The form ``parse`` reads back."""
        return ("-" if self.descending else "") + self.name

    @property
    def is_default(self) -> bool:
        """Newest first, the order of the index and of the old cursors."""
        return self == Order()

    def key(self, table: Table) -> ColumnElement[Any]:
        """What the rows are ordered by (never null, so tuple comparisons hold)."""
        return order_keys(table)[self.name]

    def after(self, table: Table, ident: Any, cursor: str) -> ColumnElement[bool]:
        """The rows after the cursor's row in this order."""
        return self._beyond(table, ident, cursor, forwards=True)

    def up_to(self, table: Table, ident: Any, cursor: str) -> ColumnElement[bool]:
        """The rows before the cursor's row in this order, and that row."""
        return self._beyond(table, ident, cursor, forwards=False)

    def _beyond(
        self, table: Table, ident: Any, cursor: str, *, forwards: bool
    ) -> ColumnElement[bool]:
        """``(key, id)`` past the cursor's row, forwards (excluding it) or backwards (including
        it). The key's own bound only repeats what the row comparison implies, but SQLite seeks
        an expression index on a plain comparison and not on a row value: without it a deep
        page of a sorted folder walked the index from the folder's first row."""
        key = self.key(table)
        value, last = self.decode(cursor)
        row, mark = tuple_(key, ident), tuple_(value, last)
        if self.descending == forwards:  # the rows sought have smaller keys
            return and_(key <= value, row < mark if forwards else row <= mark)
        return and_(key >= value, row > mark if forwards else row >= mark)

    def by(self, table: Table, ident: Any, reverse: bool = False) -> list[ColumnElement[Any]]:
        """ORDER BY terms: this order, or its reverse."""
        down = self.descending != reverse
        return [term.desc() if down else term.asc() for term in (self.key(table), ident)]

    def encode(self, value: Any, ident: int) -> str:
        """The cursor after the row whose key is ``value``."""
        if self.is_default:
            return encode_cursor(int(value), ident)
        raw = json.dumps([self.text, value, ident]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, int]:
        """The (key, id) a cursor of this order points after."""
        if self.is_default:
            return decode_cursor(cursor)
        try:
            text, value, ident = json.loads(_unpad(cursor))
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise BadCursorError("cursor is not one this archive handed out") from exc
        numeric = self.name in ("received", "size")
        in_range = isinstance(value, int) and -BIGINT <= value < BIGINT
        if (
            text != self.text
            or type(value) is not (int if numeric else str)
            or (numeric and not in_range)
            or type(ident) is not int
            or not 0 <= ident < BIGINT
        ):
            raise BadCursorError("cursor is not one this archive handed out for this order")
        return value, ident
