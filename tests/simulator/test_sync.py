"""exchangelib, unmodified, syncing folders and items from the simulator over real HTTP."""

from __future__ import annotations

from typing import Any

from exchangelib import Build, ExtendedProperty, Message
from exchangelib.services import SyncFolderItems

from simulator import Simulator
from tests.simulator.conftest import AccountFactory


def _sync_all(folder: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    return list(folder.sync_items(**kwargs))


def test_sync_hierarchy_reports_the_ipm_subtree_then_changes(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """SyncFolderHierarchy lists the IPM folders once, then only what changed, collapsed."""
    acc = account(smtp)
    root = acc.msg_folder_root
    first = list(root.sync_hierarchy())
    names = {folder.name for change, folder in first if change == "create"}
    assert {"Inbox", "Deleted Items", "Calendar", "Contacts"} <= names
    assert "Recoverable Items" not in names
    assert "Deletions" not in names
    state = root.folder_sync_state
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    sim.control.create_folder(smtp, "inbox", "Temp")
    sim.control.delete_folder(smtp, "/Inbox/Temp", "HardDelete")
    changes = list(root.sync_hierarchy())
    assert [(c, f.name) for c, f in changes] == [("create", "Projects")]
    assert changes[0][1].id == projects
    sim.control.rename_folder(smtp, projects, "Projects 2024")
    changes = list(root.sync_hierarchy())
    assert [(c, f.name) for c, f in changes] == [("update", "Projects 2024")]
    sim.control.delete_folder(smtp, projects, "SoftDelete")
    changes = list(root.sync_hierarchy())
    assert [(c, f.id) for c, f in changes] == [("delete", projects)]
    root.folder_sync_state = state
    replayed = {c for c, _ in root.sync_hierarchy()}
    assert replayed == set(), "a created-then-deleted folder is reported as nothing"


def test_sync_items_resumes_from_a_saved_state_in_another_client(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """SyncFolderItems pages at MaxChangesReturned and a saved SyncState resumes in a new client."""
    ids = [sim.control.create_item(smtp, subject=f"m{i}") for i in range(7)]
    acc = account(smtp)
    service = SyncFolderItems(account=acc)
    page = list(
        service.call(
            folder=acc.inbox,
            shape="IdOnly",
            additional_fields=None,
            sync_state=None,
            ignore=None,
            max_changes_returned=3,
            sync_scope=None,
        )
    )
    assert [c for c, _ in page] == ["create"] * 3
    assert service.includes_last_item_in_range is False
    later = account(smtp).inbox
    later.item_sync_state = service.sync_state
    rest = _sync_all(later, max_changes_returned=3)
    seen = [i.id for _, i in page] + [i.id for _, i in rest]
    assert sorted(seen) == sorted(ids)
    sim.control.update_item(smtp, ids[0], is_read=True)
    sim.control.update_item(smtp, ids[1], subject="renamed")
    sim.control.move_item(smtp, ids[2], "sentitems")
    sim.control.create_item(smtp, subject="new")
    changes = _sync_all(later)
    kinds = sorted(c for c, _ in changes)
    assert kinds == ["create", "delete", "read_flag_change", "update"]
    flag = next(i for c, i in changes if c == "read_flag_change")
    assert flag[0].id == ids[0]
    assert flag[1] is True
    assert next(i for c, i in changes if c == "delete").id == ids[2]


def test_sync_items_marks_the_end_of_the_range(
    smtp: str, sim: Simulator, account: AccountFactory
) -> None:
    """IncludesLastItemInRange is false while more changes wait, true at the end."""
    for i in range(4):
        sim.control.create_item(smtp, subject=f"m{i}")
    inbox = account(smtp).inbox
    sim.request_log.clear()
    got = list(inbox.sync_items(max_changes_returned=2))
    assert len(got) == 4
    assert len(sim.request_log.entries("SyncFolderItems", smtp)) == 2
    assert list(inbox.sync_items(max_changes_returned=2)) == []


def test_fetch_with_only_returns_just_the_requested_fields(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """GetItem honours only(): requested fields are set, others stay unset."""
    item_id = sim.control.create_item(
        smtp, subject="Quarterly", is_read=True, categories=["Red"], sensitivity="Private"
    )
    acc = account(smtp)
    [item] = acc.fetch(ids=[(item_id, None)], only_fields=["subject", "is_read"])
    assert item.subject == "Quarterly"
    assert item.is_read is True
    assert item.categories is None
    assert item.size is None
    assert item.datetime_received is None
    [full] = acc.fetch(ids=[(item_id, None)])
    assert full.categories == ["Red"]
    assert full.sensitivity == "Private"
    found = [m.subject for m in acc.inbox.all().only("subject")]
    assert found == ["Quarterly"]


def test_get_item_answers_the_search_key_extended_property(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """GetItem returns PR_SEARCH_KEY (0x300B), which stays the same when the item moves."""

    class SearchKey(ExtendedProperty):  # type: ignore[misc]
        property_tag = 0x300B
        property_type = "Binary"

    item_id = sim.control.create_item(smtp, subject="keyed")
    # exchangelib's field registry is process-wide: use a name no other code registers.
    Message.register("sim_test_search_key", SearchKey)
    try:
        acc = account(smtp)
        fields = ["subject", "sim_test_search_key"]
        [before] = acc.fetch(ids=[(item_id, None)], only_fields=fields)
        moved = sim.control.move_item(smtp, item_id, "archive")
        [after] = acc.fetch(ids=[(moved, None)], only_fields=fields[1:])
    finally:
        Message.deregister("sim_test_search_key")
    assert before.sim_test_search_key
    assert before.sim_test_search_key == after.sim_test_search_key
    assert moved != item_id


def test_get_item_answers_the_flag_status_extended_property(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """GetItem returns PR_FLAG_STATUS (0x1090): 0 not flagged, 1 complete, 2 flagged."""

    class FlagStatus(ExtendedProperty):  # type: ignore[misc]
        property_tag = 0x1090
        property_type = "Integer"

    ids = [sim.control.create_item(smtp, subject=f, flag=f)
           for f in ("NotFlagged", "Complete", "Flagged")]
    Message.register("sim_test_flag_status", FlagStatus)
    try:
        items = account(smtp).fetch(ids=[(i, None) for i in ids],
                                    only_fields=["sim_test_flag_status"])
        assert [i.sim_test_flag_status for i in items] == [0, 1, 2]
    finally:
        Message.deregister("sim_test_flag_status")


def test_find_item_pages(sim: Simulator, smtp: str, account: AccountFactory) -> None:
    """FindItem pages with IndexedPageItemView until IncludesLastItemInRange."""
    for i in range(5):
        sim.control.create_item(smtp, subject=f"p{i}")
    query = account(smtp).inbox.all().only("subject")
    query.page_size = 2
    assert sorted(m.subject for m in query) == [f"p{i}" for i in range(5)]
    assert len(sim.request_log.entries("FindItem", smtp)) >= 3


def test_exchangelib_guesses_the_version_from_server_version_info(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Without a configured version, exchangelib learns it from ServerVersionInfo."""
    sim.add_service_account("guesser@sim.example", "pw", impersonate={smtp})
    acc = account(smtp, user="guesser@sim.example", password="pw", version=None)
    assert acc.version.build == Build(15, 2, 1118, 7)
    assert acc.inbox.name == "Inbox"
