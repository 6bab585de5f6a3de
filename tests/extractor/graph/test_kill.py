"""``mfr extractor`` in Graph mode, as an admin runs it (``[exchange] api = "graph"`` from the
environment), killed (SIGKILL) in the middle of an initial sync: the restarted process resumes at
the delta page where the first one stopped (counted in the simulator's request log), and the
result is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_specs
from simulator import Simulator
from tests.extractor.events import change_event
from tests.extractor.graph.truth import folder
from tests.extractor.harness import latest
from tests.extractor.test_kill import checkpoint_pages, wait
from tests.kafka.broker import free_port

MESSAGES = 750
PAGE = 25
BULK_CLASS = "IPF.Note.Bulk"


def start(sim: Simulator, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    graph = "MFR_EXCHANGE__GRAPH__"
    env.update(
        {
            "MFR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.db"),
            "MFR_EXCHANGE__API": "graph",
            graph + "TENANT_ID": sim.graph.auth.tenant_id,
            graph + "CLIENT_ID": sim.settings.graph.client_id,
            graph + "CLIENT_SECRET": sim.settings.graph.client_secret.get_secret_value(),
            graph + "AUTHORITY_HOST": sim.authority_url,
            graph + "GRAPH_URL": sim.graph_url,
            graph + "CA_FILE": str(sim.ca_file),
            "MFR_EXTRACTOR__PORT": str(port),
            "MFR_EXTRACTOR__COALESCE_S": "0",
            "MFR_EXTRACTOR__GRAPH_PAGE_SIZE": str(PAGE),
            "MFR_EXTRACTOR__STATE_PATH": str(tmp_path / "state.db"),
            "MFR_EXTRACTOR__LOAD_POLL_S": "0.2",
            "MFR_EXTRACTOR__FILTERS__FOLDER_CLASSES": f'["{BULK_CLASS}"]',
        }
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "extractor"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_graph_extractor_resumes_its_initial_sync_at_the_page(
    sim: Simulator, smtp: str, tmp_path: Path
) -> None:
    """Only one folder is replicated here (its own folder class, configured as the one to
    replicate), so every message delta request in the log is one of its pages."""
    bulk = sim.control.create_folder(smtp, "inbox", "Bulk", folder_class=BULK_CLASS)
    for n in range(MESSAGES):
        sim.control.create_item(smtp, bulk, subject=f"m{n}", new_mail=False)
    settings = BusSettings(embedded_path=tmp_path / "bus.db")
    key = folder(sim, smtp, bulk)
    with open_bus(settings) as bus:
        bus.ensure_topics(topic_specs(settings).values())
        with bus.producer() as producer:
            producer.produce(
                topic_specs(settings)[Topic.CHANGES].name,
                record_key(smtp),
                Codec().encode("ChangeEvent", change_event(smtp, "Resync")),
            )
    port = free_port()
    sim.graph.faults.latency(0.3)  # so the kill surely lands in the middle
    first = start(sim, tmp_path, port)
    try:
        wait(lambda: checkpoint_pages(settings, smtp, key) >= 5, 120, "five pages")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        sim.graph.faults.latency(0)
    done_before = checkpoint_pages(settings, smtp, key)
    total = -(-MESSAGES // PAGE)
    assert done_before < total
    second = start(sim, tmp_path, port)
    try:
        wait(lambda: checkpoint_pages(settings, smtp, key) >= total, 300, "the last page")
        wait(lambda: ready(port), 60, "ready")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    asked = [
        e
        for e in sim.request_log.entries(operation="graph.message.delta", mailbox=smtp)
        if e.status == 200
    ]
    # Every page once, but the one in flight when the process died; then the resynced
    # mailbox's own delta round (the Resync event is consumed again: it was never committed).
    assert total + 1 <= len(asked) <= total + 2, (done_before, len(asked), total)
    with open_bus(settings) as bus:
        messages = latest(bus, settings, Topic.MESSAGES)
    assert sorted(m["subject"] for m in messages) == sorted(f"m{n}" for n in range(MESSAGES))
    assert {(m["folder_key"], m["deleted"]) for m in messages} == {(key, False)}


def ready(port: int) -> bool:
    """Whether the extractor answers /readyz (its server may still be starting)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    except httpx.TransportError:
        return False
