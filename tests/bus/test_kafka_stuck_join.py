"""A Kafka group member whose join never completes is replaced (kafka-python 3.0 now and then
leaves a rejoin hanging after "performing partition assignments"; seen in `mfr run`). Unit test
on a stand-in for kafka-python's consumer: the real hang cannot be caused on demand."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kafka.structs import MemberState

from mfr.bus import kafka_consumer
from mfr.bus.kafka_consumer import KafkaBusConsumer


class Member:
    """What KafkaBusConsumer uses of kafka-python's KafkaConsumer."""

    made: ClassVar[list[Member]] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self._coordinator = SimpleNamespace(state=MemberState.REBALANCING)
        self.closed = False
        Member.made.append(self)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def subscribe(self, topics: list[str], listener: object = None) -> None:
        self.topics = topics

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        return {}

    def assignment(self) -> set[Any]:
        return set()

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


def test_a_member_stuck_joining_is_replaced_and_a_slow_join_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafka_consumer, "KafkaConsumer", Member)
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    Member.made = []
    consumer = KafkaBusConsumer({}, "g", ["t"], session_timeout_s=6.0)
    first = Member.made[0]
    assert consumer.poll() == []
    now[0] += 29.0  # joining for 29 s: slow, not stuck (the limit is max(30 s, 3 sessions))
    consumer.poll()
    assert len(Member.made) == 1
    first._coordinator.state = MemberState.STABLE  # joined: the clock starts again
    consumer.poll()
    first._coordinator.state = MemberState.REBALANCING
    consumer.poll()
    now[0] += 31.0
    consumer.poll()
    assert len(Member.made) == 2
    assert first.closed
    assert Member.made[1].topics == ["t"]
    assert not Member.made[1].closed
