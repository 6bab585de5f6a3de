"""The archive's HTTP API fuzzed from its own OpenAPI document (schemathesis), signed in as an
admin and with an ingest token, over a real socket: no request gets a 5xx, and every answer
carries the security headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from archive import accounts
from archive.accounts import add_token, add_user
from archive.settings import ArchiveSettings
from archive.web.app import SESSION_COOKIE, create_app
from tests.archive.records import batch, folder, message
from tests.archive.server import ThreadedServer
from tests.fuzz.fuzzing import fuzz

ADMIN, PASSWORD = "admin", "correct horse battery"
BOX = "alice@example.com"
EXAMPLES = 8  # per operation and generation mode; the run stays well under a minute


@pytest.fixture
def archive_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """An archive on SQLite with one mailbox, served for real: its URL and an ingest token.
    Sign-in limits are lifted: the fuzzer fails to sign in often, on purpose."""
    monkeypatch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
    settings = ArchiveSettings(
        database_url=SecretStr(f"sqlite:///{tmp_path / 'archive.sqlite3'}"),
        cookie_secure=False,
        audit_log=tmp_path / "audit.jsonl",
        sign_in_free_failures=100_000,
        sign_in_address_free_failures=100_000,
        sign_in_lock_after=100_000,
        sign_in_address_lock_after=100_000,
        max_request_bytes=64 * 1024,
    )
    app = create_app(settings, purge=False)
    engine = app.state.archive.engine
    add_user(engine, ADMIN, PASSWORD, admin=True, mailboxes=[])
    token = add_token(engine, "fuzz")
    server = ThreadedServer(app)
    server.start()
    try:
        stored = httpx.post(
            f"{server.url}/api/ingest/v1/batches",
            json=batch(folder(BOX, "inbox", 1), message(BOX, "m1", 1)),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert stored.status_code == 200, stored.text
        yield server.url, token
    finally:
        server.stop()
        engine.dispose()


def test_fuzzing_the_archive_api_finds_no_server_error(archive_url: tuple[str, str]) -> None:
    """Valid and invalid requests to every operation of /openapi.json: 0 answers 5xx, and all
    carry X-Content-Type-Options and a Content-Security-Policy."""
    url, token = archive_url
    document = httpx.get(f"{url}/openapi.json").json()
    state = {"cookie": _sign_in(url), "stale": False}

    def prepare(case: Any) -> dict[str, Any]:
        if state["stale"]:
            state["cookie"], state["stale"] = _sign_in(url), False
        # Signing out (or in again) ends this session: sign in afresh before the next case.
        state["stale"] = case.path == "/api/v1/session" and case.method != "GET"
        ingest = case.path.startswith("/api/ingest")
        headers = {"Authorization": f"Bearer {token}"} if ingest else {}
        cookies = {SESSION_COOKIE: state["cookie"]}
        return {"headers": headers, "cookies": cookies}

    def inspect(_: Any, response: Any) -> str | None:
        missing = [h for h in ("x-content-type-options", "content-security-policy")
                   if h not in response.headers]
        return f"{response.status_code} without {', '.join(missing)}" if missing else None

    report = fuzz(document, url, examples=EXAMPLES, prepare=prepare, inspect=inspect,
                  pinned={"mailbox": BOX})
    print(f"archive fuzz: {report.requests} requests, statuses {sorted(report.statuses.items())}")
    assert report.findings == [], "\n".join(report.findings)
    slowest = sorted(report.seconds.items(), key=lambda kv: -kv[1])[:8]
    print("slowest:", ", ".join(f"{k} {v:.1f}s" for k, v in slowest))
    assert report.requests > 100
    assert any(200 <= status < 300 for status in report.statuses)


def _sign_in(url: str) -> str:
    reply = httpx.post(f"{url}/api/v1/session", json={"username": ADMIN, "password": PASSWORD})
    reply.raise_for_status()
    return reply.cookies[SESSION_COOKIE]
