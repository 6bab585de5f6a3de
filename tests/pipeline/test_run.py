"""``mfr run``: the whole pipeline in one process, configured by one file, against the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from archive.accounts import add_user
from pipeline.archive_side import open_archive
from simulator import Simulator, SimulatorSection
from tests.kafka.broker import free_port

SERVICE, PASSWORD = "svc-run@sim.example", "run-service-pw"
MAILBOX = "carla@sim.example"
ADMIN, ADMIN_PASSWORD = "ops", "ops-password-1"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator with a service account and one mailbox holding two messages."""
    with Simulator(SimulatorSection(port=0, keepalive_s=0.5, poll_s=0.05)) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        simulator.control.create_mailbox(MAILBOX)
        simulator.control.create_item(MAILBOX, subject="Quarterly numbers")
        simulator.control.create_item(MAILBOX, subject="Lunch on Friday", is_read=True)
        yield simulator


def write_config(tmp_path: Path, sim: Simulator, archive_port: int) -> Path:
    """One file with every section, as an admin would write it (the password from the env)."""
    config = tmp_path / "mfr.toml"
    config.write_text(f"""
[bus]
embedded_path = "{tmp_path / 'bus.sqlite3'}"
session_timeout_s = 2.0

[exchange]
endpoint = "{sim.endpoint_url}"
auth = "basic"
service_account = "{SERVICE}"
version = "Exchange2016"

[listener]
mailboxes = ["{MAILBOX}"]
port = 0

[extractor]
state_path = "{tmp_path / 'extractor.sqlite3'}"
coalesce_s = 0.2
port = 0

[publisher]
linger_ms = 50
health_port = 0

[archive]
database_url = "sqlite:///{tmp_path / 'archive.sqlite3'}"
port = {archive_port}
cookie_secure = false
""")
    return config


def browse(url: str) -> list[str]:
    """The subjects an admin finds in the mailbox through the browse API (empty until there)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        client.post("/api/v1/session", json={"username": ADMIN, "password": ADMIN_PASSWORD})
        if MAILBOX not in [m["address"] for m in client.get("/api/v1/mailboxes").json()]:
            return []
        return sorted(
            item["subject"]
            for word in ("quarterly", "lunch")
            for item in client.get(
                f"/api/v1/mailboxes/{MAILBOX}/search", params={"q": word}
            ).json()["items"]
        )


def test_mfr_run_replicates_a_mailbox_and_stops_cleanly(sim: Simulator, tmp_path: Path) -> None:
    """With the listener, extractor, publisher and archive in one ``mfr run`` process, a mailbox
    in the simulator appears in the archive's browse API; SIGTERM then exits 0."""
    archive_port = free_port()
    config = write_config(tmp_path, sim, archive_port)
    engine = open_archive(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    add_user(engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({"PYTHONPATH": os.pathsep.join(sys.path), "MFR_EXCHANGE__PASSWORD": PASSWORD})
    process = subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "run", "-c", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{archive_port}"
    try:
        deadline = time.monotonic() + 60
        subjects: list[str] = []
        while subjects != ["Lunch on Friday", "Quarterly numbers"]:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"not replicated in time: {subjects}"
            time.sleep(0.5)
            try:
                subjects = browse(url)
            except httpx.TransportError:
                continue
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    assert PASSWORD not in err
    assert "stopped" in err
