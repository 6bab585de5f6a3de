"""Resolving one sync cycle: one test per user action, on the pure logic (no EWS)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from extractor.cycle import ChangeKind, Cycle, Hints, ItemChange
from extractor.filters import FilterSettings
from extractor.model import Address, DeleteKind, ItemSnapshot, MessageState, message_from_datum
from mfr.codec import Codec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EARLIER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MAILBOX = "alice@contoso.com"
FOLDERS = {"inbox-id": "inbox", "archive-id": "archive", "deleted-id": "deleted"}


class Tree:
    """Inbox, Archive and Deleted Items are replicated; Recoverable Items is not."""

    def key_of(self, folder_id: str) -> str | None:
        return FOLDERS.get(folder_id)

    def in_deleted_items(self, folder_id: str) -> bool:
        return folder_id == "deleted-id"


@dataclass
class Store:
    """What the extractor published before the cycle."""

    states: list[MessageState] = field(default_factory=list)

    def by_item_id(self, item_id: str) -> MessageState | None:
        return next((s for s in self.states if s.item_id == item_id), None)

    def by_key(self, message_key: str) -> MessageState | None:
        return next((s for s in self.states if s.message_key == message_key), None)

    def by_fingerprint(self, fingerprint: tuple[str | None, str | None]) -> list[MessageState]:
        return [s for s in self.states if s.item and s.item.fingerprint == fingerprint]

    def in_folder(self, folder_key: str) -> list[MessageState]:
        return [s for s in self.states if s.folder_key == folder_key]


def item(item_id: str, folder: str = "inbox-id", /, **fields: object) -> ItemSnapshot:
    values: dict[str, object] = {
        "item_class": "IPM.Note", "sensitivity": "Normal", "subject": "Budget",
        "search_key": "sk-1", "internet_message_id": "<m1@contoso.com>", "is_read": False,
    }
    return ItemSnapshot(item_id=item_id, parent_folder_id=folder, **{**values, **fields})  # type: ignore[arg-type]


def in_inbox(item_id: str = "id-1", **fields: object) -> MessageState:
    snapshot = item(item_id, "inbox-id", **fields)
    return MessageState(MAILBOX, "key-1", "inbox", item_id=item_id, folder_key="inbox",
                        item=snapshot)


def cycle(store: Store, hints: Hints | None = None) -> Cycle:
    return Cycle(MAILBOX, FilterSettings(), Tree(), store, NOW, hints or Hints())


def create(item_id: str, folder: str) -> ItemChange:
    return ItemChange(ChangeKind.CREATE, item_id, folder)


def delete(item_id: str, folder: str) -> ItemChange:
    return ItemChange(ChangeKind.DELETE, item_id, folder)


def test_a_new_message_gets_a_key_and_its_folder() -> None:
    """A message seen for the first time is keyed by its first item id, in its folder."""
    [state] = cycle(Store()).resolve([create("id-1", "inbox-id")], {"id-1": item("id-1")})
    assert (state.message_key, state.folder_key, state.last_known_folder_key) == (
        "id-1", "inbox", "inbox")
    assert not state.deleted


def test_a_move_announced_by_a_moved_event_keeps_the_key() -> None:
    """A Moved event's old and new ids make one message move, not a delete and a create."""
    store = Store([in_inbox()])
    hints = Hints(moved_from={"id-2": "id-1"})
    moved = item("id-2", "archive-id", search_key=None, internet_message_id=None)
    [state] = cycle(store, hints).resolve(
        [delete("id-1", "inbox-id"), create("id-2", "archive-id")], {"id-2": moved})
    assert (state.message_key, state.item_id, state.folder_key) == ("key-1", "id-2", "archive")
    assert not state.deleted


def test_a_move_found_only_by_sync_is_matched_by_search_key_and_message_id() -> None:
    """Without notifications, a delete and a create of the same message pair up as a move."""
    store = Store([in_inbox()])
    [state] = cycle(store).resolve(
        [create("id-2", "archive-id"), delete("id-1", "inbox-id")],
        {"id-2": item("id-2", "archive-id")})
    assert (state.message_key, state.folder_key, state.deleted) == ("key-1", "archive", False)


def test_a_move_split_over_two_cycles_keeps_the_key() -> None:
    """A delete taken for a deletion in one cycle, then a create of the same message in a folder
    first synced in the next: the message comes back, moved, under its key."""
    [vanished] = cycle(Store([in_inbox()])).resolve([delete("id-1", "inbox-id")], {})
    assert vanished.deleted
    assert vanished.item_id is None
    [state] = cycle(Store([vanished])).resolve([create("id-2", "archive-id")],
                                               {"id-2": item("id-2", "archive-id")})
    assert (state.message_key, state.folder_key, state.deleted, state.delete_kind) == (
        "key-1", "archive", False, None)


def test_a_move_whose_delete_comes_next_cycle_keeps_the_key() -> None:
    """A create matching a message whose old id GetItem no longer finds is that message moved,
    though its folder's sync, which will report the delete, comes later."""
    store = Store([in_inbox()])
    [state] = cycle(store, Hints(vanished={"id-1"})).resolve(
        [create("id-2", "archive-id")], {"id-2": item("id-2", "archive-id")})
    assert (state.message_key, state.folder_key, state.item_id) == ("key-1", "archive", "id-2")
    assert cycle(Store([state])).resolve([delete("id-1", "inbox-id")], {}) == []


def test_a_copy_is_a_second_message() -> None:
    """A create matching a message that is still there is a copy, with a key of its own."""
    store = Store([in_inbox()])
    [copy] = cycle(store).resolve([create("id-2", "archive-id")],
                                  {"id-2": item("id-2", "archive-id")})
    assert copy.message_key == "id-2"
    assert copy.folder_key == "archive"


def test_a_move_and_a_copy_in_one_cycle_make_one_moved_and_one_new() -> None:
    """Two creates sharing a fingerprint with one delete: one inherits the key, one is new."""
    store = Store([in_inbox()])
    states = cycle(store).resolve(
        [delete("id-1", "inbox-id"), create("id-2", "archive-id"), create("id-3", "inbox-id")],
        {"id-2": item("id-2", "archive-id"), "id-3": item("id-3")})
    assert sorted(s.message_key for s in states) == ["id-3", "key-1"]


def test_moving_to_deleted_items_is_a_delete_kept_at_the_last_folder() -> None:
    """MoveToDeletedItems: deleted, shown at its last known folder, physically in Deleted Items."""
    store = Store([in_inbox()])
    hints = Hints(moved_from={"id-2": "id-1"})
    [state] = cycle(store, hints).resolve(
        [delete("id-1", "inbox-id"), create("id-2", "deleted-id")],
        {"id-2": item("id-2", "deleted-id")})
    assert state.deleted
    assert state.delete_kind is DeleteKind.MOVED_TO_DELETED_ITEMS
    assert (state.folder_key, state.last_known_folder_key, state.deleted_time) == (
        "deleted", "inbox", NOW)


def test_a_soft_delete_into_recoverable_items_is_kept_with_its_kind() -> None:
    """SoftDelete moves the item out of replicated folders: deleted, last known folder kept."""
    store = Store([in_inbox()])
    [state] = cycle(store, Hints(soft_deleted={"id-1"})).resolve([delete("id-1", "inbox-id")], {})
    assert (state.deleted, state.delete_kind, state.folder_key) == (
        True, DeleteKind.SOFT_DELETED, None)
    assert state.last_known_folder_key == "inbox"
    assert state.item is not None  # the metadata stays, marked deleted


def test_a_hard_delete_is_kept_with_its_kind() -> None:
    """HardDelete raises a Deleted event: the message is kept as hard deleted."""
    store = Store([in_inbox()])
    [state] = cycle(store, Hints(hard_deleted={"id-1"})).resolve([delete("id-1", "inbox-id")], {})
    assert (state.deleted, state.delete_kind) == (True, DeleteKind.HARD_DELETED)


def test_emptying_deleted_items_keeps_the_original_folder_and_time() -> None:
    """A message deleted earlier stays at its original folder when Deleted Items is emptied."""
    trashed = MessageState(MAILBOX, "key-1", "inbox", item_id="id-2", folder_key="deleted",
                           deleted=True, deleted_time=EARLIER,
                           delete_kind=DeleteKind.MOVED_TO_DELETED_ITEMS,
                           item=item("id-2", "deleted-id"))
    [state] = cycle(Store([trashed])).resolve([delete("id-2", "deleted-id")], {})
    assert state.delete_kind is DeleteKind.DELETED_ITEMS_EMPTIED
    assert (state.last_known_folder_key, state.deleted_time, state.folder_key) == (
        "inbox", EARLIER, None)


def test_restoring_from_deleted_items_undeletes() -> None:
    """A message moved back out of Deleted Items is live again in its new folder."""
    trashed = MessageState(MAILBOX, "key-1", "inbox", item_id="id-2", folder_key="deleted",
                           deleted=True, deleted_time=EARLIER,
                           delete_kind=DeleteKind.MOVED_TO_DELETED_ITEMS,
                           item=item("id-2", "deleted-id"))
    [state] = cycle(Store([trashed]), Hints(moved_from={"id-3": "id-2"})).resolve(
        [delete("id-2", "deleted-id"), create("id-3", "archive-id")],
        {"id-3": item("id-3", "archive-id")})
    assert (state.deleted, state.delete_kind, state.deleted_time) == (False, None, None)
    assert state.last_known_folder_key == "archive"


def test_a_message_that_becomes_private_is_withdrawn_without_metadata() -> None:
    """Turning Private withdraws the message; its record carries no metadata at all."""
    store = Store([in_inbox()])
    private = item("id-1", sensitivity="Private")
    [state] = cycle(store).resolve([ItemChange(ChangeKind.UPDATE, "id-1", "inbox-id")],
                                   {"id-1": private})
    assert state.withdrawn
    datum = state.datum(version=2, observed=NOW)
    assert datum["subject"] is None
    assert datum["sender"] is None
    assert datum["withdrawn"] is True


def test_private_and_non_mail_items_are_never_replicated() -> None:
    """A new Private message or meeting request produces no state at all."""
    snapshots = {"id-1": item("id-1", sensitivity="Personal"),
                 "id-2": item("id-2", item_class="IPM.Schedule.Meeting.Request", search_key="x")}
    states = cycle(Store()).resolve([create("id-1", "inbox-id"), create("id-2", "inbox-id")],
                                    snapshots)
    assert states == []


def test_a_mimecast_stub_is_replicated() -> None:
    """IPM.Note.MimecastStub messages are mail like IPM.Note."""
    [state] = cycle(Store()).resolve(
        [create("id-1", "inbox-id")], {"id-1": item("id-1", item_class="ipm.note.mimecaststub")})
    assert state.item is not None


def test_read_state_changes_update_only_the_read_flag() -> None:
    """A ReadFlagChange updates is_read and nothing else."""
    store = Store([in_inbox()])
    [state] = cycle(store).resolve(
        [ItemChange(ChangeKind.READ_FLAG, "id-1", "inbox-id", is_read=True)], {})
    assert state.item is not None
    assert state.item.is_read is True
    assert state.item.subject == "Budget"


def test_an_update_that_changes_nothing_publishes_nothing() -> None:
    """Replaying the same change is harmless: no new state."""
    store = Store([in_inbox()])
    states = cycle(store).resolve([ItemChange(ChangeKind.UPDATE, "id-1", "inbox-id")],
                                  {"id-1": item("id-1")})
    assert states == []


def test_flags_and_categories_are_updated() -> None:
    """Flag and category changes reach the state."""
    store = Store([in_inbox()])
    changed = replace(item("id-1"), flag_status="Flagged", categories=("Red",))
    [state] = cycle(store).resolve([ItemChange(ChangeKind.UPDATE, "id-1", "inbox-id")],
                                   {"id-1": changed})
    assert state.item == changed


def test_states_encode_with_the_contract_schema() -> None:
    """Live and withdrawn states both fit MessageState and round-trip through the codec."""
    codec = Codec()
    live = in_inbox(sender=Address("Bob", "bob@contoso.com", "SMTP"), categories=("Red",),
                    datetime_received=EARLIER, importance="High", flag_status="Flagged")
    for state in (live, live.evolve(withdrawn=True, withdrawn_time=NOW)):
        decoded = codec.decode(codec.encode("MessageState", state.datum(3, NOW))).datum
        assert decoded["message_key"] == "key-1"
        assert decoded["withdrawn"] is state.withdrawn
    assert decoded["categories"] == []


def test_a_sync_from_scratch_recognises_known_items_by_their_id() -> None:
    """When SyncState is lost, items reported as created again keep their keys."""
    store = Store([in_inbox()])
    states = cycle(store).resolve([create("id-1", "inbox-id")], {"id-1": item("id-1")})
    assert states == []


def test_a_state_survives_the_round_trip_through_its_record() -> None:
    """Decoding a published record gives back the same state, so restarts change nothing."""
    codec = Codec()
    state = in_inbox(sender=Address("Bob", "bob@contoso.com", "SMTP"), categories=("Red",),
                     to_recipients=(Address("Al", "al@x.com"),), datetime_received=EARLIER,
                     importance="High", flag_status="Flagged", size=1234, has_attachments=True)
    for variant in (state, state.evolve(deleted=True, deleted_time=NOW,
                                        delete_kind=DeleteKind.SOFT_DELETED, folder_key=None)):
        datum = codec.decode(codec.encode("MessageState", variant.datum(5, NOW))).datum
        assert message_from_datum(datum) == variant.evolve(
            item=replace(variant.item, parent_folder_id="inbox") if variant.item else None)
