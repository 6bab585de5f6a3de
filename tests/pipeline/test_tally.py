"""The replay's drain rule, on a fake consumer and clock: the topics are drained only after a
poll found nothing new for ``idle_s``, however long the archive took over the last batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mfr.bus import Consumer, Record
from pipeline.tally import DrainingConsumer, Tally


class Batches(Consumer):
    """Hands out the given batches, one per poll, then nothing."""

    def __init__(self, batches: list[list[Record]]) -> None:
        self.batches = batches

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        return self.batches.pop(0) if self.batches else []

    def commit(self, records: Sequence[Record]) -> None:
        pass

    def seek_to_beginning(self) -> None:
        pass

    def seek_to_time(self, when: datetime) -> None:
        pass

    def close(self) -> None:
        pass


def records(first: int, count: int) -> list[Record]:
    return [Record("t", 0, n, "k", b"", 0) for n in range(first, first + count)]


def test_a_slow_archive_is_not_taken_for_drained_topics() -> None:
    now = [0.0]
    drained: list[bool] = []
    consumer = DrainingConsumer(
        Batches([records(0, 500), records(500, 20)]), Tally(),
        lambda: drained.append(True), idle_s=5.0, first_s=30.0, clock=lambda: now[0],
    )
    first = consumer.poll()
    now[0] += 9.0  # the archive takes 9 s over the first batch
    consumer.commit(first)
    second = consumer.poll()
    assert len(second) == 20
    assert not drained
    consumer.commit(second)
    now[0] += 4.0
    assert consumer.poll() == []
    assert not drained
    now[0] += 1.0
    assert consumer.poll() == []
    assert drained
