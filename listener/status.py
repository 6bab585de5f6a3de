"""What the listener knows about each mailbox, for /status, /readyz, the logs and (through a
``StatusFeed``, in EWS modes) the admin page.

/readyz asks ``problem``: a listener that holds no working subscription at all (Exchange down, its
name not resolving, the service account refused) is not ready, and says why, instead of
reporting "ready" with nothing subscribed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from listener.events import now_utc

STATES = ("subscribed", "subscribing", "failing")


class Feed(Protocol):
    """Where state changes go (``StatusFeed``: MailboxStatus records)."""

    def live(self, mailbox: str) -> None:
        """Subscribed."""

    def pending(self, mailbox: str, reason: str | None) -> None:
        """(Re)subscribing."""

    def failing(self, mailbox: str, error: str, *, throttled: bool = False) -> None:
        """No working subscription."""

    def removed(self, mailbox: str) -> None:
        """Left the selection."""


@dataclass
class MailboxState:
    """One mailbox as /status shows it."""

    subscribed: bool = False
    subscription_id: str | None = None
    group: str | None = None
    last_event: datetime | None = None
    last_resync: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "subscribed": self.subscribed,
            "subscription_id": self.subscription_id,
            "group": self.group,
            "last_event": _iso(self.last_event),
            "last_resync": _iso(self.last_resync),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass
class StatusBoard:
    """Every mailbox's state; safe across threads."""

    _states: dict[str, MailboxState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    feed: Feed | None = None  # EWS modes report through the board; Graph mode reports itself

    def update(self, mailbox: str, **changes: Any) -> None:
        """Set fields of a mailbox's state (created on first mention)."""
        with self._lock:
            state = self._states.setdefault(mailbox, MailboxState())
            for name, value in changes.items():
                setattr(state, name, value)

    def subscribed(self, mailbox: str, subscription_id: str, group: str | None) -> None:
        """The mailbox holds a live subscription."""
        self.update(mailbox, subscribed=True, subscription_id=subscription_id, group=group,
                    last_error=None)
        if self.feed is not None:
            self.feed.live(mailbox)

    def subscribing(self, mailbox: str, reason: str | None = None) -> None:
        """The mailbox is being subscribed (``reason``: why again, after a loss)."""
        self.update(mailbox, subscribed=False, subscription_id=None)
        if self.feed is not None:
            self.feed.pending(mailbox, reason and f"resubscribing: {reason}")

    def answered(self, mailbox: str) -> None:
        """Exchange served the mailbox's subscription again: an earlier error is over."""
        with self._lock:
            state = self._states.get(mailbox)
            recovered = state is not None and state.subscribed and state.last_error is not None
            if recovered and state is not None:
                state.last_error = None
        if recovered and self.feed is not None:
            self.feed.live(mailbox)

    def failed(self, mailbox: str, error: str, *, unsubscribed: bool = True,
               throttled: bool = False) -> None:
        """Something went wrong for the mailbox."""
        changes: dict[str, Any] = {"last_error": error, "last_error_at": now_utc()}
        if unsubscribed:
            changes.update(subscribed=False, subscription_id=None)
        self.update(mailbox, **changes)
        if self.feed is not None:
            self.feed.failing(mailbox, error, throttled=throttled)

    def forget(self, mailbox: str) -> None:
        """The mailbox left the selection."""
        with self._lock:
            self._states.pop(mailbox, None)
        if self.feed is not None:
            self.feed.removed(mailbox)

    def problem(self) -> str | None:
        """Why no mailbox is served, when none is: the newest error (None while any is)."""
        with self._lock:
            states = list(self._states.values())
        if not states or any(s.subscribed and s.last_error is None for s in states):
            return None
        failed = [s for s in states if s.last_error is not None and s.last_error_at is not None]
        if not failed:
            return f"no mailbox subscribed yet (of {len(states)})"
        newest = max(failed, key=lambda s: s.last_error_at or now_utc())
        failing = f"{len(failed)} of {len(states)} failing"
        return f"no mailbox subscribed ({failing}): {newest.last_error}"

    def states(self) -> list[str]:
        """Each mailbox's state, one of ``STATES``."""
        with self._lock:
            return [
                "failing" if s.last_error is not None else
                "subscribed" if s.subscribed else "subscribing"
                for s in self._states.values()
            ]

    def counts(self) -> dict[str, int]:
        """Mailboxes by state."""
        states = self.states()
        return {name: states.count(name) for name in STATES}

    def view(self) -> dict[str, dict[str, Any]]:
        """Every mailbox's JSON-ready state, by address."""
        with self._lock:
            return {mailbox: state.view() for mailbox, state in sorted(self._states.items())}

    def count_subscribed(self) -> int:
        """How many mailboxes hold a live subscription."""
        with self._lock:
            return sum(1 for state in self._states.values() if state.subscribed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)
