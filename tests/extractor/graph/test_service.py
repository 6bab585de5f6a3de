"""The extractor service in Graph mode: ChangeEvents as the Graph listener writes them (only a
message id, no folder; a periodic folder-tree check; a resync) drive delta syncs, and a mailbox
the application may not read is reported with its cause instead of being retried."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.service import Extractor
from extractor.settings import ExtractorSection, ExtractorSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import ExchangeSettings
from mfr.graph import GraphClient
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_specs
from simulator import Simulator
from tests.extractor.events import change_event
from tests.extractor.graph.conftest import FAST
from tests.extractor.graph.truth import folder, immutable
from tests.graph.simulated import graph_settings

Make = Callable[[GraphClient], Extractor]


@pytest.fixture
def bus_settings(tmp_path: Path) -> BusSettings:
    return BusSettings(embedded_path=tmp_path / "bus.sqlite3")


@pytest.fixture
def make(sim: Simulator, bus_settings: BusSettings, tmp_path: Path) -> Iterator[Make]:
    made: list[Extractor] = []

    def build(client: GraphClient) -> Extractor:
        settings = ExtractorSettings(
            exchange=ExchangeSettings(api="graph", graph=graph_settings(sim)),
            bus=bus_settings,
            extractor=ExtractorSection(
                state_path=tmp_path / "state.sqlite3",
                coalesce_s=0.05,
                load_poll_s=0.3,
                retry_after_s=0.1,
                attempts=3,
            ),
        )
        extractor = Extractor(settings, open_bus(bus_settings), client, Codec())
        extractor.start()
        made.append(extractor)
        return extractor

    yield build
    for extractor in made:
        extractor.close()
        extractor.bus.close()


def send(extractor: Extractor, bus_settings: BusSettings, datum: dict[str, Any]) -> None:
    with extractor.bus.producer() as producer:
        producer.produce(
            topic_specs(bus_settings)[Topic.CHANGES].name,
            record_key(datum["mailbox"]),
            Codec().encode("ChangeEvent", datum),
        )


def webhook(smtp: str, kind: str, message_id: str) -> dict[str, Any]:
    """A change notification as the listener writes it (the preamble's convention)."""
    return change_event(
        smtp,
        kind,
        "Item",
        id=message_id,
        source="Webhook",
        subscription_id="sub-1",
        event_time=None,
    )


def latest(extractor: Extractor, bus_settings: BusSettings, topic: Topic) -> list[dict[str, Any]]:
    """The highest-version (else last) record per key: the embedded bus has every flushed
    record at once, so one empty poll ends the read."""
    best: dict[str | None, dict[str, Any]] = {}
    name = topic_specs(bus_settings)[topic].name
    with extractor.bus.consumer(f"read-{time.monotonic_ns()}", [name]) as consumer:
        consumer.seek_to_beginning()
        while records := consumer.poll(max_records=5000, timeout_s=0.02):
            for record in records:
                datum = Codec().decode(record.value).datum
                if record.key not in best or datum.get("version", 0) >= best[record.key].get(
                    "version", 0
                ):
                    best[record.key] = datum
    return list(best.values())


def poll(smtp: str) -> dict[str, Any]:
    """The listener's periodic folder-tree check (Graph has no folder notifications)."""
    return change_event(
        smtp,
        "Modified",
        "Folder",
        id=None,
        source="Poll",
        reason="hierarchy check",
        event_time=None,
    )


def until(extractor: Extractor, done: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the extractor did not get there in time"
        extractor.step(poll_s=0.05)


def settle(extractor: Extractor) -> None:
    until(extractor, lambda: not extractor._pending and not extractor._running)


def test_graph_events_drive_delta_syncs(
    sim: Simulator, client: GraphClient, smtp: str, make: Make, bus_settings: BusSettings
) -> None:
    """A resync replicates the mailbox; a notification naming only a message syncs its folder
    (one Graph reads it in, for a message never seen); the folder-tree check picks up a rename,
    and costs one folder delta when nothing changed."""
    item = sim.control.create_item(smtp, "inbox", subject="first")
    extractor = make(client)

    def messages() -> dict[str, dict[str, Any]]:
        return {m["subject"]: m for m in latest(extractor, bus_settings, Topic.MESSAGES)}

    send(extractor, bus_settings, change_event(smtp, "Resync", source="Sync"))
    until(extractor, lambda: "first" in messages())
    before = messages()["first"]
    assert before["exchange_api"] == "Graph"

    later = sim.control.create_folder(smtp, "inbox", "Later")
    new = sim.control.create_item(smtp, later, subject="second")
    send(extractor, bus_settings, webhook(smtp, "Created", immutable(sim, smtp, new)))
    until(extractor, lambda: "second" in messages())
    assert messages()["second"]["folder_key"] == folder(sim, smtp, later)

    moved = immutable(sim, smtp, item)
    sim.control.move_item(smtp, item, "archive")
    send(extractor, bus_settings, webhook(smtp, "Deleted", moved))
    send(extractor, bus_settings, webhook(smtp, "Created", moved))
    until(extractor, lambda: messages()["first"]["folder_key"] == folder(sim, smtp, "archive"))
    assert messages()["first"]["message_key"] == before["message_key"]

    sim.control.rename_folder(smtp, later, "Renamed")
    send(extractor, bus_settings, poll(smtp))
    key = folder(sim, smtp, later)
    until(
        extractor,
        lambda: (
            {f["folder_key"]: f for f in latest(extractor, bus_settings, Topic.FOLDERS)}[key][
                "display_name"
            ]
            == "Renamed"
        ),
    )
    settle(extractor)
    log = sim.request_log
    counts = (
        len(log.entries(operation="graph.mailFolder.delta", mailbox=smtp)),
        len(log.entries(operation="graph.message.delta", mailbox=smtp)),
    )
    send(extractor, bus_settings, poll(smtp))
    until(
        extractor,
        lambda: len(log.entries(operation="graph.mailFolder.delta", mailbox=smtp)) > counts[0],
    )
    settle(extractor)
    assert (
        len(log.entries(operation="graph.mailFolder.delta", mailbox=smtp)),
        len(log.entries(operation="graph.message.delta", mailbox=smtp)),
    ) == (counts[0] + 1, counts[1])
    assert extractor.status[smtp].state == "Live"


def test_a_mailbox_the_app_may_not_read_is_reported_and_not_retried(
    sim: Simulator, smtp: str, make: Make, bus_settings: BusSettings
) -> None:
    """403 (the application access policy leaves the mailbox out): the mailbox is Failing with
    Graph's own words, its events are dead-lettered, and nothing is asked again."""
    sim.graph.controls["register_app"](
        client_id="scoped-extractor", secret="s3cret", mailboxes=["someone.else@sim.example"]
    )
    scoped = GraphClient(
        graph_settings(sim, client_id="scoped-extractor", client_secret="s3cret"), policy=FAST
    )
    extractor = make(scoped)
    send(extractor, bus_settings, change_event(smtp, "Resync", source="Sync"))
    until(extractor, lambda: smtp in extractor.status and extractor.status[smtp].state == "Failing")
    status = extractor.status[smtp]
    assert status.last_error is not None
    assert "Access to OData is disabled" in status.last_error
    [dead] = latest(extractor, bus_settings, Topic.DEAD_LETTERS)
    assert dead["error_type"] == "GraphAccessDeniedError"
    asked = len([e for e in sim.request_log.entries(mailbox=smtp) if e.status == 403])
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        extractor.step(poll_s=0.05)
    assert len([e for e in sim.request_log.entries(mailbox=smtp) if e.status == 403]) == asked
    [reported] = [s for s in latest(extractor, bus_settings, Topic.STATUS) if s["mailbox"] == smtp]
    assert reported["state"] == "Failing"
    assert "Access to OData is disabled" in (reported["last_error"] or "")
    scoped.close()
