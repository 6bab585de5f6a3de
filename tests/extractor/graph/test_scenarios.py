"""One scenario per user action, replicated through Microsoft Graph, against the simulator's truth.

The same actions and the same expectations as the EWS scenarios (``tests/extractor/
test_scenarios.py``), with what immutable ids add (outlook-immutable-id.md): a moved message keeps
its id as well as its key, and a delete's kind is known (a message found in Recoverable Items was
soft-deleted, one found nowhere hard-deleted). No notification details are used: delta alone must
get it right.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfr.graph import GraphClient
from simulator import Simulator
from tests.extractor.graph.truth import folder, graph_truth, immutable
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems


@pytest.fixture
def ex(sim: Simulator, client: GraphClient, smtp: str, tmp_path: Path) -> Iterator[Extraction]:
    """The mailbox's extractor; after the scenario, one more resync must agree with the truth."""
    extraction = Extraction(client, smtp, tmp_path)
    yield extraction
    extraction.run(full=True)
    assert problems(graph_truth(sim, smtp), extraction.messages(), extraction.folders()) == []
    extraction.close()


def live(ex: Extraction) -> dict[str, dict[str, Any]]:
    """Live (not deleted, not withdrawn) messages by subject."""
    return {m["subject"]: m for m in ex.messages() if not m["deleted"] and not m["withdrawn"]}


def by_subject(ex: Extraction, subject: str) -> list[dict[str, Any]]:
    return [m for m in ex.messages() if m["subject"] == subject]


def test_initial_sync_replicates_mail_only(sim: Simulator, ex: Extraction, smtp: str) -> None:
    """Mail folders and IPM.Note messages are replicated; calendars, meetings, Private are not;
    every record says Graph fed it."""
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    sim.control.create_folder(smtp, "msgfolderroot", "Birthdays", folder_class="IPF.Appointment")
    sim.control.create_folder(smtp, "inbox", "Custom", folder_class="IPF.Note.Custom")
    sim.control.create_item(smtp, "inbox", subject="hello")
    sim.control.create_item(smtp, projects, subject="stub", item_class="IPM.Note.MimecastStub")
    meeting = "IPM.Schedule.Meeting.Request"
    sim.control.create_item(smtp, "inbox", subject="meet", item_class=meeting)
    sim.control.create_item(smtp, "inbox", subject="secret", sensitivity="Private")
    ex.run()
    assert set(live(ex)) == {"hello", "stub"}
    folders = ex.folders()
    assert folders[folder(sim, smtp, projects)]["parent_folder_key"] == folder(sim, smtp, "inbox")
    names = {f["display_name"] for f in folders.values()}
    assert "Birthdays" not in names
    assert "Custom" not in names
    trash = folders[folder(sim, smtp, "deleteditems")]
    assert (trash["distinguished_name"], trash["folder_class"]) == ("deleteditems", "IPF.Note")
    records = [*ex.messages(), *folders.values()]
    assert {r["exchange_api"] for r in records} == {"Graph"}
    hello = live(ex)["hello"]
    assert hello["item_id"] == hello["message_key"]
    assert (hello["item_class"], hello["sensitivity"]) == ("IPM.Note", "Normal")
    assert hello["size"]
    assert hello["search_key"]
    assert hello["internet_message_id"]


def test_a_new_message_appears(sim: Simulator, ex: Extraction, smtp: str) -> None:
    """A message delivered after the initial sync is replicated by the next cycle."""
    ex.run()
    sim.control.create_item(smtp, "inbox", subject="fresh")
    ex.run(folders={folder(sim, smtp, "inbox")})
    assert set(live(ex)) == {"fresh"}


def test_read_flag_and_categories_follow(sim: Simulator, ex: Extraction, smtp: str) -> None:
    """Read state, follow-up flag and categories changes reach the state."""
    item = sim.control.create_item(smtp, "inbox", subject="todo")
    ex.run()
    sim.control.update_item(smtp, item, is_read=True, flag="Flagged", categories=["Blue"])
    ex.run(folders={folder(sim, smtp, "inbox")})
    state = live(ex)["todo"]
    assert (state["is_read"], state["flag_status"], state["categories"]) == (
        True,
        "Flagged",
        ["Blue"],
    )


def test_a_moved_message_keeps_its_key_and_its_id(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """With immutable ids a move changes only the folder: same key, same item id."""
    archive = folder(sim, smtp, "archive")
    item = sim.control.create_item(smtp, "inbox", subject="move me")
    ex.run()
    [before] = by_subject(ex, "move me")
    sim.control.move_item(smtp, item, "archive")
    ex.run(folders={folder(sim, smtp, "inbox"), archive})
    [after] = by_subject(ex, "move me")
    assert after["message_key"] == before["message_key"] == before["item_id"]
    assert (after["item_id"], after["folder_key"], after["deleted"]) == (
        before["item_id"],
        archive,
        False,
    )
    assert after["version"] > before["version"]


@pytest.mark.parametrize("first", ["source", "destination"])
def test_a_move_whose_halves_land_in_different_cycles_stays_one_message(
    sim: Simulator, ex: Extraction, smtp: str, first: str
) -> None:
    """The source's @removed and the destination's arrival, one cycle apart, either way round:
    never a delete and a new message, not even for one cycle."""
    inbox, archive = folder(sim, smtp, "inbox"), folder(sim, smtp, "archive")
    item = sim.control.create_item(smtp, "inbox", subject="split")
    ex.run()
    [before] = by_subject(ex, "split")
    sim.control.move_item(smtp, item, "archive")
    order = [inbox, archive] if first == "source" else [archive, inbox]
    for folder_id in order:
        ex.run(folders={folder_id})
        [state] = by_subject(ex, "split")
        assert (state["message_key"], state["folder_key"], state["deleted"]) == (
            before["message_key"],
            archive,
            False,
        )


def test_a_copy_is_a_second_message(sim: Simulator, ex: Extraction, smtp: str) -> None:
    """A copy gets a new immutable id and a key of its own; the original is untouched."""
    item = sim.control.create_item(smtp, "inbox", subject="twin")
    ex.run()
    sim.control.copy_item(smtp, item, "archive")
    ex.run(folders={folder(sim, smtp, "archive")})
    twins = by_subject(ex, "twin")
    assert len({t["message_key"] for t in twins}) == 2
    assert {t["folder_key"] for t in twins} == {
        folder(sim, smtp, "inbox"),
        folder(sim, smtp, "archive"),
    }


def test_a_copy_of_a_message_deleted_later_stays_a_copy(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """Search key and Message-ID match the deleted original; the copy's own id says it is not."""
    item = sim.control.create_item(smtp, "inbox", subject="original")
    ex.run()
    sim.control.copy_item(smtp, item, "archive")
    sim.control.delete_item(smtp, item, "HardDelete")
    ex.run(folders={folder(sim, smtp, "inbox")})
    ex.run(folders={folder(sim, smtp, "archive")})
    states = sorted(
        (m["deleted"], m["folder_key"] or m["last_known_folder_key"])
        for m in by_subject(ex, "original")
    )
    assert states == sorted(
        [(True, folder(sim, smtp, "inbox")), (False, folder(sim, smtp, "archive"))]
    )


@pytest.mark.parametrize(
    ("delete_type", "kind", "still_in"),
    [
        ("MoveToDeletedItems", "MovedToDeletedItems", "deleteditems"),
        ("SoftDelete", "SoftDeleted", None),
        ("HardDelete", "HardDeleted", None),
    ],
)
def test_every_delete_type_is_kept_at_the_last_folder(
    sim: Simulator, ex: Extraction, smtp: str, delete_type: str, kind: str, still_in: str | None
) -> None:
    """Each DeleteType leaves the message in the archive, deleted, at its last folder; where the
    immutable id went says which kind it was."""
    inbox = folder(sim, smtp, "inbox")
    item = sim.control.create_item(smtp, "inbox", subject="bye")
    ex.run()
    sim.control.delete_item(smtp, item, delete_type)
    ex.run(folders={inbox})
    [state] = by_subject(ex, "bye")
    assert (state["deleted"], state["delete_kind"], state["last_known_folder_key"]) == (
        True,
        kind,
        inbox,
    )
    expected = folder(sim, smtp, still_in) if still_in else None
    assert state["folder_key"] == expected
    assert state["deleted_time"] is not None


def test_emptying_deleted_items_keeps_the_original_folder(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """After Deleted Items is emptied, the message is still shown at the folder it came from."""
    inbox, trash = folder(sim, smtp, "inbox"), folder(sim, smtp, "deleteditems")
    item = sim.control.create_item(smtp, "inbox", subject="trash")
    ex.run()
    sim.control.delete_item(smtp, item, "MoveToDeletedItems")
    ex.run(folders={inbox, trash})
    sim.control.empty_folder(smtp, "deleteditems")
    ex.run(folders={trash})
    [state] = by_subject(ex, "trash")
    assert (state["deleted"], state["delete_kind"], state["folder_key"]) == (
        True,
        "DeletedItemsEmptied",
        None,
    )
    assert state["last_known_folder_key"] == inbox


def test_a_message_restored_from_recoverable_items_is_the_same_message(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """Soft-deleted, then recovered into the Inbox: live again under its key."""
    item = sim.control.create_item(smtp, "inbox", subject="phoenix")
    ex.run()
    [before] = by_subject(ex, "phoenix")
    dumpster_id = sim.control.delete_item(smtp, item, "SoftDelete")
    assert dumpster_id is not None
    ex.run(folders={folder(sim, smtp, "inbox")})
    sim.control.move_item(smtp, dumpster_id, "inbox")
    ex.run(folders={folder(sim, smtp, "inbox")})
    [after] = by_subject(ex, "phoenix")
    assert (after["message_key"], after["deleted"], after["folder_key"]) == (
        before["message_key"],
        False,
        folder(sim, smtp, "inbox"),
    )


def test_folder_rename_and_move(sim: Simulator, ex: Extraction, smtp: str) -> None:
    """A renamed and moved folder keeps its key; its name and parent follow."""
    made = sim.control.create_folder(smtp, "inbox", "Old name")
    ex.run()
    sim.control.rename_folder(smtp, made, "New name")
    sim.control.move_folder(smtp, made, "archive")
    ex.run(hierarchy=True)
    state = ex.folders()[folder(sim, smtp, made)]
    assert state["display_name"] == "New name"
    assert state["parent_folder_key"] == folder(sim, smtp, "archive")


@pytest.mark.parametrize("delete_type", ["HardDelete", "MoveToDeletedItems"])
def test_deleting_a_folder_keeps_it_and_its_messages(
    sim: Simulator, ex: Extraction, smtp: str, delete_type: str
) -> None:
    """A deleted folder and the messages in it stay, marked deleted, where they were."""
    made = sim.control.create_folder(smtp, "inbox", "Doomed")
    sim.control.create_item(smtp, made, subject="inside")
    ex.run()
    key = folder(sim, smtp, made)
    sim.control.delete_folder(smtp, made, delete_type)
    ex.run(hierarchy=True)
    assert ex.folders()[key]["deleted"]
    [state] = by_subject(ex, "inside")
    assert (state["deleted"], state["delete_kind"], state["last_known_folder_key"]) == (
        True,
        "FolderDeleted",
        key,
    )


def test_a_message_that_becomes_private_is_withdrawn_and_comes_back(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """Turning Private withdraws the message (no metadata); back to Normal, it is shown again
    under the same key."""
    item = sim.control.create_item(smtp, "inbox", subject="oops")
    ex.run()
    [before] = by_subject(ex, "oops")
    sim.control.update_item(smtp, item, sensitivity="Private")
    ex.run(folders={folder(sim, smtp, "inbox")})
    [state] = [m for m in ex.messages() if m["withdrawn"]]
    assert (state["subject"], state["sender"]) == (None, None)
    sim.control.update_item(smtp, item, sensitivity="Normal")
    ex.run(folders={folder(sim, smtp, "inbox")})
    [again] = ex.messages()
    assert (again["message_key"], again["withdrawn"], again["subject"]) == (
        before["message_key"],
        False,
        "oops",
    )


def test_a_message_moved_into_a_non_mail_folder_is_kept_as_deleted(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """Leaving the replicated folders is, for the user, like a delete: kept at its last folder."""
    tasks = sim.control.create_folder(smtp, "msgfolderroot", "My Tasks", folder_class="IPF.Task")
    inbox = folder(sim, smtp, "inbox")
    item = sim.control.create_item(smtp, "inbox", subject="wandered")
    ex.run()
    sim.control.move_item(smtp, item, tasks)
    ex.run(folders={inbox})
    [state] = by_subject(ex, "wandered")
    assert (state["deleted"], state["folder_key"], state["last_known_folder_key"]) == (
        True,
        None,
        inbox,
    )


def test_a_message_moved_into_a_new_folder_is_moved_there(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """A folder made since the last look: the tree is read again, and the message follows."""
    item = sim.control.create_item(smtp, "inbox", subject="nested")
    ex.run()
    made = sim.control.create_folder(smtp, "inbox", "Brand new")
    sim.control.move_item(smtp, item, made)
    ex.run(folders={folder(sim, smtp, "inbox")})
    [state] = by_subject(ex, "nested")
    assert (state["deleted"], state["folder_key"]) == (False, folder(sim, smtp, made))
    assert folder(sim, smtp, made) in ex.folders()


def test_a_message_whose_class_stops_being_mail_is_withdrawn(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """An item that is no longer a mail message is withdrawn from view, like a Private one."""
    item = sim.control.create_item(smtp, "inbox", subject="morphs")
    ex.run()
    sim.control.update_item(smtp, item, item_class="IPM.Schedule.Meeting.Request")
    ex.run(folders={folder(sim, smtp, "inbox")})
    [state] = [m for m in ex.messages() if m["withdrawn"]]
    assert state["subject"] is None


def test_a_resync_alone_converges_after_lost_notifications(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """With every notification lost, one resync still finds the moves, copies and deletes."""
    a = sim.control.create_item(smtp, "inbox", subject="a")
    b = sim.control.create_item(smtp, "inbox", subject="b")
    ex.run()
    keys = {m["subject"]: m["message_key"] for m in ex.messages()}
    sim.control.move_item(smtp, a, "archive")
    sim.control.copy_item(smtp, b, "archive")
    sim.control.delete_item(smtp, b, "HardDelete")
    sim.control.create_item(smtp, "sentitems", subject="c")
    ex.run(full=True)
    states = ex.messages()
    assert {m["message_key"] for m in states if m["subject"] == "a"} == {keys["a"]}
    assert sorted((m["subject"], m["deleted"]) for m in states) == [
        ("a", False),
        ("b", False),
        ("b", True),
        ("c", False),
    ]


def test_a_notified_message_is_synced_in_its_folder(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """A notification names only the message: a known one is synced where we know it, a new one
    where Graph has it, in a folder made since the last look too."""
    ex.run()
    made = sim.control.create_folder(smtp, "inbox", "Later")
    item = sim.control.create_item(smtp, made, subject="notified")
    ex.run(messages={immutable(sim, smtp, item)})
    assert live(ex)["notified"]["folder_key"] == folder(sim, smtp, made)
    sim.control.update_item(smtp, item, is_read=True)
    ex.run(messages={immutable(sim, smtp, item)})
    assert live(ex)["notified"]["is_read"] is True
