"""What the listener knows about each mailbox, for /status, /readyz and the logs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from listener.events import now_utc


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

    def failed(self, mailbox: str, error: str, *, unsubscribed: bool = True) -> None:
        """Something went wrong for the mailbox."""
        changes: dict[str, Any] = {"last_error": error, "last_error_at": now_utc()}
        if unsubscribed:
            changes.update(subscribed=False, subscription_id=None)
        self.update(mailbox, **changes)

    def forget(self, mailbox: str) -> None:
        """The mailbox left the selection."""
        with self._lock:
            self._states.pop(mailbox, None)

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
