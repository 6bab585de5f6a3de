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
DASH = "\N{EN DASH}"  # of the position, "51 to 100 of 131"


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
                datetime_received=T0 - (i + 1) * HOUR, size=_size(i))
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


def _size(i: int) -> int:
    return 2048 + (i * 7919) % 100_000


def _rows(page: Page) -> list[str]:
    return page.locator("#messages tbody tr td.subject a").all_inner_texts()


def test_paging_keeps_its_place(browser: Browser, mailbox: RunningArchive) -> None:
    """Page 2 of the Inbox: selecting a message, going back and forward and reloading keep
    page 2; Newer and Older links walk the pages; the position is shown."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("#position")).to_have_text(f"1{DASH}50 of {INBOX_SIZE + 1}")
    expect(page.locator("#newer")).to_have_count(0)
    page.click("#older")
    expect(page.locator("#position")).to_have_text(f"51{DASH}100 of {INBOX_SIZE + 1}")
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
    expect(page.locator("#position")).to_have_text(f"101{DASH}{INBOX_SIZE + 1} of {INBOX_SIZE + 1}")
    expect(page.locator("#older")).to_have_count(0)
    page.click("#newer")
    expect(page.locator("#position")).to_have_text(f"51{DASH}100 of {INBOX_SIZE + 1}")
    assert _rows(page) == second
    page.click("#newer")
    expect(page.locator("#position")).to_have_text(f"1{DASH}50 of {INBOX_SIZE + 1}")
    page.close()


def test_folders_people_counts_and_local_times(
    browser: Browser, mailbox: RunningArchive
) -> None:
    """Well-known folders first, then Alice's own by name; Sent Items lists whom she wrote to;
    the counts have a legend; times are in the browser's zone with UTC on hover."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="America/New_York"
    )
    page = context.new_page()
    sign_in(page, mailbox.url, ALICE)
    names = page.locator("#folders .name").all_inner_texts()
    assert names == ["Top", "Inbox", "Drafts", "Sent Items", "Deleted Items", "Archive",
                     "Apples", "Zeta"]
    expect(page.locator("#legend")).to_contain_text("messages")
    expect(page.locator("#legend")).to_contain_text("unread")
    first = page.locator("#messages tbody tr", has_text="Weekly report 000").locator("time")
    expect(first).to_have_text("2023-11-14 16:13 EST")  # T0 - 1 h = 21:13 UTC
    expect(first).to_have_attribute("title", "2023-11-14 21:13 UTC")
    expect(page.locator("#asof-tz")).to_have_text("(EST)")
    page.click("#folders a[data-folder=sentitems]")
    expect(page.locator("#messages thead")).to_contain_text("To")
    expect(page.locator("#messages thead")).not_to_contain_text("From")
    expect(page.locator("#messages tbody")).to_contain_text("Dave Receiver")
    shot(page, "11-sent-items-local-time")
    context.close()


def test_honest_about_what_it_holds(browser: Browser, mailbox: RunningArchive) -> None:
    """Metadata only, said once; a message already deleted at the first sync is "deleted
    before replication started", not deleted at the sync's time; a time before any data says
    so; a bad ``at=`` is a readable error."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("#scope-note")).to_contain_text("not its body")
    spam = page.locator("#messages tbody tr", has_text="Fresh spam")
    expect(spam).to_contain_text("Deleted 2023-11-15 03:13")
    page.click("#folders a[data-folder=deleteditems]")
    old = page.locator("#messages tbody tr", has_text="Ancient newsletter")
    expect(old).to_contain_text("Deleted before replication started")
    old.locator("td.subject a").click()
    expect(page.locator("#detail .deleted-note")).to_contain_text(
        "Deleted before replication started"
    )
    expect(page.locator("#detail .deleted-note")).to_contain_text("not known")
    shot(page, "12-deleted-before-replication")
    base = f"{mailbox.url}/mailbox/{ALICE}"
    page.goto(f"{base}?at=2020-01-01T00:00")
    expect(page.locator("#before-data")).to_contain_text("Nothing had been replicated")
    expect(page.locator("#before-data time")).to_have_attribute(
        "title", "2023-11-14 22:13 UTC"
    )
    shot(page, "13-before-any-data")
    reply = page.goto(f"{base}?at=last+tuesday")
    assert reply is not None
    assert reply.status == 400
    expect(page.locator("main")).to_contain_text("'last tuesday': not a date and time")
    shot(page, "14-bad-at")
    page.close()


def test_phone_and_dark(browser: Browser, mailbox: RunningArchive) -> None:
    """At 390 px the panes stack with a way back and nothing overflows sideways; a dark
    colour-scheme preference gives a dark page."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    page = context.new_page()
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("#position")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    folders = page.locator("#folders").bounding_box()
    messages = page.locator("#messages").bounding_box()
    assert folders is not None
    assert messages is not None
    assert folders["y"] + folders["height"] <= messages["y"] + 1
    expect(page.locator("#detail")).to_be_hidden()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert _luminance(background) < 0.2, background
    shot(page, "15-phone-dark-list")
    page.locator("#messages tbody tr", has_text="Weekly report 003").locator("a").click()
    expect(page.locator("#detail h2")).to_have_text("Weekly report 003")
    expect(page.locator("#messages")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "16-phone-dark-detail")
    page.click("#back")
    expect(page.locator("#messages")).to_be_visible()
    expect(page.locator("#detail")).to_be_hidden()
    context.close()
    light = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(light, mailbox.url, ALICE)
    assert light.evaluate("document.documentElement.scrollWidth") <= 390
    shot(light, "17-phone-light-list")
    light.close()


def _luminance(css_rgb: str) -> float:
    red, green, blue = (int(n) / 255 for n in re.findall(r"\d+", css_rgb)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_keyboard_moves_and_opens(browser: Browser, mailbox: RunningArchive) -> None:
    """j/k and the arrows move through the list, Enter opens; past the end of a page j goes
    to the older page."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    page.wait_for_load_state("load")  # app.js is listening
    page.keyboard.press("j")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("j")
    expect(page.locator("#messages tr.focused")).to_contain_text("Weekly report 002")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page.locator("#detail h2")).to_have_text("Weekly report 001")
    page.wait_for_load_state("load")  # Enter opened a new page: its app.js must be listening
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("#detail h2")).to_have_text("Weekly report 000")
    shot(page, "18-keyboard")
    page.locator("#messages tbody tr", has_text="Weekly report 048").locator("a").click()
    expect(page.locator("#detail h2")).to_have_text("Weekly report 048")
    page.wait_for_load_state("load")
    page.keyboard.press("j")  # 048 is the last row of page 1
    expect(page.locator("#position")).to_have_text(f"51{DASH}100 of {INBOX_SIZE + 1}")
    page.close()


def test_sortable_columns_page_too(browser: Browser, mailbox: RunningArchive) -> None:
    """Subject A to Z and back, pages of a sorted list forwards and backwards, size largest
    first; the received order is the default and the header says which order is on."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("th:has(#sort-received)")).to_have_attribute("aria-sort", "descending")
    page.click("#sort-subject")
    expect(page.locator("th:has(#sort-subject)")).to_have_attribute("aria-sort", "ascending")
    assert _rows(page)[:2] == ["Fresh spam", "Weekly report 000"]
    page.click("#sort-subject")
    expect(page.locator("th:has(#sort-subject)")).to_have_attribute("aria-sort", "descending")
    first = _rows(page)
    assert first[0] == f"Weekly report {INBOX_SIZE - 1:03}"
    page.click("#older")
    expect(page.locator("#position")).to_have_text(f"51{DASH}100 of {INBOX_SIZE + 1}")
    assert _rows(page)[0] == f"Weekly report {INBOX_SIZE - 51:03}"
    page.locator("#messages tbody tr", has_text="Weekly report 060").locator("a").click()
    expect(page.locator("#detail h2")).to_have_text("Weekly report 060")
    expect(page.locator("#position")).to_have_text(f"51{DASH}100 of {INBOX_SIZE + 1}")
    page.click("#newer")
    assert _rows(page) == first
    page.click("#sort-size")
    expect(page.locator("th:has(#sort-size)")).to_have_attribute("aria-sort", "descending")
    biggest = sorted(range(INBOX_SIZE), key=_size, reverse=True)[:3]
    assert _rows(page)[:3] == [f"Weekly report {i:03}" for i in biggest]
    shot(page, "19-sorted-by-size")
    page.click("#sort-received")
    expect(page.locator("th:has(#sort-received)")).to_have_attribute("aria-sort", "descending")
    assert "sort=" not in page.url
    page.close()
