"""Resolving folder-tree changes: renames, moves, deletes, and what they do to the messages."""

from __future__ import annotations

from datetime import UTC, datetime

from extractor.cycle import Cycle, Hints
from extractor.filters import FilterSettings
from extractor.hierarchy import FolderTree, HierarchyCycle
from extractor.model import DeleteKind, FolderSnapshot, MessageState
from tests.extractor.test_cycle import MAILBOX, Store, item

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROOT = "root-id"


def folder(
    folder_id: str, parent: str = ROOT, name: str = "", cls: str = "IPF.Note"
) -> FolderSnapshot:
    return FolderSnapshot(folder_id, parent, name or folder_id, cls)


def mailbox_tree() -> tuple[FolderTree, HierarchyCycle]:
    tree = FolderTree(ROOT, distinguished={"inbox": "inbox", "trash": "deleteditems"})
    hierarchy = HierarchyCycle(MAILBOX, FilterSettings(), tree, NOW)
    hierarchy.apply([folder("inbox"), folder("trash"), folder("projects", "inbox"),
                     folder("q4", "projects"), folder("calendar", cls="IPF.Appointment")], [])
    return tree, hierarchy


def test_mail_folders_are_replicated_with_their_parents_and_others_are_not() -> None:
    """IPF.Note folders get states, nested under their replicated parent; a calendar does not."""
    tree, _ = mailbox_tree()
    assert set(tree.states) == {"inbox", "trash", "projects", "q4"}
    assert tree.states["q4"].parent_folder_key == "projects"
    assert tree.states["inbox"].parent_folder_key is None
    assert tree.key_of("calendar") is None


def test_a_rename_is_a_new_state_of_the_same_folder() -> None:
    """Renaming keeps the key and publishes the new name."""
    _, hierarchy = mailbox_tree()
    outcome = hierarchy.apply([folder("projects", "inbox", name="Projects 2026")], [])
    [state] = outcome.states
    assert (state.folder_key, state.snapshot.display_name) == ("projects", "Projects 2026")
    assert not state.deleted


def test_a_folder_move_changes_its_parent_only() -> None:
    """Moving a folder keeps its key and its subfolders' parent."""
    tree, hierarchy = mailbox_tree()
    hierarchy.apply([folder("projects", ROOT)], [])
    assert tree.states["projects"].parent_folder_key is None
    assert tree.states["q4"].parent_folder_key == "projects"


def test_deleting_a_folder_trashes_it_and_its_subfolders_at_their_last_place() -> None:
    """A folder moved into Deleted Items is shown deleted where it was, subfolders too."""
    tree, hierarchy = mailbox_tree()
    outcome = hierarchy.apply([folder("projects", "trash")], [])
    assert outcome.trashed == {"projects", "q4"}
    assert tree.states["projects"].deleted
    assert tree.states["projects"].parent_folder_key == "inbox"
    assert tree.states["q4"].deleted


def test_messages_of_a_trashed_folder_are_deleted_at_that_folder() -> None:
    """Deleting a folder marks its messages deleted, at that folder, as FolderDeleted."""
    _, hierarchy = mailbox_tree()
    message = MessageState(MAILBOX, "k", "projects", item_id="m", folder_key="projects",
                           item=item("m", "projects"))
    outcome = hierarchy.apply([folder("projects", "trash")], [])
    cycle = Cycle(MAILBOX, FilterSettings(), hierarchy.tree, Store([message]), NOW, Hints())
    [state] = cycle.folders_changed(outcome)
    assert (state.deleted, state.delete_kind, state.last_known_folder_key) == (
        True, DeleteKind.FOLDER_DELETED, "projects")


def test_a_folder_removed_for_good_stays_deleted_with_its_messages() -> None:
    """A hard-deleted folder is kept as deleted; its messages lose their EWS ids."""
    tree, hierarchy = mailbox_tree()
    message = MessageState(MAILBOX, "k", "q4", item_id="m", folder_key="q4",
                           item=item("m", "q4"))
    outcome = hierarchy.apply([], ["projects"])
    assert outcome.gone == {"projects", "q4"}
    assert tree.states["projects"].deleted
    assert tree.key_of("projects") is None
    cycle = Cycle(MAILBOX, FilterSettings(), tree, Store([message]), NOW, Hints())
    [state] = cycle.folders_changed(outcome)
    assert (state.deleted, state.folder_key, state.item_id) == (True, None, None)
    assert state.last_known_folder_key == "q4"


def test_a_folder_restored_from_deleted_items_and_its_messages_are_live_again() -> None:
    """Moving a deleted folder back out undeletes it and the messages it took along."""
    tree, hierarchy = mailbox_tree()
    message = MessageState(MAILBOX, "k", "projects", item_id="m", folder_key="projects",
                           deleted=True, deleted_time=NOW, delete_kind=DeleteKind.FOLDER_DELETED,
                           item=item("m", "projects"))
    hierarchy.apply([folder("projects", "trash")], [])
    outcome = hierarchy.apply([folder("projects", "inbox")], [])
    assert outcome.restored == {"projects", "q4"}
    assert not tree.states["projects"].deleted
    cycle = Cycle(MAILBOX, FilterSettings(), tree, Store([message]), NOW, Hints())
    [state] = cycle.folders_changed(outcome)
    assert not state.deleted
