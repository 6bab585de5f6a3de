"""Which Graph subscription each mailbox holds, and whether a notification comes from one.

A subscription's ``clientState`` is the only proof a notification comes from Graph
(change-notifications-delivery-webhooks.md: validate ``clientState``; "If there's a mismatch,
don't consider the change notification as valid"), so each subscription gets its own secret and
the registry compares it in constant time (``hmac.compare_digest``). Graph may deliver a
notification before the create call that made the subscription has returned its id; the secrets
of subscriptions being created are therefore known too, for that moment.

A replaced subscription's id leaves the registry when its successor arrives, so a late
notification of the old one is "unknown": the successor's resync covers what it said.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(eq=False)
class GraphSubscription:
    """One mailbox's subscription as the listener holds it (``subscription_id`` None while the
    create call is under way)."""

    mailbox: str
    client_state: str
    subscription_id: str | None = None
    expires: datetime | None = None


class SubscriptionRegistry:
    """Subscriptions by id and by mailbox, plus those being created; safe across threads."""

    def __init__(self) -> None:
        self._by_id: dict[str, GraphSubscription] = {}
        self._by_mailbox: dict[str, GraphSubscription] = {}
        self._pending: list[GraphSubscription] = []
        self._lock = threading.Lock()

    def begin(self, entry: GraphSubscription) -> None:
        """A create call for ``entry`` is about to be sent."""
        with self._lock:
            self._pending.append(entry)

    def abandon(self, entry: GraphSubscription) -> None:
        """The create call failed, or its subscription is not kept."""
        with self._lock:
            if entry in self._pending:
                self._pending.remove(entry)

    def commit(self, entry: GraphSubscription, subscription_id: str, expires: datetime) -> None:
        """The create call returned: ``entry`` is its mailbox's subscription now (in one step,
        so no notification falls between "being created" and "known")."""
        with self._lock:
            if entry in self._pending:
                self._pending.remove(entry)
            entry.subscription_id, entry.expires = subscription_id.lower(), expires
            old = self._by_mailbox.get(entry.mailbox)
            if old is not None and old.subscription_id is not None:
                self._by_id.pop(old.subscription_id, None)
            self._by_mailbox[entry.mailbox] = entry
            self._by_id[entry.subscription_id] = entry

    def is_current(self, entry: GraphSubscription) -> bool:
        """Whether ``entry`` is still its mailbox's subscription."""
        with self._lock:
            return self._by_mailbox.get(entry.mailbox) is entry

    def drop(self, entry: GraphSubscription) -> bool:
        """Forget ``entry`` if it is still current; whether it was."""
        with self._lock:
            if self._by_mailbox.get(entry.mailbox) is not entry:
                return False
            del self._by_mailbox[entry.mailbox]
            if entry.subscription_id is not None:
                self._by_id.pop(entry.subscription_id, None)
            return True

    def pop(self, mailbox: str) -> GraphSubscription | None:
        """Forget the mailbox's subscription; it, if there was one."""
        with self._lock:
            entry = self._by_mailbox.pop(mailbox, None)
            if entry is not None and entry.subscription_id is not None:
                self._by_id.pop(entry.subscription_id, None)
            return entry

    def entries(self) -> list[GraphSubscription]:
        """Every mailbox's current subscription."""
        with self._lock:
            return list(self._by_mailbox.values())

    def holds(self, mailbox: str) -> bool:
        """Whether the mailbox has a subscription."""
        with self._lock:
            return mailbox in self._by_mailbox

    def authenticate(
        self, subscription_id: str, client_state: str | None
    ) -> tuple[GraphSubscription | None, str]:
        """The subscription a notification is for, or None and why it is not ours."""
        if client_state is None:
            return None, "no client state"
        given = client_state.encode()
        with self._lock:
            entry = self._by_id.get(subscription_id.lower())
            if entry is None:
                for pending in self._pending:
                    if hmac.compare_digest(pending.client_state.encode(), given):
                        return pending, ""
                return None, "unknown subscription"
        if not hmac.compare_digest(entry.client_state.encode(), given):
            return None, "client state mismatch"
        return entry, ""
