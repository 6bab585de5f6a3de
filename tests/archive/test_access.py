"""Who may read what: own mailboxes, delegations, admins; sessions and their cookie."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from archive.accounts import add_user, set_password
from archive.settings import ArchiveSettings
from archive.web.app import create_app
from tests.archive.conftest import PASSWORD, RunningArchive
from tests.archive.records import batch, folder, message
from tests.archive.server import ThreadedServer

ALICE = "alice@example.com"
BOB = "bob@example.com"


def fill(archive: RunningArchive) -> int:
    """Give Alice and Bob a folder and a message each; returns Alice's message id."""
    reply = archive.ingest(
        batch(
            folder(ALICE, "inbox", 1),
            message(ALICE, "a1", 1),
            folder(BOB, "inbox", 1),
            message(BOB, "b1", 1),
        )
    )
    assert reply.status_code == 200
    with archive.client(ALICE) as client:
        page = client.get(f"/api/v1/mailboxes/{ALICE}/messages").json()
    return int(page["items"][0]["id"])


def test_users_list_only_their_own_mailboxes(archive: RunningArchive) -> None:
    """Alice sees her mailbox; the admin sees everyone's."""
    fill(archive)
    with archive.client(ALICE) as client:
        assert [m["address"] for m in client.get("/api/v1/mailboxes").json()] == [ALICE]
    with archive.client("admin") as client:
        assert [m["address"] for m in client.get("/api/v1/mailboxes").json()] == [ALICE, BOB]


def test_second_user_cannot_read_first_users_mailbox(archive: RunningArchive) -> None:
    """Bob gets 403 on every route of Alice's mailbox, and 404 for her message through his."""
    alice_message = fill(archive)
    with archive.client(BOB) as client:
        for path in ("folders", "messages", f"messages/{alice_message}", "search?q=subject"):
            reply = client.get(f"/api/v1/mailboxes/{ALICE}/{path}")
            assert reply.status_code == 403, path
            assert "Subject" not in reply.text
        assert client.get(f"/api/v1/mailboxes/{BOB}/messages/{alice_message}").status_code == 404
        assert client.get("/api/v1/mailboxes/nobody@example.com/folders").status_code == 403
        assert client.get("/api/v1/admin/mailboxes").status_code == 403
    with archive.client("admin") as client:
        assert client.get("/api/v1/mailboxes/nobody@example.com/folders").status_code == 404
        assert client.get(f"/api/v1/mailboxes/{ALICE}/messages/{alice_message}").status_code == 200


def test_nobody_gets_in_without_signing_in(archive: RunningArchive) -> None:
    """No session, a wrong password or an unknown user: 401."""
    fill(archive)
    assert httpx.get(f"{archive.url}/api/v1/mailboxes/{ALICE}/folders").status_code == 401
    for username, password in ((ALICE, "wrong password"), ("mallory@example.com", PASSWORD)):
        reply = httpx.post(
            f"{archive.url}/api/v1/session", json={"username": username, "password": password}
        )
        assert reply.status_code == 401
        assert "set-cookie" not in reply.headers


def test_delegated_mailbox_is_readable(archive: RunningArchive) -> None:
    """A user granted Bob's mailbox reads it, and not Alice's."""
    fill(archive)
    add_user(archive.engine, "assistant@example.com", PASSWORD, admin=False, mailboxes=[BOB])
    with archive.client("assistant@example.com") as client:
        assert client.get(f"/api/v1/mailboxes/{BOB}/folders").status_code == 200
        assert client.get(f"/api/v1/mailboxes/{ALICE}/folders").status_code == 403


def test_password_change_ends_sessions(archive: RunningArchive) -> None:
    """Sessions signed before a password change are no longer accepted."""
    fill(archive)
    with archive.client(ALICE) as client:
        assert client.get("/api/v1/session").status_code == 200
        set_password(archive.engine, ALICE, "a brand new password")
        assert client.get("/api/v1/session").status_code == 401


def test_session_cookie_is_secure_httponly_samesite(settings: ArchiveSettings) -> None:
    """With default settings the session cookie is Secure, HttpOnly and SameSite=Lax."""
    assert ArchiveSettings().cookie_secure is True
    secure = ArchiveSettings(database_url=SecretStr(settings.database_url.get_secret_value()))
    app = create_app(secure, purge=False)
    server = ThreadedServer(app)
    server.start()
    try:
        add_user(app.state.archive.engine, ALICE, PASSWORD, admin=False, mailboxes=[])
        reply = httpx.post(
            f"{server.url}/api/v1/session", json={"username": ALICE, "password": PASSWORD}
        )
    finally:
        server.stop()
        app.state.archive.engine.dispose()
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=lax" in cookie
