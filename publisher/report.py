"""The publisher's word on each mailbox for the admin page: MailboxStatus records of component
``Publisher``, with how far behind the bus the archive is for that mailbox.

A mailbox is reported after the archive acknowledged a batch holding its records: ``Live``, with
``lag_ms`` the time from the oldest of them reaching the bus to the acknowledgement. The
publisher consumes the status topic too, so its own records come back to it: they are never
news (or each report would cause the next, for ever), and a mailbox is reported at most every
``every_s`` seconds, so a busy mailbox does not flood a compacted topic.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog

from mfr.bus import Producer, Record
from mfr.codec import Codec
from mfr.errors import BusError
from mfr.topics import status_key

log = structlog.get_logger("publisher")
COMPONENT = "Publisher"


class StatusReport:
    """Writes the Publisher status of the mailboxes whose records the archive acknowledged."""

    def __init__(self, producer: Producer, codec: Codec, topic: str, every_s: float = 30.0
                 ) -> None:
        self._producer = producer
        self._codec = codec
        self._topic = topic
        self._every_s = every_s
        self._reported: dict[str, float] = {}

    def delivered(self, batch: list[tuple[Record, dict[str, Any]]]) -> None:
        """The archive holds ``batch``: report its mailboxes that are due."""
        oldest: dict[str, int] = {}
        for record, wire in batch:
            state = wire["state"]
            if wire["type"] == "MailboxStatus" and state.get("component") == COMPONENT:
                continue  # our own report coming back
            mailbox = state["mailbox"]
            oldest[mailbox] = min(oldest.get(mailbox, record.timestamp_ms), record.timestamp_ms)
        now = time.monotonic()
        due = {m: t for m, t in oldest.items()
               if now - self._reported.get(m, -self._every_s) >= self._every_s}
        if not due:
            return
        at = datetime.now(UTC)
        try:
            for mailbox, since_ms in sorted(due.items()):
                lag_ms = max(0, int(at.timestamp() * 1000) - since_ms)
                datum = {
                    "mailbox": mailbox, "component": COMPONENT, "state": "Live",
                    "initial_sync_percent": None, "folders": None, "messages": None,
                    "last_change_time": at, "lag_ms": lag_ms, "last_error": None,
                    "last_error_time": None, "updated_time": at,
                }
                self._producer.produce(self._topic, status_key(mailbox, COMPONENT),
                                       self._codec.encode("MailboxStatus", datum))
            self._producer.flush()
        except BusError as exc:  # advisory: the next batch of the mailbox reports it
            log.warning("publisher status not stored", mailboxes=len(due), reason=str(exc))
            return
        self._reported.update(dict.fromkeys(due, now))
