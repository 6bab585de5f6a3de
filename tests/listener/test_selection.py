"""Which mailboxes are replicated: a list plus distribution groups (ExpandDL, nested), re-read
periodically; joiners are subscribed and resynced, leavers unsubscribed. The simulator has no
ExpandDL yet, so the directory is a fake answering like exchangelib's ``expand_dl``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from exchangelib.properties import Mailbox

from listener.selection import MailboxSelection
from mfr.ews.errors import EwsUnavailableError
from mfr.settings import BusSettings
from simulator import Simulator
from tests.listener.conftest import Make, new_mailboxes
from tests.listener.harness import wait_for


class Directory:
    """Distribution groups and their members, answering ExpandDL; can be made to fail."""

    def __init__(self, groups: dict[str, list[tuple[str, str]]]) -> None:
        self.groups = groups
        self.failing = False

    def __call__(self, group: str) -> list[Any]:
        if self.failing:
            raise EwsUnavailableError("ExpandDL: ErrorServerBusy", "ErrorServerBusy")
        return [Mailbox(email_address=a, mailbox_type=t) for a, t in self.groups.get(group, [])]


def test_nested_groups_are_expanded_and_a_failed_read_keeps_the_last_members() -> None:
    """Members of nested groups count, contacts and cycles do not; a group that cannot be read
    keeps its previous members rather than making them all leave."""
    directory = Directory({
        "all@x.com": [("A@x.com", "Mailbox"), ("sales@x.com", "PublicDL"),
                      ("ext@partner.com", "Contact")],
        "sales@x.com": [("b@x.com", "Mailbox"), ("all@x.com", "PublicDL")],
    })
    selection = MailboxSelection(["c@x.com"], ["all@x.com"], directory)
    assert selection.current() == {"a@x.com", "b@x.com", "c@x.com"}
    directory.failing = True
    assert selection.current() == {"a@x.com", "b@x.com", "c@x.com"}
    assert "all@x.com" in selection.errors


@pytest.fixture
def directory() -> Directory:
    return Directory({})


def test_joiners_are_subscribed_and_resynced_leavers_unsubscribed(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings, directory: Directory
) -> None:
    """The group is re-read on its own schedule: a joiner gets a subscription and a Resync
    ("mailbox joined"), a leaver's subscription ends; changes of the joiner then stream."""
    first, joiner = new_mailboxes(sim, 2)
    directory.groups["team@sim.example"] = [(first, "Mailbox")]
    expand: Callable[[str], list[Any]] = directory
    harness = make_listener(embedded_bus, distribution_groups=["team@sim.example"],
                            expand=expand, groups_refresh_s=0.3)
    assert {s["mailbox"] for s in sim.control.subscriptions()} == {first}
    directory.groups["team@sim.example"] = [(joiner, "Mailbox")]
    wait_for(lambda: {s["mailbox"] for s in sim.control.subscriptions()} == {joiner}, 30,
             "the joiner subscribed and the leaver unsubscribed")
    changes = harness.changes
    changes.until(lambda e: any(x["mailbox"] == joiner for x in e), 30, "the joiner's resync")
    assert [e["reason"] for e in changes.of(joiner)] == ["mailbox joined"]
    assert set(harness.get("/status").json()["mailboxes"]) == {joiner}
    sim.clock.advance(61)  # the group's next connection carries the joiner
    wait_for(lambda: all(s["connections"] for s in sim.control.subscriptions()), 30, "streaming")
    item_id = sim.control.create_item(joiner, subject="welcome")
    changes.until(lambda e: any(x["id"] == item_id for x in e), 30, "the joiner's change")
