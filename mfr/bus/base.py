"""The event bus as the services see it: produce keyed records, consume them in a group, commit.

Two backends implement it, Kafka and the embedded single-machine log, and one contract test suite
holds both to the same behaviour:

* records with the same partition key (the mailbox) are consumed in the order they were produced;
* ``Producer.flush`` returns only when every record produced so far is durably stored, and raises
  if any was not;
* a consumer group's position advances only through ``Consumer.commit``: what was polled but not
  committed is delivered again to the group's next consumer (at-least-once);
* ``seek_to_beginning`` and ``seek_to_time`` replay what the topics still hold;
* a consumer given a ``Rebalance`` hears which partitions it was assigned before it polls any of
  their records, and which it is losing before another member may read them: a consumer that
  keeps work in flight finishes or drops it there, and commits (``Consumer.commit`` is allowed
  inside ``revoked``); each assigned partition is then read from the group's commit, also by a
  member that gets back a partition it had (what it dropped uncommitted comes again);
* ``Bus.read`` reads chosen partitions of a topic up to their current end, outside any group: how
  a member that was just assigned partitions loads the compacted state of their keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from mfr.topics import TopicSpec

Headers = Mapping[str, bytes]


@dataclass(frozen=True)
class Record:
    """One record as a consumer receives it."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int
    headers: Mapping[str, bytes] = field(default_factory=dict)


def next_offsets(records: Iterable[Record]) -> dict[tuple[str, int], int]:
    """For each topic partition among ``records``, the offset just past the last of them."""
    positions: dict[tuple[str, int], int] = {}
    for record in records:
        where = (record.topic, record.partition)
        positions[where] = max(positions.get(where, 0), record.offset + 1)
    return positions


Partition = tuple[str, int]  # topic, partition number


class Rebalance(ABC):
    """Told when a consumer's share of its topics' partitions changes. Both calls run inside
    ``Consumer.poll`` (or ``close``), on the thread the backend chooses; the consumer's owner is
    not polling meanwhile."""

    @abstractmethod
    def assigned(self, partitions: Sequence[Partition]) -> None:
        """These partitions are now this member's; no record of them was returned yet."""

    @abstractmethod
    def revoked(self, partitions: Sequence[Partition]) -> None:
        """These partitions stop being this member's when this returns (also when the consumer
        closes, and when the member already lost them, in which case a commit fails)."""


class _Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release the connection; a producer flushes first."""


class Producer(_Closing, ABC):
    """Writes records to topics. One producer may be shared by threads: a thread's ``flush``
    returns once every record produced before it, by any thread, is stored."""

    @abstractmethod
    def produce(self, topic: str, key: str, value: bytes, headers: Headers | None = None) -> None:
        """Queue a record; it is durable only once ``flush`` has returned."""

    @abstractmethod
    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every queued record is stored; raise ``BusError`` if any could not be."""

    @abstractmethod
    def close(self, timeout_s: float = 60.0) -> None:
        """Flush for at most ``timeout_s``, then release the connection even if flushing failed."""


class Consumer(_Closing, ABC):
    """Reads records from topics as a member of a consumer group."""

    @abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """The next records, waiting up to ``timeout_s`` for some; empty if none came."""

    @abstractmethod
    def commit(self, records: Sequence[Record]) -> None:
        """Record that the group is done with ``records`` (and everything before them)."""

    @abstractmethod
    def seek_to_beginning(self) -> None:
        """Make the next polls start at the oldest record each topic still holds."""

    @abstractmethod
    def seek_to_time(self, when: datetime) -> None:
        """Make the next polls start at the first record stored at or after ``when``."""


class Bus(_Closing, ABC):
    """A connection to one event bus, from which producers and consumers are made."""

    @abstractmethod
    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create the topics that do not exist yet, with their partitions and cleanup policy."""

    @abstractmethod
    def producer(self) -> Producer:
        """A new producer."""

    @abstractmethod
    def consumer(
        self, group: str, topics: Sequence[str], rebalance: Rebalance | None = None
    ) -> Consumer:
        """A new consumer in ``group``, subscribed to ``topics``; ``rebalance`` hears about the
        partitions it is assigned and loses."""

    @abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic``, the offset the next record will get."""

    @abstractmethod
    def read(self, topic: str, starts: Mapping[int, int]) -> Iterator[Record]:
        """The records of the partitions in ``starts``, each from its start offset (or the
        oldest it still holds) up to its end as of the call; no group, no commit."""
