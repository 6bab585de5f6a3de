"""Taking over mailboxes, and letting them go: what makes several extractors in one Kafka consumer
group safe.

The changes topic is partitioned by mailbox, and so are the state and checkpoint topics, with the
same partition count (``mfr topics create`` makes them so): partition *p* of ``changes`` carries
the hints of the very mailboxes whose states and checkpoints are in partition *p* of ``folders``,
``messages`` and ``checkpoints``. When the group hands this extractor partition *p*, another
member may have synced its mailboxes since this one last held them. Before any cycle:

* the checkpoints of partition *p* are read to its end (the resume points, not stale ones);
* the local store catches up: the ``folders`` and ``messages`` records written to partition *p*
  since this store last caught up on it are applied (the latest version per key wins; a new or
  lost store file reads the partition from its start);
* a mailbox's folder tree (which the topics do not carry) is kept only if the mailbox's hierarchy
  checkpoint is still the one this extractor left it with; otherwise it is dropped and the next
  cycle lists the hierarchy from scratch, against the folders already published.

When the group takes partitions away, the service finishes or abandons the cycles of their
mailboxes first (``Abandonable``: the next Exchange call of an abandoned cycle raises, so nothing
is published for a page it did not finish), then records here which hierarchy checkpoint each
mailbox had. The catch-up positions and those checkpoints live in the store's own file, so they
are lost together with it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import structlog

from extractor.checkpoints import Checkpoints
from extractor.model import FolderSnapshot, ItemSnapshot
from extractor.reader import ExchangeApi, HierarchyPage, ItemsPage, Reader
from extractor.store import StateStore
from mfr.bus import Bus
from mfr.codec import Codec
from mfr.errors import MfrError
from mfr.topics import Topic

log = structlog.get_logger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS caught_up (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS let_go (mailbox TEXT PRIMARY KEY, hierarchy_state TEXT);
"""
STATE_TOPICS = (Topic.FOLDERS, Topic.MESSAGES)


class CycleAbandonedError(MfrError):
    """The mailbox was handed to another extractor while its cycle ran."""


class Abandonable:
    """A ``Reader`` whose next call raises once its mailbox is being let go."""

    def __init__(self, reader: Reader, abandoned: set[str]) -> None:
        self._reader = reader
        self._abandoned = abandoned
        self.mailbox = reader.mailbox
        self.api: ExchangeApi = reader.api
        self.stable_ids = reader.stable_ids

    def _check(self) -> None:
        if self.mailbox in self._abandoned:
            raise CycleAbandonedError(f"{self.mailbox} moved to another extractor")

    def well_known_folders(self) -> dict[str, str]:
        """See ``Reader``."""
        self._check()
        return self._reader.well_known_folders()

    def hierarchy(self, sync_state: str | None) -> HierarchyPage:
        """See ``Reader``."""
        self._check()
        return self._reader.hierarchy(sync_state)

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        """See ``Reader``."""
        self._check()
        return self._reader.items_page(folder_id, sync_state)

    def folders(self, folder_ids: Sequence[str]) -> dict[str, FolderSnapshot]:
        """See ``Reader``."""
        self._check()
        return self._reader.folders(folder_ids)

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemSnapshot]:
        """See ``Reader``."""
        self._check()
        return self._reader.items(item_ids)

    def classes(self, folder_id: str) -> list[tuple[str | None, str | None]] | None:
        """See ``Reader``."""
        self._check()
        return self._reader.classes(folder_id)


class Ownership:
    """Loads what taken-over partitions need, and remembers what was let go."""

    def __init__(
        self,
        bus: Bus,
        topics: dict[Topic, str],
        codec: Codec,
        store: StateStore,
        checkpoints: Checkpoints,
        path: Path,
    ) -> None:
        self._bus, self._topics, self._codec = bus, topics, codec
        self._store, self._checkpoints = store, checkpoints
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def check_partitions(self) -> int:
        """The partition count every topic shares; refuses topics that differ (a mailbox's
        hints and its state would then lie in partitions of different numbers)."""
        counts = {self._topics[t]: len(self._bus.end_offsets(self._topics[t]))
                  for t in (Topic.CHANGES, Topic.CHECKPOINTS, *STATE_TOPICS)}
        if len(set(counts.values())) != 1:
            raise MfrError(f"the extractor's topics must have one partition count: {counts}")
        return next(iter(counts.values()))

    def take_over(self, partitions: Sequence[int]) -> dict[str, int]:
        """Load checkpoints and catch the store up for these partitions; their mailboxes, each
        with its partition."""
        checkpoints = self._topics[Topic.CHECKPOINTS]
        mailboxes = self._checkpoints.take(
            self._bus.read(checkpoints, dict.fromkeys(partitions, 0)), self._codec)
        applied = 0
        for topic in (self._topics[t] for t in STATE_TOPICS):
            ends = self._bus.end_offsets(topic)
            starts = {p: self._caught_up(topic, p) for p in partitions}
            applied += self._store.restore(r.value for r in self._bus.read(topic, starts))
            self._remember(topic, {p: ends[p] for p in partitions if p in ends})
        kept = self._trees(mailboxes)
        log.info("partitions taken over", partitions=list(partitions), mailboxes=len(mailboxes),
                 states_applied=applied, trees_kept=kept)
        return mailboxes

    def let_go(self, mailboxes: set[str]) -> None:
        """These mailboxes are handed over, their cycles settled: remember each one's hierarchy
        checkpoint, which says whether its tree is still good when it comes back."""
        rows = []
        for mailbox in mailboxes:
            checkpoint = self._checkpoints.get(mailbox, None)
            rows.append((mailbox, checkpoint["sync_state"] if checkpoint else None))
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO let_go VALUES (?, ?)", rows)
        self._checkpoints.drop(mailboxes)

    def _trees(self, mailboxes: Iterable[str]) -> int:
        kept = 0
        for mailbox in mailboxes:
            with self._lock:
                row = self._conn.execute("SELECT hierarchy_state FROM let_go WHERE mailbox = ?",
                                         (mailbox,)).fetchone()
                self._conn.execute("DELETE FROM let_go WHERE mailbox = ?", (mailbox,))
            checkpoint = self._checkpoints.get(mailbox, None)
            current = checkpoint["sync_state"] if checkpoint else None
            if row is not None and row[0] == current:
                kept += 1
            else:  # synced elsewhere since, or this extractor crashed holding it
                self._store.forget_tree(mailbox)
        return kept

    def _caught_up(self, topic: str, partition: int) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT next_offset FROM caught_up WHERE topic = ? AND partition = ?",
                (topic, partition)).fetchone()
        return int(row[0]) if row else 0

    def _remember(self, topic: str, ends: dict[int, int]) -> None:
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO caught_up VALUES (?, ?, ?)",
                                   [(topic, p, end) for p, end in ends.items()])

