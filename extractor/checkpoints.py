"""Where each mailbox's sync stands: the latest checkpoint per hierarchy and folder, read back from
the compacted checkpoints topic at start-up, so a restarted extractor resumes from the bus alone.

A checkpoint belongs to the Exchange API that wrote it (``exchange_api``; null means EWS, which
wrote every checkpoint before the field existed): an EWS SyncState means nothing to Graph and a
delta link nothing to EWS, so a checkpoint of the other API is no resume point and reads as
absent.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from mfr.bus import Bus
from mfr.codec import Codec
from mfr.errors import CodecError

log = structlog.get_logger(__name__)
LOADER_GROUP = "mfr-extractor-checkpoint-loader"


class Checkpoints:
    """The latest checkpoint datum per (mailbox, folder id or None for the hierarchy)."""

    def __init__(self, api: str = "Ews") -> None:
        self.api = api
        self._latest: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load(
        self, bus: Bus, topic: str, codec: Codec, idle_polls: int = 2, poll_s: float = 1.0
    ) -> int:
        """Read the whole topic from the beginning; the last record per key wins. Done when
        ``idle_polls`` polls of ``poll_s`` in a row bring nothing."""
        loaded = 0
        with bus.consumer(LOADER_GROUP, [topic]) as consumer:
            consumer.seek_to_beginning()
            idle = 0
            while idle < idle_polls:
                records = consumer.poll(max_records=5000, timeout_s=poll_s)
                idle = 0 if records else idle + 1
                for record in records:
                    try:
                        self.put(codec.decode(record.value, expected="Checkpoint").datum)
                        loaded += 1
                    except CodecError as exc:
                        log.warning("checkpoint skipped", offset=record.offset, error=str(exc))
        return loaded

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

    def mailboxes_in_initial_sync(self) -> set[str]:
        """Mailboxes with a folder whose initial sync has not finished (to resume at start-up)."""
        with self._lock:
            return {m for (m, f), d in self._latest.items()
                    if f is not None and d["phase"] == "InitialSync" and self._ours(d)}
