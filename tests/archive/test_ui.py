"""The web UI in Debian's headless Chromium (Playwright drives it; nothing is downloaded):
sign in, browse, find a deleted message at its last folder, look at the past, stay out of
others' mailboxes. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.archive.conftest import PASSWORD, RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message, status

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALICE = "alice@example.com"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def mailbox(archive: RunningArchive) -> RunningArchive:
    """Alice's mailbox: Inbox with mail, Projects (created early), Receipts (created later),
    a message deleted from Projects; Bob has a mailbox too."""
    records = [
        folder(ALICE, "root", 1, parent_folder_key=None, display_name="Top of Information Store"),
        folder(ALICE, "inbox", 1, display_name="Inbox", distinguished_name="inbox"),
        folder(ALICE, "projects", 1, display_name="Projects", parent_folder_key="inbox"),
        folder(ALICE, "deleteditems", 1, display_name="Deleted Items"),
        folder(ALICE, "receipts", 100, display_name="Receipts"),
        message(
            ALICE,
            "plan",
            1,
            folder_key="projects",
            subject="Project plan Q3",
            datetime_received=T0 - 30 * HOUR,
        ),
        message(
            ALICE,
            "plan",
            2,
            folder_key="projects",
            subject="Project plan Q3",
            datetime_received=T0 - 30 * HOUR,
            is_read=True,
        ),
        message(
            ALICE,
            "old-budget",
            1,
            folder_key="projects",
            subject="Budget draft",
            datetime_received=T0 - 40 * HOUR,
        ),
        message(
            ALICE,
            "old-budget",
            90,
            folder_key="deleteditems",
            last_known_folder_key="projects",
            subject="Budget draft",
            deleted=True,
            deleted_time=T0 + 90_000,
            delete_kind="MovedToDeletedItems",
            datetime_received=T0 - 40 * HOUR,
        ),
        status(ALICE, "Extractor", T0 + 100_000, state="Live", lag_ms=1200),
        status(
            ALICE,
            "Listener",
            T0 + 100_000,
            state="Throttled",
            last_error="ErrorServerBusy: back off 30 s",
            last_error_time=T0 + 50_000,
        ),
        folder("bob@example.com", "inbox", 1, display_name="Inbox", distinguished_name="inbox"),
        message("bob@example.com", "b1", 1, subject="Bob's secret plan"),
    ]
    records += [
        message(
            ALICE, f"m{i}", 1, subject=f"Weekly report {i}", datetime_received=T0 - (i + 1) * HOUR
        )
        for i in range(60)
    ]
    assert archive.ingest(batch(*records)).status_code == 200
    return archive


def sign_in(page: Page, url: str, username: str) -> None:
    """Use the sign-in form."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")


def shot(page: Page, name: str) -> None:
    """Save a screenshot as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_user_browses_finds_deleted_and_looks_back(
    browser: Browser, mailbox: RunningArchive
) -> None:
    """Sign in, open a folder, read a message, find a deleted one at its last folder, then see
    the tree as it was before Receipts existed."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, mailbox.url, ALICE)
    expect(page.locator("#banner")).to_contain_text("last replicated")
    expect(page.locator("#messages")).to_contain_text("Weekly report 0")
    shot(page, "01-inbox")

    page.click("#folders a[data-folder=projects]")
    expect(page.locator("#messages .listhead")).to_contain_text("Projects")
    page.click("text=Project plan Q3")
    expect(page.locator("#detail h2")).to_have_text("Project plan Q3")
    expect(page.locator("#detail")).to_contain_text("Carol Sender")

    deleted_row = page.locator("#messages tr.deleted", has_text="Budget draft")
    expect(deleted_row).to_contain_text("Deleted")
    deleted_row.locator("a").click()
    expect(page.locator("#detail .deleted-note")).to_contain_text("Shown here in its last folder")
    expect(page.locator("#detail .history")).to_contain_text("Deleted Items")
    shot(page, "02-deleted-at-last-folder")

    expect(page.locator("#folders")).to_contain_text("Receipts")
    page.fill("#asof", "2023-11-14T22:14")  # T0 + 40 s, before Receipts and the deletion
    page.click("#asof-form button")
    expect(page.locator("#banner")).to_contain_text("as it was on 2023-11-14 22:14 UTC")
    expect(page.locator("#folders")).not_to_contain_text("Receipts")
    expect(page.locator("#messages tr.deleted")).to_have_count(0)
    expect(page.locator("#messages")).to_contain_text("Budget draft")
    shot(page, "03-as-it-was")
    page.close()


def test_second_user_cannot_open_first_users_mailbox(
    browser: Browser, mailbox: RunningArchive
) -> None:
    """Bob signed in gets a 403 page for Alice's mailbox and never sees her messages."""
    page = browser.new_page()
    sign_in(page, mailbox.url, "bob@example.com")
    expect(page.locator("#messages")).to_contain_text("Bob's secret plan")
    reply = page.goto(f"{mailbox.url}/mailbox/{ALICE}?folder=projects")
    assert reply is not None
    assert reply.status == 403
    expect(page.locator("body")).not_to_contain_text("Project plan")
    api = page.request.get(f"{mailbox.url}/api/v1/mailboxes/{ALICE}/folders")
    assert api.status == 403
    shot(page, "04-other-mailbox-refused")
    page.close()


def test_admin_page_shows_every_mailbox(browser: Browser, mailbox: RunningArchive) -> None:
    """The admin sees each mailbox's state, counts, last change, lag and last error."""
    page = browser.new_page(viewport={"width": 1400, "height": 600})
    sign_in(page, mailbox.url, "admin")
    page.click("#admin-link")
    table = page.locator("#status")
    expect(table).to_contain_text(ALICE)
    expect(table).to_contain_text("bob@example.com")
    expect(table).to_contain_text("Listener: Throttled")
    expect(table).to_contain_text("ErrorServerBusy")
    shot(page, "05-admin")
    page.close()
    bob = browser.new_page()
    sign_in(bob, mailbox.url, "bob@example.com")
    reply = bob.goto(f"{mailbox.url}/admin")
    assert reply is not None
    assert reply.status == 403
    bob.close()
