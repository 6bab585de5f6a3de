"""The events and sync changes each user action raises, as Microsoft documents them.

Deletions follow pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md (the
Exchange Online / Exchange 2013 columns, "each folder identifier" versus "all folders"); moves,
copies
and new mail follow notification-subscriptions-mailbox-events-and-ews-in-exchange.md.
"""

from __future__ import annotations

from typing import Any

from exchangelib.services import SubscribeToPull

from simulator import Simulator
from tests.simulator.conftest import AccountFactory


class Watch:
    """A pull subscription (on folders, or on all folders) whose new events a test reads."""

    def __init__(self, acc: Any, folders: list[Any] | None) -> None:
        self.acc = acc
        call = SubscribeToPull(account=acc).call(
            folders=folders, event_types=SubscribeToPull.EVENT_TYPES, watermark=None, timeout=10
        )
        [(self.id, self.watermark)] = list(call)

    def events(self) -> list[tuple[str, str | None, str | None, str | None, str | None]]:
        """(type, object id, parent id, old object id, old parent id) of each new event."""
        out = []
        for notification in self.acc.inbox.get_events(self.id, self.watermark):
            for event in notification.events:
                self.watermark = event.watermark
                name = type(event).__name__
                if name == "StatusEvent":
                    continue
                obj = event.item_id or event.folder_id
                old = getattr(event, "old_item_id", None) or getattr(event, "old_folder_id", None)
                old_parent = getattr(event, "old_parent_folder_id", None)
                out.append(
                    (
                        name,
                        obj.id,
                        event.parent_folder_id.id,
                        None if old is None else old.id,
                        None if old_parent is None else old_parent.id,
                    )
                )
        return out


def _names(events: list[tuple[Any, ...]]) -> list[str]:
    return [e[0] for e in events]


def test_move_raises_moved_with_old_ids_and_changes_the_item_id(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Moving an item: MovedEvent (new id, OldItemId, OldParentFolderId) and ModifiedEvent for both
    folders; SyncFolderItems shows a Delete in the source and a Create in the destination
    (notification-subscriptions-mailbox-events-and-ews-in-exchange.md,
    ews-identifiers-in-exchange.md)."""
    acc = account(smtp)
    inbox_id = sim.control.folder_id(smtp, "inbox")
    sent_id = sim.control.folder_id(smtp, "sentitems")
    item = sim.control.create_item(smtp, subject="moving")
    list(acc.inbox.sync_items())
    list(acc.sent.sync_items())
    watch = Watch(acc, [acc.inbox, acc.sent])
    moved = sim.control.move_item(smtp, item, "sentitems")
    assert moved != item
    assert watch.events() == [
        ("MovedEvent", moved, sent_id, item, inbox_id),
        ("ModifiedEvent", inbox_id, sim.control.folder_id(smtp, "msgfolderroot"), None, None),
        ("ModifiedEvent", sent_id, sim.control.folder_id(smtp, "msgfolderroot"), None, None),
    ]
    assert [(c, i.id) for c, i in acc.inbox.sync_items()] == [("delete", item)]
    assert [(c, i.id) for c, i in acc.sent.sync_items()] == [("create", moved)]


def test_copy_raises_copied_and_leaves_the_original(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Copying: CopiedEvent with the new id and the original's id; the original stays
    (notification-subscriptions-mailbox-events-and-ews-in-exchange.md)."""
    acc = account(smtp)
    item = sim.control.create_item(smtp, subject="copied")
    watch = Watch(acc, None)
    copy = sim.control.copy_item(smtp, item, "archive")
    events = watch.events()
    assert events[0][:4] == ("CopiedEvent", copy, sim.control.folder_id(smtp, "archive"), item)
    assert _names(events) == ["CopiedEvent", "ModifiedEvent"]
    truth = {i["id"] for i in sim.ground_truth(smtp)["items"]}
    assert {item, copy} <= truth


def test_move_to_deleted_items(sim: Simulator, smtp: str, account: AccountFactory) -> None:
    """MoveToDeletedItems: per folder, MovedEvent + ModifiedEvent (old) + ModifiedEvent (Deleted
    Items); on all folders, DeletedEvent and CreatedEvent from the AllItems search folder plus the
    two ModifiedEvents
    (pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md)."""
    acc = account(smtp)
    item = sim.control.create_item(smtp, subject="binned")
    per_folder, everywhere = Watch(acc, [acc.inbox, acc.trash]), Watch(acc, None)
    new_id = sim.control.delete_item(smtp, item, "MoveToDeletedItems")
    deleted_items = sim.control.folder_id(smtp, "deleteditems")
    events = per_folder.events()
    assert _names(events) == ["MovedEvent", "ModifiedEvent", "ModifiedEvent"]
    assert events[0][1:4] == (new_id, deleted_items, item)
    all_events = everywhere.events()
    assert _names(all_events) == ["DeletedEvent", "CreatedEvent", "ModifiedEvent", "ModifiedEvent"]
    assert all_events[0][1] == item
    assert all_events[1][1] == new_id
    [gone] = [i for i in sim.ground_truth(smtp)["items"] if i["id"] == new_id]
    assert gone["deleted"]["how"] == "MoveToDeletedItems"
    assert gone["deleted"]["from_folder_id"] == sim.control.folder_id(smtp, "inbox")


def test_soft_delete_moves_into_recoverable_items(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """SoftDelete: per folder, MovedEvent into the dumpster's Deletions folder + ModifiedEvent;
    on all folders, DeletedEvent, DeletedEvent from AllItems, ModifiedEvent; the sync of the folder
    reports a Delete (pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md)."""
    acc = account(smtp)
    item = sim.control.create_item(smtp, subject="soft")
    list(acc.inbox.sync_items())
    per_folder, everywhere = Watch(acc, [acc.inbox]), Watch(acc, None)
    new_id = sim.control.delete_item(smtp, item, "SoftDelete")
    dumpster = sim.control.folder_id(smtp, "recoverableitemsdeletions")
    events = per_folder.events()
    assert _names(events) == ["MovedEvent", "ModifiedEvent"]
    assert events[0][1:5] == (new_id, dumpster, item, sim.control.folder_id(smtp, "inbox"))
    assert _names(everywhere.events()) == ["DeletedEvent", "DeletedEvent", "ModifiedEvent"]
    assert [(c, i.id) for c, i in acc.inbox.sync_items()] == [("delete", item)]
    [gone] = [i for i in sim.ground_truth(smtp)["items"] if i["id"] == new_id]
    assert gone["deleted"]["how"] == "SoftDelete"
    assert gone["deleted"]["now_in"] == "/Recoverable Items/Deletions"


def test_hard_delete_raises_deleted(sim: Simulator, smtp: str, account: AccountFactory) -> None:
    """HardDelete: DeletedEvent + ModifiedEvent for the parent (plus DeletedEvent from AllItems on
    all folders); the item is purged
    (pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md)."""
    acc = account(smtp)
    item = sim.control.create_item(smtp, subject="hard")
    per_folder, everywhere = Watch(acc, [acc.inbox]), Watch(acc, None)
    assert sim.control.delete_item(smtp, item, "HardDelete") is None
    events = per_folder.events()
    assert _names(events) == ["DeletedEvent", "ModifiedEvent"]
    assert events[0][1] == item
    assert _names(everywhere.events()) == ["DeletedEvent", "DeletedEvent", "ModifiedEvent"]
    [gone] = [i for i in sim.ground_truth(smtp)["items"] if i["id"] == item]
    assert gone["deleted"]["how"] == "HardDelete"
    assert gone["deleted"]["now_in"] is None


def test_read_state_change_is_modified_and_a_read_flag_change(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Marking read: ModifiedEvent for the item and its folder; sync reports ReadFlagChange."""
    acc = account(smtp)
    item = sim.control.create_item(smtp, subject="unread")
    list(acc.inbox.sync_items())
    watch = Watch(acc, [acc.inbox])
    sim.control.update_item(smtp, item, is_read=True)
    assert _names(watch.events()) == ["ModifiedEvent", "ModifiedEvent"]
    [(kind, (item_id, is_read))] = list(acc.inbox.sync_items())
    assert (kind, item_id.id, is_read) == ("read_flag_change", item, True)


def test_folder_move_keeps_the_id_and_raises_several_events(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Moving a folder: MovedEvent (same folder id, old parent) and ModifiedEvent for both parents;
    SyncFolderHierarchy reports an Update (ews-identifiers-in-exchange.md: folder ids don't
    change)."""
    acc = account(smtp)
    folder = sim.control.create_folder(smtp, "inbox", "Clients")
    root = acc.msg_folder_root
    list(root.sync_hierarchy())
    watch = Watch(acc, None)
    assert sim.control.move_folder(smtp, folder, "archive") == folder
    archive = sim.control.folder_id(smtp, "archive")
    inbox = sim.control.folder_id(smtp, "inbox")
    events = watch.events()
    assert events[0] == ("MovedEvent", folder, archive, folder, inbox)
    assert _names(events) == ["MovedEvent", "ModifiedEvent", "ModifiedEvent"]
    [(kind, changed)] = list(root.sync_hierarchy())
    assert (kind, changed.id, changed.parent_folder_id.id) == ("update", folder, archive)


def test_folder_delete_raises_deleted_and_sync_deletes_it(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Deleting a folder: DeletedEvent for it + ModifiedEvent for its parent; the hierarchy sync
    reports its Delete and its subfolders' (pull-notifications-for-ews-deletion-related-mailbox-
    events-in-exchange.md, DeleteFolder rows)."""
    acc = account(smtp)
    folder = sim.control.create_folder(smtp, "inbox", "Old")
    child = sim.control.create_folder(smtp, folder, "Older")
    root = acc.msg_folder_root
    list(root.sync_hierarchy())
    watch = Watch(acc, None)
    sim.control.delete_folder(smtp, folder, "HardDelete")
    assert _names(watch.events()) == ["DeletedEvent", "ModifiedEvent"]
    assert sorted((c, f.id) for c, f in root.sync_hierarchy()) == sorted(
        [("delete", folder), ("delete", child)]
    )


def test_folder_moved_to_deleted_items_on_all_folders_is_two_modified_events(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """DeleteFolder with MoveToDeletedItems, seen by an all-folders subscription: only ModifiedEvent
    for the old and the new parent (pull-notifications-for-ews-deletion-related-mailbox-events-in-
    exchange.md)."""
    acc = account(smtp)
    folder = sim.control.create_folder(smtp, "inbox", "Bin me")
    per_folder, everywhere = Watch(acc, [acc.inbox]), Watch(acc, None)
    sim.control.delete_folder(smtp, folder, "MoveToDeletedItems")
    assert _names(everywhere.events()) == ["ModifiedEvent", "ModifiedEvent"]
    assert _names(per_folder.events())[0] == "MovedEvent"


def test_emptying_deleted_items_keeps_where_messages_were_deleted_from(
    sim: Simulator, smtp: str
) -> None:
    """A message moved to Deleted Items and then purged by emptying it was deleted from the
    folder it had been in before, in the ground truth."""
    item = sim.control.create_item(smtp, subject="binned, then purged")
    sim.control.delete_item(smtp, item, "MoveToDeletedItems")
    sim.control.empty_folder(smtp, "deleteditems", "HardDelete")
    [gone] = [i for i in sim.ground_truth(smtp)["items"] if i["subject"] == "binned, then purged"]
    assert gone["deleted"]["how"] == "HardDelete"
    assert gone["deleted"]["from_folder_id"] == sim.control.folder_id(smtp, "inbox")
