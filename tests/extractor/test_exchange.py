"""The extractor's EWS reads, with exchangelib unmodified, against the simulator over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exchangelib.errors import SessionPoolMinSizeReached

from extractor.cycle import ChangeKind
from extractor.exchange import MailboxReader
from mfr.ews import EwsConnection
from simulator import Simulator


def test_well_known_folders_and_the_hierarchy_are_read(
    sim: Simulator, smtp: str, connection: EwsConnection
) -> None:
    """The root, Inbox and Deleted Items are identified; a user folder comes with its class."""
    sim.control.create_folder(smtp, "inbox", "Projects")
    reader = MailboxReader(connection, smtp)
    known = reader.well_known_folders()
    assert {"msgfolderroot", "inbox", "deleteditems"} <= set(known.values())
    page = reader.hierarchy(None)
    projects = [f for f in page.upserts if f.display_name == "Projects"]
    assert projects
    assert projects[0].folder_class == "IPF.Note"
    assert projects[0].parent_folder_id == sim.control.folder_id(smtp, "inbox")
    assert page.sync_state
    assert reader.hierarchy(page.sync_state).upserts == []


def test_item_pages_and_metadata_come_back_with_the_search_key(
    sim: Simulator, smtp: str, connection: EwsConnection
) -> None:
    """SyncFolderItems pages list the ids; GetItem returns MISSION's fields, never a body."""
    received = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    item_id = sim.control.create_item(
        smtp, "inbox", subject="Budget", sender={"name": "Bob", "email": "bob@contoso.com"},
        to=["alice@contoso.com"], categories=["Red"], importance="High",
        received=received, is_read=False, size=4321, flag="Flagged",
    )
    reader = MailboxReader(connection, smtp)
    inbox = sim.control.folder_id(smtp, "inbox")
    page = reader.items_page(inbox, None)
    assert [(c.kind, c.item_id) for c in page.changes] == [(ChangeKind.CREATE, item_id)]
    assert page.last_page
    [snapshot] = reader.items([item_id]).values()
    assert (snapshot.subject, snapshot.importance, snapshot.is_read) == ("Budget", "High", False)
    assert snapshot.sender is not None
    assert snapshot.sender.email_address == "bob@contoso.com"
    assert snapshot.categories == ("Red",)
    assert snapshot.flag_status == "Flagged"
    assert snapshot.search_key
    assert snapshot.internet_message_id
    assert snapshot.datetime_received == received
    assert snapshot.parent_folder_id == inbox


def test_accounts_never_let_exchangelib_shrink_its_session_pool(
    smtp: str, connection: EwsConnection
) -> None:
    """exchangelib 5.6 can deadlock shrinking its pool after ErrorServerBusy; ours refuses."""
    protocol = connection.account(smtp).protocol
    with pytest.raises(SessionPoolMinSizeReached):
        protocol.decrease_poolsize()
