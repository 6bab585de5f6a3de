"""What only the embedded backend needs to show: its group lease and its durability rules."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from mfr.bus.embedded import EmbeddedBus, clean_up
from mfr.errors import CommitFailedError
from mfr.topics import Topic, TopicSpec
from tests.contract.helpers import drain, numbered, produce, values


def test_only_one_member_of_a_group_reads_at_a_time(tmp_path: Path) -> None:
    """A second member of the same group gets nothing while the first is alive."""
    with EmbeddedBus(tmp_path / "bus.db") as bus:
        produce(bus, "t", numbered(10))
        first, second = bus.consumer("g", ["t"]), bus.consumer("g", ["t"])
        assert len(drain(first, 10)) == 10
        assert second.poll(timeout_s=0.2) == []
        first.close()
        assert sorted(values(drain(second, 10))) == list(range(10))
        second.close()


def test_a_silent_member_loses_the_group_and_cannot_commit(tmp_path: Path) -> None:
    """A member that stops polling past the session timeout is replaced; its late commit fails."""
    with EmbeddedBus(tmp_path / "bus.db", session_timeout_s=0.3) as bus:
        produce(bus, "t", numbered(5))
        stalled, successor = bus.consumer("g", ["t"]), bus.consumer("g", ["t"])
        records = drain(stalled, 5)
        time.sleep(0.5)
        assert sorted(values(drain(successor, 5))) == list(range(5))
        with pytest.raises(CommitFailedError, match="records will be redelivered"):
            stalled.commit(records)
        successor.close()
        stalled.close()


def test_records_are_invisible_until_flushed(tmp_path: Path) -> None:
    """Produce queues; only flush makes records durable and visible."""
    with EmbeddedBus(tmp_path / "bus.db") as bus:
        producer = bus.producer()
        producer.produce("t", "a@example.com", b"1")
        with bus.consumer("g", ["t"]) as consumer:
            assert consumer.poll(timeout_s=0.1) == []
            producer.flush()
            assert values(drain(consumer, 1)) == [1]
        producer.close()


def test_offsets_keep_growing_after_old_records_are_removed(tmp_path: Path) -> None:
    """Offsets are never reused, even once retention has deleted every record of a topic."""
    with EmbeddedBus(tmp_path / "bus.db") as bus:
        produce(bus, "t", numbered(3))
        with sqlite3.connect(tmp_path / "bus.db") as conn:
            conn.execute("DELETE FROM records")
        produce(bus, "t", numbered(4, start=3))
        with bus.consumer("g", ["t"]) as consumer:
            [record] = drain(consumer, 1)
        assert record.offset == 3


def test_cleanup_follows_each_topics_retention_and_compaction(tmp_path: Path) -> None:
    """Delete topics drop expired records; compacted ones keep the latest per key after the lag."""
    day = 86_400_000
    with EmbeddedBus(tmp_path / "bus.db") as bus:
        bus.ensure_topics([
            TopicSpec(Topic.CHANGES, "hints", None, 1,
                      {"cleanup.policy": "delete", "retention.ms": str(day)}),
            TopicSpec(Topic.MESSAGES, "state", None, 1,
                      {"cleanup.policy": "compact", "min.compaction.lag.ms": str(day)}),
        ])
        produce(bus, "hints", [("a@x.com", b"1"), ("a@x.com", b"2")])
        produce(bus, "state", [("a@x.com k1", b"1"), ("a@x.com k1", b"2"), ("a@x.com k2", b"3")])
        with sqlite3.connect(tmp_path / "bus.db") as conn:
            assert clean_up(conn, now_ms=int(time.time() * 1000)) == 0  # too young for either
            assert clean_up(conn, now_ms=int(time.time() * 1000) + 2 * day) == 3
        with bus.consumer("g", ["hints", "state"]) as consumer:
            left = drain(consumer, 2)
    assert [(r.topic, r.key, r.value) for r in left] == [
        ("state", "a@x.com k1", b"2"), ("state", "a@x.com k2", b"3")
    ]
