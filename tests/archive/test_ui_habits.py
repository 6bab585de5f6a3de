"""The web UI with a mail client's habits, honest about what it holds, on any screen (issue 15),
in Debian's headless Chromium: paging that keeps its place, well-known folders first, local
times, what the archive cannot know said plainly, a phone-sized screen and dark mode.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.archive.conftest import RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message
from tests.archive.test_ui import ALICE, browser, shot, sign_in

__all__ = ["browser"]  # the shared headless Chromium, one per module
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
INBOX_SIZE = 130


@pytest.fixture
def mailbox(archive: RunningArchive) -> RunningArchive:
    """Alice's mailbox: the well-known folders (listed out of order) and two of her own, 130
    messages in the Inbox, one sent message, one already in Deleted Items at the first sync and
    one deleted later from the Inbox."""
    names = [("zeta", "Zeta", None), ("archive", "Archive", "archive"),
             ("deleteditems", "Deleted Items", "deleteditems"), ("apples", "Apples", None),
             ("sentitems", "Sent Items", "sentitems"), ("drafts", "Drafts", "drafts"),
             ("inbox", "Inbox", "inbox")]
    records = [folder(ALICE, "root", 1, parent_folder_key=None, display_name="Top")]
    records += [folder(ALICE, key, 1, display_name=name, distinguished_name=well_known)
                for key, name, well_known in names]
    records += [
        message(ALICE, f"m{i:03}", 1, subject=f"Weekly report {i:03}",
                datetime_received=T0 - (i + 1) * HOUR)
        for i in range(INBOX_SIZE)
    ]
    records += [
        message(ALICE, "sent1", 1, folder_key="sentitems", subject="Lunch on Friday?",
                sender={"name": "Alice", "email_address": ALICE},
                to_recipients=[{"name": "Dave Receiver", "email_address": "dave@example.org"}]),
        message(ALICE, "old-trash", 1, folder_key="deleteditems", subject="Ancient newsletter",
                deleted=True, deleted_time=T0 + 1000, delete_kind="MovedToDeletedItems"),
        message(ALICE, "gone", 1, folder_key="inbox", subject="Fresh spam"),
        message(ALICE, "gone", 2, folder_key="deleteditems", last_known_folder_key="inbox",
                subject="Fresh spam", deleted=True, deleted_time=T0 + 5 * HOUR,
                delete_kind="MovedToDeletedItems", observed_time=T0 + 5 * HOUR),
    ]
    assert archive.ingest(batch(*records)).status_code == 200
    return archive


def _rows(page: Page) -> list[str]:
    return page.locator("#messages tbody tr td.subject a").all_inner_texts()


def test_paging_keeps_its_place(browser: Browser, mailbox: RunningArchive) -> None:
    """Page 2 of the Inbox: selecting a message, going back and forward and reloading keep
    page 2; Newer and Older links walk the pages; the position is shown."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("#position")).to_have_text(f"1–50 of {INBOX_SIZE + 1}")
    expect(page.locator("#newer")).to_have_count(0)
    page.click("#older")
    expect(page.locator("#position")).to_have_text(f"51–100 of {INBOX_SIZE + 1}")
    second = _rows(page)
    assert "cursor=" in page.url
    page.locator("#messages tbody tr", has_text="Weekly report 060").locator("a").click()
    expect(page.locator("#detail h2")).to_have_text("Weekly report 060")
    assert "cursor=" in page.url
    assert _rows(page) == second
    expect(page.locator("#messages tr.selected")).to_contain_text("Weekly report 060")
    page.reload()
    assert _rows(page) == second
    expect(page.locator("#messages tr.selected")).to_contain_text("Weekly report 060")
    page.go_back()
    expect(page.locator("#detail h2")).to_have_count(0)
    assert _rows(page) == second
    page.go_forward()
    expect(page.locator("#detail h2")).to_have_text("Weekly report 060")
    shot(page, "10-page-two-selected")
    page.click("#older")
    expect(page.locator("#position")).to_have_text(f"101–{INBOX_SIZE + 1} of {INBOX_SIZE + 1}")
    expect(page.locator("#older")).to_have_count(0)
    page.click("#newer")
    expect(page.locator("#position")).to_have_text(f"51–100 of {INBOX_SIZE + 1}")
    assert _rows(page) == second
    page.click("#newer")
    expect(page.locator("#position")).to_have_text(f"1–50 of {INBOX_SIZE + 1}")
    page.close()
