"""API tokens and user administration in Debian's headless Chromium: Alice makes a token on
/tokens, uses it in /docs (Swagger UI served by the archive itself, every other origin blocked,
no CSP violation), and revokes it; the admin removes a user on /admin/users. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route, expect

from tests.archive.conftest import RunningArchive
from tests.archive.records import batch, folder, message
from tests.archive.test_ui import ALICE, browser, shot, sign_in

__all__ = ["browser"]  # the shared headless Chromium, one per module
BOB = "bob@example.com"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_token_made_in_the_ui_works_in_offline_docs_and_is_revoked(
    browser: Browser, archive: RunningArchive
) -> None:
    """The token is shown once, authorises "Try it out" in /docs for Alice's mailbox only, and
    is refused once revoked; /docs loads nothing from another origin and breaks no CSP rule."""
    records = [folder(ALICE, "inbox", 1, display_name="Inbox"), message(ALICE, "m1", 1)]
    assert archive.ingest(batch(*records)).status_code == 200
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    problems: list[str] = []

    def only_the_archive(route: Route) -> None:
        if route.request.url.startswith(archive.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.route("**/*", only_the_archive)
    page.on("console", watch)
    sign_in(page, archive.url, ALICE)
    page.click("#tokens-link")
    page.fill("input[name=name]", "outage export")
    page.click("#create-token")
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("mfr_pat_")
    expect(page.locator("#tokens")).to_contain_text("outage export")
    shot(page, "30-api-token-created")
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)  # shown once

    page.goto(f"{archive.url}/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Mailbox Folder Replication")
    page.click("button.authorize")
    page.locator("input[type=text]").last.fill(token)  # the apiToken (bearer) field
    page.locator(".auth-container", has_text="apiToken").locator("button.authorize").click()
    page.click("button.btn-done")
    operation = page.locator("#operations-browse-list_mailboxes_api_v1_mailboxes_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table tr.response .response-col_status")
    expect(answer).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text(ALICE)
    shot(page, "31-docs-offline-with-token")
    assert elsewhere == []
    assert [p for p in problems if "Content Security Policy" in p] == []

    page.goto(f"{archive.url}/tokens")
    page.click("#tokens button.revoke")
    expect(page.locator("#tokens")).to_contain_text("You have no API tokens.")
    refused = httpx.get(
        f"{archive.url}/api/v1/mailboxes", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401
    page.close()


def test_admin_lists_users_and_tokens_and_removes_a_user(
    browser: Browser, archive: RunningArchive
) -> None:
    """/admin/users lists every user with their mailboxes and tokens; Remove takes Bob out, and
    his session ends with him."""
    with archive.client(BOB) as bob:
        page = browser.new_page(viewport={"width": 1280, "height": 700})
        sign_in(page, archive.url, "admin")
        page.click("#users-link")
        users = page.locator("#users")
        expect(users).to_contain_text(BOB)
        expect(page.locator("#ingest-tokens")).to_contain_text("test")
        shot(page, "32-admin-users")
        page.locator("#users tr", has_text=BOB).locator("button.remove").click()
        expect(users).not_to_contain_text(BOB)
        expect(users).to_contain_text(ALICE)
        assert bob.get("/api/v1/session").status_code == 401
        page.close()
