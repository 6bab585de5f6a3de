"""The cycle with Graph's immutable ids (``stable_ids``): a message is its id, so moves pair by
equal id, in one cycle or two, and nothing is guessed from search keys (pure logic, no I/O)."""

from __future__ import annotations

from extractor.cycle import ChangeKind, Cycle, Hints, ItemChange
from extractor.filters import FilterSettings
from extractor.model import DeleteKind, MessageState
from tests.extractor.test_cycle import MAILBOX, NOW, Store, Tree, item


def stable(store: Store, hints: Hints | None = None) -> Cycle:
    return Cycle(MAILBOX, FilterSettings(), Tree(), store, NOW, hints or Hints(), stable_ids=True)


def known(item_id: str = "m1", folder: str = "inbox-id", key: str = "inbox") -> MessageState:
    return MessageState(
        MAILBOX, item_id, key, item_id=item_id, folder_key=key, item=item(item_id, folder)
    )


def arrived(item_id: str, folder: str) -> ItemChange:
    return ItemChange(ChangeKind.UPDATE, item_id, folder)  # Graph: created or updated


def removed(item_id: str, folder: str) -> ItemChange:
    return ItemChange(ChangeKind.DELETE, item_id, folder)


def test_a_move_in_one_cycle_is_one_message_with_the_same_id() -> None:
    [state] = stable(Store([known()])).resolve(
        [removed("m1", "inbox-id"), arrived("m1", "archive-id")], {"m1": item("m1", "archive-id")}
    )
    assert (state.message_key, state.item_id, state.folder_key, state.deleted) == (
        "m1",
        "m1",
        "archive",
        False,
    )


def test_the_arrival_first_then_the_removal_is_ignored() -> None:
    """The destination's delta came first; the source's @removed a cycle later changes nothing."""
    [moved] = stable(Store([known()])).resolve(
        [arrived("m1", "archive-id")], {"m1": item("m1", "archive-id")}
    )
    assert moved.folder_key == "archive"
    assert stable(Store([moved])).resolve([removed("m1", "inbox-id")], {}) == []


def test_a_removal_looked_up_alive_elsewhere_is_a_move() -> None:
    """The source's @removed first: the snapshot the caller found by id places it."""
    [state] = stable(Store([known()])).resolve(
        [removed("m1", "inbox-id")], {"m1": item("m1", "archive-id")}
    )
    assert (state.folder_key, state.deleted) == ("archive", False)


def test_a_removal_into_deleted_items_is_moved_to_deleted_items() -> None:
    [state] = stable(Store([known()])).resolve(
        [removed("m1", "inbox-id")], {"m1": item("m1", "deleted-id")}
    )
    assert (state.deleted, state.delete_kind, state.folder_key, state.last_known_folder_key) == (
        True,
        DeleteKind.MOVED_TO_DELETED_ITEMS,
        "deleted",
        "inbox",
    )


def test_a_removal_found_nowhere_is_deleted_with_the_kind_the_lookup_gave() -> None:
    for hints, kind in (
        (Hints(hard_deleted={"m1"}), DeleteKind.HARD_DELETED),
        (Hints(soft_deleted={"m1"}), DeleteKind.SOFT_DELETED),
        (Hints(), DeleteKind.UNKNOWN),
    ):
        [state] = stable(Store([known()]), hints).resolve([removed("m1", "inbox-id")], {})
        assert (
            state.deleted,
            state.delete_kind,
            state.item_id,
            state.folder_key,
            state.last_known_folder_key,
        ) == (True, kind, None, None, "inbox")


def test_a_deleted_message_that_comes_back_keeps_its_key() -> None:
    """Recovered from Recoverable Items: its immutable id is its key, though item_id was cleared."""
    [gone] = stable(Store([known()]), Hints(soft_deleted={"m1"})).resolve(
        [removed("m1", "inbox-id")], {}
    )
    [back] = stable(Store([gone])).resolve([arrived("m1", "inbox-id")], {"m1": item("m1")})
    assert (back.message_key, back.item_id, back.deleted, back.delete_kind) == (
        "m1",
        "m1",
        False,
        None,
    )


def test_a_new_id_with_a_deleted_messages_fingerprint_is_a_copy_not_a_return() -> None:
    """EWS would pair them by search key and Message-ID; an immutable id says it is another."""
    [gone] = stable(Store([known()]), Hints(hard_deleted={"m1"})).resolve(
        [removed("m1", "inbox-id")], {}
    )
    [copy] = stable(Store([gone])).resolve(
        [arrived("c1", "archive-id")], {"c1": item("c1", "archive-id")}
    )
    assert (copy.message_key, copy.folder_key) == ("c1", "archive")


def test_a_copy_beside_a_move_gets_its_own_key() -> None:
    states = stable(Store([known()])).resolve(
        [removed("m1", "inbox-id"), arrived("m1", "archive-id"), arrived("c1", "inbox-id")],
        {"m1": item("m1", "archive-id"), "c1": item("c1")},
    )
    assert sorted((s.message_key, s.folder_key) for s in states) == [
        ("c1", "inbox"),
        ("m1", "archive"),
    ]


def test_emptying_deleted_items_keeps_the_original_folder() -> None:
    [trashed] = stable(Store([known()])).resolve(
        [removed("m1", "inbox-id")], {"m1": item("m1", "deleted-id")}
    )
    [emptied] = stable(Store([trashed]), Hints(soft_deleted={"m1"})).resolve(
        [removed("m1", "deleted-id")], {}
    )
    assert (emptied.delete_kind, emptied.folder_key, emptied.last_known_folder_key) == (
        DeleteKind.DELETED_ITEMS_EMPTIED,
        None,
        "inbox",
    )


def test_private_withdraws_and_normal_brings_back() -> None:
    [hidden] = stable(Store([known()])).resolve(
        [arrived("m1", "inbox-id")], {"m1": item("m1", sensitivity="Private")}
    )
    assert (hidden.withdrawn, hidden.item) == (True, None)
    [shown] = stable(Store([hidden])).resolve([arrived("m1", "inbox-id")], {"m1": item("m1")})
    assert (shown.message_key, shown.withdrawn, shown.item is not None) == ("m1", False, True)
