"""The browse API: folder trees, message lists, details, search, history, as of a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.archive.conftest import RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message

BOX = "alice@example.com"
API = f"/api/v1/mailboxes/{BOX}"


def iso(millis: int) -> str:
    """An API time parameter."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat()


@pytest.fixture
def filled(archive: RunningArchive) -> RunningArchive:
    """Alice's mailbox: root > Inbox > Projects, a later folder Receipts; 120 messages in Inbox,
    one moved to Projects, one deleted (moved to Deleted Items) from Projects."""
    records: list[dict[str, Any]] = [
        folder(BOX, "root", 1, parent_folder_key=None, display_name="Top of Information Store"),
        folder(BOX, "inbox", 1, display_name="Inbox", distinguished_name="inbox"),
        folder(BOX, "projects", 1, display_name="Projects", parent_folder_key="inbox"),
        folder(BOX, "deleteditems", 1, display_name="Deleted Items"),
        folder(BOX, "receipts", 50, display_name="Receipts"),
    ]
    for i in range(120):
        records.append(
            message(
                BOX,
                f"m{i:03}",
                1,
                datetime_received=T0 - (120 - i) * HOUR,
                subject=f"Report {i:03}" if i % 2 else f"Invoice {i:03}",
                sender={"name": "Dora" if i % 3 else "Carol", "email_address": "x@example.org"},
            )
        )
    records += [
        message(
            BOX,
            "m119",
            2,
            folder_key="projects",
            subject="Moved report",
            datetime_received=T0 - HOUR,
        ),
        message(
            BOX,
            "m118",
            2,
            folder_key="projects",
            subject="Doomed invoice",
            datetime_received=T0 - 2 * HOUR,
        ),
        message(
            BOX,
            "m118",
            60,
            folder_key="deleteditems",
            last_known_folder_key="projects",
            deleted=True,
            deleted_time=T0 + 60_000,
            delete_kind="MovedToDeletedItems",
            subject="Doomed invoice",
            datetime_received=T0 - 2 * HOUR,
        ),
    ]
    assert filled_ok(archive.ingest(batch(*records)))
    return archive


def filled_ok(reply: Any) -> bool:
    """Whether the ingest call succeeded."""
    return bool(reply.status_code == 200)


def test_folder_tree_has_counts_and_order(filled: RunningArchive) -> None:
    """The tree comes parents first with the archive's own counts."""
    with filled.client(BOX) as client:
        tree = client.get(f"{API}/folders").json()
    names = [(f["display_name"], f["messages"], f["deleted_messages"]) for f in tree["folders"]]
    assert names == [
        ("Top of Information Store", 0, 0),
        ("Inbox", 118, 0),  # well-known folders first (this Deleted Items is not marked one)
        ("Projects", 2, 1),
        ("Deleted Items", 0, 0),
        ("Receipts", 0, 0),
    ]
    assert tree["last_change_time"] is not None


def test_messages_newest_first_in_keyset_pages(filled: RunningArchive) -> None:
    """Pages follow each other without gaps or repeats, newest first."""
    seen: list[str] = []
    cursor = None
    with filled.client(BOX) as client:
        while True:
            params: dict[str, Any] = {"folder": "inbox", "limit": 50}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{API}/messages", params=params).json()
            seen += [m["message_key"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert client.get(f"{API}/messages", params={"cursor": "nonsense!"}).status_code == 400
    assert seen == [f"m{i:03}" for i in range(117, -1, -1)]


def test_filters(filled: RunningArchive) -> None:
    """Sender, subject, date range and include_deleted narrow the list."""
    with filled.client(BOX) as client:

        def keys(**params: Any) -> list[str]:
            page = client.get(f"{API}/messages", params={"limit": 500, **params}).json()
            return [m["message_key"] for m in page["items"]]

        assert len(keys(folder="inbox", sender="carol")) == 40
        assert keys(folder="inbox", subject="report 11") == ["m117", "m115", "m113", "m111"]
        window = keys(
            folder="inbox", received_from=iso(T0 - 5 * HOUR), received_to=iso(T0 - 2 * HOUR)
        )
        assert window == ["m117", "m116", "m115"]
        assert keys(folder="projects") == ["m119", "m118"]
        assert keys(folder="projects", include_deleted="false") == ["m119"]


def test_deleted_message_is_shown_at_its_last_folder_marked(filled: RunningArchive) -> None:
    """A message moved to Deleted Items is listed in the folder it came from, marked deleted."""
    with filled.client(BOX) as client:
        items = client.get(f"{API}/messages", params={"folder": "projects"}).json()["items"]
        deleted = next(m for m in items if m["message_key"] == "m118")
        assert deleted["deleted"] is True
        assert deleted["delete_kind"] == "MovedToDeletedItems"
        assert deleted["folder_key"] == "deleteditems"
        inbox = client.get(f"{API}/messages", params={"folder": "deleteditems"}).json()
        assert inbox["items"] == []


def test_message_detail_has_location_history(filled: RunningArchive) -> None:
    """A message's detail lists every version: where it was and what changed."""
    with filled.client(BOX) as client:
        items = client.get(f"{API}/messages", params={"folder": "projects"}).json()["items"]
        ident = next(m["id"] for m in items if m["message_key"] == "m118")
        detail = client.get(f"{API}/messages/{ident}").json()
    places = [(h["version"], h["folder_name"], h["deleted"]) for h in detail["history"]]
    assert places == [(1, "Inbox", False), (2, "Projects", False), (60, "Deleted Items", True)]
    assert detail["sender"]["name"] == "Carol Sender"
    assert detail["to_recipients"] == [
        {"name": "Alice", "email_address": BOX, "routing_type": None}
    ]


def test_search_across_the_mailbox(filled: RunningArchive) -> None:
    """Every word must match some metadata, in any folder."""
    with filled.client(BOX) as client:
        page = client.get(f"{API}/search", params={"q": "DOOMED invoice"}).json()
        assert [m["message_key"] for m in page["items"]] == ["m118"]
        page = client.get(f"{API}/search", params={"q": "100% report_"}).json()
        assert page["items"] == []


def test_mailbox_as_it_was_at_a_time(filled: RunningArchive) -> None:
    """Before the later changes, the tree lacks Receipts and m118 sits undeleted in Projects."""
    before = iso(T0 + 10_000)
    with filled.client(BOX) as client:
        tree = client.get(f"{API}/folders", params={"at": before}).json()
        names = {f["display_name"]: f["messages"] for f in tree["folders"]}
        assert "Receipts" not in names
        assert names["Projects"] == 2
        items = client.get(f"{API}/messages", params={"folder": "projects", "at": before}).json()[
            "items"
        ]
        assert [(m["message_key"], m["deleted"]) for m in items] == [
            ("m119", False),
            ("m118", False),
        ]
        earliest = client.get(
            f"{API}/messages", params={"folder": "projects", "at": iso(T0 + 1500)}
        ).json()["items"]
        assert earliest == []
