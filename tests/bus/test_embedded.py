"""What only the embedded backend needs to show: its group lease and its durability rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mfr.bus.embedded import EmbeddedBus
from mfr.errors import CommitFailedError
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
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(tmp_path / "bus.db") as conn:
            conn.execute("DELETE FROM records")
        produce(bus, "t", numbered(4, start=3))
        with bus.consumer("g", ["t"]) as consumer:
            [record] = drain(consumer, 1)
        assert record.offset == 3
