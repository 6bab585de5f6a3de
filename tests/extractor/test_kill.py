"""Killing ``mfr extractor`` (SIGKILL) in the middle of a 20,000-message initial sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_specs
from simulator import Simulator, SimulatorSection
from tests.extractor.conftest import PASSWORD, SERVICE
from tests.extractor.events import change_event
from tests.extractor.harness import latest
from tests.extractor.truth import problems
from tests.kafka.broker import free_port

MESSAGES = 20_000
PAGE = 512
BATCH = 100  # the extractor's default GetItem batch


@pytest.fixture
def big(tmp_path: Path) -> Iterator[tuple[Simulator, str]]:
    """A simulator of its own (no schema validation: it would dominate the time) with a
    20,000-message Inbox."""
    with Simulator(SimulatorSection(port=0)) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        mailbox = "big@sim.example"
        simulator.control.create_mailbox(mailbox)
        for n in range(MESSAGES):
            simulator.control.create_item(mailbox, "inbox", subject=f"m{n}", new_mail=False)
        yield simulator, mailbox


def start(sim: Simulator, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({
        "MFR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.db"),
        "MFR_EXCHANGE__ENDPOINT": sim.endpoint_url, "MFR_EXCHANGE__AUTH": "basic",
        "MFR_EXCHANGE__SERVICE_ACCOUNT": SERVICE, "MFR_EXCHANGE__PASSWORD": PASSWORD,
        "MFR_EXCHANGE__VERSION": "Exchange2016",
        "MFR_EXTRACTOR__PORT": str(port), "MFR_EXTRACTOR__COALESCE_S": "0",
        "MFR_EXTRACTOR__STATE_PATH": str(tmp_path / "state.db"),
    })
    return subprocess.Popen([sys.executable, "-c", "from mfr.cli import main; main()",
                             "extractor"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def checkpoint_pages(settings: BusSettings, mailbox: str, folder_id: str) -> int:
    """Pages the latest checkpoint of the folder says are done."""
    codec, pages = Codec(), 0
    topic = topic_specs(settings)[Topic.CHECKPOINTS].name
    with open_bus(settings) as bus, bus.consumer(f"peek-{time.monotonic_ns()}", [topic]) as c:
        c.seek_to_beginning()
        while records := c.poll(max_records=5000, timeout_s=0.2):
            for r in records:
                datum = codec.decode(r.value).datum
                if datum["mailbox"] == mailbox and datum["folder_id"] == folder_id:
                    pages = datum["pages"]
    return pages


def test_a_killed_extractor_resumes_a_large_initial_sync_without_refetching(
    big: tuple[Simulator, str], tmp_path: Path
) -> None:
    """SIGKILL mid-sync; on restart only the unfinished pages are read, and the result is exact."""
    sim, mailbox = big
    settings = BusSettings(embedded_path=tmp_path / "bus.db")
    inbox = sim.control.folder_id(mailbox, "inbox")
    with open_bus(settings) as bus:
        bus.ensure_topics(topic_specs(settings).values())
        with bus.producer() as producer:
            producer.produce(topic_specs(settings)[Topic.CHANGES].name, record_key(mailbox),
                             Codec().encode("ChangeEvent", change_event(mailbox, "Resync")))
    port = free_port()
    first = start(sim, tmp_path, port)
    wait(lambda: checkpoint_pages(settings, mailbox, inbox) >= 10, 300, "ten pages")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done_before = checkpoint_pages(settings, mailbox, inbox)
    second = start(sim, tmp_path, port)
    total_pages = -(-MESSAGES // PAGE)
    wait(lambda: checkpoint_pages(settings, mailbox, inbox) >= total_pages, 600, "the last page")
    wait(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, 60, "ready")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
    # A page's 512 ids are fetched in GetItem batches of 100: a whole sync costs this many
    # batches, and every completed page fetched again would cost six more.
    full_pages, last_page = divmod(MESSAGES, PAGE)
    batches = full_pages * -(-PAGE // BATCH) + -(-last_page // BATCH)
    fetched = len(sim.request_log.entries("GetItem", mailbox))
    assert batches <= fetched <= batches + -(-PAGE // BATCH), (done_before, fetched, batches)
    with open_bus(settings) as bus:
        messages = latest(bus, settings, Topic.MESSAGES)
        folders = {f["folder_key"]: f for f in latest(bus, settings, Topic.FOLDERS)}
    assert len(messages) == MESSAGES
    assert problems(sim.ground_truth(mailbox), messages, folders) == []
