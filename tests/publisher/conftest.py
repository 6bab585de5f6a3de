"""Fixtures of the publisher tests: an archive served for real that the test can stop and
restart on the same port (an outage), and the publisher run as a separate, killable process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from archive.accounts import add_token
from archive.settings import ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.web.app import create_app
from mfr.settings import BusSettings
from tests.archive.server import ThreadedServer
from tests.kafka.broker import free_port


class RestartableArchive:
    """An archive on a SQLite file, served on a fixed port, which can be stopped and started."""

    def __init__(self, path: Path) -> None:
        self.settings = ArchiveSettings(
            database_url=SecretStr(f"sqlite:///{path}"),
            accept_mailbox_domains=("example.com",),
            cookie_secure=False,
        )
        self.engine: Engine = open_engine(self.settings.database_url.get_secret_value())
        migrate(self.engine)
        self.token = add_token(self.engine, "publisher")
        self.port = free_port()
        self._server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        """The archive's base URL (whether or not it is up)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve (again)."""
        app = create_app(self.settings, self.engine, purge=False)
        self._server = ThreadedServer(app, self.port)
        self._server.start()

    def stop(self) -> None:
        """Stop serving: connections are refused until ``start``."""
        if self._server:
            self._server.stop()
            self._server = None


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[RestartableArchive]:
    """A running archive the test may stop and restart."""
    running = RestartableArchive(tmp_path / "archive.sqlite3")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.engine.dispose()


class PublisherProcess:
    """``mfr publisher`` as a child process, configured through MFR_* variables."""

    def __init__(self, bus: BusSettings, archive: RestartableArchive, group: str, log: Path):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
        self.env.update(
            {
                "MFR_BUS__TOPIC_PREFIX": bus.topic_prefix,
                "MFR_BUS__PARTITIONS": str(bus.partitions),
                "MFR_BUS__SESSION_TIMEOUT_S": str(bus.session_timeout_s),
                "MFR_PUBLISHER__ARCHIVE_URL": archive.url,
                "MFR_PUBLISHER__INGEST_TOKEN": archive.token,
                "MFR_PUBLISHER__GROUP": group,
                "MFR_PUBLISHER__HEALTH_PORT": "0",
                "MFR_PUBLISHER__RETRY_MAX_S": "1.5",
                "MFR_PUBLISHER__LINGER_MS": "100",
                "PYTHONPATH": os.pathsep.join(sys.path),
            }
        )
        if bus.kafka_bootstrap_servers:
            self.env["MFR_BUS__KAFKA_BOOTSTRAP_SERVERS"] = bus.kafka_bootstrap_servers
        else:
            self.env["MFR_BUS__EMBEDDED_PATH"] = str(bus.embedded_path)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a new publisher process."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from mfr.cli import main; main()", "publisher"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL it: no clean-up, no commit, no goodbye to the group."""
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def terminate(self) -> int:
        """SIGTERM it and return its exit code."""
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code
