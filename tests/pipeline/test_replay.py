"""``mfr replay`` rebuilds from the topics an archive equal to the live one the publisher fed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr

from archive.store.engine import open_engine
from mfr.bus import open_bus
from mfr.settings import BusSettings
from mfr.topics import topic_name, topic_specs
from publisher.client import ArchiveClient
from publisher.metrics import PublisherMetrics
from publisher.service import CONSUMED, Publisher
from publisher.settings import PublisherConfig, PublisherSettings
from tests.pipeline.snapshot import archive_snapshot
from tests.pipeline.states import Produced, produce_states
from tests.publisher.conftest import RestartableArchive


def feed_live_archive(bus: BusSettings, archive: RestartableArchive, produced: Produced) -> None:
    """Run the publisher until the live archive took (or refused) every record produced."""
    config = PublisherConfig.model_construct(bus=bus, publisher=PublisherSettings(
        archive_url=archive.url, ingest_token=SecretStr(archive.token),
        group=f"live-{uuid.uuid4().hex[:8]}", linger_ms=50, batch_max_records=4,
    ))
    total = produced.folders + produced.messages + produced.status
    stop = threading.Event()
    metrics = PublisherMetrics()
    with open_bus(bus) as opened, opened.consumer(
        config.publisher.group, [topic_name(bus, t) for t in CONSUMED]
    ) as consumer, opened.producer() as producer:
        client = ArchiveClient(config.publisher, stop)
        publisher = Publisher(config, consumer, producer, client, metrics, stop,
                              report_status=False)  # exactly the records produced
        worker = threading.Thread(target=publisher.run)
        worker.start()
        try:
            deadline = time.monotonic() + 15
            while _handled(metrics) < total and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            worker.join()
            client.close()
    assert _handled(metrics) == total, generate_latest(metrics.registry).decode()


def _handled(metrics: PublisherMetrics) -> float:
    registry = metrics.registry
    acknowledged = registry.get_sample_value("mfr_publisher_acknowledged_records_total") or 0.0
    dead = sum(
        registry.get_sample_value("mfr_publisher_dead_lettered_records_total", {"error_type": t})
        or 0.0
        for t in ("CodecError", "Rejected", "Refused")
    )
    return acknowledged + dead


def mfr_replay(config: Path, target: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``mfr replay`` as a separate process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run(
        [sys.executable, "-c", "from mfr.cli import main; main()", "replay", "-c", str(config),
         "-d", str(target), "--idle-seconds", "1.5", "--first-record-seconds", "20", *extra],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def write_config(path: Path, bus: BusSettings) -> Path:
    """The config file the replay reads: the same bus and archive settings as the live side."""
    where = (f'kafka_bootstrap_servers = "{bus.kafka_bootstrap_servers}"'
             if bus.uses_kafka else f'embedded_path = "{bus.embedded_path}"')
    path.write_text(
        f'[bus]\n{where}\ntopic_prefix = "{bus.topic_prefix}"\npartitions = {bus.partitions}\n'
        '[archive]\naccept_mailbox_domains = ["example.com"]\ncookie_secure = false\n'
        '[publisher]\nlinger_ms = 50\nbatch_max_records = 5\n'
    )
    return path


def report_value(stdout: str, label: str) -> int:
    """The number the replay report shows after ``label``."""
    for line in stdout.splitlines():
        if line.strip().startswith(label):
            return int(line.strip()[len(label):].split()[0])
    raise AssertionError(f"no {label!r} in the report:\n{stdout}")


def check_replay(bus: BusSettings, archive: RestartableArchive, tmp_path: Path) -> None:
    """Feed the live archive, replay into a new database, compare; then the guard and --force."""
    with open_bus(bus) as opened:
        opened.ensure_topics(topic_specs(bus).values())
        with opened.producer() as producer:
            produced = produce_states(producer, bus)
    feed_live_archive(bus, archive, produced)
    live = archive_snapshot(archive.engine)
    history = [(row[0], row[1]) for row in live["message_history"]]
    assert history.count(("alice@example.com", "m1")) == 3  # versions 1, 2 and 4
    withdrawn = [dict(row[2:]) for row in live["message_history"] if row[1] == "m3"]
    assert withdrawn
    assert all(v["withdrawn"] and v["subject"] is None for v in withdrawn)
    current = {(row[0], row[1]): dict(row[2:]) for row in live["messages"]}
    assert current["alice@example.com", "m2"]["deleted"]
    assert current["alice@example.com", "m3"]["withdrawn"]
    assert current["alice@example.com", "m3"]["subject"] is None
    config = write_config(tmp_path / "mfr.toml", bus)
    target = tmp_path / "replayed.sqlite3"

    done = mfr_replay(config, target)
    assert done.returncode == 0, done.stderr
    replayed_engine = open_engine(f"sqlite:///{target}")
    try:
        assert archive_snapshot(replayed_engine) == live
    finally:
        replayed_engine.dispose()
    assert report_value(done.stdout, "read folders") == produced.folders
    assert report_value(done.stdout, "read messages") == produced.messages
    assert report_value(done.stdout, "read status") == produced.status
    assert report_value(done.stdout, "rejected") == produced.refused
    assert report_value(done.stdout, "stale/duplicate") > 0
    assert "drained" in done.stdout

    refused = mfr_replay(config, target)
    assert refused.returncode == 1
    assert "already holds archive data" in refused.stderr

    again = mfr_replay(config, target, "--force")
    assert again.returncode == 0, again.stderr
    assert report_value(again.stdout, "applied") == 0  # every version was held already


def test_embedded_replay_equals_the_live_archive(
    archive: RestartableArchive, tmp_path: Path
) -> None:
    """On the embedded bus, the replayed archive equals the live one: current rows, history,
    deletions, the withdrawn message, status; duplicates and late versions count as stale."""
    bus = BusSettings(embedded_path=tmp_path / "bus.sqlite3",
                      topic_prefix=f"rp{uuid.uuid4().hex[:8]}", session_timeout_s=2.0)
    check_replay(bus, archive, tmp_path)


@pytest.mark.kafka
def test_kafka_replay_equals_the_live_archive(
    kafka_bootstrap: str, archive: RestartableArchive, tmp_path: Path
) -> None:
    """On real Kafka (three partitions), the replayed archive equals the live one."""
    bus = BusSettings(kafka_bootstrap_servers=kafka_bootstrap, partitions=3,
                      topic_prefix=f"rp{uuid.uuid4().hex[:8]}", session_timeout_s=6.0)
    check_replay(bus, archive, tmp_path)
