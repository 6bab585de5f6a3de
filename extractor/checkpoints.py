"""Where each mailbox's sync stands: the latest checkpoint per hierarchy and folder, read back from
the compacted checkpoints topic, so an extractor resumes from the bus alone: at start-up, and on
Kafka whenever the group hands it partitions (the mailboxes they carry) that another member synced
until then. It reads those partitions to their end, outside any consumer group.

A checkpoint belongs to the Exchange API that wrote it (``exchange_api``; null means EWS, which
wrote every checkpoint before the field existed): an EWS SyncState means nothing to Graph and a
delta link nothing to EWS, so a checkpoint of the other API is no resume point and reads as
absent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import structlog

from mfr.bus import Bus, Record
from mfr.codec import Codec
from mfr.errors import CodecError

log = structlog.get_logger(__name__)


class Checkpoints:
    """The latest checkpoint datum per (mailbox, folder id or None for the hierarchy)."""

    def __init__(self, api: str = "Ews") -> None:
        self.api = api
        self._latest: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(self, bus: Bus, topic: str, codec: Codec) -> int:
        """Read every partition of the topic to its end; the last record per key wins."""
        starts = dict.fromkeys(bus.end_offsets(topic), 0)
        return len(self.take(bus.read(topic, starts), codec))

    def take(self, records: Iterable[Record], codec: Codec) -> dict[str, int]:
        """Remember the checkpoints among ``records`` (oldest first); the mailboxes they name,
        each with the partition it was read from."""
        mailboxes: dict[str, int] = {}
        for record in records:
            try:
                datum = codec.decode(record.value, expected="Checkpoint").datum
            except CodecError as exc:
                log.warning("checkpoint skipped", offset=record.offset, error=str(exc))
                continue
            self.put(datum)
            mailboxes[datum["mailbox"]] = record.partition
        return mailboxes

    def put(self, datum: dict[str, Any]) -> None:
        """Remember a checkpoint (a newer one replaces the older)."""
        with self._lock:
            self._latest[(datum["mailbox"], datum.get("folder_id"))] = datum

    def get(self, mailbox: str, folder_id: str | None) -> dict[str, Any] | None:
        """The latest checkpoint of a mailbox's hierarchy (None) or folder."""
        with self._lock:
            datum = self._latest.get((mailbox, folder_id))
        return datum if datum is not None and self._ours(datum) else None

    def _ours(self, datum: dict[str, Any]) -> bool:
        return (datum.get("exchange_api") or "Ews") == self.api

    def forget(self, mailbox: str, folder_id: str | None) -> None:
        """Drop a checkpoint, so the next sync of it starts from scratch."""
        with self._lock:
            self._latest.pop((mailbox, folder_id), None)

    def drop(self, mailboxes: set[str]) -> None:
        """Forget every checkpoint of these mailboxes (another extractor syncs them now)."""
        with self._lock:
            for key in [k for k in self._latest if k[0] in mailboxes]:
                del self._latest[key]

    def mailboxes_in_initial_sync(self) -> set[str]:
        """Mailboxes with a folder whose initial sync has not finished (to resume at start-up)."""
        with self._lock:
            return {m for (m, f), d in self._latest.items()
                    if f is not None and d["phase"] == "InitialSync" and self._ours(d)}
