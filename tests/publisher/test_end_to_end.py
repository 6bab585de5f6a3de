"""Publisher and archive together over a real bus: crashes and an archive outage lose nothing
and double nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.store.tables import folders, mailboxes, message_history, messages
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_name, topic_specs
from tests.publisher.conftest import PublisherProcess, RestartableArchive
from tests.publisher.feed import Workload, fast_encoder, message_datum, produce_workload


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def history_rows(archive: RestartableArchive) -> int:
    """How many message versions the archive holds."""
    with archive.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(message_history)).scalar_one())


def current_versions(archive: RestartableArchive) -> dict[tuple[str, str], int]:
    """Each message key's current version in the archive."""
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(mailboxes.c.address, messages.c.message_key, messages.c.version).join(
                mailboxes, mailboxes.c.id == messages.c.mailbox_id
            )
        )
        return {(address, key): version for address, key, version in rows}


def run_scenario(bus: BusSettings, archive: RestartableArchive, total: int, tmp: Path) -> None:
    """Produce ``total`` records plus two bad ones, then: publish, SIGKILL, archive down,
    publisher restarted against the outage, archive back, SIGKILL again, restart, converge."""
    topics = {
        "folder": topic_name(bus, Topic.FOLDERS),
        "message": topic_name(bus, Topic.MESSAGES),
    }
    with open_bus(bus) as opened:
        opened.ensure_topics(topic_specs(bus).values())
        with opened.producer() as producer:
            work = produce_workload(producer, topics, total)
            encode = fast_encoder(Codec(), "MessageState")
            outsider = message_datum("eve@elsewhere.net", "x", 1)  # the archive rejects it
            producer.produce(topics["message"], record_key("eve@elsewhere.net", "x"),
                             encode(outsider))
            producer.produce(topics["message"], record_key("user0@example.com", "junk"),
                             b"\xc3\x01 not avro")
            producer.flush()
    expected_history = len(work.versions)
    publisher = PublisherProcess(bus, archive, f"pub-{uuid.uuid4().hex[:8]}", tmp / "pub.log")

    publisher.start()
    wait_for(lambda: history_rows(archive) >= expected_history // 5, 180, "first progress")
    publisher.kill()

    archive.stop()
    publisher.start()
    time.sleep(4)  # the publisher polls a batch, fails to deliver it, backs off
    held = history_rows(archive)
    time.sleep(2)
    assert history_rows(archive) == held, "nothing can be written while the archive is down"
    archive.start()
    wait_for(lambda: history_rows(archive) >= expected_history // 2, 180, "progress after outage")
    publisher.kill()

    publisher.start()
    wait_for(lambda: current_versions(archive) == work.latest, 240, "every key at its latest")
    wait_for(lambda: history_rows(archive) == expected_history, 30, "every version in history")
    # The two bad records come last; the archive's state says nothing about them, so wait for
    # them explicitly before stopping the publisher.
    wait_for(lambda: len(dead_letters(bus)) >= 2, 60, "both bad records dead-lettered")
    assert publisher.terminate() == 0
    check_final_state(bus, archive, work)


def dead_letters(bus: BusSettings) -> list[dict[str, Any]]:
    """Everything on the dead-letter topic so far, read by a group of its own."""
    codec = Codec()
    letters: list[dict[str, Any]] = []
    with open_bus(bus) as opened, opened.consumer(
        f"dlq-{uuid.uuid4().hex[:8]}", [topic_name(bus, Topic.DEAD_LETTERS)]
    ) as consumer:
        idle = 0
        while idle < 3:
            records = consumer.poll(timeout_s=1.0)
            idle = 0 if records else idle + 1
            letters += [codec.decode(r.value).datum for r in records]
    return letters


def check_final_state(bus: BusSettings, archive: RestartableArchive, work: Workload) -> None:
    """Exactly the latest version of every key, every version once, bad records dead-lettered."""
    assert current_versions(archive) == work.latest
    assert history_rows(archive) == len(work.versions)
    with archive.engine.connect() as conn:
        folder_versions = {
            (a, k): v
            for a, k, v in conn.execute(
                select(mailboxes.c.address, folders.c.folder_key, folders.c.version).join(
                    mailboxes, mailboxes.c.id == folders.c.mailbox_id
                )
            )
        }
    assert folder_versions == work.folders_latest
    letters = dead_letters(bus)
    kinds = sorted((d["key"], d["error_type"]) for d in letters)
    assert kinds == [("eve@elsewhere.net x", "Rejected"), ("user0@example.com junk", "CodecError")]
    assert all(d["stage"] == "publisher" and d["reason"] for d in letters)


@pytest.mark.kafka
def test_kafka_crashes_and_outage_lose_and_double_nothing(
    kafka_bootstrap: str, archive: RestartableArchive, tmp_path: Path
) -> None:
    """50,000 records with duplicates and out-of-order versions reach the archive exactly as
    their latest versions, though the publisher is killed twice and the archive goes down."""
    bus = BusSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"pub{uuid.uuid4().hex[:8]}",
        partitions=3,
        session_timeout_s=6.0,
    )
    run_scenario(bus, archive, 50_000, tmp_path)


def test_embedded_bus_crashes_and_outage_lose_and_double_nothing(
    archive: RestartableArchive, tmp_path: Path
) -> None:
    """The same on the embedded single-machine bus, with fewer records."""
    bus = BusSettings(
        embedded_path=tmp_path / "bus.sqlite3",
        topic_prefix=f"pub{uuid.uuid4().hex[:8]}",
        session_timeout_s=2.0,
    )
    run_scenario(bus, archive, 6_000, tmp_path)
