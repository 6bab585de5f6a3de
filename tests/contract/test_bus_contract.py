"""The bus contract: every backend must behave exactly like this."""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

from mfr.bus import Bus, Producer
from mfr.topics import partition_key
from tests.contract.backends import Backend
from tests.contract.helpers import drain, group, kill, numbered, produce, start_worker, values


def test_records_of_one_mailbox_arrive_in_the_order_they_were_produced(
    bus: Bus, topic: str
) -> None:
    """Per-mailbox order holds across partitions, for plain and entity keys alike."""
    items = [
        (f"m{i % 13}@example.com" + (f" item-{i}" if i % 2 else ""), str(i).encode())
        for i in range(2000)
    ]
    produce(bus, topic, items)
    with bus.consumer(group(), [topic]) as consumer:
        records = drain(consumer, len(items))
    by_mailbox: dict[str, list[int]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        by_mailbox[partition_key(record.key)].append(int(record.value))
    assert len(records) == len(items)
    assert len(by_mailbox) == 13
    for sequence in by_mailbox.values():
        assert sequence == sorted(sequence)
    partitions: dict[str, set[int]] = {partition_key(r.key or ""): set() for r in records}
    for record in records:
        partitions[partition_key(record.key or "")].add(record.partition)
    assert all(len(p) == 1 for p in partitions.values())


def test_key_value_headers_and_timestamp_round_trip(bus: Bus, topic: str) -> None:
    """What a producer writes is what a consumer reads, with a production timestamp."""
    before = int(time.time() * 1000) - 1000
    with bus.producer() as producer:
        producer.produce(topic, "a@example.com x", b"\x00\xc3\x01 binary", {"trace": b"\xff\x00"})
        producer.flush()
    with bus.consumer(group(), [topic]) as consumer:
        [record] = drain(consumer, 1)
    assert (record.topic, record.key) == (topic, "a@example.com x")
    assert record.value == b"\x00\xc3\x01 binary"
    assert record.headers == {"trace": b"\xff\x00"}
    assert before <= record.timestamp_ms <= int(time.time() * 1000) + 1000


def test_a_new_group_starts_from_the_oldest_record(bus: Bus, topic: str) -> None:
    """Records produced before a group first polls are not skipped."""
    produce(bus, topic, numbered(50))
    with bus.consumer(group(), [topic]) as consumer:
        assert sorted(values(drain(consumer, 50))) == list(range(50))


def test_group_resumes_from_committed_offsets_after_restart(backend: Backend, topic: str) -> None:
    """A restarted process gets exactly what its group had not committed."""
    name = group()
    with backend.open() as bus:
        produce(bus, topic, numbered(100))
        with bus.consumer(name, [topic]) as consumer:
            records = drain(consumer, 100)
            done = [r for r in records if int(r.value) < 60]
            consumer.commit(done)
    with backend.open() as bus, bus.consumer(name, [topic]) as consumer:
        assert sorted(values(drain(consumer, 40))) == list(range(60, 100))


def test_uncommitted_records_are_redelivered_after_the_consumer_is_killed(
    backend: Backend, bus: Bus, topic: str
) -> None:
    """A consumer killed between processing and commit loses nothing: the group gets it again."""
    produce(bus, topic, numbered(30))
    name = group()
    worker, line = start_worker(backend, "consume", topic, name, "30")
    assert line == "consume 30"
    kill(worker)
    with bus.consumer(name, [topic]) as consumer:
        assert sorted(values(drain(consumer, 30))) == list(range(30))


def test_offsets_committed_before_a_kill_are_kept(backend: Backend, bus: Bus, topic: str) -> None:
    """What a killed consumer committed stays committed."""
    produce(bus, topic, numbered(20))
    name = group()
    worker, line = start_worker(backend, "commit", topic, name, "20")
    assert line == "commit 20"
    kill(worker)
    produce(bus, topic, numbered(25, start=20))
    with bus.consumer(name, [topic]) as consumer:
        assert sorted(values(drain(consumer, 5))) == list(range(20, 25))


def test_flushed_records_survive_the_producer_being_killed(
    backend: Backend, bus: Bus, topic: str
) -> None:
    """Once flush returned, the records are stored, whatever happens to the producer."""
    worker, line = start_worker(backend, "produce", topic, "500")
    assert line == "flushed"
    kill(worker)
    with backend.open() as reopened, reopened.consumer(group(), [topic]) as consumer:
        assert sorted(values(drain(consumer, 500))) == list(range(500))


def test_commit_covers_only_the_records_given(backend: Backend, bus: Bus, topic: str) -> None:
    """Committing part of a poll leaves the rest to be delivered again."""
    produce(bus, topic, numbered(10, keys=1))
    name = group()
    with bus.consumer(name, [topic]) as consumer:
        records = drain(consumer, 10)
        consumer.commit(records[:4])
    with bus.consumer(name, [topic]) as consumer:
        assert values(drain(consumer, 6)) == list(range(4, 10))


def test_seek_to_beginning_replays_everything_the_topic_holds(bus: Bus, topic: str) -> None:
    """A group that committed everything can still replay from the beginning."""
    produce(bus, topic, numbered(40))
    name = group()
    with bus.consumer(name, [topic]) as consumer:
        consumer.commit(drain(consumer, 40))
    with bus.consumer(name, [topic]) as consumer:
        consumer.seek_to_beginning()
        assert sorted(values(drain(consumer, 40))) == list(range(40))


def test_seek_to_time_replays_from_that_moment(bus: Bus, topic: str) -> None:
    """Records stored before the time are skipped; those at or after it are replayed."""
    produce(bus, topic, numbered(20))
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    produce(bus, topic, numbered(35, start=20))
    with bus.consumer(group(), [topic]) as consumer:
        consumer.seek_to_time(middle)
        assert sorted(values(drain(consumer, 15))) == list(range(20, 35))


def test_seek_to_a_time_after_the_last_record_waits_for_new_ones(bus: Bus, topic: str) -> None:
    """Seeking past the end delivers only what is produced afterwards."""
    produce(bus, topic, numbered(5))
    time.sleep(0.01)  # timestamps are in milliseconds: leave the last record's behind
    with bus.consumer(group(), [topic]) as consumer:
        consumer.seek_to_time(datetime.now(UTC))
        assert consumer.poll(timeout_s=1.0) == []
        produce(bus, topic, numbered(8, start=5))
        assert sorted(values(drain(consumer, 3))) == [5, 6, 7]


def test_one_consumer_reads_several_topics(backend: Backend, bus: Bus, topic: str) -> None:
    """A consumer subscribed to two topics gets both, each in order."""
    other = backend.new_topic(bus)
    produce(bus, topic, numbered(10, keys=1))
    produce(bus, other, numbered(20, keys=1, start=10))
    with bus.consumer(group(), [topic, other]) as consumer:
        records = drain(consumer, 20)
    assert values([r for r in records if r.topic == topic]) == list(range(10))
    assert values([r for r in records if r.topic == other]) == list(range(10, 20))


def test_large_batches_arrive_complete_and_in_order(bus: Bus, topic: str) -> None:
    """Ten thousand 1 KiB records in one flush (ten times Kafka's largest request) all arrive,
    each mailbox's in order."""
    padding = b" " * 1024
    items = [(f"m{i % 50}@example.com", str(i).encode() + padding) for i in range(10_000)]
    produce(bus, topic, items)
    with bus.consumer(group(), [topic]) as consumer:
        polled = drain(consumer, len(items), timeout_s=120)
    # Nothing is committed here: should the member miss its heartbeats on a loaded machine and
    # rejoin, the group delivers what it had again from the start (at-least-once). Each record
    # counts once, at its first delivery.
    records, seen = [], set()
    for record in polled:
        if (record.partition, record.offset) not in seen:
            seen.add((record.partition, record.offset))
            records.append(record)
    assert len(records) == len(items)
    by_mailbox: dict[str, list[int]] = defaultdict(list)
    for record in records:
        by_mailbox[record.key or ""].append(int(record.value))
    assert all(seq == sorted(seq) for seq in by_mailbox.values())


def test_ensure_topics_twice_is_harmless(backend: Backend, bus: Bus) -> None:
    """Creating topics that already exist changes nothing and raises nothing."""
    name = backend.new_topic(bus)
    produce(bus, name, numbered(3))
    from mfr.topics import Topic, TopicSpec  # noqa: PLC0415

    bus.ensure_topics([TopicSpec(Topic.CHANGES, name, None, 3, {})])
    with bus.consumer(group(), [name]) as consumer:
        assert sorted(values(drain(consumer, 3))) == [0, 1, 2]


def test_a_producer_shared_by_threads_stores_everything_each_flush_covers(
    bus: Bus, topic: str
) -> None:
    """Threads producing and flushing on one producer at once lose nothing and double nothing:
    each thread's flush returns only once its own records are stored."""
    threads, rounds, per_round = 8, 40, 5
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the races

    def work(producer: Producer, thread: int) -> None:
        for n in range(rounds):
            for k in range(per_round):
                value = (thread * rounds + n) * per_round + k
                producer.produce(topic, f"m{thread}@example.com", str(value).encode())
            producer.flush()

    try:
        with bus.producer() as producer:
            workers = [threading.Thread(target=work, args=(producer, t)) for t in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
    finally:
        sys.setswitchinterval(interval)
    total = threads * rounds * per_round
    with bus.consumer(group(), [topic]) as consumer:
        assert sorted(values(drain(consumer, total))) == list(range(total))
