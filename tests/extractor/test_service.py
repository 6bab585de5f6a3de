"""The extractor service end to end: change events in, state records out, on both buses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from extractor.service import Extractor
from extractor.settings import ExtractorSection, ExtractorSettings
from mfr.bus import Bus, open_bus
from mfr.codec import Codec
from mfr.ews import EwsConnection
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_specs
from simulator import Simulator
from tests.extractor.events import change_event
from tests.extractor.harness import history, latest


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_settings(request: pytest.FixtureRequest, tmp_path: Path) -> BusSettings:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "embedded":
        return BusSettings(embedded_path=tmp_path / "bus.sqlite3", topic_prefix=prefix)
    return BusSettings(kafka_bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
                       topic_prefix=prefix, partitions=3, session_timeout_s=6)


@pytest.fixture
def make(connection: EwsConnection, bus_settings: BusSettings, tmp_path: Path
         ) -> Iterator[Callable[[], Extractor]]:
    made: list[Extractor] = []

    def build() -> Extractor:
        settings = ExtractorSettings(
            exchange=connection.settings, bus=bus_settings,
            extractor=ExtractorSection(state_path=tmp_path / "state.sqlite3", coalesce_s=0.05,
                                       load_poll_s=0.3, retry_after_s=0.1, attempts=2))
        extractor = Extractor(settings, open_bus(bus_settings), connection, Codec())
        extractor.start()
        made.append(extractor)
        return extractor

    yield build
    for extractor in made:
        extractor.bus.close()


def send(bus: Bus, settings: BusSettings, *values: bytes, mailbox: str) -> None:
    with bus.producer() as producer:
        for value in values:
            producer.produce(topic_specs(settings)[Topic.CHANGES].name, record_key(mailbox), value)


def until(extractor: Extractor, done: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the extractor did not get there in time"
        extractor.step(poll_s=0.05)


def test_events_drive_sync_and_a_bad_record_is_dead_lettered(
    sim: Simulator, smtp: str, make: Callable[[], Extractor], bus_settings: BusSettings
) -> None:
    """A resync replicates the mailbox, a Moved event keeps the key, garbage is dead-lettered."""
    item = sim.control.create_item(smtp, "inbox", subject="first")
    extractor = make()
    codec = Codec()
    send(extractor.bus, bus_settings, codec.encode("ChangeEvent", change_event(smtp, "Resync")),
         b"\x00not avro", mailbox=smtp)
    until(extractor, lambda: bool(latest(extractor.bus, bus_settings, Topic.MESSAGES)))
    [before] = latest(extractor.bus, bus_settings, Topic.MESSAGES)
    inbox, archive = sim.control.folder_id(smtp, "inbox"), sim.control.folder_id(smtp, "archive")
    new_id = sim.control.move_item(smtp, item, "archive")
    moved = change_event(smtp, "Moved", target="Item", id=new_id, old_id=item,
                         parent_folder_id=archive, old_parent_folder_id=inbox)
    send(extractor.bus, bus_settings, codec.encode("ChangeEvent", moved), mailbox=smtp)
    until(extractor, lambda: latest(extractor.bus, bus_settings, Topic.MESSAGES)[0]["item_id"]
          == new_id)
    [after] = latest(extractor.bus, bus_settings, Topic.MESSAGES)
    assert after["message_key"] == before["message_key"]
    [dead] = latest(extractor.bus, bus_settings, Topic.DEAD_LETTERS)
    assert (dead["error_type"], dead["value"]) == ("CodecError", b"\x00not avro")
    statuses = latest(extractor.bus, bus_settings, Topic.STATUS)
    assert statuses[-1]["state"] == "Live"
    registry = extractor.metrics.registry
    assert (registry.get_sample_value("mfr_extractor_cycle_seconds_count") or 0) >= 1
    assert registry.get_sample_value("mfr_extractor_mailboxes", {"state": "live"}) == 1
    assert registry.get_sample_value("mfr_extractor_mailboxes", {"state": "failing"}) == 0
    assert "_created" not in generate_latest(registry).decode()
    extractor.close()


def test_the_lag_grows_while_a_cycle_stalls(
    sim: Simulator, smtp: str, make: Callable[[], Extractor], bus_settings: BusSettings
) -> None:
    """The lag gauge is measured against now: an event whose cycle has not ended makes it grow,
    instead of showing the lag of the last cycle that did."""
    extractor = make()
    event = change_event(smtp, "Resync")
    event["event_time"] = datetime.now(UTC) - timedelta(seconds=60)
    send(extractor.bus, bus_settings, Codec().encode("ChangeEvent", event), mailbox=smtp)
    def lag() -> float:
        return extractor.metrics.registry.get_sample_value("mfr_extractor_max_lag_seconds") or 0

    until(extractor, lambda: lag() > 0, timeout_s=30)
    first = lag()
    time.sleep(1.1)  # not stepping: the cycle is never harvested, as if it hung
    later = lag()
    assert 60 <= first < later
    extractor.close()


def test_a_killed_extractor_loses_nothing_and_duplicates_nothing(
    sim: Simulator, smtp: str, make: Callable[[], Extractor], bus_settings: BusSettings
) -> None:
    """Events published but not committed before a kill are processed again, harmlessly."""
    for n in range(20):
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    first = make()
    first._commit = lambda: None  # type: ignore[method-assign]  # dies before every commit
    codec = Codec()
    send(first.bus, bus_settings, codec.encode("ChangeEvent", change_event(smtp, "Resync")),
         mailbox=smtp)
    until(first, lambda: len(latest(first.bus, bus_settings, Topic.MESSAGES)) == 20)
    first._pool.shutdown(wait=True)
    first.consumer.close()  # the process is gone; its group membership with it
    sim.control.create_item(smtp, "inbox", subject="late", new_mail=False)
    second = make()
    until(second, lambda: len(latest(second.bus, bus_settings, Topic.MESSAGES)) == 21)
    messages = latest(second.bus, bus_settings, Topic.MESSAGES)
    assert sorted(m["subject"] for m in messages) == sorted(
        [f"m{n}" for n in range(20)] + ["late"])
    second.close()


def test_initial_sync_progress_is_reported_for_the_admin_page(
    sim: Simulator, smtp: str, make: Callable[[], Extractor], bus_settings: BusSettings
) -> None:
    """While a mailbox's initial sync runs, its status says InitialSync and how far it got."""
    for n in range(1200):
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    extractor = make()
    send(extractor.bus, bus_settings,
         Codec().encode("ChangeEvent", change_event(smtp, "Resync")), mailbox=smtp)
    until(extractor, lambda: extractor.status.get(smtp) is not None
          and extractor.status[smtp].state == "Live")
    statuses = [datum for _, datum in history(extractor.bus, bus_settings, Topic.STATUS)]
    progress = [s["initial_sync_percent"] for s in statuses if s["state"] == "InitialSync"]
    assert progress
    assert progress == sorted(progress)
    assert progress[-1] == 100.0
    assert statuses[-1]["state"] == "Live"
    assert statuses[-1]["messages"] == 1200
    extractor.close()


def test_a_mailbox_handed_to_another_extractor_continues_from_the_bus(
    sim: Simulator, smtp: str, connection: EwsConnection, bus_settings: BusSettings,
    tmp_path: Path,
) -> None:
    """An extractor taking a mailbox over (its own, empty local store) loads the checkpoints and
    states the first one published, and its fresh listing of the folder tree still sees a folder
    removed meanwhile: nothing is published twice, the removed folder ends deleted."""
    projects = sim.control.create_folder(smtp, "msgfolderroot", "Projects")
    for n in range(5):
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    sim.control.create_item(smtp, projects, subject="filed", new_mail=False)

    def extractor(name: str) -> Extractor:
        settings = ExtractorSettings(
            exchange=connection.settings, bus=bus_settings,
            extractor=ExtractorSection(state_path=tmp_path / f"{name}.sqlite3", coalesce_s=0.05,
                                       retry_after_s=0.1, attempts=2))
        made = Extractor(settings, open_bus(bus_settings), connection, Codec())
        made.start()
        return made

    resync = Codec().encode("ChangeEvent", change_event(smtp, "Resync"))
    first = extractor("first")
    send(first.bus, bus_settings, resync, mailbox=smtp)
    until(first, lambda: len(latest(first.bus, bus_settings, Topic.MESSAGES)) == 6)
    first.close()  # leaves the group: its partitions go to the next member
    first.bus.close()
    sim.control.delete_folder(smtp, projects)  # gone for good while nobody syncs the mailbox
    sim.control.create_item(smtp, "inbox", subject="late", new_mail=False)
    second = extractor("second")
    send(second.bus, bus_settings, resync, mailbox=smtp)

    def settled() -> bool:
        messages = {m["subject"]: m for m in latest(second.bus, bus_settings, Topic.MESSAGES)}
        return "late" in messages and messages["filed"]["deleted"]

    until(second, settled)
    messages = latest(second.bus, bus_settings, Topic.MESSAGES)
    assert sorted(m["subject"] for m in messages) == sorted(
        [f"m{n}" for n in range(5)] + ["filed", "late"])
    [gone] = [m for m in messages if m["subject"] == "filed"]
    assert gone["last_known_folder_key"] == projects
    folders = {f["folder_key"]: f for f in latest(second.bus, bus_settings, Topic.FOLDERS)}
    assert folders[projects]["deleted"]
    second.close()
    second.bus.close()
