"""Which mailboxes to replicate: the configured list, plus the members of distribution groups,
expanded with ExpandDL (nested groups too) or, in Graph mode, with the group's
``transitiveMembers`` (which Graph flattens itself; the application then needs
``GroupMember.Read.All``), and read again periodically.

A group that cannot be read keeps its last known members: a passing EWS failure must not make
hundreds of mailboxes "leave" (and be unsubscribed) only to join again minutes later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from mfr.ews import EwsConnection, EwsError
from mfr.graph import GraphClient, GraphError
from mfr.topics import normalise_mailbox

log = structlog.get_logger(__name__)

_MAILBOX_TYPES = frozenset({"Mailbox", "User", "LinkedMailbox", "GroupMailbox"})
_GROUP_TYPES = frozenset({"PublicDL", "PrivateDL"})
MAX_DEPTH = 10

Expand = Callable[[str], list[Any]]


def exchangelib_expand(connection: EwsConnection) -> Expand:
    """ExpandDL through the service account's protocol (reached through an account made for the
    group's address: with a configured endpoint that costs no request; with Autodiscover it finds
    the group's server), under the throttle and retry policy."""

    def expand(group: str) -> list[Any]:
        protocol = connection.account(group).protocol  # a call of its own: calls never nest

        def run() -> list[Any]:
            return list(protocol.expand_dl(group))

        result: list[Any] = connection.call(group, f"ExpandDL {group}", run)
        return result

    return expand


@dataclass(frozen=True)
class Member:
    """A group member as ``MailboxSelection`` reads one (the shape of exchangelib's Mailbox)."""

    email_address: str
    mailbox_type: str = "Mailbox"


def graph_expand(client: GraphClient) -> Expand:
    """A group's members through Graph: the group found by its address, then its
    ``transitiveMembers`` that are users with a mail address (nested groups are already
    flattened, so none is returned as a group)."""

    def expand(group: str) -> list[Any]:
        found = client.get_json(
            "groups", mailbox=group, doing=f"find group {group}",
            params={"$filter": f"mail eq '{group.replace(chr(39), chr(39) * 2)}'",
                    "$select": "id"},
        )
        matches = found.get("value") or []
        if not matches:
            raise GraphError(f"find group {group}: no group has this address", status=404)
        members: list[Any] = []
        for page in client.pages(
            f"groups/{matches[0]['id']}/transitiveMembers/microsoft.graph.user",
            mailbox=group, doing=f"members of {group}", params={"$select": "mail"},
        ):
            members += [Member(str(user["mail"])) for user in page.get("value") or []
                        if isinstance(user, dict) and user.get("mail")]
        return members

    return expand


class MailboxSelection:
    """The configured mailboxes and the last successful expansion of each group."""

    def __init__(self, mailboxes: Iterable[str], groups: Iterable[str], expand: Expand) -> None:
        self._mailboxes = {normalise_mailbox(m) for m in mailboxes if m.strip()}
        self._groups = [normalise_mailbox(g) for g in groups if g.strip()]
        self._expand = expand
        self._members: dict[str, set[str]] = {}
        self.errors: dict[str, str] = {}

    @property
    def has_groups(self) -> bool:
        """Whether any distribution group is configured (so refreshing can change anything)."""
        return bool(self._groups)

    def current(self) -> set[str]:
        """Every selected mailbox now, reading the groups again."""
        for group in self._groups:
            try:
                self._members[group] = self._expand_group(group, depth=0, seen=set())
                self.errors.pop(group, None)
            except (EwsError, GraphError) as exc:
                self.errors[group] = str(exc)
                log.warning("distribution group not read; keeping its last members",
                            group=group, error=str(exc), kept=len(self._members.get(group, ())))
        selected = set(self._mailboxes)
        for members in self._members.values():
            selected |= members
        return selected

    def _expand_group(self, group: str, depth: int, seen: set[str]) -> set[str]:
        if group in seen or depth > MAX_DEPTH:
            return set()
        seen.add(group)
        found: set[str] = set()
        for member in self._expand(group):
            address = getattr(member, "email_address", None)
            kind = getattr(member, "mailbox_type", None)
            if not address:
                continue
            if kind in _GROUP_TYPES:
                found |= self._expand_group(normalise_mailbox(address), depth + 1, seen)
            elif kind is None or kind in _MAILBOX_TYPES:
                found.add(normalise_mailbox(address))
        return found
