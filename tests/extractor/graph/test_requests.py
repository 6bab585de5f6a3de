"""Graph ChangeEvents (the listener's convention) to what the next sync looks at."""

from __future__ import annotations

from extractor.checkpoints import Checkpoints
from extractor.requests import request_for
from tests.extractor.events import change_event

MAILBOX = "alice@contoso.com"


def test_a_notification_names_a_message_whose_folder_the_sync_finds() -> None:
    for kind in ("Created", "Modified", "Deleted"):
        request = request_for(change_event(MAILBOX, kind, "Item", id="imm-1", source="Webhook"))
        assert (request.messages, request.folders, request.full, request.hierarchy) == (
            {"imm-1"},
            set(),
            False,
            False,
        )


def test_the_folder_tree_check_asks_for_the_hierarchy_alone() -> None:
    request = request_for(
        change_event(
            MAILBOX, "Modified", "Folder", id=None, source="Poll", reason="hierarchy check"
        )
    )
    assert (request.hierarchy, request.folders, request.messages, request.full) == (
        True,
        set(),
        set(),
        False,
    )


def test_lifecycle_trouble_resyncs_the_mailbox() -> None:
    request = request_for(
        change_event(MAILBOX, "Resync", "Mailbox", source="Webhook", reason="missed")
    )
    assert request.full


def test_a_notification_without_an_id_looks_everywhere() -> None:
    assert request_for(change_event(MAILBOX, "Created", "Item", id=None, source="Webhook")).full


def test_merged_requests_keep_every_message() -> None:
    first = request_for(change_event(MAILBOX, "Created", "Item", id="a", source="Webhook"))
    first.merge(request_for(change_event(MAILBOX, "Deleted", "Item", id="b", source="Webhook")))
    assert first.messages == {"a", "b"}


def test_a_checkpoint_of_the_other_api_is_no_resume_point() -> None:
    graph, ews = Checkpoints("Graph"), Checkpoints("Ews")
    for datum in (
        {"mailbox": MAILBOX, "folder_id": "f", "phase": "InitialSync", "exchange_api": "Ews"},
        {"mailbox": MAILBOX, "folder_id": "g", "phase": "InitialSync", "exchange_api": None},
        {"mailbox": MAILBOX, "folder_id": "h", "phase": "InitialSync", "exchange_api": "Graph"},
    ):
        graph.put(datum)
        ews.put(datum)
    assert [graph.get(MAILBOX, f) is not None for f in "fgh"] == [False, False, True]
    assert [ews.get(MAILBOX, f) is not None for f in "fgh"] == [True, True, False]
    assert graph.mailboxes_in_initial_sync() == ews.mailboxes_in_initial_sync() == {MAILBOX}
