"""From change events to sync requests."""

from __future__ import annotations

from extractor.requests import request_for
from tests.extractor.events import change_event


def test_resync_and_mailbox_events_ask_for_everything() -> None:
    """A Resync (or any event about the whole mailbox) syncs every folder."""
    assert request_for(change_event("a@x.com", "Resync")).full
    assert request_for(change_event("a@x.com", "Created", target="Mailbox")).full


def test_status_events_ask_for_nothing() -> None:
    """Keep-alive status events trigger no sync at all."""
    request = request_for(change_event("a@x.com", "Status"))
    assert (request.full, request.hierarchy, request.folders) == (False, False, set())


def test_folder_events_ask_for_the_hierarchy() -> None:
    """A folder created, renamed, moved or deleted means a hierarchy sync."""
    request = request_for(change_event("a@x.com", "Moved", target="Folder", id="f"))
    assert request.hierarchy
    assert not request.full


def test_a_modified_folder_has_its_items_synced() -> None:
    """A folder's Modified event syncs that folder's items too: subscribed to all folders, it is
    all Exchange says of a move to Deleted Items (the item events name the AllItems folder)."""
    request = request_for(change_event("a@x.com", "Modified", target="Folder", id="inbox"))
    assert request.folders == {"inbox"}


def test_a_modified_folder_is_checked_before_a_hierarchy_sync() -> None:
    """A Modified folder is mostly a count change, which no hierarchy sync reports: the cycle
    checks the folder's place first instead of syncing the hierarchy outright."""
    request = request_for(change_event("a@x.com", "Modified", target="Folder", id="inbox"))
    assert request.folder_checks == {"inbox"}
    assert not request.hierarchy
    renamed_parent = request_for(change_event("a@x.com", "Modified", target="Folder"))
    assert renamed_parent.hierarchy  # no folder named: nothing to check cheaply


def test_a_moved_item_names_both_folders_and_its_old_id() -> None:
    """A move syncs both folders and remembers which new id the old one became."""
    request = request_for(change_event("a@x.com", "Moved", target="Item", id="new", old_id="old",
                                       parent_folder_id="to", old_parent_folder_id="from"))
    assert request.folders == {"to", "from"}
    assert request.hints.moved_from == {"new": "old"}
    assert request.hints.soft_deleted == {"old"}


def test_a_deleted_event_does_not_claim_a_hard_delete() -> None:
    """All-folders subscriptions report soft deletes as Deleted too: no kind is inferred."""
    request = request_for(change_event("a@x.com", "Deleted", target="Item", id="i",
                                       parent_folder_id="inbox"))
    assert request.folders == {"inbox"}
    assert request.hints.hard_deleted == set()


def test_an_item_event_without_a_folder_looks_everywhere() -> None:
    """Without a parent folder the safe reading is a full cycle."""
    assert request_for(change_event("a@x.com", "Modified", target="Item", id="i")).full
