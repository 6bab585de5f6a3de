"""Personal API tokens and user administration: a token reads the browse API as its user and
nothing more, only its hash is stored, revoked or unknown ones are refused, the OpenAPI document
declares both ways in, and admins list and remove users and tokens from the command line."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner, Result

from archive.cli import command as archive_command
from archive.store.access_tables import api_tokens
from archive.tokens import create_api_token
from tests.archive.conftest import RunningArchive
from tests.archive.records import batch, folder

ALICE = "alice@example.com"
BOB = "bob@example.com"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def bearer(token: str) -> dict[str, str]:
    """The header a script sends."""
    return {"Authorization": f"Bearer {token}"}


def test_a_token_reads_as_its_user_until_revoked(archive: RunningArchive) -> None:
    """Alice's token lists her mailbox only, is refused Bob's and the admin routes; a wrong
    token, another scheme and a revoked token answer 401; the database holds only a digest."""
    records = [folder(m, "inbox", 1, display_name="Inbox") for m in (ALICE, BOB)]
    assert archive.ingest(batch(*records)).status_code == 200
    token = create_api_token(archive.engine, ALICE, "export script")
    with httpx.Client(base_url=archive.url, headers=bearer(token), timeout=30) as script:
        mine = script.get("/api/v1/mailboxes")
        assert mine.status_code == 200, mine.text
        assert [m["address"] for m in mine.json()] == [ALICE]
        assert script.get(f"/api/v1/mailboxes/{ALICE}/folders").status_code == 200
        assert script.get(f"/api/v1/mailboxes/{BOB}/folders").status_code == 403
        assert script.get("/api/v1/admin/mailboxes").status_code == 403
        assert script.get("/api/v1/session").json()["username"] == ALICE
    wrong = httpx.get(f"{archive.url}/api/v1/mailboxes", headers=bearer(token[:-2] + "xx"))
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "unknown or revoked API token"
    assert "invalid_token" in wrong.headers["www-authenticate"]
    basic = httpx.get(f"{archive.url}/api/v1/mailboxes", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["detail"]
    with archive.engine.connect() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert token not in [str(v) for v in stored]
    assert stored.last_used_time is not None

    runner = cli(archive)
    listed = runner(["--list-tokens"])
    assert f"api\t{stored.id}\t{ALICE}\texport script" in listed.output
    assert "ingest\ttest\tlive" in listed.output
    assert runner(["--revoke-token", str(stored.id)]).exit_code == 0
    gone = httpx.get(f"{archive.url}/api/v1/mailboxes", headers=bearer(token))
    assert gone.status_code == 401
    again = runner(["--revoke-token", str(stored.id)])
    assert again.exit_code == 1
    assert "no API token with id" in again.output


def test_openapi_declares_the_token_and_the_session(archive: RunningArchive) -> None:
    """``/openapi.json`` has a bearer scheme and the session cookie, and every browse route
    accepts either."""
    document = httpx.get(f"{archive.url}/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "mfr_pat_...",
        "description": schemes["apiToken"]["description"],
    }
    assert schemes["session"]["in"] == "cookie"
    for path, operations in document["paths"].items():
        if path.startswith("/api/v1/mailboxes"):
            assert {"apiToken": []} in operations["get"]["security"], path
            assert {"session": []} in operations["get"]["security"], path


def cli(archive: RunningArchive) -> Callable[..., Result]:
    """``mfr archive`` on this archive's database, as a function of its arguments."""
    env = {
        "MFR_ARCHIVE__DATABASE_URL": archive.settings.database_url.get_secret_value(),
        "MFR_ARCHIVE__AUDIT_LOG": str(archive.settings.audit_path()),
    }
    app = typer.Typer()
    app.command()(archive_command)

    def run(args: list[str], stdin: str | None = None) -> Result:
        return CliRunner().invoke(app, args, env=env, input=stdin)

    return run


def test_admins_list_and_remove_users_and_addresses_are_checked(archive: RunningArchive) -> None:
    """``--mailbox "not an address"`` is refused before anything is created; users are listed
    with their grants; removing Bob removes his token and his sessions."""
    runner = cli(archive)
    bad = runner(["--add-user", "carol@example.com", "--mailbox", "not an address"])
    assert bad.exit_code == 1
    assert "'not an address' is not a mailbox address" in bad.output
    assert runner(["--add-user", "carol@@example"], "a long password\n").exit_code == 1
    assert runner(["--add-user", "two words"], "a long password\n").exit_code == 1
    made = runner(
        ["--add-user", "carol@example.com", "--mailbox", "Shared@Example.com"],
        "a long password\n",
    )
    assert made.exit_code == 0, made.output
    token = runner(["--add-api-token", BOB, "--name", "nightly"]).output.strip()
    assert token.startswith("mfr_pat_")
    with archive.client(BOB) as bob:
        listed = runner(["--list-users"]).output
        assert "carol@example.com\tuser\tpassword\tmailboxes: carol@example.com, " \
               "shared@example.com" in listed
        assert f"{BOB}\tuser\tpassword\tmailboxes: {BOB}\tAPI tokens: 1" in listed
        assert "admin\tadmin\tpassword" in listed
        assert runner(["--remove-user", BOB]).exit_code == 0
        assert bob.get("/api/v1/session").status_code == 401
    assert httpx.get(f"{archive.url}/api/v1/session", headers=bearer(token)).status_code == 401
    assert BOB not in runner(["--list-users"]).output
    missing = runner(["--remove-user", BOB])
    assert missing.exit_code == 1
    assert f"no user {BOB}" in missing.output
