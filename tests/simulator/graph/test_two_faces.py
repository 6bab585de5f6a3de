"""One mailbox, two protocols: a move made through the control API is seen the same way by EWS
(exchangelib, a pull subscription) and by Graph (per-folder message deltas and a webhook
subscription, both with immutable ids), and the ground truth keeps its shape.

With ``Prefer: IdType="ImmutableId"`` a message keeps its Graph id across a move within the
mailbox (outlook-immutable-id.md), while its EWS id and its default Graph id change, as EWS's
MovedEvent reports (OldItemId → ItemId).
"""

from __future__ import annotations

from typing import Any

import httpx
from exchangelib.properties import MovedEvent

from simulator import Simulator
from simulator.graph.ids import to_graph
from tests.simulator.conftest import AccountFactory
from tests.simulator.graph.receiver import Receiver, subscribe

IMMUTABLE = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=2'}
# The ground truth's shape before the Graph face existed (truth.py): it must not change.
TRUTH_KEYS = {"mailbox", "backend", "folders", "items"}
ITEM_KEYS = {
    "id", "origin", "folder_id", "item_class", "subject", "sensitivity", "importance", "size",
    "received", "sent", "is_read", "flag", "categories", "has_attachments",
    "internet_message_id", "sender", "to", "cc", "search_key", "deleted",
}  # fmt: skip
FOLDER_KEYS = {
    "id", "parent_id", "name", "path", "folder_class", "distinguished", "in_ipm_subtree",
    "total", "unread", "deleted",
}  # fmt: skip


def delta(graph: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    """One message delta round with immutable ids: every entry, and the deltaLink."""
    entries: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = graph.get(next_url, headers=IMMUTABLE)
        assert page.status_code == 200, page.text
        body = page.json()
        entries += body["value"]
        next_url = body.get("@odata.nextLink")
    return entries, body["@odata.deltaLink"]


def test_a_move_leaves_one_delta_and_enters_another_with_one_immutable_id(
    sim: Simulator, smtp: str, graph: httpx.Client, account: AccountFactory
) -> None:
    item = sim.control.create_item(smtp, subject="travelling message")
    before = sim.ground_truth(smtp)
    ids = sim.graph.controls["message_ids"](smtp, item)
    assert ids["id"] == to_graph(item)
    immutable = ids["immutableId"]
    archive_id = to_graph(sim.control.folder_id(smtp, "archive"))

    inbox_entries, inbox_link = delta(graph, f"/users/{smtp}/mailFolders/inbox/messages/delta")
    assert [e["id"] for e in inbox_entries] == [immutable]
    archive_entries, archive_link = delta(
        graph, f"/users/{smtp}/mailFolders('archive')/messages/delta"
    )
    assert archive_entries == []

    inbox = account(smtp).inbox
    ews_subscription, watermark = inbox.subscribe_to_pull()
    with Receiver() as receiver:
        created = subscribe(graph, sim, f"users/{smtp}/messages", receiver, immutable=True)
        assert created.status_code == 201, created.text

        moved = sim.control.move_item(smtp, item, "archive")

        # Graph deltas: gone from the Inbox, arrived in Archive, under the same immutable id.
        left, _ = delta(graph, inbox_link)
        assert left == [{"@odata.type": "#microsoft.graph.message", "id": immutable,
                         "@removed": {"reason": "deleted"}}]  # fmt: skip
        [arrived], _ = delta(graph, archive_link)
        assert arrived["id"] == immutable
        assert arrived["parentFolderId"] == archive_id
        assert arrived["subject"] == "travelling message"
        # Its default id changed with the move, exactly as its EWS id did.
        after_ids = sim.graph.controls["message_ids"](smtp, moved)
        assert after_ids == {"id": to_graph(moved), "immutableId": immutable}
        assert to_graph(moved) != to_graph(item)

        # Graph notifications: deleted and created, both naming the immutable id.
        def both(r: Receiver) -> bool:
            return len(r.notifications("/notify")) >= 2

        receiver.wait_for(both, what="the move's notifications")
        told = [(n["changeType"], n["resourceData"]["id"]) for n in receiver.notifications()]
        assert sorted(told) == [("created", immutable), ("deleted", immutable)]

    # EWS notification: one MovedEvent from the old id to the new one.
    [notification] = list(inbox.get_events(ews_subscription, watermark))
    [move] = [e for e in notification.events if isinstance(e, MovedEvent)]
    assert (move.old_item_id.id, move.item_id.id) == (item, moved)
    inbox.unsubscribe(ews_subscription)

    after = sim.ground_truth(smtp)
    assert set(before) == set(after) == TRUTH_KEYS
    [was], [now] = before["items"], after["items"]
    assert set(was) == set(now) == ITEM_KEYS
    assert all(set(f) == FOLDER_KEYS for f in after["folders"])
    assert now["origin"] == was["origin"]
    assert (now["id"], now["folder_id"]) == (moved, sim.control.folder_id(smtp, "archive"))
