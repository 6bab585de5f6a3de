"""Which consumed records may be committed: only an unbroken prefix of settled ones.

Mailboxes finish out of order; committing a later record's offset would also commit an earlier
one whose mailbox is still syncing (or failing), and a crash would lose it. So records are
committed in order, each partition up to its first unsettled record.
"""

from __future__ import annotations

from collections import deque

from mfr.bus import Record

Where = tuple[str, int, int]


def where(record: Record) -> Where:
    """A record's topic, partition and offset."""
    return (record.topic, record.partition, record.offset)


class Ledger:
    """Consumed records in order, and which of them are settled."""

    def __init__(self) -> None:
        self._order: dict[tuple[str, int], deque[Record]] = {}
        self._settled: set[Where] = set()

    def add(self, record: Record) -> None:
        """A record was consumed."""
        self._order.setdefault((record.topic, record.partition), deque()).append(record)

    def settle(self, records: list[Record]) -> None:
        """These records are fully processed (or dead-lettered)."""
        self._settled.update(where(r) for r in records)

    def committable(self) -> list[Record]:
        """Remove and return, per partition, the settled records before the first unsettled."""
        ready: list[Record] = []
        for queue in self._order.values():
            while queue and where(queue[0]) in self._settled:
                record = queue.popleft()
                self._settled.discard(where(record))
                ready.append(record)
        return ready

    def forget(self, topic: str, partitions: set[int]) -> None:
        """Drop what is left of these partitions (handed to another consumer, which will
        receive those records again)."""
        for where_ in [w for w in self._order if w[0] == topic and w[1] in partitions]:
            for record in self._order.pop(where_):
                self._settled.discard(where(record))

    def __len__(self) -> int:
        return sum(len(q) for q in self._order.values())
