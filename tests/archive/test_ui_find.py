"""Finding things in the web UI (issue 15), in Debian's headless Chromium: filters that keep
their place across pages and sorts, a search with a Folder column, a scope and a clear button,
a conversation across folders, CSV and JSON exports under the usual grants, and axe-core's
check of every page. One archive, seeded once, serves the whole module. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, expect

from archive import accounts
from archive.accounts import add_token, add_user
from archive.settings import ArchiveSettings
from archive.store.engine import open_engine
from archive.web.app import create_app
from tests.archive.axe import assert_accessible, blocking_violations, install
from tests.archive.conftest import PASSWORD, RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message
from tests.archive.server import ThreadedServer
from tests.archive.test_ui import ALICE, browser, shot, sign_in

__all__ = ["browser"]  # the shared headless Chromium, one per module
BOB = "bob@example.com"
DASH = "\N{EN DASH}"
REPORTS = 120  # Weekly reports in the Inbox: every third read, every tenth flagged
EXPORT_MAX = 100
DANA = {"name": "Dana Planner", "email_address": "dana@example.org"}
EARLY = T0 - 200 * HOUR  # 2023-11-06: before every report


def _seed() -> list[dict[str, Any]]:
    """Alice: the well-known folders and Projects; 120 reports; a conversation about the Q4
    budget across the Inbox, Projects and Sent Items, one of them deleted; an invoice with an
    attachment; a subject a spreadsheet would run. Bob: one message."""
    names = [("inbox", "Inbox", "inbox"), ("sentitems", "Sent Items", "sentitems"),
             ("deleteditems", "Deleted Items", "deleteditems"), ("projects", "Projects", None)]
    records = [folder(ALICE, "root", 1, parent_folder_key=None, display_name="Top")]
    records += [folder(ALICE, key, 1, display_name=name, distinguished_name=well_known)
                for key, name, well_known in names]
    records += [
        message(ALICE, f"r{i:03}", 1, subject=f"Weekly report {i:03}",
                datetime_received=T0 - (i + 1) * HOUR, is_read=i % 3 == 0,
                flag_status="Flagged" if i % 10 == 0 else "NotFlagged")
        for i in range(REPORTS)
    ]
    thread = {"conversation_id": "conv-budget"}
    records += [
        message(ALICE, "kickoff", 1, subject="Budget Q4 kickoff", sender=DANA,
                datetime_received=EARLY, has_attachments=True, flag_status="Flagged", **thread),
        message(ALICE, "reply", 1, folder_key="projects", subject="Re: Budget Q4 kickoff",
                sender={"name": "Erin", "email_address": "erin@example.org"}, is_read=True,
                datetime_received=EARLY + HOUR, **thread),
        message(ALICE, "mine", 1, folder_key="sentitems", subject="Re: Budget Q4 kickoff",
                sender={"name": "Alice", "email_address": ALICE}, to_recipients=[DANA],
                is_read=True, datetime_received=EARLY + 2 * HOUR, **thread),
        message(ALICE, "fwd", 1, subject="Fwd: Budget Q4 kickoff", is_read=True,
                datetime_received=EARLY + 3 * HOUR, **thread),
        message(ALICE, "fwd", 2, folder_key="deleteditems", last_known_folder_key="inbox",
                subject="Fwd: Budget Q4 kickoff", is_read=True, deleted=True,
                deleted_time=T0 + 5 * HOUR, delete_kind="SoftDelete",
                datetime_received=EARLY + 3 * HOUR, observed_time=T0 + 5 * HOUR, **thread),
        message(ALICE, "invoice", 1, subject="Invoice 1234", is_read=True, has_attachments=True,
                sender={"name": "Billing", "email_address": "billing@vendor.example"},
                datetime_received=EARLY - HOUR),
        message(ALICE, "formula", 1, folder_key="projects", subject="=HYPERLINK(\"x\")",
                is_read=True, datetime_received=EARLY - 2 * HOUR),
        folder(BOB, "inbox", 1, display_name="Inbox", distinguished_name="inbox"),
        message(BOB, "b1", 1, subject="Bob's own plan"),
    ]
    return records


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningArchive]:
    """The archive, served once for the module, with alice, bob and an admin."""
    where = tmp_path_factory.mktemp("find")
    settings = ArchiveSettings(
        database_url=f"sqlite:///{where / 'archive.sqlite3'}",  # type: ignore[arg-type]
        accept_mailbox_domains=("example.com",),
        cookie_secure=False,
        audit_log=where / "audit.jsonl",
        export_max_messages=EXPORT_MAX,
    )
    engine = open_engine(settings.database_url.get_secret_value())
    server = ThreadedServer(create_app(settings, engine))
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
        for user, admin in ((ALICE, False), (BOB, False), ("admin", True)):
            add_user(engine, user, PASSWORD, admin=admin, mailboxes=[])
    running = RunningArchive(server.url, engine, add_token(engine, "test"), settings)
    assert running.ingest(batch(*_seed())).status_code == 200
    try:
        yield running
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def alice_context(browser: Browser, seeded: RunningArchive) -> Iterator[BrowserContext]:
    """Alice signed in once, in New York's time zone."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="America/New_York"
    )
    install(context)
    sign_in(context.new_page(), seeded.url, ALICE)
    yield context
    context.close()


@pytest.fixture
def alice(alice_context: BrowserContext) -> Page:
    """A page of Alice's session."""
    return alice_context.pages[0]


def _box(seeded: RunningArchive, query: str = "") -> str:
    return f"{seeded.url}/mailbox/{ALICE}{query}"


def _rows(page: Page) -> list[str]:
    return page.locator("#messages tbody tr td.subject a").all_inner_texts()


def _position(page: Page, first: int, last: int, total: int) -> None:
    expect(page.locator("#position")).to_have_text(f"{first}{DASH}{last} of {total}")


def test_filters_keep_their_place(alice: Page, seeded: RunningArchive) -> None:
    """Unread only, across pages and a sort; a sender; flagged; with attachments; deleted
    only; a day in the browser's time zone; each in the URL, and cleared in one click."""
    alice.goto(_box(seeded))
    inbox = REPORTS + 3
    _position(alice, 1, 50, inbox)
    alice.click("#filters summary")
    alice.check("#f-unread")
    alice.click("#filter-go")
    unread = REPORTS - REPORTS // 3 + 1
    _position(alice, 1, 50, unread)
    expect(alice.locator("#filters summary")).to_have_text("Filters (1 on)")
    alice.click("#older")
    _position(alice, 51, unread, unread)
    assert "unread=1" in alice.url
    expect(alice.locator("#f-unread")).to_be_checked()
    alice.click("#sort-subject")
    _position(alice, 1, 50, unread)
    assert _rows(alice)[:2] == ["Budget Q4 kickoff", "Weekly report 001"]
    alice.click("#older")
    _position(alice, 51, unread, unread)
    assert "sort=subject" in alice.url
    assert "unread=1" in alice.url
    alice.fill("#f-sender", "dana")
    alice.click("#filter-go")
    assert _rows(alice) == ["Budget Q4 kickoff"]
    alice.click("#filter-clear")
    _position(alice, 1, 50, inbox)
    assert "sort=subject" in alice.url  # the order is not a filter
    alice.goto(_box(seeded, "?flagged=1"))
    _position(alice, 1, REPORTS // 10 + 1, REPORTS // 10 + 1)
    alice.goto(_box(seeded, "?attachments=1"))
    assert _rows(alice) == ["Budget Q4 kickoff", "Invoice 1234"]
    alice.goto(_box(seeded, "?deleted=only"))
    assert _rows(alice) == ["Fwd: Budget Q4 kickoff"]
    alice.select_option("#f-deleted", "hide")
    alice.click("#filter-go")
    _position(alice, 1, 50, inbox - 1)
    alice.click("#filter-clear")
    alice.click("#filters summary")
    # 2023-11-14 in New York is 05:00 UTC that day to 05:00 UTC the next; the reports were
    # received hourly back from 21:13 UTC, so 0 to 16 fall on it.
    alice.fill("#f-since", "2023-11-14")
    alice.fill("#f-until", "2023-11-14")
    alice.click("#filter-go")
    _position(alice, 1, 17, 17)
    assert "since=2023-11-14T05%3A00%3A00.000Z" in alice.url
    expect(alice.locator("#f-since")).to_have_value("2023-11-14")
    expect(alice.locator("#f-until")).to_have_value("2023-11-14")
    alice.check("#f-flagged")
    alice.click("#filter-go")
    assert _rows(alice) == ["Weekly report 000", "Weekly report 010"]
    shot(alice, "20-filters")
    assert_accessible(alice)


def test_search_scope_folder_column_and_clear(alice: Page, seeded: RunningArchive) -> None:
    """A search of the whole mailbox lists each hit's folder; scoped to the folder it finds
    the folder's only; Clear goes back to the folder as it was."""
    alice.goto(_box(seeded, "?folder=inbox&sort=-size"))
    alice.fill("#search", "budget")
    alice.press("#search", "Enter")
    expect(alice.locator("#list-title")).to_contain_text("Search results for “budget”")
    expect(alice.locator("#messages thead")).to_contain_text("Folder")
    folders = alice.locator("#messages tbody td.folder").all_inner_texts()
    assert sorted(folders) == ["Inbox", "Inbox", "Projects", "Sent Items"]
    expect(alice.locator("#messages tbody tr.deleted")).to_contain_text("Fwd: Budget")
    shot(alice, "21-search-whole-mailbox")
    assert_accessible(alice)
    alice.select_option("#scope", "folder")
    alice.click("#search-go")
    expect(alice.locator("#list-title")).to_contain_text("in Inbox")
    assert sorted(_rows(alice)) == ["Budget Q4 kickoff", "Fwd: Budget Q4 kickoff"]
    expect(alice.locator("#messages thead")).not_to_contain_text("Folder")
    alice.click("#search-clear")
    expect(alice.locator("#list-title")).to_have_text("Inbox")
    expect(alice.locator("#search")).to_have_value("")
    assert "sort=-size" in alice.url


def test_conversation_across_folders(browser: Browser, alice: Page, seeded: RunningArchive
                                     ) -> None:
    """"Show conversation" lists the thread wherever its messages are, the deleted one marked;
    on a phone in dark mode too."""
    alice.goto(_box(seeded, "?sender=dana"))
    alice.locator("#messages tbody tr td.subject a").first.click()
    alice.click("#show-conversation")
    expect(alice.locator("#list-title")).to_have_text("Conversation: Budget Q4 kickoff")
    _position(alice, 1, 4, 4)
    folders = alice.locator("#messages tbody td.folder").all_inner_texts()
    assert folders == ["Inbox", "Sent Items", "Projects", "Inbox"]  # newest first
    deleted = alice.locator("#messages tbody tr.deleted")
    expect(deleted).to_have_count(1)
    expect(deleted).to_contain_text("Deleted")
    deleted.locator("td.subject a").click()
    expect(alice.locator("#detail h2")).to_have_text("Fwd: Budget Q4 kickoff")
    _position(alice, 1, 4, 4)  # still the conversation
    shot(alice, "22-conversation")
    assert_accessible(alice)
    alice.click("#conversation-close")
    assert _rows(alice) == ["Budget Q4 kickoff"]  # back to the filtered folder
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    install(phone)
    page = phone.new_page()
    sign_in(page, seeded.url, ALICE)
    page.goto(alice.url.replace("sender=dana", "q=budget"))
    expect(page.locator("#messages tbody .in-folder").first).to_have_text("in Inbox")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "23-phone-dark-search")
    assert_accessible(page)
    kickoff = page.locator("#messages tbody tr", has_text="Budget Q4 kickoff").first
    kickoff.locator("td.subject a").click()
    page.click("#show-conversation")
    page.click("#messages tbody tr.deleted td.subject a")
    expect(page.locator("#detail .deleted-note")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "24-phone-dark-conversation-deleted")
    assert_accessible(page)
    phone.close()


def _get(client: httpx.Client, path: str) -> httpx.Response:
    return client.get(f"/api/v1/mailboxes/{path}")


def test_exports_are_metadata_under_the_grants(alice: Page, seeded: RunningArchive) -> None:
    """The page's own export links give its list as CSV and JSON (a formula-looking subject
    defused); only the owner and admins get one; too large or malformed is a 4xx."""
    alice.goto(_box(seeded, "?folder=projects"))
    with alice.expect_download() as download:
        alice.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["subject"] for r in rows] == ["Re: Budget Q4 kickoff", "'=HYPERLINK(\"x\")"]
    assert rows[0]["folder"] == "Projects"
    assert rows[0]["sender_address"] == "erin@example.org"
    with seeded.client(ALICE) as client:
        found = json.loads(_get(client, f"{ALICE}/export.json?q=budget").text)
        assert {(m["folder"], m["deleted"]) for m in found} == {
            ("Inbox", False), ("Projects", False), ("Sent Items", False), ("Inbox", True)}
        assert "body" not in found[0]
        big = _get(client, f"{ALICE}/export.csv?folder=inbox")
        assert big.status_code == 400
        assert f"at most {EXPORT_MAX}" in big.json()["detail"]
        assert _get(client, f"{ALICE}/export.csv?folder=inbox&unread=1").status_code == 200
        assert _get(client, f"{ALICE}/export.csv?since=yesterday").status_code == 400
        assert _get(client, f"{ALICE}/export.xml").status_code == 400
        assert _get(client, f"{ALICE}/export.json?conversation=999999").status_code == 404
        assert _get(client, f"{BOB}/export.csv").status_code == 403
        assert _get(client, "nobody@example.com/export.json").status_code == 403
    with seeded.client(BOB) as client:
        assert _get(client, f"{ALICE}/export.json?q=budget").status_code == 403
    with seeded.client("admin") as client:
        assert _get(client, "nobody@example.com/export.json").status_code == 404
        theirs = _get(client, f"{ALICE}/export.csv?folder=projects")
        assert theirs.status_code == 200
        assert theirs.text.count("\n") == 3  # the header and two messages
        thread = _get(client, f"{ALICE}/export.json?q=kickoff")
        assert thread.status_code == 200
        assert len(json.loads(thread.text)) == 4
    assert httpx.get(f"{seeded.url}/api/v1/mailboxes/{ALICE}/export.csv").status_code == 401


def test_every_page_passes_axe_and_the_keyboard(
    browser: Browser, alice: Page, seeded: RunningArchive
) -> None:
    """No serious or critical axe violation on the sign-in, mailbox, as-of, error, admin,
    audit, users, tokens and mailboxes pages (those with colours of their own in dark mode too; the
    mailbox's dark pages are checked above); every control of the mailbox page is reached
    by Tab."""
    problems: dict[str, list[str]] = {}
    pages = [("mailboxes", "/"), ("mailbox", f"/mailbox/{ALICE}?message=1"),
             ("as-of", f"/mailbox/{ALICE}?at=2023-11-14T22:14"),
             ("error", f"/mailbox/{ALICE}?at=soon"), ("admin", "/admin"),
             ("audit", "/admin/audit"), ("users", "/admin/users"), ("tokens", "/tokens")]
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, color_scheme=scheme
        )
        install(context)
        page = context.new_page()
        if scheme == "light":
            page.goto(f"{seeded.url}/login")
            problems["light sign-in"] = blocking_violations(page)
        page.goto(f"{seeded.url}/login")
        page.fill("input[name=username]", "nobody")
        page.fill("input[name=password]", "wrong")
        page.click("#sign-in")
        expect(page.locator(".error")).to_be_visible()
        problems[f"{scheme} sign-in refused"] = blocking_violations(page)
        sign_in(page, seeded.url, "admin")
        for name, path in pages if scheme == "light" else pages[2:5]:
            page.goto(f"{seeded.url}{path}")
            problems[f"{scheme} {name}"] = blocking_violations(page)
        context.close()
    listed = [f"{where}: {problem}" for where, found in problems.items() for problem in found]
    assert not listed, "\n".join(listed)
    alice.goto(_box(seeded, "?folder=projects&message=1"))
    alice.click("#filters summary")
    reached = _tab_through(alice)
    controls = alice.evaluate(
        """() => [...document.querySelectorAll(
                'a[href], button, input:not([type=hidden]), select, summary')]
            .filter((e) => e.offsetParent !== null).map((e) => e.outerHTML.slice(0, 80))"""
    )
    assert [c for c in controls if c not in reached] == []
    shot(alice, "25-keyboard-filters")


def _tab_through(page: Page, most: int = 300) -> set[str]:
    """Everything Tab reaches from the top, once round the page (a date input takes a Tab
    per part)."""
    page.focus("a.brand")
    here = "() => document.activeElement ? document.activeElement.outerHTML.slice(0, 80) : ''"
    reached = [page.evaluate(here)]
    for _ in range(most):
        page.keyboard.press("Tab")
        now = page.evaluate(here)
        if now == reached[0]:
            break
        reached.append(now)
    return set(reached)
