"""What a message list shows, as the URL says it: the folder, a search and its scope, the
filters, a conversation, the order and the time it is shown as of.

The URL is the whole state, so the place survives paging, sorting, reloading and the back
button, and an export of the list is the same URL on another route. The mailbox page and the
exports read it the same way here, so they never disagree about which messages are meant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query

from archive.browse.listing import MessageFilter
from archive.browse.models import TimeOutOfRangeError, to_ms
from archive.browse.ordering import SORT_PATTERN, Order

FLAG = "^1?$"  # a checkbox: "1" when ticked
FILTERS = ("deleted", "sender", "since", "until", "unread", "flagged", "attachments")


class BadViewError(ValueError):
    """A parameter that names no time; the message says which and why, for the person."""


@dataclass(frozen=True)
class ListView:
    """The URL parameters of a message list (cursor and selected message aside)."""

    folder: str | None = None
    at: str | None = None
    q: str | None = None
    scope: str | None = None  # "folder": search the chosen folder only; else the mailbox
    conversation: int | None = None  # a message's id: list its conversation
    deleted: str = "show"  # show, hide, or only
    sender: str | None = None
    since: str | None = None  # received at or after (a date means its start, in UTC)
    until: str | None = None  # received before (a date means the end of that day)
    unread: str | None = None
    flagged: str | None = None
    attachments: str | None = None
    sort: str | None = None

    def params(self) -> dict[str, Any]:
        """The view as URL parameters (defaults left out)."""
        out = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        if out.get("deleted") == "show":
            del out["deleted"]
        return out

    @property
    def filters_on(self) -> int:
        """How many filters narrow the list (a date range is one)."""
        named = self.params()
        return sum(1 for name in FILTERS if name in named) - ("since" in named and "until" in named)

    def order(self) -> Order:
        """The order the list is read in."""
        return Order.parse(self.sort)

    def message_filter(
        self, chosen_folder: str | None, conversation_id: str | None = None
    ) -> MessageFilter:
        """Which messages the view lists: a conversation's across folders (deleted ones
        included, marked), a search's in the mailbox or the folder, or the folder's."""
        if self.conversation is not None:
            return MessageFilter(
                conversation_id=conversation_id or "", at=_time("at", self.at, end=False)
            )
        searching = bool(self.q)
        return MessageFilter(
            folder_key=None if searching and self.scope != "folder" else chosen_folder,
            include_deleted=self.deleted != "hide",
            only_deleted=self.deleted == "only",
            unread=bool(self.unread),
            flagged=bool(self.flagged),
            with_attachments=bool(self.attachments),
            sender=self.sender or None,
            text=self.q or None,
            received_from=_time("From", self.since, end=False),
            received_to=_time("To", self.until, end=True),
            at=_time("at", self.at, end=False),
        )

    def check(self) -> None:
        """Raise BadViewError if a time in the view is not one."""
        self.message_filter(None)


def _time(label: str, text: str | None, *, end: bool) -> int | None:
    """``text`` in ms: an ISO date and time (naive: UTC), or a date (its start in UTC; with
    ``end``, the start of the next day, so the day itself is included)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
        return to_ms(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as exc:
        reason = str(exc) if isinstance(exc, TimeOutOfRangeError) else "not a date and time"
        shown = "As it was on" if label == "at" else label
        raise BadViewError(
            f"“{shown}” {text!r}: {reason}. Use a form like 2024-05-01T09:30 (UTC) "
            "or 2024-05-01T09:30+02:00."
        ) from exc


def list_view(
    folder: Annotated[str | None, Query(max_length=512)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    scope: Annotated[str | None, Query(pattern="^(folder|mailbox)?$")] = None,
    conversation: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    deleted: Annotated[str, Query(pattern="^(show|hide|only)$")] = "show",
    sender: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    unread: Annotated[str | None, Query(pattern=FLAG)] = None,
    flagged: Annotated[str | None, Query(pattern=FLAG)] = None,
    attachments: Annotated[str | None, Query(pattern=FLAG)] = None,
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN)] = None,
) -> ListView:
    """The view a request's URL names (a FastAPI dependency)."""
    return ListView(folder=folder, at=at, q=(q or "").strip() or None,
                    scope=scope if scope == "folder" else None, conversation=conversation,
                    deleted=deleted, sender=(sender or "").strip() or None, since=since,
                    until=until, unread=unread, flagged=flagged, attachments=attachments,
                    sort=sort)
