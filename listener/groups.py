"""Affinity groups: the streaming subscriptions that share one back-end and one connection.

Microsoft's procedure groups mailboxes by back-end (Autodiscover's GroupingInformation), at most
200 per group, anchors each group on its alphabetically first mailbox, and routes the group's
requests with that anchor and the X-BackEndOverrideCookie its Subscribe response set. Here each
mailbox's back-end is learnt from the cookie of its own Subscribe response (anchored on itself),
so no Autodiscover round trip is needed, and a mailbox that moved is noticed on resubscription.

Members change only between connections: a connection carries a fixed list of subscription ids,
so a group's ``version`` tells its connection that the next one must carry a new list.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from listener.affinity import AffinityRoute, backend_key


@dataclass
class Group:
    """Up to ``capacity`` subscriptions on one back-end, read over one connection."""

    name: str
    backend: str
    cookie: str | None
    members: dict[str, str] = field(default_factory=dict)  # mailbox -> subscription id
    version: int = 0

    @property
    def anchor(self) -> str:
        """The alphabetically first member (Microsoft's choice of anchor mailbox)."""
        return min(self.members)

    def route(self) -> AffinityRoute:
        """The affinity headers of the group's requests."""
        return AffinityRoute(self.anchor, self.cookie)


@dataclass(frozen=True)
class Snapshot:
    """A group as one connection sees it: fixed members and route."""

    name: str
    version: int
    backend: str
    route: AffinityRoute
    mailbox_of: dict[str, str]  # subscription id -> mailbox


class Groups:
    """Every group and which group each mailbox is in; safe across threads."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._groups: dict[str, Group] = {}
        self._group_of: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def place(self, mailbox: str, subscription_id: str, cookie: str | None) -> tuple[str, bool]:
        """Record the mailbox's (new) subscription on the back-end its cookie names.

        Returns the group's name and whether that group is new (and needs a connection).
        """
        backend = backend_key(cookie)
        with self._lock:
            current = self._groups.get(self._group_of.get(mailbox, ""))
            if current is not None and current.backend == backend:
                current.members[mailbox] = subscription_id
                current.version += 1
                return current.name, False
            if current is not None:
                self._drop(current, mailbox)
            group, new = self._room_on(backend, cookie)
            group.members[mailbox] = subscription_id
            group.version += 1
            self._group_of[mailbox] = group.name
            return group.name, new

    def _room_on(self, backend: str, cookie: str | None) -> tuple[Group, bool]:
        for group in self._groups.values():
            if group.backend == backend and len(group.members) < self.capacity:
                return group, False
        group = Group(f"{backend}#{next(self._numbers)}", backend, cookie)
        self._groups[group.name] = group
        return group, True

    def _drop(self, group: Group, mailbox: str) -> None:
        group.members.pop(mailbox, None)
        group.version += 1
        self._group_of.pop(mailbox, None)
        if not group.members:
            del self._groups[group.name]

    def remove(self, mailbox: str) -> tuple[str, str] | None:
        """Take the mailbox out; its (group name, subscription id), if it had one."""
        with self._lock:
            group = self._groups.get(self._group_of.get(mailbox, ""))
            if group is None:
                return None
            subscription_id = group.members[mailbox]
            self._drop(group, mailbox)
            return group.name, subscription_id

    def subscription(self, mailbox: str) -> tuple[str, str, AffinityRoute] | None:
        """The mailbox's (group name, subscription id, group route), if subscribed."""
        with self._lock:
            group = self._groups.get(self._group_of.get(mailbox, ""))
            if group is None:
                return None
            return group.name, group.members[mailbox], group.route()

    def forget_subscription(self, mailbox: str, subscription_id: str) -> bool:
        """Drop the mailbox if it still holds ``subscription_id`` (which was lost)."""
        with self._lock:
            group = self._groups.get(self._group_of.get(mailbox, ""))
            if group is None or group.members.get(mailbox) != subscription_id:
                return False
            self._drop(group, mailbox)
            return True

    def snapshot(self, name: str) -> Snapshot | None:
        """The group's members now, or None when the group is gone (it emptied)."""
        with self._lock:
            group = self._groups.get(name)
            if group is None:
                return None
            return Snapshot(
                name=group.name,
                version=group.version,
                backend=group.backend,
                route=group.route(),
                mailbox_of={sid: mailbox for mailbox, sid in group.members.items()},
            )

    def learn_cookie(self, name: str, cookie: str | None) -> None:
        """Keep the cookie a group's connection was answered with (Exchange may refresh it)."""
        with self._lock:
            group = self._groups.get(name)
            if group is not None and cookie and backend_key(cookie) == group.backend:
                group.cookie = cookie

    def names(self) -> list[str]:
        """Every group's name."""
        with self._lock:
            return list(self._groups)

    def sizes(self) -> dict[str, int]:
        """Members per group."""
        with self._lock:
            return {name: len(group.members) for name, group in self._groups.items()}

    def group_of(self, mailbox: str) -> str | None:
        """The name of the mailbox's group, if any."""
        with self._lock:
            return self._group_of.get(mailbox)
