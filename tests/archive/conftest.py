"""Fixtures of the archive tests: every store test runs on SQLite and on a real PostgreSQL
cluster (started for the session), against the app served for real by uvicorn."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import Engine

from archive import accounts
from archive.accounts import add_token, add_user
from archive.settings import ArchiveSettings
from archive.store.engine import open_engine
from archive.web.app import create_app
from tests.archive.postgres import PostgresServer
from tests.archive.server import ThreadedServer

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with test-sized cost (the hashes stay real Argon2id; production keeps the
    library's defaults): dozens of users are created per run on a shared 2-core machine."""
    monkeypatch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the session's own."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL cluster
    (``MFR_TEST_POSTGRES`` names an external server's URL instead)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    external = os.environ.get("MFR_TEST_POSTGRES")
    if external:
        return external
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> ArchiveSettings:
    """Settings for a test archive: small limits, plain-http cookies, one accepted domain, the
    audit log in the test's directory."""
    return ArchiveSettings(
        database_url=SecretStr(database_url),
        max_request_bytes=256 * 1024,
        max_batch_records=1000,
        accept_mailbox_domains=("example.com",),
        cookie_secure=False,
        audit_log=tmp_path / "audit.jsonl",
    )


@dataclass
class RunningArchive:
    """An archive served on loopback, with an ingest token and two users."""

    url: str
    engine: Engine
    token: str
    settings: ArchiveSettings

    def ingest(self, body: object, token: str | None = None) -> httpx.Response:
        """POST a batch (any JSON) to the ingest API."""
        return httpx.post(
            f"{self.url}/api/ingest/v1/batches",
            json=body,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=60,
        )

    @contextmanager
    def client(self, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """An HTTP client signed in as ``username``."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            reply = client.post(
                "/api/v1/session", json={"username": username, "password": password}
            )
            reply.raise_for_status()
            yield client


@pytest.fixture
def archive(settings: ArchiveSettings) -> Iterator[RunningArchive]:
    """The archive app on a fresh database, served for real; users alice (her mailbox), bob
    (his), and admin."""
    engine = open_engine(settings.database_url.get_secret_value())
    server = ThreadedServer(create_app(settings, engine))
    server.start()
    add_user(engine, "alice@example.com", PASSWORD, admin=False, mailboxes=[])
    add_user(engine, "bob@example.com", PASSWORD, admin=False, mailboxes=[])
    add_user(engine, "admin", PASSWORD, admin=True, mailboxes=[])
    try:
        yield RunningArchive(server.url, engine, add_token(engine, "test"), settings)
    finally:
        server.stop()
        engine.dispose()
