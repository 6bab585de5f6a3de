"""What only the Kafka backend can show: real topic configuration, broker restarts, outages."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from mfr.bus import Consumer
from mfr.bus.kafka import KafkaBus
from mfr.bus.startup import patiently
from mfr.errors import BusError, BusUnavailableError
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_specs
from tests.contract.helpers import drain, group, numbered, produce, values
from tests.kafka.broker import KafkaBroker

pytestmark = pytest.mark.kafka


def test_ensure_topics_creates_the_pipeline_topics_with_their_policies(
    kafka_bootstrap: str,
) -> None:
    """Every topic gets its partitions and cleanup policy; the state topics keep history."""
    settings = BusSettings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix="t-policies", partitions=4
    )
    specs = topic_specs(settings)
    with KafkaBus(settings) as bus:
        bus.ensure_topics(specs.values())
        bus.ensure_topics(specs.values())
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics([s.name for s in specs.values()])}
        resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs.values()]
        configs = admin.describe_configs(resources)
    finally:
        admin.close()
    assert all(len(described[s.name]["partitions"]) == 4 for s in specs.values())
    text = str(configs)
    messages = specs[Topic.MESSAGES]
    assert messages.config["cleanup.policy"] == "compact"
    assert messages.config["min.compaction.lag.ms"] == str(3650 * 86_400_000)
    for expected in ("min.compaction.lag.ms", "compact", "retention.ms"):
        assert expected in text


def test_committed_records_and_offsets_survive_a_broker_restart(own_kafka: KafkaBroker) -> None:
    """After the broker restarts, the group resumes exactly after what it committed."""
    settings = BusSettings(kafka_bootstrap_servers=own_kafka.bootstrap, session_timeout_s=6)
    name = group()
    with KafkaBus(settings) as bus:
        specs = topic_specs(settings)
        bus.ensure_topics([specs[Topic.CHANGES]])
        topic = specs[Topic.CHANGES].name
        produce(bus, topic, numbered(1000))
        with bus.consumer(name, [topic]) as consumer:
            consumer.commit([r for r in drain(consumer, 1000) if int(r.value) < 600])
    own_kafka.restart()
    with KafkaBus(settings) as bus:
        produce(bus, topic, numbered(1100, start=1000))
        with bus.consumer(name, [topic]) as consumer:
            assert sorted(values(drain(consumer, 500))) == list(range(600, 1100))


def test_flush_reports_records_it_could_not_store(own_kafka: KafkaBroker) -> None:
    """With the broker gone, flush raises a BusError instead of pretending or hanging."""
    settings = BusSettings(kafka_bootstrap_servers=own_kafka.bootstrap)
    with KafkaBus(settings) as bus:
        producer = bus.producer()
        producer.produce("warm-up", "a@example.com", b"stored")
        producer.flush()
        own_kafka.stop()
        producer.produce("warm-up", "a@example.com", b"lost?")
        with pytest.raises(BusError):
            producer.flush(timeout_s=5)
        with pytest.raises(BusError):
            producer.close(timeout_s=1)


def test_a_service_starting_while_the_broker_is_down_waits_for_it(own_kafka: KafkaBroker) -> None:
    """Started during a broker restart, a service's first contact waits for the broker instead
    of exiting (convergence on Kafka: a publisher restarted then died with "Unable to
    bootstrap"); without patience it is the retriable error it was."""
    settings = BusSettings(kafka_bootstrap_servers=own_kafka.bootstrap, session_timeout_s=6)
    specs = topic_specs(settings)
    topic = specs[Topic.CHANGES].name
    own_kafka.stop()
    # kafka-python itself tries for 30 s; 2 s keeps the test short and the waiting ours.
    with KafkaBus(settings, bootstrap_timeout_ms=2000) as bus:
        with pytest.raises(BusUnavailableError):
            patiently("creating topics", lambda: bus.ensure_topics([specs[Topic.CHANGES]]), 0)
        started: list[Consumer] = []

        def start() -> None:
            patiently("creating topics", lambda: bus.ensure_topics([specs[Topic.CHANGES]]), 120)
            started.append(patiently("joining", lambda: bus.consumer(group(), [topic]), 120))

        starting = threading.Thread(target=start)
        starting.start()
        time.sleep(3)
        own_kafka.start()
        starting.join(timeout=120)
        assert started, "the start did not wait for the broker"
        produce(bus, topic, numbered(10))
        with started[0] as consumer:
            assert sorted(values(drain(consumer, 10))) == list(range(10))
