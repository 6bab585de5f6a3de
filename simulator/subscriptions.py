"""Notification subscriptions: who subscribed to what, how far each has read, and expiry.

A subscription reads a mailbox's event log from a position (its watermark). Pull subscriptions
expire
after ``Timeout`` minutes without GetEvents; streaming subscriptions after 30 minutes without a
connection; push subscriptions when the client answers Unsubscribe or deliveries keep failing past
StatusFrequency (notification-subscriptions-mailbox-events-and-ews-in-exchange.md, Table 5).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from simulator.events import Event, EventType
from simulator.ids import mint_subscription_id
from simulator.mailbox import Mailbox

STREAMING_IDLE_TIMEOUT_S = 30 * 60.0


class Kind(StrEnum):
    """The three ways to be notified."""

    PULL = "Pull"
    PUSH = "Push"
    STREAMING = "Streaming"


@dataclass(slots=True)
class Subscription:
    """One subscription to one mailbox."""

    id: str
    kind: Kind
    mailbox: Mailbox
    owner: str
    budget: str
    backend: str
    folders: frozenset[int] | None
    event_types: frozenset[EventType]
    position: int
    expires_at: float
    timeout_s: float
    url: str | None = None
    status_frequency_min: int = 30
    connections: int = 0
    push: dict[str, float] = field(default_factory=dict)

    def pending(self) -> list[Event]:
        """The events after this subscription's position that it wants."""
        return [
            event
            for event in self.mailbox.events.after(self.position)
            if event.type in self.event_types and event.concerns(self.folders)
        ]

    def touch(self, now: float) -> None:
        """Push expiry back: the client is still using the subscription."""
        self.expires_at = now + self.timeout_s


class Subscriptions:
    """Every live subscription, by id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Subscription] = {}
        self._counter = itertools.count(1)

    def new_id(self, backend: str) -> str:
        """A fresh subscription id on a back-end."""
        return mint_subscription_id(backend, next(self._counter), secrets.token_bytes(8))

    def add(self, subscription: Subscription) -> None:
        """Register a subscription."""
        self._by_id[subscription.id] = subscription

    def get(self, subscription_id: str, now: float) -> Subscription | None:
        """A live subscription, or None when unknown or expired (expired ones are dropped)."""
        subscription = self._by_id.get(subscription_id)
        if subscription is None or subscription.expires_at > now or subscription.connections:
            return subscription
        # An open streaming connection keeps its subscriptions alive; otherwise expiry is final.
        del self._by_id[subscription_id]
        return None

    def remove(self, subscription_id: str) -> bool:
        """End a subscription; whether it existed."""
        return self._by_id.pop(subscription_id, None) is not None

    def live(self, now: float) -> list[Subscription]:
        """Every subscription not expired at ``now``."""
        return [s for s in list(self._by_id.values()) if self.get(s.id, now) is not None]

    def count_for_budget(self, budget: str, now: float) -> int:
        """How many live subscriptions are charged to a budget."""
        return sum(1 for s in self.live(now) if s.budget == budget)

    def expire(self, subscription_ids: list[str] | None = None) -> int:
        """Expire the named subscriptions (all when None) now; how many there were."""
        ids = list(self._by_id) if subscription_ids is None else subscription_ids
        return sum(1 for sid in ids if self.remove(sid))
