"""Sign-in abuse and sessions: failures slow down then lock (per account, per address), admins
unlock, signing out ends the session on the server, forms refuse other sites, the cookie key
comes from a secret setting, and an audit log records it all."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import typer
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from archive.accounts import add_user
from archive.cli import command as archive_command
from archive.settings import ArchiveConfig, ArchiveSettings
from archive.store.tables import app_secrets
from archive.web.app import SESSION_COOKIE, create_app
from mfr.errors import ConfigError
from tests.archive.conftest import PASSWORD, RunningArchive
from tests.archive.records import batch, folder, message
from tests.archive.server import ThreadedServer

ALICE = "alice@example.com"
BOB = "bob@example.com"
EVIL = "http://evil.example"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def sign_in(url: str, username: str, password: str) -> httpx.Response:
    """One sign-in through the API."""
    return httpx.post(f"{url}/api/v1/session", json={"username": username, "password": password})


@pytest.fixture
def quick_lock(settings: ArchiveSettings) -> Iterator[RunningArchive]:
    """An archive whose delays are a millisecond, so the lock is reached at once: 5 failures
    lock an account, 8 an address."""
    fast = settings.model_copy(
        update={
            "sign_in_delay_s": 0.001,
            "sign_in_max_delay_s": 0.001,
            "sign_in_lock_after": 5,
            "sign_in_address_free_failures": 3,
            "sign_in_address_lock_after": 8,
        }
    )
    app = create_app(fast, purge=False)
    server = ThreadedServer(app)
    server.start()
    engine = app.state.archive.engine
    for user, admin in ((ALICE, False), (BOB, False), ("admin", True)):
        add_user(engine, user, PASSWORD, admin=admin, mailboxes=[])
    try:
        yield RunningArchive(server.url, engine, "", fast)
    finally:
        server.stop()
        engine.dispose()


def audit(archive: RunningArchive) -> list[dict[str, object]]:
    """Every event in the audit log, oldest first."""
    lines = archive.settings.audit_path().read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_guessing_fast_is_slowed_down_and_then_the_right_password_waits(
    archive: RunningArchive,
) -> None:
    """20 wrong passwords at about 6 a second: after the free ones they are refused with 429 and
    Retry-After, and the right password straight after a counted failure is refused too."""
    answers = []
    started = time.monotonic()
    for i in range(20):
        time.sleep(max(0.0, started + i / 6 - time.monotonic()))
        answers.append(sign_in(archive.url, ALICE, "not the password"))
    codes = [a.status_code for a in answers]
    assert codes[:3] == [401, 401, 401]
    assert codes.count(429) >= 10, codes
    throttled = next(a for a in answers if a.status_code == 429)
    assert int(throttled.headers["retry-after"]) >= 1
    assert "too many failed sign-ins" in throttled.json()["detail"]
    # Straight after the next counted failure (its delay is 4 s or more): on a loaded machine
    # the end of the loop above may come after the last delay ran out.
    deadline = time.monotonic() + 30
    while (wrong := sign_in(archive.url, ALICE, "not the password")).status_code == 429:
        assert time.monotonic() < deadline, "the delay never ran out"
        time.sleep(0.2)
    assert wrong.status_code == 401
    right = sign_in(archive.url, ALICE, PASSWORD)
    assert right.status_code == 429
    assert "set-cookie" not in right.headers
    assert sign_in(archive.url, BOB, PASSWORD).status_code == 200  # other accounts unharmed


def test_an_account_locks_and_an_admin_unlocks_it_with_the_cli(quick_lock: RunningArchive) -> None:
    """Five failures lock Alice's account for every address; ``mfr archive --unlock`` lifts it;
    the audit log has the failures, the lock and the unlock."""
    for _ in range(5):
        assert sign_in(quick_lock.url, ALICE, "not the password").status_code == 401
        time.sleep(0.01)
    time.sleep(0.01)
    locked = sign_in(quick_lock.url, ALICE, PASSWORD)
    assert locked.status_code == 429
    assert "locked" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) > 60
    env = {
        "MFR_ARCHIVE__DATABASE_URL": quick_lock.settings.database_url.get_secret_value(),
        "MFR_ARCHIVE__AUDIT_LOG": str(quick_lock.settings.audit_path()),
    }
    cli = typer.Typer()
    cli.command()(archive_command)
    result = CliRunner().invoke(cli, ["--unlock", ALICE], env=env)
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert sign_in(quick_lock.url, ALICE, PASSWORD).status_code == 200
    events = [e["event"] for e in audit(quick_lock) if e.get("user") in (ALICE, None)]
    assert events.count("sign_in_failed") == 5
    assert "lockout" in events
    assert events.index("sign_in_locked") < events.index("unlock") < events.index("sign_in")


def test_an_address_locks_across_accounts_and_the_admin_page_unlocks_it(
    quick_lock: RunningArchive,
) -> None:
    """Eight failures from one address over many names lock that address (even for a right
    password); the admin page lists the lock and its Unlock button lifts it."""
    with httpx.Client(base_url=quick_lock.url) as admin:
        assert admin.post(
            "/api/v1/session", json={"username": "admin", "password": PASSWORD}
        ).status_code == 200  # before the address is locked
        for i in range(8):
            assert sign_in(quick_lock.url, f"guess{i}@example.com", "nope").status_code == 401
            time.sleep(0.01)
        time.sleep(0.01)
        assert sign_in(quick_lock.url, BOB, PASSWORD).status_code == 429
        page = admin.get("/admin")
        assert "address:127.0.0.1" in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        unlocked = admin.post(
            "/admin/unlock", data={"scope": "address:127.0.0.1", "csrf": token.group(1)}
        )
        assert unlocked.status_code == 303
    assert sign_in(quick_lock.url, BOB, PASSWORD).status_code == 200


def test_signing_out_revokes_the_session_on_the_server(archive: RunningArchive) -> None:
    """After DELETE /api/v1/session, or POST /logout, the old cookie gets 401."""
    with archive.client(ALICE) as client:
        old = client.cookies[SESSION_COOKIE]
        assert client.delete("/api/v1/session").status_code == 204
    replay = httpx.get(f"{archive.url}/api/v1/session", cookies={SESSION_COOKIE: old})
    assert replay.status_code == 401
    with archive.client(BOB) as client:
        old = client.cookies[SESSION_COOKIE]
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
        assert token is not None
        assert client.post("/logout", data={"csrf": token.group(1)}).status_code == 303
    replay = httpx.get(f"{archive.url}/api/v1/session", cookies={SESSION_COOKIE: old})
    assert replay.status_code == 401


def test_forms_and_api_refuse_other_origins(archive: RunningArchive) -> None:
    """/login, /logout and DELETE /api/v1/session carrying Origin: http://evil.example are
    refused (403) and change nothing; so is a form post without this session's token."""
    evil = {"Origin": EVIL}
    with httpx.Client(base_url=archive.url) as browser:
        form = browser.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        credentials = {"username": ALICE, "password": PASSWORD, "csrf": token.group(1)}
        assert browser.post("/login", data=credentials, headers=evil).status_code == 403
        assert browser.post("/login", data={**credentials, "csrf": "forged"}).status_code == 403
        assert browser.get("/api/v1/session").status_code == 401
        signed_in = browser.post("/login", data=credentials, headers={"Origin": archive.url})
        assert signed_in.status_code == 303
        assert browser.get("/api/v1/session").status_code == 200
        forged_out = browser.post("/logout", data={"csrf": token.group(1)}, headers=evil)
        assert forged_out.status_code == 403
        assert browser.delete("/api/v1/session", headers=evil).status_code == 403
        referer = {"Referer": f"{EVIL}/page"}
        assert browser.delete("/api/v1/session", headers=referer).status_code == 403
        assert browser.get("/api/v1/session").status_code == 200


def test_cookie_key_comes_from_the_secret_setting(archive: RunningArchive, tmp_path: Path) -> None:
    """With session_secret set, no key is kept in the database and a cookie signed with another
    key signs nobody in; the config file may not hold it."""
    secret = "k" * 40
    keyed = replace(archive, settings=archive.settings.model_copy(
        update={"session_secret": SecretStr(secret)}
    ))
    with archive.engine.begin() as conn:
        conn.execute(app_secrets.delete())
    app = create_app(keyed.settings, purge=False)
    server = ThreadedServer(app)
    server.start()
    try:
        reply = sign_in(server.url, ALICE, PASSWORD)
        assert reply.status_code == 200
        cookie = reply.cookies[SESSION_COOKIE]
        with archive.engine.connect() as conn:
            assert conn.execute(select(app_secrets)).first() is None
        same = httpx.get(f"{server.url}/api/v1/session", cookies={SESSION_COOKIE: cookie})
        assert same.status_code == 200
        other = httpx.get(f"{archive.url}/api/v1/session", cookies={SESSION_COOKIE: cookie})
        assert other.status_code == 401  # the database-keyed archive does not accept it
    finally:
        server.stop()
        app.state.archive.engine.dispose()
    config = tmp_path / "mfr.toml"
    config.write_text(f'[archive]\nsession_secret = "{secret}"\n')
    with pytest.raises(ConfigError, match="MFR_ARCHIVE__SESSION_SECRET"):
        ArchiveConfig.load(config)
    with pytest.raises(ValueError, match="32 characters"):
        ArchiveSettings(session_secret=SecretStr("short"))


def test_audit_log_records_admin_reads_and_admins_read_it(archive: RunningArchive) -> None:
    """An admin reading Alice's mailbox is logged (per request); the audit page shows it to
    admins only; Alice reading her own mailbox is not an admin read."""
    stored = archive.ingest(batch(folder(ALICE, "inbox", 1), message(ALICE, "a1", 1)))
    assert stored.status_code == 200
    with archive.client(ALICE) as client:
        assert client.get(f"/api/v1/mailboxes/{ALICE}/folders").status_code == 200
        assert client.get("/admin/audit").status_code == 403
    assert sign_in(archive.url, ALICE, "wrong password").status_code == 401
    with archive.client("admin") as client:
        assert client.get(f"/api/v1/mailboxes/{ALICE}/messages?q=subject").status_code == 200
        assert client.get(f"/mailbox/{ALICE}").status_code == 200
        page = client.get("/admin/audit")
    assert page.status_code == 200
    reads = [e for e in audit(archive) if e["event"] == "admin_read"]
    assert [(e["user"], e["mailbox"]) for e in reads] == [("admin", ALICE)] * 2
    assert reads[0]["path"] == f"/api/v1/mailboxes/{ALICE}/messages"
    assert reads[0]["query"] == "q=subject"
    events = [e["event"] for e in audit(archive)]
    assert events.count("sign_in") == 2
    assert events.count("sign_in_failed") == 1
    assert all(e["client"] == "127.0.0.1" for e in audit(archive))
    for shown in ("admin_read", "sign_in_failed", "/mailbox/" + ALICE):
        assert shown in page.text
    beside = ArchiveSettings(database_url=SecretStr("sqlite:////srv/mfr/archive.sqlite3"))
    assert beside.audit_path() == Path("/srv/mfr/archive-audit.jsonl")
