"""What operators see when Exchange is down, and how each service stops: the four services as
their own processes (one config file, the embedded bus), pointed at an Exchange address where
nothing listens yet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from archive.accounts import add_user
from pipeline.archive_side import fresh_token, open_archive
from simulator import Simulator, SimulatorSection
from tests.kafka.broker import free_port

SERVICE, PASSWORD = "svc-ops@sim.example", "ops-service-pw"
MAILBOXES = ["erin@sim.example", "frank@sim.example"]
ADMIN, ADMIN_PASSWORD = "ops", "ops-password-1"
STOP_LIMIT_S = 10.0  # Docker's default grace period before SIGKILL


def _config(tmp_path: Path, ports: dict[str, int]) -> Path:
    config = tmp_path / "mfr.toml"
    config.write_text(f"""
[bus]
embedded_path = "{tmp_path / 'bus.sqlite3'}"
session_timeout_s = 2.0

[exchange]
endpoint = "http://127.0.0.1:{ports['exchange']}/EWS/Exchange.asmx"
auth = "basic"
service_account = "{SERVICE}"
version = "Exchange2016"

[listener]
mailboxes = {MAILBOXES!r}
port = {ports['listener']}
resubscribe_after_s = 1.0

[extractor]
state_path = "{tmp_path / 'extractor.sqlite3'}"
coalesce_s = 0.2
port = {ports['extractor']}

[publisher]
archive_url = "http://127.0.0.1:{ports['archive']}"
linger_ms = 50
health_port = {ports['publisher']}

[archive]
database_url = "sqlite:///{tmp_path / 'archive.sqlite3'}"
port = {ports['archive']}
cookie_secure = false
""")
    return config


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[dict[str, int], dict[str, subprocess.Popen[str]]]]:
    """listener, extractor, publisher and archive running, Exchange's address dead."""
    ports = {name: free_port() for name in
             ("exchange", "listener", "extractor", "publisher", "archive")}
    config = _config(tmp_path, ports)
    engine = open_archive(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    add_user(engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
    token = fresh_token(engine, "publisher")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({"PYTHONPATH": os.pathsep.join(sys.path), "MFR_EXCHANGE__PASSWORD": PASSWORD,
                "MFR_PUBLISHER__INGEST_TOKEN": token})
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", "from mfr.cli import main; main()", name, "-c", str(config)],
            env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / f"{name}.log").open("w"),
            text=True)
        for name in ("archive", "publisher", "extractor", "listener")
    }
    try:
        yield ports, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def _admin_page(port: int) -> str:
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            client.post("/api/v1/session", json={"username": ADMIN, "password": ADMIN_PASSWORD})
            return client.get("/admin").text
    except httpx.TransportError:
        return ""


def _until(check: Callable[[], bool], timeout_s: float, what: str,
           processes: dict[str, subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        dead = [name for name, p in processes.items() if p.poll() is not None]
        assert not dead, f"{dead} exited"
        assert time.monotonic() < deadline, f"not in {timeout_s} s: {what}"
        time.sleep(0.5)


def _messages(port: int) -> int:
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            client.post("/api/v1/session", json={"username": ADMIN, "password": ADMIN_PASSWORD})
            listed = client.get("/api/v1/mailboxes").json()
    except (httpx.TransportError, ValueError):
        return 0
    return sum(m.get("messages", 0) for m in listed if m["address"] in MAILBOXES)


def test_a_dead_exchange_is_reported_then_converges_and_every_service_stops_in_time(
    services: tuple[dict[str, int], dict[str, subprocess.Popen[str]]],
) -> None:
    """While Exchange's address is dead, /readyz of the listener and the extractor and the admin
    page say so with the cause, and the publisher is ready; once Exchange comes up there,
    everything converges; under a stream of changes, each service stops within 10 s of
    SIGTERM, exit code 0."""
    ports, processes = services
    cause = f"127.0.0.1:{ports['exchange']} refused the connection"

    seen: dict[str, str] = {}

    def reported() -> bool:
        for name in ("listener", "extractor", "publisher"):
            answer = _get(ports[name], "/readyz")
            seen[name] = "" if answer is None else f"{answer.status_code} {answer.text}"
        page = _admin_page(ports["archive"])
        seen["admin"] = page[page.find('id="status"'):page.find('id="locks"')]
        return (seen["listener"].startswith("503") and cause in seen["listener"]
                and seen["extractor"].startswith("503") and cause in seen["extractor"]
                and seen["publisher"].startswith("200")
                and all(m in page for m in MAILBOXES) and cause in seen["admin"])

    # Starting four processes on a busy 2-core machine takes a while: the minute runs from
    # the moment every service answers.
    _until(lambda: all(_get(p, "/healthz") for n, p in ports.items() if n != "exchange"), 90,
           "every service answering", processes)
    try:
        _until(reported, 60, "the dead Exchange reported with its cause", processes)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen}") from None

    section = SimulatorSection(port=ports["exchange"], keepalive_s=0.5, poll_s=0.05)
    with Simulator(section) as sim:
        sim.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        for mailbox in MAILBOXES:
            sim.control.create_mailbox(mailbox)
            sim.control.create_item(mailbox, subject=f"before for {mailbox}")
        _until(lambda: all(
            (r := _get(ports[n], "/readyz")) is not None and r.status_code == 200
            for n in ("listener", "extractor", "publisher")), 90, "every service ready",
            processes)
        _until(lambda: _messages(ports["archive"]) == len(MAILBOXES), 60,
               "the messages in the archive", processes)
        assert "refused the connection" not in _admin_page(ports["archive"])

        stop_load = threading.Event()

        def load() -> None:  # a change every 50 ms while the services stop
            n = 0
            while not stop_load.wait(0.05):
                n += 1
                sim.control.create_item(MAILBOXES[n % 2], subject=f"load {n}")

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(2)
        took: dict[str, float] = {}
        try:
            for name in ("listener", "extractor", "publisher", "archive"):
                started = time.monotonic()
                processes[name].send_signal(signal.SIGTERM)
                processes[name].wait(60)
                took[name] = time.monotonic() - started
        finally:
            stop_load.set()
            loader.join(5)
    print("stop after SIGTERM:", ", ".join(f"{n} {s:.1f} s" for n, s in took.items()))
    assert {n: p.returncode for n, p in processes.items()} == dict.fromkeys(processes, 0)
    assert all(seconds <= STOP_LIMIT_S for seconds in took.values()), took
