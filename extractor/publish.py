"""Puts the extractor's results on the bus: versioned state records, checkpoints, status.

A step of a cycle (a hierarchy sync, a page of an initial sync, an incremental round) produces
its states, flushes, and only then produces the checkpoints that move past them and flushes
again; once the bus has them all, the local store remembers them in one transaction and the
in-memory checkpoints move. Why not one flush for both: on Kafka the states and the checkpoint
go to different partitions, maybe on different brokers, and nothing makes their writes atomic, so
a process killed inside a single flush could leave a checkpoint stored whose states never
arrived, and resuming from it would skip them: lost. A step with nothing to say (an incremental
round that found no change) is one flush, or none. A flush that raises fails the cycle, tried
again from the old checkpoint. A crash anywhere else repeats work (harmless: same states, newer
versions) but never skips any.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from extractor.hierarchy import FolderTree
from extractor.model import FolderState, MessageState
from extractor.store import StateStore
from mfr.bus import Producer, Record
from mfr.codec import Codec
from mfr.topics import Topic, checkpoint_key, record_key

S = TypeVar("S", FolderState, MessageState)


def now_utc() -> datetime:
    """The current time, to the millisecond (what Avro timestamps keep)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def next_version(previous: int | None, clock: Callable[[], float] = time.time) -> int:
    """A version above ``previous``: the time in microseconds, so it also grows across restarts."""
    stamp = int(clock() * 1_000_000)
    return stamp if previous is None or stamp > previous else previous + 1


class StatePublisher:
    """Produces the extractor's records and keeps the local store in step."""

    def __init__(
        self,
        producer: Producer,
        codec: Codec,
        store: StateStore,
        topics: dict[Topic, str],
        api: str = "Ews",
    ) -> None:
        self._api = api  # which Exchange API fed the states (the records' exchange_api)
        self._producer = producer
        self._codec = codec
        self._store = store
        self._topics = topics

    def states(
        self,
        mailbox: str,
        folders: Sequence[FolderState] = (),
        messages: Sequence[MessageState] = (),
        tree: FolderTree | None = None,
        checkpoints: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Publish new folder and message states, then (once the bus has them) the checkpoints
        past them; then remember the states (and the tree) in one store transaction."""
        observed = now_utc()
        folder_rows = self._produce(mailbox, Topic.FOLDERS, folders, observed)
        message_rows = self._produce(mailbox, Topic.MESSAGES, messages, observed)
        if (folder_rows or message_rows) and checkpoints:
            self._producer.flush()  # the states are stored before any checkpoint moves past them
        for checkpoint in checkpoints:
            datum = {**checkpoint, "updated_time": observed}
            key = checkpoint_key(datum["mailbox"], datum.get("folder_id"))
            self._producer.produce(self._topics[Topic.CHECKPOINTS], key,
                                   self._codec.encode("Checkpoint", datum))
        self._producer.flush()
        if folder_rows or message_rows or tree is not None:
            self._store.save(mailbox, message_rows, folder_rows, tree)

    def _produce(
        self, mailbox: str, topic: Topic, states: Sequence[S], observed: datetime
    ) -> list[tuple[S, int, bytes]]:
        """Version, encode and produce states of one kind; return what the store remembers."""
        table, schema = ("folders", "FolderState") if topic is Topic.FOLDERS else (
            "messages", "MessageState")
        versions = self._store.versions(mailbox, table, [s.key for s in states])
        rows = []
        for state in states:
            version = next_version(versions.get(state.key))
            datum = {**state.datum(version, observed), "exchange_api": self._api}
            record = self._codec.encode(schema, datum)
            self._producer.produce(self._topics[topic], record_key(mailbox, state.key), record)
            rows.append((state, version, record))
        return rows


@dataclass
class MailboxStatus:
    """What /status says about one mailbox."""

    state: str = "Pending"
    percent: float | None = None
    reported_at: float = 0.0
    last_change: datetime | None = None
    lag_ms: int | None = None
    last_error: str | None = None

    def datum(self, mailbox: str, folders: int, messages: int) -> dict[str, Any]:
        """The MailboxStatus record of this status (component Extractor)."""
        return {
            "mailbox": mailbox, "component": "Extractor", "state": self.state,
            "initial_sync_percent": self.percent, "folders": folders, "messages": messages,
            "last_change_time": self.last_change, "lag_ms": self.lag_ms,
            "last_error": self.last_error[:500] if self.last_error else None,
            "last_error_time": now_utc() if self.last_error else None,
            "updated_time": now_utc(),
        }


def dead_letter(record: Record, kind: str, reason: str, attempts: int) -> dict[str, Any]:
    """The DeadLetter record of an input record the extractor gives up on."""
    return {
        "source_topic": record.topic, "source_partition": record.partition,
        "source_offset": record.offset, "key": record.key, "value": record.value,
        "headers": dict(record.headers), "stage": "extractor", "error_type": kind,
        "reason": reason[:2000], "attempts": attempts, "failed_time": now_utc(),
    }
