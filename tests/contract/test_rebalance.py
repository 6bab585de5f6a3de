"""The bus contract for members that hand partitions over: rebalance callbacks, and reading
chosen partitions to their end outside any group (how a member loads the state of the keys it
was just assigned)."""

from __future__ import annotations

from collections.abc import Sequence

from mfr.bus import Bus, Consumer, Record
from mfr.bus.base import Partition, Rebalance
from tests.contract.helpers import drain, group, numbered, produce, values


class Journal(Rebalance):
    """Writes down what it is told, in order, and commits what it was given when revoked."""

    def __init__(self) -> None:
        self.events: list[tuple[str, list[Partition]]] = []
        self.consumer: Consumer | None = None
        self.processed: list[Record] = []

    def assigned(self, partitions: Sequence[Partition]) -> None:
        self.events.append(("assigned", list(partitions)))

    def revoked(self, partitions: Sequence[Partition]) -> None:
        self.events.append(("revoked", list(partitions)))
        if self.consumer is not None and self.processed:
            self.consumer.commit(self.processed)


def test_read_returns_chosen_partitions_up_to_their_end(bus: Bus, topic: str) -> None:
    """``read`` yields the partitions asked for, from their start offsets to their current end,
    oldest first per partition; ``end_offsets`` names every partition."""
    produce(bus, topic, numbered(60, keys=7))
    ends = bus.end_offsets(topic)
    assert sum(ends.values()) == 60
    everything = list(bus.read(topic, dict.fromkeys(ends, 0)))
    assert sorted(values(everything)) == list(range(60))
    for partition in ends:
        offsets = [r.offset for r in everything if r.partition == partition]
        assert offsets == sorted(offsets)
    first = min(ends)
    assert {r.partition for r in bus.read(topic, {first: 0})} <= {first}
    assert list(bus.read(topic, ends)) == []  # from the end: nothing
    produce(bus, topic, numbered(65, keys=7, start=60))
    assert sorted(values(list(bus.read(topic, ends)))) == list(range(60, 65))


def test_a_member_hears_of_its_partitions_before_their_records(bus: Bus, topic: str) -> None:
    """The first records a member polls come after ``assigned`` named their partitions."""
    produce(bus, topic, numbered(40))
    journal = Journal()
    with bus.consumer(group(), [topic], journal) as consumer:
        records = drain(consumer, 40)
        assert journal.events[0][0] == "assigned"
        assigned = {p for kind, ps in journal.events if kind == "assigned" for p in ps}
        assert {(r.topic, r.partition) for r in records} <= assigned
        assert {p for t, p in assigned if t == topic} == set(bus.end_offsets(topic))
    assert sorted(values(records)) == list(range(40))


def test_a_commit_made_when_revoked_is_where_the_next_member_starts(
    bus: Bus, topic: str
) -> None:
    """A member that commits only in ``revoked`` (here, when it closes) hands its position over:
    the group's next member starts after what it processed."""
    produce(bus, topic, numbered(30))
    name = group()
    journal = Journal()
    with bus.consumer(name, [topic], journal) as consumer:
        journal.consumer = consumer
        journal.processed = drain(consumer, 30)
    assert journal.events[-1][0] == "revoked"
    produce(bus, topic, numbered(40, start=30))
    with bus.consumer(name, [topic]) as consumer:
        assert sorted(values(drain(consumer, 10))) == list(range(30, 40))
